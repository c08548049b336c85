/**
 * Installing and removing page table entries with their reverse-map records and frame
 * references (the pte-level parts of mm/memory.c: set_pte_at + folio_add_*_rmap_pte,
 * zap_pte_range, copy_pte_range's per-entry work, and include/linux/swapops.h entries).
 *
 * Every function here is atomic (no sleeping): callers bracket changes that remove or
 * downgrade a translation with mmu notifier invalidate_range_start/end.
 */
import { getSim } from '../sim/scheduler.js';
import { trap } from '../sim/trap.js';
import { AnonVma, type MmStruct, type VmAreaStruct } from './mm_types.js';
import { get_page, is_zero_pfn, put_page } from './page.js';
import { PhysMem } from './phys.js';
import {
  PTE_DEVICE_PRIVATE,
  PTE_KIND_MASK,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_WRITE,
} from './pgtable.js';

/** mm/rmap.c anon_vma_prepare: the vma gets its anon_vma at its first anonymous page. */
export function anon_vma_prepare(vma: VmAreaStruct): void {
  vma.anon_vma ??= new AnonVma();
}

/** Map a frame whose reference the caller hands to the mapping (a fresh page). */
export function set_pte_new_page(mm: MmStruct, vpn: number, pfn: number, write: boolean): void {
  mm.sys.rmap.add(pfn, mm.id, vpn);
  mm.pgt.set(vpn, PTE_PRESENT | (write ? PTE_WRITE : 0), pfn);
}

/** Map a frame that is already referenced elsewhere (page cache, fork, vm_insert_page). */
export function set_pte_get_page(mm: MmStruct, vpn: number, pfn: number, write: boolean): void {
  get_page(mm.sys, pfn);
  set_pte_new_page(mm, vpn, pfn, write);
}

/** do_anonymous_page's read path: the shared zero page, read-only, not counted. */
export function set_pte_zero_page(mm: MmStruct, vpn: number): void {
  mm.pgt.set(vpn, PTE_PRESENT, PhysMem.ZERO_PFN);
}

/** remap_pfn_range: a special pte (VM_PFNMAP). SIM: it holds a frame reference. */
export function set_pte_special(mm: MmStruct, vpn: number, pfn: number, write: boolean): void {
  get_page(mm.sys, pfn);
  mm.pgt.set(vpn, PTE_PRESENT | PTE_SPECIAL | (write ? PTE_WRITE : 0), pfn);
}

/** make_{readable,writable}_device_private_entry; the caller gives the mapping a reference. */
export function set_device_private_entry(
  mm: MmStruct,
  vpn: number,
  pfn: number,
  write: boolean,
): void {
  mm.sys.rmap.add(pfn, mm.id, vpn);
  mm.pgt.set(vpn, PTE_DEVICE_PRIVATE | (write ? PTE_WRITE : 0), pfn);
}

/**
 * Replace a present or device-private entry by a migration entry (try_to_migrate_one,
 * migrate_vma_collect_pmd): the rmap record stays, the mapping's reference is dropped.
 */
export function set_migration_entry(mm: MmStruct, vpn: number, write: boolean): void {
  const pfn = mm.pgt.pfn(vpn);
  const kind = mm.pgt.kind(vpn);
  if (kind !== PTE_PRESENT && kind !== PTE_DEVICE_PRIVATE)
    trap('bug', `migration entry over pte kind ${kind} at ${vpn}`);
  mm.pgt.set(vpn, PTE_MIGRATION | (write ? PTE_WRITE : 0), pfn);
  put_page(mm.sys, pfn);
}

/**
 * remove_migration_pte: a migration entry for `src` becomes a mapping of `dst` (present, or
 * a device-private entry when dst is a device-private frame), keeping its write bit.
 */
export function remove_migration_pte(
  mm: MmStruct,
  vpn: number,
  src: number,
  dst: number,
  dst_device_private: boolean,
): void {
  const d = mm.pgt.desc(vpn);
  if ((d & PTE_KIND_MASK) !== PTE_MIGRATION || mm.pgt.pfn(vpn) !== src)
    trap('bug', `no migration entry for ${src} at ${vpn}`);
  const write = (d & PTE_WRITE) !== 0;
  mm.sys.rmap.remove(src, mm.id, vpn);
  get_page(mm.sys, dst);
  if (dst_device_private) set_device_private_entry(mm, vpn, dst, write);
  else set_pte_new_page(mm, vpn, dst, write);
}

/** zap one entry: drop its rmap record, frame reference or swap slot, and clear it. */
export function zap_pte(mm: MmStruct, vpn: number): void {
  const d = mm.pgt.desc(vpn);
  const pfn = mm.pgt.pfn(vpn);
  switch (d & PTE_KIND_MASK) {
    case PTE_PRESENT:
      if (d & PTE_SPECIAL) put_page(mm.sys, pfn);
      else if (!is_zero_pfn(pfn)) {
        mm.sys.rmap.remove(pfn, mm.id, vpn);
        put_page(mm.sys, pfn);
      }
      break;
    case PTE_DEVICE_PRIVATE:
      mm.sys.rmap.remove(pfn, mm.id, vpn);
      put_page(mm.sys, pfn);
      break;
    case PTE_MIGRATION:
      mm.sys.rmap.remove(pfn, mm.id, vpn);
      break;
    case PTE_SWAP:
      mm.sys.swap.free(pfn);
      break;
    default:
      break;
  }
  mm.pgt.clear(vpn);
}

/** mm/memory.c zap_pte_range over [start, end): returns the entries zapped. */
export function zap_pte_range(mm: MmStruct, start: number, end: number): number {
  let n = 0;
  mm.pgt.for_each(start, end, (vpn) => {
    zap_pte(mm, vpn);
    n++;
  });
  if (n > 0) getSim().account('ptes_zapped', n, 'pte_op');
  return n;
}

/**
 * Move one entry (mm/mremap.c move_ptes): the entry at `from` goes to `to` in the same mm,
 * rmap record included.
 */
export function move_pte(mm: MmStruct, from: number, to: number): void {
  const d = mm.pgt.desc(from);
  const pfn = mm.pgt.pfn(from);
  const kind = d & PTE_KIND_MASK;
  const rmapped =
    (kind === PTE_PRESENT && !(d & PTE_SPECIAL) && !is_zero_pfn(pfn)) ||
    kind === PTE_DEVICE_PRIVATE ||
    kind === PTE_MIGRATION;
  if (rmapped) mm.sys.rmap.move(pfn, mm.id, from, to);
  mm.pgt.clear(from);
  mm.pgt.set(to, d, pfn);
}

/**
 * Unmapping a frame from every place that maps it (mm/rmap.c try_to_migrate and
 * try_to_unmap, mm/migrate.c remove_migration_ptes).
 *
 * try_to_migrate replaces each present or device-private mapping of the frame by a
 * migration entry, one MMU_NOTIFY_CLEAR per mapping, in that mapping's mm, with the rmap
 * lock (anon_vma->rwsem or i_mmap_rwsem) held for read. The caller holds the frame locked
 * and referenced; CPU faults and hmm_range_fault meeting a migration entry wait for the
 * unlock. remove_migration_ptes then points every migration entry at the destination (or
 * back at the source when the migration is abandoned).
 */
import { down_read, up_read } from '../sim/locks.js';
import type { Co } from '../sim/task.js';
import { MMU_NOTIFY_CLEAR } from './consts.js';
import type { MmStruct, MmSystem } from './mm_types.js';
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
  mmu_notifier_range_init,
} from './mmu_notifier.js';
import { is_device_private_page, page_is_anon } from './page.js';
import {
  PTE_DEVICE_PRIVATE,
  PTE_KIND_MASK,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_SPECIAL,
  PTE_WRITE,
} from './pgtable.js';
import { remove_migration_pte, set_migration_entry } from './pte.js';

/** The (mm, vpn) places the rmap records for `pfn`. */
export function rmap_places(sys: MmSystem, pfn: number): { mm: MmStruct; vpn: number }[] {
  const l = sys.rmap.list(pfn);
  const out: { mm: MmStruct; vpn: number }[] = [];
  for (let k = 0; k < l.length; k += 2) {
    out.push({ mm: sys.mm_by_id(l[k] as number), vpn: l[k + 1] as number });
  }
  return out;
}

function maps_live(mm: MmStruct, vpn: number, pfn: number): boolean {
  const d = mm.pgt.desc(vpn);
  const k = d & PTE_KIND_MASK;
  return (
    mm.pgt.pfn(vpn) === pfn &&
    ((k === PTE_PRESENT && !(d & PTE_SPECIAL)) || k === PTE_DEVICE_PRIVATE)
  );
}

/** Mappings of `pfn` that are still live (present or device-private), i.e. not migrating. */
export function page_mapped_live(sys: MmSystem, pfn: number): number {
  let n = 0;
  for (const p of rmap_places(sys, pfn)) if (maps_live(p.mm, p.vpn, pfn)) n++;
  return n;
}

/**
 * mm/rmap.c try_to_migrate: every live mapping of the locked frame `pfn` becomes a
 * migration entry (keeping its write bit), each under MMU_NOTIFY_CLEAR in its mm.
 */
export function* try_to_migrate(sys: MmSystem, pfn: number): Co {
  const lock =
    page_is_anon(sys, pfn) || is_device_private_page(sys, pfn)
      ? sys.anon_vma_rwsem
      : sys.i_mmap_rwsem;
  yield* down_read(lock);
  for (const { mm, vpn } of rmap_places(sys, pfn)) {
    if (!maps_live(mm, vpn, pfn)) continue;
    const range = mmu_notifier_range_init(MMU_NOTIFY_CLEAR, 0, mm, vpn, vpn + 1);
    yield* mmu_notifier_invalidate_range_start(range);
    // page_vma_mapped_walk: the callbacks may have slept; look again.
    if (maps_live(mm, vpn, pfn)) set_migration_entry(mm, vpn, (mm.pgt.desc(vpn) & PTE_WRITE) !== 0);
    yield* mmu_notifier_invalidate_range_end(range);
  }
  up_read(lock);
}

/**
 * mm/migrate.c remove_migration_ptes: every migration entry for `src` now maps `dst`
 * (dst === src restores). Returns the number of entries rewritten.
 */
export function remove_migration_ptes(sys: MmSystem, src: number, dst: number): number {
  const dst_dp = is_device_private_page(sys, dst);
  let n = 0;
  for (const { mm, vpn } of rmap_places(sys, src)) {
    const d = mm.pgt.desc(vpn);
    if ((d & PTE_KIND_MASK) !== PTE_MIGRATION || mm.pgt.pfn(vpn) !== src) continue;
    remove_migration_pte(mm, vpn, src, dst, dst_dp);
    n++;
  }
  return n;
}

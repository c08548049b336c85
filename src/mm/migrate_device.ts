/**
 * Migration to and from device memory (mm/migrate_device.c): migrate_vma_setup / _pages /
 * _finalize for a virtual range of one vma, and migrate_device_range / _pfns / _pages /
 * _finalize for device frames without a vma (eviction).
 *
 * setup holds (the caller's) mmap_lock for read. It collects the range under one
 * MMU_NOTIFY_MIGRATE carrying args.pgmap_owner (so a driver may skip its own migrations),
 * replacing each collected mapping in this mm by a migration entry; mappings of those frames
 * in other mms (after fork) are removed by try_to_migrate, with MMU_NOTIFY_CLEAR each.
 * migrate_vma_pages sends MMU_NOTIFY_MIGRATE again before it populates holes. finalize
 * points the migration entries at the destination frames (device-private entries for
 * device-private frames) or back at the sources, and counts migrated_pages_to_vram /
 * migrated_pages_to_ram / migrated_pages_dev_to_dev by direction.
 */
import { EINVAL } from '../sim/errno.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import {
  MIGRATE_PFN_MIGRATE,
  MMU_NOTIFY_MIGRATE,
  VM_SPECIAL,
  VM_WRITE,
  migrate_pfn,
  migrate_pfn_to_page,
  mpfn_clear,
  mpfn_set,
} from './consts.js';
import { filemap_replace_page } from './filemap.js';
import { mmap_assert_locked } from './mm_struct.js';
import type { MmSystem, MmuNotifierRange } from './mm_types.js';
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
  mmu_notifier_range_init_owner,
} from './mmu_notifier.js';
import {
  folio_trylock,
  folio_unlock,
  get_page,
  is_device_private_page,
  is_zero_pfn,
  is_zone_device_page,
  page_count,
  put_page,
} from './page.js';
import { PTE_KIND_MASK, PTE_NONE, PTE_PRESENT } from './pgtable.js';
import { anon_vma_prepare, set_device_private_entry, set_pte_new_page } from './pte.js';
import { remove_migration_ptes } from './rmap_walk.js';
import { is_vm_hugetlb_page, vma_is_anonymous } from './vma.js';
import {
  MigrateVma,
  migrate_device_unmap,
  migrate_vma_collect,
  type MigrateVmaInit,
} from './migrate_device_collect.js';

export { MigrateVma, type MigrateVmaInit };

/**
 * mm/migrate_device.c migrate_vma_setup: 0 (with args.cpages frames or holes to migrate)
 * or -EINVAL for a bad range or vma.
 */
export function* migrate_vma_setup(args: MigrateVma): Co<number> {
  const vma = args.vma;
  const nr_pages = args.end - args.start;
  if (is_vm_hugetlb_page(vma) || vma.vm_flags & VM_SPECIAL) return -EINVAL;
  if (nr_pages <= 0) return -EINVAL;
  if (args.start < vma.vm_start || args.start >= vma.vm_end) return -EINVAL;
  if (args.end <= vma.vm_start || args.end > vma.vm_end) return -EINVAL;
  if (args.src.length < nr_pages || args.dst.length < nr_pages) return -EINVAL;
  const sys = vma.vm_mm.sys;
  if (args.fault_page >= 0 && !is_device_private_page(sys, args.fault_page)) return -EINVAL;
  if (args.fault_page >= 0 && !sys.page_locked.has(args.fault_page)) return -EINVAL;
  mmap_assert_locked(vma.vm_mm);
  args.src.fill(0, 0, nr_pages);
  args.cpages = 0;
  args.npages = 0;
  getSim().counters.add('migrate_vma_calls', 1);
  yield* migrate_vma_collect(args);
  if (args.cpages)
    args.cpages = yield* migrate_device_unmap(sys, args.src, args.npages, args.fault_page);
  getSim().trace.emit('mm.migrate_vma', {
    mm: vma.vm_mm.id,
    start: args.start,
    end: args.end,
    npages: args.npages,
    cpages: args.cpages,
  });
  return 0;
}

/** mm/migrate_device.c migrate_vma_insert_page: map a new frame where there was none. */
function migrate_vma_insert_page(args: MigrateVma, addr: number, page: number, i: number): void {
  const vma = args.vma;
  const mm = vma.vm_mm;
  const d = mm.pgt.desc(addr);
  const kind = d & PTE_KIND_MASK;
  const ok =
    vma_is_anonymous(vma) &&
    (kind === PTE_NONE || (kind === PTE_PRESENT && is_zero_pfn(mm.pgt.pfn(addr))));
  if (!ok) {
    args.src[i] = mpfn_clear(args.src[i] as number, MIGRATE_PFN_MIGRATE);
    return;
  }
  const write = (vma.vm_flags & VM_WRITE) !== 0;
  anon_vma_prepare(vma);
  get_page(mm.sys, page);
  if (kind !== PTE_NONE) mm.pgt.clear(addr); // the zero page is not counted
  if (is_device_private_page(mm.sys, page)) set_device_private_entry(mm, addr, page, write);
  else set_pte_new_page(mm, addr, page, write);
  args.src[i] = MIGRATE_PFN_MIGRATE;
}

/** mm/migrate_device.c __migrate_device_pages. */
function* __migrate_device_pages(
  sys: MmSystem,
  src: Float64Array,
  dst: Float64Array,
  npages: number,
  args: MigrateVma | null,
): Co {
  let range: MmuNotifierRange | null = null;
  for (let i = 0; i < npages; i++) {
    const newpage = migrate_pfn_to_page(dst[i] as number);
    const page = migrate_pfn_to_page(src[i] as number);
    if (newpage < 0) {
      src[i] = mpfn_clear(src[i] as number, MIGRATE_PFN_MIGRATE);
      continue;
    }
    if (page < 0) {
      if (!((src[i] as number) & MIGRATE_PFN_MIGRATE) || !args) continue;
      const addr = args.start + i;
      if (!range) {
        const mm = args.vma.vm_mm;
        range = mmu_notifier_range_init_owner(
          MMU_NOTIFY_MIGRATE,
          0,
          mm,
          addr,
          args.end,
          args.pgmap_owner,
        );
        yield* mmu_notifier_invalidate_range_start(range);
      }
      migrate_vma_insert_page(args, addr, newpage, i);
      continue;
    }
    if (sys.pagecache.has(page)) {
      // Only anonymous memory goes to device memory.
      if (is_zone_device_page(sys, newpage)) {
        src[i] = mpfn_clear(src[i] as number, MIGRATE_PFN_MIGRATE);
        continue;
      }
      get_page(sys, newpage); // folio_migrate_mapping: the cache's reference moves
      filemap_replace_page(sys, page, newpage);
      put_page(sys, page);
    }
  }
  if (range) yield* mmu_notifier_invalidate_range_end(range);
}

/** mm/migrate_device.c migrate_vma_pages. */
export function* migrate_vma_pages(args: MigrateVma): Co {
  yield* __migrate_device_pages(args.vma.vm_mm.sys, args.src, args.dst, args.npages, args);
}

/** migrate_device_pages: as migrate_vma_pages for migrate_device_range/_pfns arrays. */
export function* migrate_device_pages(
  sys: MmSystem,
  src: Float64Array,
  dst: Float64Array,
  npages: number,
): Co {
  yield* __migrate_device_pages(sys, src, dst, npages, null);
}

function count_direction(sys: MmSystem, from: number, to: number): void {
  const to_dev = is_zone_device_page(sys, to);
  const from_dev = from >= 0 && is_zone_device_page(sys, from);
  if (to_dev && !from_dev) getSim().account('migrated_pages_to_vram', 1, 'migrated_page_to_vram');
  else if (!to_dev && from_dev)
    getSim().account('migrated_pages_to_ram', 1, 'migrated_page_to_ram');
  else if (to_dev && from_dev)
    getSim().account('migrated_pages_dev_to_dev', 1, 'migrated_page_dev_to_dev');
}

function release_dst(sys: MmSystem, page: number): void {
  if (sys.page_locked.has(page)) folio_unlock(sys, page);
  put_page(sys, page);
}

/** mm/migrate_device.c __migrate_device_finalize. */
function __migrate_device_finalize(
  sys: MmSystem,
  src: Float64Array,
  dst: Float64Array,
  npages: number,
  fault_page: number,
): void {
  for (let i = 0; i < npages; i++) {
    const newpage = migrate_pfn_to_page(dst[i] as number);
    const page = migrate_pfn_to_page(src[i] as number);
    const migrated = ((src[i] as number) & MIGRATE_PFN_MIGRATE) !== 0;
    if (page < 0) {
      if (newpage >= 0) {
        if (migrated) count_direction(sys, -1, newpage);
        release_dst(sys, newpage);
      }
      continue;
    }
    const to = migrated && newpage >= 0 ? newpage : page;
    if (newpage >= 0 && to === page) release_dst(sys, newpage);
    if (to !== page) count_direction(sys, page, to);
    remove_migration_ptes(sys, page, to);
    if (page !== fault_page) folio_unlock(sys, page);
    put_page(sys, page);
    if (to !== page) release_dst(sys, to);
  }
}

/** mm/migrate_device.c migrate_vma_finalize. */
export function migrate_vma_finalize(args: MigrateVma): void {
  __migrate_device_finalize(args.vma.vm_mm.sys, args.src, args.dst, args.npages, args.fault_page);
}

/** migrate_device_finalize. */
export function migrate_device_finalize(
  sys: MmSystem,
  src: Float64Array,
  dst: Float64Array,
  npages: number,
): void {
  __migrate_device_finalize(sys, src, dst, npages, -1);
}

/** migrate_device_pfn_lock: reference and lock a device frame in use. */
function migrate_device_pfn_lock(sys: MmSystem, pfn: number): number {
  if (page_count(sys, pfn) <= 0) return 0;
  get_page(sys, pfn);
  if (!folio_trylock(sys, pfn)) {
    put_page(sys, pfn);
    return 0;
  }
  return mpfn_set(migrate_pfn(pfn), MIGRATE_PFN_MIGRATE);
}

/**
 * migrate_device_pfns: src_pfns holds device frame numbers on entry and migrate pfns on
 * return, with every mapping of those frames replaced by migration entries.
 */
export function* migrate_device_pfns(
  sys: MmSystem,
  src_pfns: Float64Array,
  npages: number,
): Co<number> {
  for (let i = 0; i < npages; i++)
    src_pfns[i] = migrate_device_pfn_lock(sys, src_pfns[i] as number);
  yield* migrate_device_unmap(sys, src_pfns, npages, -1);
  return 0;
}

/** migrate_device_range: migrate_device_pfns for frames [start, start + npages). */
export function* migrate_device_range(
  sys: MmSystem,
  src_pfns: Float64Array,
  start: number,
  npages: number,
): Co<number> {
  for (let i = 0; i < npages; i++) src_pfns[i] = start + i;
  return yield* migrate_device_pfns(sys, src_pfns, npages);
}

/**
 * The collect and unmap half of device migration (mm/migrate_device.c
 * migrate_vma_collect_pmd, migrate_vma_collect, migrate_vma_check_page,
 * migrate_device_unmap) and struct migrate_vma. Internal to src/mm: other layers use
 * migrate_device.ts, which re-exports MigrateVma.
 */
import type { Co } from '../sim/task.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MMU_NOTIFY_MIGRATE,
  migrate_pfn,
  migrate_pfn_to_page,
  mpfn_clear,
} from './consts.js';
import type { MmSystem, VmAreaStruct } from './mm_types.js';
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
  mmu_notifier_range_init_owner,
} from './mmu_notifier.js';
import {
  folio_trylock,
  folio_unlock,
  get_page,
  is_zero_pfn,
  is_zone_device_page,
  page_count,
  page_pgmap,
  put_page,
} from './page.js';
import {
  PTE_DEVICE_PRIVATE,
  PTE_KIND_MASK,
  PTE_NONE,
  PTE_PRESENT,
  PTE_SPECIAL,
  PTE_WRITE,
} from './pgtable.js';
import { set_migration_entry } from './pte.js';
import { page_mapped_live, remove_migration_ptes, try_to_migrate } from './rmap_walk.js';
import { vma_is_anonymous } from './vma.js';

export interface MigrateVmaInit {
  vma: VmAreaStruct;
  start: number;
  end: number;
  src?: Float64Array;
  dst?: Float64Array;
  pgmap_owner?: object | null;
  flags: number;
  /** The locked device frame of a CPU fault (migrate_to_ram), else -1. */
  fault_page?: number;
}

/** struct migrate_vma. src/dst hold migrate pfns (consts.ts migrate_pfn). */
export class MigrateVma {
  vma: VmAreaStruct;
  start: number;
  end: number;
  src: Float64Array;
  dst: Float64Array;
  npages = 0;
  cpages = 0;
  pgmap_owner: object | null;
  flags: number;
  fault_page: number;
  constructor(init: MigrateVmaInit) {
    const n = Math.max(0, init.end - init.start);
    this.vma = init.vma;
    this.start = init.start;
    this.end = init.end;
    this.src = init.src ?? new Float64Array(n);
    this.dst = init.dst ?? new Float64Array(n);
    this.pgmap_owner = init.pgmap_owner ?? null;
    this.flags = init.flags;
    this.fault_page = init.fault_page ?? -1;
  }
}

/** migrate_vma_collect_pmd for one page: the src entry, with a migration entry installed. */
function collect_one(args: MigrateVma, addr: number): number {
  const mm = args.vma.vm_mm;
  const sys = mm.sys;
  const d = mm.pgt.desc(addr);
  const pfn = mm.pgt.pfn(addr);
  const kind = d & PTE_KIND_MASK;
  let page = -1;
  if (kind === PTE_NONE) {
    if (!vma_is_anonymous(args.vma)) return 0;
    args.cpages++;
    return MIGRATE_PFN_MIGRATE;
  }
  if (kind === PTE_DEVICE_PRIVATE) {
    const pgmap = page_pgmap(sys, pfn);
    if (!(args.flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) || pgmap?.owner !== args.pgmap_owner)
      return 0;
    page = pfn;
  } else if (kind === PTE_PRESENT) {
    if (is_zero_pfn(pfn) && args.flags & MIGRATE_VMA_SELECT_SYSTEM) {
      args.cpages++;
      return MIGRATE_PFN_MIGRATE;
    }
    page = d & PTE_SPECIAL || is_zero_pfn(pfn) ? -1 : pfn; // vm_normal_page
    if (page >= 0 && !is_zone_device_page(sys, page) && !(args.flags & MIGRATE_VMA_SELECT_SYSTEM))
      return 0;
    if (page >= 0 && sys.phys.kindOf(page) === 'device-coherent') {
      const owner = page_pgmap(sys, page)?.owner;
      if (!(args.flags & MIGRATE_VMA_SELECT_DEVICE_COHERENT) || owner !== args.pgmap_owner)
        return 0;
    }
  }
  if (page < 0) return 0; // swap and migration entries, special ptes
  let mpfn = migrate_pfn(page) + MIGRATE_PFN_MIGRATE;
  if (d & PTE_WRITE) mpfn += MIGRATE_PFN_WRITE;
  get_page(sys, page);
  if (page !== args.fault_page && !folio_trylock(sys, page)) {
    put_page(sys, page);
    return 0;
  }
  args.cpages++;
  set_migration_entry(mm, addr, (d & PTE_WRITE) !== 0);
  return mpfn;
}

/** mm/migrate_device.c migrate_vma_collect. */
export function* migrate_vma_collect(args: MigrateVma): Co {
  const mm = args.vma.vm_mm;
  const range = mmu_notifier_range_init_owner(
    MMU_NOTIFY_MIGRATE,
    0,
    mm,
    args.start,
    args.end,
    args.pgmap_owner,
  );
  yield* mmu_notifier_invalidate_range_start(range);
  for (let addr = args.start; addr < args.end; addr++) {
    args.dst[args.npages] = 0;
    args.src[args.npages++] = collect_one(args, addr);
  }
  yield* mmu_notifier_invalidate_range_end(range);
  args.end = args.start + args.npages;
}

/** migrate_vma_check_page: no reference beyond the ones migration itself holds. */
function migrate_vma_check_page(sys: MmSystem, page: number, fault_page: number): boolean {
  const extra = 1 + (page === fault_page ? 1 : 0) + (sys.pagecache.has(page) ? 1 : 0);
  return page_count(sys, page) <= extra;
}

/**
 * mm/migrate_device.c migrate_device_unmap: unmap the collected frames from every other
 * mapping; pinned or still-mapped frames are restored. Returns the frames left migrating.
 */
export function* migrate_device_unmap(
  sys: MmSystem,
  src: Float64Array,
  npages: number,
  fault_page: number,
): Co<number> {
  let unmapped = 0;
  let restore = 0;
  for (let i = 0; i < npages; i++) {
    const page = migrate_pfn_to_page(src[i] as number);
    if (page < 0) {
      if ((src[i] as number) & MIGRATE_PFN_MIGRATE) unmapped++;
      continue;
    }
    if (page_mapped_live(sys, page) > 0) yield* try_to_migrate(sys, page);
    if (page_mapped_live(sys, page) > 0 || !migrate_vma_check_page(sys, page, fault_page)) {
      src[i] = mpfn_clear(src[i] as number, MIGRATE_PFN_MIGRATE);
      restore++;
      continue;
    }
    unmapped++;
  }
  for (let i = 0; i < npages && restore > 0; i++) {
    const page = migrate_pfn_to_page(src[i] as number);
    if (page < 0 || (src[i] as number) & MIGRATE_PFN_MIGRATE) continue;
    remove_migration_ptes(sys, page, page);
    src[i] = 0;
    if (page !== fault_page) folio_unlock(sys, page);
    put_page(sys, page);
    restore--;
  }
  return unmapped;
}

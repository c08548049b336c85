/**
 * The cost table: virtual time in ns that each primitive charges (DESIGN.md "Counters and
 * costs"). Starting values and their sources are in shared/spec/costs-and-peers.md,
 * "Suggested calibration starting points"; where that page names a gap, the value is an
 * order-of-magnitude guess marked `guess`. Names are the counters' names in the singular
 * (SCENARIO-FORMAT.md "Counters and costs"), plus a few that have no counter.
 */
export interface CostEntry {
  readonly ns: number;
  readonly source: string;
}

export const DEFAULT_COSTS = {
  fault_handler_entry: {
    ns: 40_000,
    source: 'UVMSmart 45 us far fault; MacSim 50k cycles per batch',
  },
  hmm_range_fault_call: { ns: 1_000, source: 'guess: walk setup and mmu_interval_read_begin' },
  hmm_range_fault_page: { ns: 20, source: 'Xe get_pages 9 us / 512 pages (Dugast 2025-12-16)' },
  dma_map_page: { ns: 150, source: 'dma_map_benchmark 1.0 us per 8 pages' },
  dma_unmap_page: { ns: 160, source: 'dma_map_benchmark 1.3 us per 8 pages' },
  notifier_callback: { ns: 500, source: 'guess: no published figure (costs-and-peers Gaps)' },
  pte_write: { ns: 20, source: 'Xe bind 10 us per 2 MiB of 4 KiB PTEs' },
  tlb_flush: { ns: 4_000, source: 'AMD KIQ TLB flush 2-6 us (Sierra 2023)' },
  gpu_fault_retry: { ns: 1_000, source: 'guess: IH ring delivery of a retry fault' },
  gpu_fault_fatal: { ns: 0, source: 'a fatal fault stops the queue' },
  queue_quiesce: { ns: 50_000, source: 'guess: CWSR preemption, no published figure' },
  queue_resume: { ns: 20_000, source: 'guess: queue map, no published figure' },
  range_created: { ns: 500, source: 'guess: allocation and interval-tree insert' },
  range_removed: { ns: 500, source: 'guess: interval-tree removal and free' },
  gc_work_run: { ns: 5_000, source: 'guess: worker wake-up' },
  restore_work_run: { ns: 5_000, source: 'guess: worker wake-up' },
  migrated_page_to_vram: { ns: 1_400, source: 'Xe 2 MiB migrate 942 us minus copy 223 us, / 512' },
  migrated_page_to_ram: { ns: 1_400, source: 'as migrated_page_to_vram' },
  migrated_page_dev_to_dev: {
    ns: 1_400,
    source: 'as migrated_page_to_vram: no published P2P migration figure',
  },
  migrate_byte: { ns: 0.106, source: 'Xe VRAM copy 2 MiB in 223 us (9.4 GB/s)' },
  cpu_fault: { ns: 1_000, source: 'guess: anonymous page fault' },
  cpu_page_migrate: { ns: 3_900, source: 'move_pages 512 x 4 KiB in 1987 us (Zi Yan 2017)' },
  cpu_access_page: { ns: 100, source: 'guess: 4 KiB at about 40 GB/s' },
  gpu_access_page: { ns: 10, source: 'guess: 4 KiB at HBM bandwidth' },
  ioctl_entry: { ns: 1_000, source: 'guess: syscall and copy_from_user' },
  mm_syscall: { ns: 1_000, source: 'guess: syscall entry and vma-tree work of mmap/munmap/...' },
  vma_op: { ns: 300, source: 'guess: vma allocation, split or merge' },
  pte_op: { ns: 10, source: 'guess: one pte changed (zap, write-protect, copy, move)' },
  page_alloc: { ns: 250, source: 'guess: allocate and zero a 4 KiB page' },
  page_copy: { ns: 200, source: 'guess: copy 4 KiB at about 20 GB/s' },
  swap_out_page: { ns: 5_000, source: 'guess: zram-like swap-out of one page' },
  swap_in_page: { ns: 5_000, source: 'guess: zram-like swap-in of one page' },
  gpusvm_notifier_created: {
    ns: 1_000,
    source: 'guess: drm_gpusvm notifier allocation and mmu_interval_notifier_insert',
  },
  gpusvm_notifier_removed: {
    ns: 500,
    source: 'guess: mmu_interval_notifier_remove and free',
  },
  gpusvm_get_pages_call: {
    ns: 500,
    source: 'guess: drm_gpusvm_get_pages setup, pfn array and notifier_lock round trips',
  },
  pagemap_migrate_call: {
    ns: 2_000,
    source: 'guess: drm_pagemap migration setup (zdd, buffers, copy submission)',
  },
  context_switch: {
    ns: 0,
    source: 'SIM: scheduling itself is free so that costs come from the model',
  },
} as const satisfies Record<string, CostEntry>;

export type CostName = keyof typeof DEFAULT_COSTS;

export function isCostName(s: string): s is CostName {
  return Object.prototype.hasOwnProperty.call(DEFAULT_COSTS, s);
}

export class CostTable {
  private readonly ns: Record<CostName, number>;

  constructor(overrides: Partial<Record<string, number>> = {}) {
    const table = {} as Record<CostName, number>;
    for (const name of Object.keys(DEFAULT_COSTS) as CostName[])
      table[name] = DEFAULT_COSTS[name].ns;
    this.ns = table;
    for (const [name, v] of Object.entries(overrides)) if (v !== undefined) this.set(name, v);
  }

  /** Change one cost; an unknown name or a negative value is an error naming the problem. */
  set(name: string, ns: number): void {
    if (!isCostName(name)) {
      throw new RangeError(
        `unknown cost '${name}' (known: ${Object.keys(DEFAULT_COSTS).join(', ')})`,
      );
    }
    if (!(ns >= 0) || !Number.isFinite(ns)) {
      throw new RangeError(`cost '${name}' must be a non-negative time, got ${ns}`);
    }
    this.ns[name] = ns;
  }

  get(name: CostName): number {
    return this.ns[name];
  }

  /** Every cost in ns, by name. */
  snapshot(): Record<CostName, number> {
    return { ...this.ns };
  }
}

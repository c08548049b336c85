/**
 * The drm_gpusvm structures, accessors, iterators and lock helpers (include/drm/drm_gpusvm.h
 * as the newest drm_gpusvm.c uses it; spec drm-gpusvm.md §1), plus the two tree lookups
 * every other file needs (drm_gpusvm.c drm_gpusvm_notifier_find,
 * drm_gpusvm_range_find).
 *
 * Addresses and sizes are page numbers (SIM: the C takes bytes; chunk sizes, notifier size,
 * the VA window and check_pages_threshold are pages here, so SZ_4K is 1).
 */
import { type Mutex, RwSemaphore, down_read, lockdep_assert_held, up_read } from '../sim/locks.js';
import { Kref } from '../sim/kref.js';
import type { Co } from '../sim/task.js';
import { WARN_ON } from '../sim/trap.js';
import { MmuIntervalNotifier, type MmStruct, type MmuNotifierRange } from '../mm/mm_types.js';
import type { drm_device, drm_pagemap, drm_pagemap_addr } from './drm_pagemap_types.js';
import {
  interval_tree_iter_first,
  itree_lower_bound,
  itree_overlapping,
  type interval_tree_node,
} from './itree.js';

/** LONG_MAX: chunk-selection failure and the initial notifier_seq (SIM: 2^53 - 1). */
export const LONG_MAX = Number.MAX_SAFE_INTEGER;

/** ERR_PTR-style results: a negative errno where C returns ERR_PTR(err). */
export function IS_ERR<T extends object>(p: T | number): p is number {
  return typeof p === 'number';
}

/** struct drm_gpusvm_ctx: per-call arguments; every field defaults to 0 / false / NULL. */
export interface drm_gpusvm_ctx {
  /** hmm_range.dev_private_owner: device pages of this owner are mapped in place. */
  device_private_page_owner?: object | null;
  /** Chunks of at most this many pages are created only over CPU-present pages. */
  check_pages_threshold?: number;
  /** Minimum time migrated memory stays put (passed on to populate_mm). */
  timeslice_ms?: number;
  /** The caller holds notifier_lock for write (it is the invalidate callback). */
  in_notifier?: boolean;
  read_only?: boolean;
  devmem_possible?: boolean;
  /** get_pages fails with -EFAULT on any system page. */
  devmem_only?: boolean;
  /** Allow system pages mixed with the pages of one drm_pagemap. */
  allow_mixed?: boolean;
}

/** struct drm_gpusvm_pages_flags. All but migrate_devmem change under notifier_lock. */
export interface drm_gpusvm_pages_flags {
  /** Set once at creation: the range may be migrated to device memory. */
  migrate_devmem: boolean;
  /** The CPU range was unmapped (MMU_NOTIFY_UNMAP); notifier_lock write. */
  unmapped: boolean;
  /** The unmap covered only part of the range; notifier_lock write. */
  partial_unmap: boolean;
  has_devmem_pages: boolean;
  has_dma_mapping: boolean;
}

/** READ_ONCE(flags.__flags): a copy of the flags word. */
export function drm_gpusvm_pages_flags_read(f: drm_gpusvm_pages_flags): drm_gpusvm_pages_flags {
  return { ...f };
}

/**
 * struct drm_gpusvm_pages: the DMA state of a range. notifier_lock protects all of it; the
 * flags word is replaced whole (WRITE_ONCE) so opportunistic readers see a consistent word.
 */
export class drm_gpusvm_pages {
  /** One entry per mapping (compacted index j), or null when freed. */
  dma_addr: drm_pagemap_addr[] | null = null;
  /** The drm_pagemap of the device pages mapped (one per range), referenced. */
  dpagemap: drm_pagemap | null = null;
  /** mmu_interval_read_begin() value of the last successful get_pages. */
  notifier_seq = LONG_MAX;
  flags: drm_gpusvm_pages_flags = {
    migrate_devmem: false,
    unmapped: false,
    partial_unmap: false,
    has_devmem_pages: false,
    has_dma_mapping: false,
  };
}

/** struct drm_gpusvm_range: [itree.start, itree.last] in pages. Drivers may extend it. */
export class drm_gpusvm_range {
  gpusvm!: drm_gpusvm;
  notifier!: drm_gpusvm_notifier;
  readonly refcount = new Kref('drm_gpusvm_range');
  readonly itree: interval_tree_node = { start: 0, last: 0 };
  readonly pages = new drm_gpusvm_pages();
}

/** The embedded struct mmu_interval_notifier, with container_of back to its notifier. */
export class drm_gpusvm_mmu_interval_notifier extends MmuIntervalNotifier {
  constructor(readonly container: drm_gpusvm_notifier) {
    super('drm_gpusvm_notifier');
  }
}

/** struct drm_gpusvm_notifier: one aligned notifier_size window and its ranges. */
export class drm_gpusvm_notifier {
  gpusvm!: drm_gpusvm;
  readonly notifier = new drm_gpusvm_mmu_interval_notifier(this);
  readonly itree: interval_tree_node = { start: 0, last: 0 };
  /** The range tree and range_list (SIM: one sorted array). notifier_lock + driver lock. */
  readonly root: drm_gpusvm_range[] = [];
  readonly flags = { removed: false };
}

/** struct drm_gpusvm_ops. */
export interface drm_gpusvm_ops {
  notifier_alloc?(): drm_gpusvm_notifier | null;
  notifier_free?(notifier: drm_gpusvm_notifier): void;
  range_alloc?(gpusvm: drm_gpusvm): drm_gpusvm_range | null;
  range_free?(range: drm_gpusvm_range): void;
  /**
   * Invalidate the GPU page tables for mmu_range; called with notifier_lock held for
   * write. It may walk the notifier's ranges and must DMA-unmap the overlapping ones.
   */
  invalidate(gpusvm: drm_gpusvm, notifier: drm_gpusvm_notifier, mmu_range: MmuNotifierRange): Co;
}

/**
 * struct drm_gpusvm: one per GPU VM, embedded by the driver. No refcount.
 * Locking (DOC: Locking): notifier_lock protects the notifier tree, every range tree and
 * every range's DMA state and sequence number; the driver lock (drm_gpusvm_driver_set_lock)
 * serialises find_or_insert and range_remove, which edit the trees.
 */
export class drm_gpusvm {
  name = '';
  drm!: drm_device;
  mm: MmStruct | null = null;
  mm_start = 0;
  mm_range = 0;
  notifier_size = 0;
  ops: drm_gpusvm_ops | null = null;
  chunk_sizes: readonly number[] = [];
  num_chunks = 0;
  readonly notifier_lock = new RwSemaphore('drm_gpusvm->notifier_lock');
  /** The notifier tree and notifier_list (SIM: one sorted array). */
  readonly root: drm_gpusvm_notifier[] = [];
  /** The driver lock recorded by drm_gpusvm_driver_set_lock (CONFIG_LOCKDEP). */
  lock_dep_map: Mutex | RwSemaphore | null = null;
  /**
   * SIM: put back the flaw fixed by "drm/gpusvm: Force unmap of all pages in error path"
   * (Brost, 2026-01-30, Cc stable): get_pages' err_unmap tests the stored has_dma_mapping,
   * so pages mapped before a mid-walk error stay DMA-mapped. Off by default.
   */
  sim_err_unmap_unfixed = false;
  /**
   * SIM: put back the upstream flaw the model fixes: get_pages' err_unmap device-unmaps
   * through svm_pages->dpagemap, which holds the previous walk's drm_pagemap (or NULL), not
   * the one whose device_map this walk called; so device pages mapped before a mid-walk
   * error are not device-unmapped (a P2P dma_map_resource leaks). Off by default.
   */
  sim_err_unmap_dpagemap_unfixed = false;
}

export function drm_gpusvm_range_start(range: drm_gpusvm_range): number {
  return range.itree.start;
}
export function drm_gpusvm_range_end(range: drm_gpusvm_range): number {
  return range.itree.last + 1;
}
export function drm_gpusvm_range_size(range: drm_gpusvm_range): number {
  return drm_gpusvm_range_end(range) - drm_gpusvm_range_start(range);
}
export function drm_gpusvm_notifier_start(notifier: drm_gpusvm_notifier): number {
  return notifier.itree.start;
}
export function drm_gpusvm_notifier_end(notifier: drm_gpusvm_notifier): number {
  return notifier.itree.last + 1;
}
export function drm_gpusvm_notifier_size(notifier: drm_gpusvm_notifier): number {
  return drm_gpusvm_notifier_end(notifier) - drm_gpusvm_notifier_start(notifier);
}

/** drm_gpusvm_notifier_lock: notifier_lock for read. */
export function drm_gpusvm_notifier_lock(gpusvm: drm_gpusvm): Co {
  return down_read(gpusvm.notifier_lock);
}
export function drm_gpusvm_notifier_unlock(gpusvm: drm_gpusvm): void {
  up_read(gpusvm.notifier_lock);
}

/** drm_gpusvm_driver_set_lock: record the driver lock, once (a second call WARNs). */
export function drm_gpusvm_driver_set_lock(gpusvm: drm_gpusvm, lock: Mutex | RwSemaphore): void {
  if (!WARN_ON(gpusvm.lock_dep_map !== null, 'GPUSVM range lock should be set only once.'))
    gpusvm.lock_dep_map = lock;
}

/**
 * drm_gpusvm.c drm_gpusvm_driver_lock_held: lock_is_held_type(map, 0), i.e. held
 * exclusively (a mutex, or an rw_semaphore for write).
 */
export function drm_gpusvm_driver_lock_held(gpusvm: drm_gpusvm): void {
  if (gpusvm.lock_dep_map) lockdep_assert_held(gpusvm.lock_dep_map, 'write');
}

/** drm_gpusvm.c drm_gpusvm_notifier_find: the first notifier overlapping [start, end). */
export function drm_gpusvm_notifier_find(
  gpusvm: drm_gpusvm,
  start: number,
  end: number,
): drm_gpusvm_notifier | undefined {
  return interval_tree_iter_first(gpusvm.root, start, end - 1);
}

/** drm_gpusvm.c drm_gpusvm_range_find: the first range of the notifier overlapping [start, end). */
export function drm_gpusvm_range_find(
  notifier: drm_gpusvm_notifier,
  start: number,
  end: number,
): drm_gpusvm_range | undefined {
  return interval_tree_iter_first(notifier.root, start, end - 1);
}

/**
 * drm_gpusvm_for_each_range: the notifier's ranges overlapping [start, end), walking the
 * live list (do not remove while iterating; use the _safe form).
 */
export function* drm_gpusvm_for_each_range(
  notifier: drm_gpusvm_notifier,
  start: number,
  end: number,
): Generator<drm_gpusvm_range, void, undefined> {
  const a = notifier.root;
  for (let i = itree_lower_bound(a, start); i < a.length; i++) {
    const r = a[i] as drm_gpusvm_range;
    if (r.itree.start >= end) return;
    yield r;
  }
}

/** drm_gpusvm_for_each_range_safe: a snapshot, so ranges may be removed meanwhile. */
export function drm_gpusvm_for_each_range_safe(
  notifier: drm_gpusvm_notifier,
  start: number,
  end: number,
): drm_gpusvm_range[] {
  return itree_overlapping(notifier.root, start, end);
}

/** drm_gpusvm_for_each_notifier over [start, end) (live list). */
export function* drm_gpusvm_for_each_notifier(
  gpusvm: drm_gpusvm,
  start: number,
  end: number,
): Generator<drm_gpusvm_notifier, void, undefined> {
  const a = gpusvm.root;
  for (let i = itree_lower_bound(a, start); i < a.length; i++) {
    const n = a[i] as drm_gpusvm_notifier;
    if (n.itree.start >= end) return;
    yield n;
  }
}

/** drm_gpusvm_for_each_notifier_safe: a snapshot. */
export function drm_gpusvm_for_each_notifier_safe(
  gpusvm: drm_gpusvm,
  start: number,
  end: number,
): drm_gpusvm_notifier[] {
  return itree_overlapping(gpusvm.root, start, end);
}

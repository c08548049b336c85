/**
 * struct amdgpu_svm_range: the drm_gpusvm range extended with the driver's GPU-mapping state
 * and work-queue linkage (RFC V1 patch 06, amdgpu_svm_range.h; shared/spec/rfc-series.md
 * §3.1), its kmem_cache allocation through drm_gpusvm_ops.range_alloc / range_free (V1 patch
 * 10), and the small predicates the mapping loop and the notifier share (V1 patch 07-08).
 * Shared by the designs: a later design keeps these fields and ignores the ones it lacks.
 */
import {
  drm_gpusvm_range,
  drm_gpusvm_range_pages_valid,
  type drm_gpusvm,
} from '../../drm/index.js';
import { lockdep_assert_held } from '../../sim/locks.js';
import { getSim } from '../../sim/scheduler.js';
import {
  AMDGPU_SVM_ACCESS_ENABLE,
  AMDGPU_SVM_ACCESS_IN_PLACE,
  AMDGPU_SVM_ULONG_MAX,
  type amdgpu_svm_attr_access,
  type amdgpu_svm_attrs,
} from './attr_types.js';

/** enum amdgpu_svm_range_pending_op (V1 patch 07). */
export const AMDGPU_SVM_RANGE_PENDING_OP_NONE = 0;
export const AMDGPU_SVM_RANGE_PENDING_OP_UNMAP = 1 << 0;
export const AMDGPU_SVM_RANGE_PENDING_OP_RESTORE = 1 << 1;

/**
 * struct amdgpu_svm_range (V1 patch 06). Lock rules:
 * - base.itree / base.pages: drm_gpusvm's (driver lock for the tree, notifier_lock for the
 *   DMA state);
 * - gpu_mapped: WRITE_ONCE/READ_ONCE; set by the mapping loop under svm_lock (write), cleared
 *   there or by the notifier under notifier_lock (write), read locklessly and re-checked
 *   under notifier_lock before a skip is trusted (clarifications.md §1);
 * - pte_flags, attr_flags: written by the mapping loop under svm_lock (write); the notifier
 *   reads attr_flags locklessly (has_always_mapped_range);
 * - gc_queued, restore_queued, in_queue, pending_ops, pending_start, pending_last and the list
 *   membership (gc_node): svm->gc_lock.
 */
export class amdgpu_svm_range extends drm_gpusvm_range {
  /** The range's PTEs are programmed (and its cached flags describe them). */
  gpu_mapped = false;
  /** On svm->gc_list. gc_lock. */
  gc_queued = false;
  /** On svm->restore_work_list. gc_lock. */
  restore_queued = false;
  /** Holds the work-queue reference (drm_gpusvm_range_get). gc_lock. */
  in_queue = false;
  /** AMDGPU_SVM_RANGE_PENDING_OP_* bits. gc_lock. */
  pending_ops = AMDGPU_SVM_RANGE_PENDING_OP_NONE;
  /** Accumulated pending page interval; empty while pending_start > pending_last. gc_lock. */
  pending_start = AMDGPU_SVM_ULONG_MAX;
  pending_last = 0;
  /** PTE flags the range was last mapped with. svm_lock. */
  pte_flags = 0;
  /** Attribute flags (AMDGPU_SVM_FLAG_*) the range was last mapped with. svm_lock. */
  attr_flags = 0;
}

/** to_amdgpu_svm_range: container_of the drm_gpusvm range. */
export function to_amdgpu_svm_range(range: drm_gpusvm_range): amdgpu_svm_range {
  return range as amdgpu_svm_range;
}

/** Live amdgpu_svm_range objects (allocated, not yet freed), for the teardown leak check. */
export const SVM_RANGES_LIVE = 'svm_ranges_live';

/**
 * amdgpu_svm_range_alloc (V1 patch 10): kmem_cache_zalloc from amdgpu_svm_range_cache with
 * pending_start = ULONG_MAX. SIM: the cache never fails.
 */
export function amdgpu_svm_range_alloc(_gpusvm: drm_gpusvm): drm_gpusvm_range {
  getSim().counters.add(SVM_RANGES_LIVE, 1);
  return new amdgpu_svm_range();
}

/** amdgpu_svm_range_free (V1 patch 10): kmem_cache_free, on the last drm_gpusvm_range_put. */
export function amdgpu_svm_range_free(_range: drm_gpusvm_range): void {
  getSim().counters.add(SVM_RANGES_LIVE, -1);
}

/** range_has_access (V1 patch 07): ENABLE or IN_PLACE grants the GPU access. */
export function range_has_access(access: amdgpu_svm_attr_access): boolean {
  return access === AMDGPU_SVM_ACCESS_ENABLE || access === AMDGPU_SVM_ACCESS_IN_PLACE;
}

/** range_invalidate_gpu_mapping (V1 patch 07): WRITE_ONCE(gpu_mapped, false). */
export function range_invalidate_gpu_mapping(range: drm_gpusvm_range): void {
  to_amdgpu_svm_range(range).gpu_mapped = false;
}

/**
 * range_attr_match (V1 patch 07): the range is mapped, with these PTE flags and these
 * attribute flags (the skip test of the mapping loop, clarifications.md §1).
 */
export function range_attr_match(
  range: drm_gpusvm_range,
  attrs: Readonly<amdgpu_svm_attrs>,
  pte_flags: number,
): boolean {
  const r = to_amdgpu_svm_range(range);
  if (!r.gpu_mapped) return false;
  return r.pte_flags === pte_flags && r.attr_flags === attrs.flags;
}

/**
 * range_pages_valid (V1 patch 07): not unmapped, not partially unmapped, and the DMA mapping
 * is still there (drm_gpusvm_range_pages_valid). notifier_lock held.
 */
export function range_pages_valid(gpusvm: drm_gpusvm, range: drm_gpusvm_range): boolean {
  lockdep_assert_held(gpusvm.notifier_lock);
  if (range.pages.flags.unmapped || range.pages.flags.partial_unmap) return false;
  return drm_gpusvm_range_pages_valid(gpusvm, range);
}

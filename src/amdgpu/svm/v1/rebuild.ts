/**
 * V1 "rebuild after destroy" (RFC V1 patch 08, amdgpu_svm_range.c;
 * shared/spec/rfc-series.md §3.4, cover letter question 1): drm_gpusvm cannot split a range,
 * so unmapping part of one destroys all of it; with XNACK off the driver removes every
 * overlapping range and re-maps the whole removed span from the attribute tree.
 */
import {
  drm_gpusvm_for_each_notifier,
  drm_gpusvm_for_each_notifier_safe,
  drm_gpusvm_for_each_range,
  drm_gpusvm_for_each_range_safe,
  drm_gpusvm_range_end,
  drm_gpusvm_range_remove,
  drm_gpusvm_range_start,
  drm_gpusvm_range_unmap_pages,
  type drm_gpusvm_ctx,
  type drm_gpusvm_range,
} from '../../../drm/index.js';
import { lockdep_assert_held } from '../../../sim/locks.js';
import { getSim } from '../../../sim/scheduler.js';
import type { Co } from '../../../sim/task.js';
import type { amdgpu_svm } from '../amdgpu_svm.js';
import { amdgpu_svm_range_update_gpu } from '../amdgpu_svm_gpu.js';
import { range_invalidate_gpu_mapping } from '../amdgpu_svm_range.js';
import { AMDGPU_SVM_ULONG_MAX } from '../attr_types.js';
import { amdgpu_svm_range_map_attr_ranges } from './map.js';
import '../events.js';

/**
 * amdgpu_svm_range_remove (V1 patch 08): DMA-unmap unless the notifier already did (unmapped
 * or partially unmapped), clear gpu_mapped, drm_gpusvm_range_remove. The PTEs are left to
 * the caller. svm_lock held for write.
 */
export function* amdgpu_svm_range_remove(
  svm: amdgpu_svm,
  range: drm_gpusvm_range,
  ctx: drm_gpusvm_ctx,
): Co {
  lockdep_assert_held(svm.svm_lock, 'write');
  if (!range.pages.flags.unmapped && !range.pages.flags.partial_unmap)
    yield* drm_gpusvm_range_unmap_pages(svm.gpusvm, range, ctx);
  range_invalidate_gpu_mapping(range);
  yield* drm_gpusvm_range_remove(svm.gpusvm, range);
}

/** What amdgpu_svm_range_remove_overlaps found: the union of the removed ranges. */
export interface amdgpu_svm_removed_span {
  removed: boolean;
  rebuild_start: number;
  rebuild_last: number;
}

/**
 * amdgpu_svm_range_remove_overlaps (V1 patch 08): remove every range overlapping
 * [start_page, last_page], whole, and record the union of what was removed (lowest start,
 * highest last). svm_lock held for write.
 */
export function* amdgpu_svm_range_remove_overlaps(
  svm: amdgpu_svm,
  start_page: number,
  last_page: number,
): Co<amdgpu_svm_removed_span> {
  lockdep_assert_held(svm.svm_lock, 'write');
  const ctx: drm_gpusvm_ctx = { in_notifier: false };
  const start = start_page;
  const end = last_page + 1;
  const span = { removed: false, rebuild_start: AMDGPU_SVM_ULONG_MAX, rebuild_last: 0 };
  // remove overlap ranges, need to remove entire range
  for (const notifier of drm_gpusvm_for_each_notifier_safe(svm.gpusvm, start, end)) {
    for (const range of drm_gpusvm_for_each_range_safe(notifier, start, end)) {
      span.removed = true;
      span.rebuild_start = Math.min(span.rebuild_start, drm_gpusvm_range_start(range));
      span.rebuild_last = Math.max(span.rebuild_last, drm_gpusvm_range_end(range) - 1);
      yield* amdgpu_svm_range_remove(svm, range, ctx);
    }
  }
  return span;
}

/**
 * amdgpu_svm_range_rebuild_locked (V1 patch 08): remove the overlapping ranges; then with
 * `rebuild` (XNACK off) re-map the whole removed span from the attribute tree (pages just
 * unmapped have lost their attributes, so they map as defaults: access NONE, skipped); else
 * clear the span's PTEs and flush the TLB. svm_lock held for write.
 */
export function* amdgpu_svm_range_rebuild_locked(
  svm: amdgpu_svm,
  start_page: number,
  last_page: number,
  rebuild: boolean,
): Co<number> {
  lockdep_assert_held(svm.svm_lock, 'write');
  const span = yield* amdgpu_svm_range_remove_overlaps(svm, start_page, last_page);
  getSim().trace.emit('svm.range.rebuild', {
    gpu: svm.adev.name,
    start: span.removed ? span.rebuild_start : start_page,
    last: span.removed ? span.rebuild_last : last_page,
    rebuild,
    removed: span.removed,
  });
  if (!span.removed) return 0;
  // scan rebuild start end to build the extra removed ranges
  if (rebuild)
    return yield* amdgpu_svm_range_map_attr_ranges(svm, span.rebuild_start, span.rebuild_last);
  const ret = yield* amdgpu_svm_range_update_gpu(
    svm,
    span.rebuild_start,
    span.rebuild_last,
    0,
    null,
    true,
    true,
    true,
  );
  if (!ret) yield* svm.flush_tlb(svm);
  return ret;
}

/** amdgpu_svm_range_interval_has_range (V1 patch 09): any range in [start, last]? svm_lock. */
export function amdgpu_svm_range_interval_has_range(
  svm: amdgpu_svm,
  start_page: number,
  last_page: number,
): boolean {
  lockdep_assert_held(svm.svm_lock);
  const end = last_page + 1;
  for (const notifier of drm_gpusvm_for_each_notifier(svm.gpusvm, start_page, end)) {
    for (const _range of drm_gpusvm_for_each_range(notifier, start_page, end)) return true;
  }
  return false;
}

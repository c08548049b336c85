/**
 * The V1 MMU-notifier callback (RFC V1 patch 08 `amdgpu_svm_range_invalidate`;
 * shared/spec/rfc-series.md §3.4, clarifications.md §2, §4). Runs in the task that changes
 * the CPU page tables, with notifier_lock held for write, so it never takes svm_lock. Three
 * cases by event and XNACK mode:
 * - UNMAP: clear the PTEs of the unmapped part, DMA-unmap, mark unmapped, queue to the GC
 *   (with XNACK off also quiesce first: the GC rebuilds the survivors, the restore resumes);
 * - any other event with XNACK off (or a GPU_ALWAYS_MAPPED range): quiesce first, DMA-unmap,
 *   queue to the restore worker; the PTEs stay, the stopped queues cannot use them;
 * - any other event with XNACK on: clear the PTEs and DMA-unmap; the GPU refaults.
 * RELEASE, an exiting instance, or no range in the interval: nothing.
 */
import {
  drm_gpusvm_for_each_range,
  drm_gpusvm_range_end,
  drm_gpusvm_range_find,
  drm_gpusvm_range_set_unmapped,
  drm_gpusvm_range_start,
  drm_gpusvm_range_unmap_pages,
  type drm_gpusvm_ctx,
  type drm_gpusvm_notifier,
} from '../../../drm/index.js';
import { MMU_NOTIFY_RELEASE, MMU_NOTIFY_UNMAP, mmu_notify_event_name } from '../../../mm/consts.js';
import type { MmuNotifierRange } from '../../../mm/mm_types.js';
import { atomic_read } from '../../../sim/kref.js';
import { lockdep_assert_held } from '../../../sim/locks.js';
import { getSim } from '../../../sim/scheduler.js';
import type { Co } from '../../../sim/task.js';
import type { amdgpu_svm } from '../amdgpu_svm.js';
import { amdgpu_svm_range_gpu_unmap_in_notifier } from '../amdgpu_svm_gpu.js';
import { range_invalidate_gpu_mapping, to_amdgpu_svm_range } from '../amdgpu_svm_range.js';
import { AMDGPU_SVM_FLAGS } from '../uapi.js';
import { FLAW_NO_TLB_FLUSH, amdgpu_svm_flaw } from './flaws.js';
import { amdgpu_svm_range_begin_restore, amdgpu_svm_range_enqueue } from './queue.js';
import {
  AMDGPU_SVM_RANGE_NOTIFIER_CLEAR_PTE,
  AMDGPU_SVM_RANGE_NOTIFIER_QUEUE_INTERVAL,
  AMDGPU_SVM_RANGE_OP_RESTORE,
  AMDGPU_SVM_RANGE_OP_UNMAP,
  NEED_REBUILD,
  type amdgpu_svm_range_queue_op,
} from './work_types.js';
import '../events.js';

/** has_always_mapped_range (V1 patch 08): a range in the interval mapped GPU_ALWAYS_MAPPED. */
function has_always_mapped_range(
  notifier: drm_gpusvm_notifier,
  mmu_range: MmuNotifierRange,
): boolean {
  for (const range of drm_gpusvm_for_each_range(notifier, mmu_range.start, mmu_range.end)) {
    if (to_amdgpu_svm_range(range).attr_flags & AMDGPU_SVM_FLAGS.GPU_ALWAYS_MAPPED) return true;
  }
  return false;
}

/**
 * amdgpu_svm_range_process_notifier_ranges (V1 patch 08): for each range of the notifier in
 * the interval: clear its PTEs clamped to the interval (CLEAR_PTE, an unlocked update with a
 * TLB flush and a fence wait) and gpu_mapped; DMA-unmap the whole range (in_notifier); mark
 * it unmapped on UNMAP; queue the clamped page interval (QUEUE_INTERVAL). One more TLB flush
 * after the loop when PTEs were cleared (clarifications.md §2).
 */
function* amdgpu_svm_range_process_notifier_ranges(
  svm: amdgpu_svm,
  notifier: drm_gpusvm_notifier,
  mmu_range: MmuNotifierRange,
  notifier_op: number,
  queue_op: amdgpu_svm_range_queue_op,
): Co {
  const ctx: drm_gpusvm_ctx = { in_notifier: true };
  const queue_ranges = (notifier_op & AMDGPU_SVM_RANGE_NOTIFIER_QUEUE_INTERVAL) !== 0;
  const clear_pte = (notifier_op & AMDGPU_SVM_RANGE_NOTIFIER_CLEAR_PTE) !== 0;
  const is_unmap = mmu_range.event === MMU_NOTIFY_UNMAP;
  let has_range = false;
  lockdep_assert_held(svm.gpusvm.notifier_lock);
  for (const range of drm_gpusvm_for_each_range(notifier, mmu_range.start, mmu_range.end)) {
    has_range = true;
    if (clear_pte) {
      yield* amdgpu_svm_range_gpu_unmap_in_notifier(svm, range, mmu_range);
      range_invalidate_gpu_mapping(range);
    }
    yield* drm_gpusvm_range_unmap_pages(svm.gpusvm, range, ctx);
    if (is_unmap) drm_gpusvm_range_set_unmapped(range, mmu_range);
    if (queue_ranges) {
      const start = Math.max(drm_gpusvm_range_start(range), mmu_range.start);
      const last = Math.min(drm_gpusvm_range_end(range), mmu_range.end) - 1;
      yield* amdgpu_svm_range_enqueue(svm, to_amdgpu_svm_range(range), start, last, queue_op);
    }
  }
  // FLAW flaw-no-tlb-flush (clarifications.md §2, RFC V1 patch 08): no flush after the loop
  // either, so the GPU TLB keeps translations of the cleared PTEs.
  if (has_range && clear_pte && !amdgpu_svm_flaw(svm, FLAW_NO_TLB_FLUSH)) yield* svm.flush_tlb(svm);
}

/** amdgpu_svm_range_invalidate (V1 patch 08): the dispatcher by event and XNACK mode. */
export function* amdgpu_svm_range_invalidate(
  svm: amdgpu_svm,
  notifier: drm_gpusvm_notifier,
  mmu_range: MmuNotifierRange,
): Co {
  const is_unmap = mmu_range.event === MMU_NOTIFY_UNMAP;
  if (mmu_range.event === MMU_NOTIFY_RELEASE) return;
  if (atomic_read(svm.exiting)) return;
  if (!drm_gpusvm_range_find(notifier, mmu_range.start, mmu_range.end)) return;
  let op: number;
  let queue_op: amdgpu_svm_range_queue_op;
  if (is_unmap) {
    op = AMDGPU_SVM_RANGE_NOTIFIER_CLEAR_PTE | AMDGPU_SVM_RANGE_NOTIFIER_QUEUE_INTERVAL;
    queue_op = AMDGPU_SVM_RANGE_OP_UNMAP;
    if (NEED_REBUILD(svm)) yield* amdgpu_svm_range_begin_restore(svm);
  } else if (NEED_REBUILD(svm) || has_always_mapped_range(notifier, mmu_range)) {
    op = AMDGPU_SVM_RANGE_NOTIFIER_QUEUE_INTERVAL;
    queue_op = AMDGPU_SVM_RANGE_OP_RESTORE;
    yield* amdgpu_svm_range_begin_restore(svm);
  } else {
    op = AMDGPU_SVM_RANGE_NOTIFIER_CLEAR_PTE;
    queue_op = AMDGPU_SVM_RANGE_OP_RESTORE;
  }
  getSim().trace.emit('svm.range.invalidate', {
    gpu: svm.adev.name,
    start: mmu_range.start,
    end: mmu_range.end,
    event: mmu_notify_event_name(mmu_range.event),
    op,
  });
  yield* amdgpu_svm_range_process_notifier_ranges(svm, notifier, mmu_range, op, queue_op);
}

/**
 * V1 work queueing and KFD queue control (RFC V1 patch 09, amdgpu_svm_range.c;
 * shared/spec/rfc-series.md §4.1): enqueue with a range reference and pending bits,
 * dequeue, requeue, the reference drop once a range is off both lists, the eviction count
 * and the process-wide kgd2kfd_quiesce_mm / kgd2kfd_resume_mm round trip.
 */
import { drm_gpusvm_range_get, drm_gpusvm_range_put } from '../../../drm/index.js';
import { atomic_cmpxchg, atomic_inc_return, atomic_read, atomic_set } from '../../../sim/kref.js';
import { lockdep_assert_held, spin_lock, spin_unlock } from '../../../sim/locks.js';
import { getSim } from '../../../sim/scheduler.js';
import type { Co } from '../../../sim/task.js';
import { queue_delayed_work, queue_work } from '../../../sim/workqueue.js';
import { KFD_QUEUE_EVICTION_TRIGGER_SVM } from '../../kfd_priv.js';
import { kgd2kfd_quiesce_mm, kgd2kfd_resume_mm } from '../../kfd_queue.js';
import type { amdgpu_svm } from '../amdgpu_svm.js';
import {
  AMDGPU_SVM_RANGE_PENDING_OP_NONE,
  AMDGPU_SVM_RANGE_PENDING_OP_RESTORE,
  AMDGPU_SVM_RANGE_PENDING_OP_UNMAP,
  type amdgpu_svm_range,
} from '../amdgpu_svm_range.js';
import { AMDGPU_SVM_ULONG_MAX } from '../attr_types.js';
import {
  AMDGPU_SVM_RANGE_OP_UNMAP,
  AMDGPU_SVM_RANGE_RESTORE_DELAY_NS,
  NEED_REBUILD,
  v1_work,
  type amdgpu_svm_range_queue_op,
  type range_pending_op_ctx,
} from './work_types.js';
import '../events.js';

/** UNMAP_WORK(ops) / RESTORE_WORK(ops) (V1 patch 07). */
export function UNMAP_WORK(ops: number): boolean {
  return (ops & AMDGPU_SVM_RANGE_PENDING_OP_UNMAP) !== 0;
}
export function RESTORE_WORK(ops: number): boolean {
  return (ops & AMDGPU_SVM_RANGE_PENDING_OP_RESTORE) !== 0;
}

/**
 * amdgpu_svm_range_enqueue (V1 patch 09): ignored while exiting. The first queueing takes a
 * drm_gpusvm_range reference (in_queue); the pending interval widens; UNMAP sets the UNMAP bit
 * (and RESTORE with XNACK off), RESTORE the RESTORE bit. UNMAP work goes on gc_list (moved
 * from the restore list if there) and kicks gc_work; RESTORE-only work goes on the restore
 * list and arms the delayed restore work (1 ms).
 */
export function* amdgpu_svm_range_enqueue(
  svm: amdgpu_svm,
  range: amdgpu_svm_range,
  start: number,
  last: number,
  op: amdgpu_svm_range_queue_op,
): Co {
  const w = v1_work(svm);
  let queue_gc_work = false;
  let queue_restore_work = false;
  if (atomic_read(svm.exiting)) return;
  yield* spin_lock(w.gc_lock);
  if (!range.in_queue) {
    drm_gpusvm_range_get(range);
    range.in_queue = true;
  }
  range.pending_start = Math.min(range.pending_start, start);
  range.pending_last = Math.max(range.pending_last, last);
  if (op === AMDGPU_SVM_RANGE_OP_UNMAP) {
    range.pending_ops |= AMDGPU_SVM_RANGE_PENDING_OP_UNMAP;
    if (NEED_REBUILD(svm)) range.pending_ops |= AMDGPU_SVM_RANGE_PENDING_OP_RESTORE;
  } else {
    range.pending_ops |= AMDGPU_SVM_RANGE_PENDING_OP_RESTORE;
  }
  if (UNMAP_WORK(range.pending_ops)) {
    if (range.restore_queued) {
      w.restore_work_list.delete(range); // list_move_tail
      w.gc_list.add(range);
      range.restore_queued = false;
      range.gc_queued = true;
    } else if (!range.gc_queued) {
      w.gc_list.add(range);
      range.gc_queued = true;
    }
    queue_gc_work = true;
  } else if (RESTORE_WORK(range.pending_ops)) {
    if (!range.gc_queued && !range.restore_queued) {
      w.restore_work_list.add(range);
      range.restore_queued = true;
    }
    queue_restore_work = true;
  }
  spin_unlock(w.gc_lock);
  getSim().trace.emit('svm.range.enqueue', {
    gpu: svm.adev.name,
    start,
    last,
    op: op === AMDGPU_SVM_RANGE_OP_UNMAP ? 'UNMAP' : 'RESTORE',
  });
  if (queue_gc_work) queue_work(w.gc_wq, w.gc_work);
  if (queue_restore_work)
    queue_delayed_work(w.restore_wq, w.restore_work, AMDGPU_SVM_RANGE_RESTORE_DELAY_NS);
}

/**
 * range_dequeue_locked (V1 patch 09): take the first range off `work_list` with its pending
 * interval and bits, which are reset. gc_lock held. null when the list is empty.
 */
export function range_dequeue_locked(
  svm: amdgpu_svm,
  work_list: Set<amdgpu_svm_range>,
  restore_queue: boolean,
): range_pending_op_ctx | null {
  lockdep_assert_held(v1_work(svm).gc_lock);
  const first = work_list.values().next();
  if (first.done) return null;
  const range = first.value;
  work_list.delete(range);
  if (restore_queue) range.restore_queued = false;
  else range.gc_queued = false;
  const op_ctx = {
    range,
    start: range.pending_start,
    last: range.pending_last,
    pending_ops: range.pending_ops,
  };
  range.pending_start = AMDGPU_SVM_ULONG_MAX;
  range.pending_last = 0;
  range.pending_ops = AMDGPU_SVM_RANGE_PENDING_OP_NONE;
  return op_ctx;
}

/** range_requeue_restore_locked (V1 patch 09): a failed restore goes back. gc_lock held. */
export function range_requeue_restore_locked(
  svm: amdgpu_svm,
  range: amdgpu_svm_range,
  start: number,
  last: number,
): void {
  const w = v1_work(svm);
  lockdep_assert_held(w.gc_lock);
  range.pending_start = Math.min(range.pending_start, start);
  range.pending_last = Math.max(range.pending_last, last);
  range.pending_ops |= AMDGPU_SVM_RANGE_PENDING_OP_RESTORE;
  if (!range.gc_queued && !range.restore_queued) {
    w.restore_work_list.add(range);
    range.restore_queued = true;
  }
}

/** range_try_dequeue (V1 patch 09): off both lists with nothing pending. gc_lock held. */
function range_try_dequeue(range: amdgpu_svm_range): boolean {
  if (!range.in_queue) return false;
  if (
    range.gc_queued ||
    range.restore_queued ||
    range.pending_start <= range.pending_last ||
    range.pending_ops !== AMDGPU_SVM_RANGE_PENDING_OP_NONE
  )
    return false;
  range.in_queue = false;
  return true;
}

/** range_put_if_dequeued (V1 patch 09): drop the queue's reference once it is no longer used. */
export function* range_put_if_dequeued(svm: amdgpu_svm, range: amdgpu_svm_range): Co {
  const w = v1_work(svm);
  yield* spin_lock(w.gc_lock);
  const dequeue = range_try_dequeue(range);
  spin_unlock(w.gc_lock);
  if (dequeue) drm_gpusvm_range_put(range);
}

/** amdgpu_svm_range_clean_queue (V1 patch 09): drain a list, dropping references. */
export function* amdgpu_svm_range_clean_queue(
  svm: amdgpu_svm,
  work_list: Set<amdgpu_svm_range>,
  restore_queue: boolean,
): Co {
  const w = v1_work(svm);
  yield* spin_lock(w.gc_lock);
  for (let op = range_dequeue_locked(svm, work_list, restore_queue); op;) {
    spin_unlock(w.gc_lock);
    yield* range_put_if_dequeued(svm, op.range);
    yield* spin_lock(w.gc_lock);
    op = range_dequeue_locked(svm, work_list, restore_queue);
  }
  spin_unlock(w.gc_lock);
}

/** amdgpu_svm_range_begin_restore (V1 patch 09): the 0 -> 1 eviction calls begin_restore. */
export function* amdgpu_svm_range_begin_restore(svm: amdgpu_svm): Co {
  const w = v1_work(svm);
  if (atomic_inc_return(w.evicted_ranges) !== 1) return;
  yield* w.begin_restore(svm);
}

/**
 * amdgpu_svm_range_restore_begin_compute (V1 patch 09, "POC/WA reuse kfd apis ... process
 * level, not GPU VM level"): quiesce the process's KFD queues on every GPU once per instance;
 * -ESRCH (no KFD process) or another error leaves the flag at 0.
 */
export function* amdgpu_svm_range_restore_begin_compute(svm: amdgpu_svm): Co {
  const w = v1_work(svm);
  const mm = svm.gpusvm.mm;
  if (!mm) return;
  if (atomic_cmpxchg(w.kfd_queues_quiesced, 0, 1) !== 0) return;
  const ret = yield* kgd2kfd_quiesce_mm(mm, KFD_QUEUE_EVICTION_TRIGGER_SVM);
  if (ret) atomic_set(w.kfd_queues_quiesced, 0);
  getSim().trace.emit('svm.restore', { gpu: svm.adev.name, action: 'begin', ret });
}

/** amdgpu_svm_range_restore_end_compute (V1 patch 09): resume what this instance quiesced. */
export function* amdgpu_svm_range_restore_end_compute(svm: amdgpu_svm): Co {
  const w = v1_work(svm);
  if (atomic_cmpxchg(w.kfd_queues_quiesced, 1, 0) !== 1) return;
  const mm = svm.gpusvm.mm;
  if (!mm) return;
  const ret = yield* kgd2kfd_resume_mm(mm);
  getSim().trace.emit('svm.restore', { gpu: svm.adev.name, action: 'end', ret });
}

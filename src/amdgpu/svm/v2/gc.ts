/**
 * The V2-design garbage collector, its only worker (RFC V3 patch 09 dequeue helpers, patch 11
 * amdgpu_svm_garbage_collector and the gc_init / fini / flush; shared/spec/rfc-series.md
 * §4.2). For each range the notifier queued on UNMAP: clear the attributes of its unmapped
 * pages (V3; V5 keeps them), remove the whole range (discard-and-refault: a partial munmap's
 * survivors are recreated by the next fault), drop the queue's reference. It runs from its
 * work item under svm_lock, and synchronously at the start of every fault attempt.
 */
import { drm_gpusvm_range_put, drm_gpusvm_range_remove } from '../../../drm/index.js';
import {
  down_write,
  lockdep_assert_held,
  spin_lock,
  spin_unlock,
  up_write,
} from '../../../sim/locks.js';
import { getSim } from '../../../sim/scheduler.js';
import type { Co } from '../../../sim/task.js';
import {
  WQ_HIGHPRI,
  WQ_MEM_RECLAIM,
  WQ_UNBOUND,
  WorkStruct,
  alloc_workqueue,
  destroy_workqueue,
  flush_work,
} from '../../../sim/workqueue.js';
import type { amdgpu_svm } from '../amdgpu_svm.js';
import type { amdgpu_svm_range } from '../amdgpu_svm_range.js';
import { amdgpu_svm_attr_clear_pages } from '../attr_clear.js';
import { AMDGPU_SVM_ULONG_MAX } from '../attr_types.js';
import {
  AMDGPU_SVM_GC_WQ_NAME,
  AMDGPU_SVM_RANGE_OP_NONE,
  GC_WORK_RUNS,
  SVM_GC_RANGES,
  SVM_GC_RANGES_IN_FAULT,
  UNMAP_WORK,
  amdgpu_svm_v2_work,
  v2_work,
  type amdgpu_svm_range_op_ctx,
} from './work_types.js';
import './events.js';

/**
 * amdgpu_svm_range_dequeue_locked (V3 patch 09): take the first range off `work_list` with its
 * pending interval and operations, which are reset. work_lock held. null when empty.
 */
export function amdgpu_svm_range_dequeue_locked(
  svm: amdgpu_svm,
  work_list: Set<amdgpu_svm_range>,
): amdgpu_svm_range_op_ctx | null {
  lockdep_assert_held(v2_work(svm).work_lock);
  const first = work_list.values().next();
  if (first.done) return null;
  const range = first.value;
  work_list.delete(range); // list_del_init
  range.gc_queued = false;
  const op_ctx: amdgpu_svm_range_op_ctx = {
    range,
    start_page: range.pending_start,
    last_page: range.pending_last,
    pending_ops: range.pending_ops,
  };
  range.pending_start = AMDGPU_SVM_ULONG_MAX;
  range.pending_last = 0;
  range.pending_ops = AMDGPU_SVM_RANGE_OP_NONE;
  return op_ctx;
}

/**
 * range_try_dequeue (V3 patch 09): the range leaves the queue (in_queue cleared) once it is
 * off the list with nothing pending. work_lock held.
 */
function range_try_dequeue(range: amdgpu_svm_range): boolean {
  if (!range.in_queue) return false;
  if (
    range.gc_queued ||
    range.pending_start <= range.pending_last ||
    range.pending_ops !== AMDGPU_SVM_RANGE_OP_NONE
  )
    return false;
  range.in_queue = false;
  return true;
}

/** amdgpu_svm_range_put_if_dequeued (V3 patch 09): drop the queue's range reference. */
export function* amdgpu_svm_range_put_if_dequeued(svm: amdgpu_svm, range: amdgpu_svm_range): Co {
  const w = v2_work(svm);
  yield* spin_lock(w.work_lock);
  const dequeue = range_try_dequeue(range);
  spin_unlock(w.work_lock);
  if (dequeue) drm_gpusvm_range_put(range);
}

/**
 * amdgpu_svm_garbage_collector (V3 patch 11): for every queued range with UNMAP work, clear the
 * attributes of its unmapped pages, then remove it; then drop the queue's reference. An
 * attribute-clear error returns at once (the range stays dequeued, as in the RFC).
 * svm_lock held for write. `in_fault` (SIM, for the counters) says the fault path runs it.
 */
export function* amdgpu_svm_garbage_collector(svm: amdgpu_svm, in_fault = false): Co<number> {
  const w = v2_work(svm);
  const sim = getSim();
  const gpu = svm.adev.name;
  lockdep_assert_held(svm.svm_lock, 'write');
  yield* spin_lock(w.work_lock);
  for (;;) {
    const op_ctx = amdgpu_svm_range_dequeue_locked(svm, w.gc.list);
    if (!op_ctx) break;
    spin_unlock(w.work_lock);
    if (UNMAP_WORK(op_ctx.pending_ops)) {
      const { start_page, last_page } = op_ctx;
      const ret = svm.attr_tree
        ? yield* amdgpu_svm_attr_clear_pages(svm.attr_tree, start_page, last_page)
        : 0;
      sim.trace.emit('svm.v2.gc', {
        gpu,
        pasid: svm.vm.pasid,
        start: start_page,
        last: last_page,
        in_fault,
        ret,
      });
      if (ret) return ret;
      yield* drm_gpusvm_range_remove(svm.gpusvm, op_ctx.range);
      sim.counters.add(SVM_GC_RANGES, 1, gpu);
      if (in_fault) sim.counters.add(SVM_GC_RANGES_IN_FAULT, 1, gpu);
    }
    yield* amdgpu_svm_range_put_if_dequeued(svm, op_ctx.range);
    yield* spin_lock(w.work_lock);
  }
  spin_unlock(w.work_lock);
  return 0;
}

/**
 * amdgpu_svm_range_clean_queue (V3 patch 11): dequeue everything without processing it and
 * drop the references (teardown).
 */
export function* amdgpu_svm_range_clean_queue(
  svm: amdgpu_svm,
  work_list: Set<amdgpu_svm_range>,
): Co {
  const w = v2_work(svm);
  yield* spin_lock(w.work_lock);
  for (;;) {
    const op_ctx = amdgpu_svm_range_dequeue_locked(svm, work_list);
    if (!op_ctx) break;
    spin_unlock(w.work_lock);
    yield* amdgpu_svm_range_put_if_dequeued(svm, op_ctx.range);
    yield* spin_lock(w.work_lock);
  }
  spin_unlock(w.work_lock);
}

/**
 * SIM (fix, see notifier.ts amdgpu_svm_range_remove): forget the GC work of a range removed
 * outside the GC, and drop the queue's reference. svm_lock held for write, so the GC cannot
 * hold the range dequeued; the range is out of its notifier, so no UNMAP can queue it again.
 */
export function* amdgpu_svm_gc_forget(svm: amdgpu_svm, range: amdgpu_svm_range): Co {
  const w = v2_work(svm);
  lockdep_assert_held(svm.svm_lock, 'write');
  yield* spin_lock(w.work_lock);
  if (range.gc_queued) {
    w.gc.list.delete(range);
    range.gc_queued = false;
  }
  range.pending_start = AMDGPU_SVM_ULONG_MAX;
  range.pending_last = 0;
  range.pending_ops = AMDGPU_SVM_RANGE_OP_NONE;
  spin_unlock(w.work_lock);
  yield* amdgpu_svm_range_put_if_dequeued(svm, range);
}

/** amdgpu_svm_garbage_collector_work_func (V3 patch 11): the GC under svm_lock. */
function* amdgpu_svm_garbage_collector_work_func(svm: amdgpu_svm): Co {
  const sim = getSim();
  sim.account(GC_WORK_RUNS, 1, 'gc_work_run', svm.adev.name);
  yield* down_write(svm.svm_lock);
  const ret = yield* amdgpu_svm_garbage_collector(svm);
  up_write(svm.svm_lock);
  sim.trace.emit('svm.work', { gpu: svm.adev.name, work: 'gc', action: 'run', ret });
}

/**
 * amdgpu_svm_gc_init (V3 patch 11): the "amdgpu_svm_gc" workqueue (unbound, high priority,
 * reclaim-safe), the list and the work item. SIM: allocation does not fail. The V3 init
 * refuses XNACK off before getting here ("amdgpu SVM is not supported with xnack off mode
 * temporarily"), see index.ts.
 */
export function amdgpu_svm_gc_init(svm: amdgpu_svm): number {
  const wq = alloc_workqueue(AMDGPU_SVM_GC_WQ_NAME, WQ_UNBOUND | WQ_HIGHPRI | WQ_MEM_RECLAIM, 0);
  const work = new WorkStruct(`amdgpu_svm_gc ${svm.adev.name}`, () =>
    amdgpu_svm_garbage_collector_work_func(svm),
  );
  svm.work = new amdgpu_svm_v2_work({ wq, list: new Set(), work });
  return 0;
}

/** amdgpu_svm_gc_fini (V3 patch 11): flush, drop what is still queued, destroy the queue. */
export function* amdgpu_svm_gc_fini(svm: amdgpu_svm): Co {
  const w = svm.work instanceof amdgpu_svm_v2_work ? svm.work : null;
  if (!w) return;
  yield* flush_work(w.gc.work);
  yield* amdgpu_svm_range_clean_queue(svm, w.gc.list);
  yield* destroy_workqueue(w.gc.wq);
}

/** amdgpu_svm_gc_flush (V3 patch 11): wait for the GC work (before SET_ATTR, in close). */
export function* amdgpu_svm_gc_flush(svm: amdgpu_svm): Co {
  const w = svm.work instanceof amdgpu_svm_v2_work ? svm.work : null;
  if (w) yield* flush_work(w.gc.work);
}

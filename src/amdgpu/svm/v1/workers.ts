/**
 * The V1 workers (RFC V1 patch 09, amdgpu_svm_range.c; shared/spec/rfc-series.md §4.1): the
 * GC worker (clear the attributes of unmapped pages, remove and rebuild), the ordered,
 * delayed restore worker (remap, then the compare-and-exchange of the eviction count and the
 * resume of the KFD queues), and the flush, sync and fini helpers.
 */
import { drm_gpusvm_notifier_lock, drm_gpusvm_notifier_unlock } from '../../../drm/index.js';
import { EFAULT } from '../../../sim/errno.js';
import { atomic_cmpxchg, atomic_read, atomic_set } from '../../../sim/kref.js';
import { down_write, spin_lock, spin_unlock, up_write } from '../../../sim/locks.js';
import { getSim } from '../../../sim/scheduler.js';
import type { Co } from '../../../sim/task.js';
import {
  DelayedWork,
  WQ_HIGHPRI,
  WQ_MEM_RECLAIM,
  WQ_UNBOUND,
  WorkStruct,
  alloc_ordered_workqueue,
  alloc_workqueue,
  cancel_delayed_work_sync,
  destroy_workqueue,
  flush_delayed_work,
  flush_work,
  flush_workqueue,
  queue_delayed_work,
} from '../../../sim/workqueue.js';
import type { amdgpu_svm } from '../amdgpu_svm.js';
import { amdgpu_svm_attr_clear_pages } from '../attr_clear.js';
import { FLAW_EARLY_RESUME, amdgpu_svm_flaw } from './flaws.js';
import { amdgpu_svm_range_map_attr_ranges } from './map.js';
import {
  RESTORE_WORK,
  UNMAP_WORK,
  amdgpu_svm_range_clean_queue,
  amdgpu_svm_range_enqueue,
  amdgpu_svm_range_restore_begin_compute,
  amdgpu_svm_range_restore_end_compute,
  range_dequeue_locked,
  range_put_if_dequeued,
  range_requeue_restore_locked,
} from './queue.js';
import { amdgpu_svm_range_interval_has_range, amdgpu_svm_range_rebuild_locked } from './rebuild.js';
import {
  AMDGPU_SVM_RANGE_OP_RESTORE,
  AMDGPU_SVM_RANGE_RESTORE_DELAY_NS,
  AMDGPU_SVM_RANGE_WQ_NAME,
  AMDGPU_SVM_RESTORE_WQ_NAME,
  NEED_REBUILD,
  amdgpu_svm_v1_work,
  v1_work,
} from './work_types.js';
import '../events.js';

/**
 * amdgpu_svm_range_process_unmap_interval (V1 patch 09): under svm_lock, clear the
 * attributes of [start, last], then remove and rebuild if ranges remain there.
 */
function* amdgpu_svm_range_process_unmap_interval(
  svm: amdgpu_svm,
  start: number,
  last: number,
  rebuild: boolean,
): Co<number> {
  let ret = 0;
  yield* down_write(svm.svm_lock);
  // clean attrs
  if (svm.attr_tree) yield* amdgpu_svm_attr_clear_pages(svm.attr_tree, start, last);
  // rebuild if needed
  if (amdgpu_svm_range_interval_has_range(svm, start, last))
    ret = yield* amdgpu_svm_range_rebuild_locked(svm, start, last, rebuild);
  up_write(svm.svm_lock);
  return ret;
}

/**
 * amdgpu_svm_range_gc_worker (V1 patch 09): for each range on gc_list, its UNMAP work, then
 * its RESTORE work: with XNACK off and a good rebuild, kick the restore worker (it ends the
 * restore phase); otherwise queue the interval for restore.
 */
function* amdgpu_svm_range_gc_worker(svm: amdgpu_svm): Co {
  const w = v1_work(svm);
  const sim = getSim();
  sim.account('gc_work_runs', 1, 'gc_work_run', svm.adev.name);
  yield* spin_lock(w.gc_lock);
  for (let op = range_dequeue_locked(svm, w.gc_list, false); op;) {
    spin_unlock(w.gc_lock);
    let ret = 0;
    if (UNMAP_WORK(op.pending_ops))
      ret = yield* amdgpu_svm_range_process_unmap_interval(
        svm,
        op.start,
        op.last,
        NEED_REBUILD(svm),
      );
    sim.trace.emit('svm.work', { gpu: svm.adev.name, work: 'gc', action: 'unmap', ret });
    if (RESTORE_WORK(op.pending_ops)) {
      // queue into restore wq, if rebuild failed
      if (NEED_REBUILD(svm) && !ret)
        queue_delayed_work(w.restore_wq, w.restore_work, AMDGPU_SVM_RANGE_RESTORE_DELAY_NS);
      else
        yield* amdgpu_svm_range_enqueue(
          svm,
          op.range,
          op.start,
          op.last,
          AMDGPU_SVM_RANGE_OP_RESTORE,
        );
    }
    yield* range_put_if_dequeued(svm, op.range);
    yield* spin_lock(w.gc_lock);
    op = range_dequeue_locked(svm, w.gc_list, false);
  }
  spin_unlock(w.gc_lock);
}

/**
 * The dequeue loop of amdgpu_svm_range_restore_worker (V1 patch 09): map every range on the
 * restore list under svm_lock; a failure requeues it. False when one failed.
 */
function* amdgpu_svm_range_restore_pass(svm: amdgpu_svm): Co<boolean> {
  const w = v1_work(svm);
  let ok = true;
  yield* spin_lock(w.gc_lock);
  for (let op = range_dequeue_locked(svm, w.restore_work_list, true); op;) {
    spin_unlock(w.gc_lock);
    yield* down_write(svm.svm_lock);
    const ret = yield* amdgpu_svm_range_map_attr_ranges(svm, op.start, op.last);
    up_write(svm.svm_lock);
    getSim().trace.emit('svm.work', { gpu: svm.adev.name, work: 'restore', action: 'map', ret });
    // SIM (fix): a restore queued while the mm was dying (with `migration: true`, another
    // process's VRAM eviction holds the mm across its invalidation and its last mmput)
    // fails -EFAULT for good; requeued it would be dequeued again by this very loop for
    // ever. Dropped, as KFD's restore worker does when get_task_mm finds the mm gone.
    if (ret === -EFAULT && (svm.gpusvm.mm?.mm_users ?? 0) <= 0) {
      yield* range_put_if_dequeued(svm, op.range);
      yield* spin_lock(w.gc_lock);
      op = range_dequeue_locked(svm, w.restore_work_list, true);
      continue;
    }
    if (ret) {
      yield* spin_lock(w.gc_lock);
      range_requeue_restore_locked(svm, op.range, op.start, op.last);
      spin_unlock(w.gc_lock);
      ok = false;
    }
    yield* range_put_if_dequeued(svm, op.range);
    yield* spin_lock(w.gc_lock);
    op = range_dequeue_locked(svm, w.restore_work_list, true);
  }
  spin_unlock(w.gc_lock);
  return ok;
}

/**
 * amdgpu_svm_range_restore_worker (V1 patch 09): nothing while exiting or with no eviction;
 * no mm: reset and end the restore. Map the restore list; when nothing failed and nothing is
 * pending, re-check under the notifier lock and gc_lock, and if the eviction count is still
 * the one read at the start (cmpxchg to 0) resume the queues. Otherwise re-arm.
 */
function* amdgpu_svm_range_restore_worker(svm: amdgpu_svm): Co {
  const w = v1_work(svm);
  getSim().account('restore_work_runs', 1, 'restore_work_run', svm.adev.name);
  if (atomic_read(svm.exiting)) return;
  const evicted_record = atomic_read(w.evicted_ranges);
  if (!evicted_record) return;
  if (!svm.gpusvm.mm) {
    atomic_set(w.evicted_ranges, 0);
    yield* w.end_restore(svm);
    return;
  }
  // FLAW flaw-early-resume (spec §4.1: "Restore: map, then resume the queues once all work
  // has drained and the eviction count still matches"): resume before the ranges are
  // remapped, so the queues run on PTEs whose DMA mappings the notifier dropped.
  if (amdgpu_svm_flaw(svm, FLAW_EARLY_RESUME)) yield* w.end_restore(svm);
  const need_resched = !(yield* amdgpu_svm_range_restore_pass(svm));
  yield* spin_lock(w.gc_lock);
  let has_pending = w.restore_work_list.size > 0 || w.gc_list.size > 0;
  spin_unlock(w.gc_lock);
  if (!need_resched && !has_pending) {
    yield* drm_gpusvm_notifier_lock(svm.gpusvm);
    yield* spin_lock(w.gc_lock);
    has_pending = w.restore_work_list.size > 0 || w.gc_list.size > 0;
    spin_unlock(w.gc_lock);
    if (!has_pending && atomic_cmpxchg(w.evicted_ranges, evicted_record, 0) === evicted_record) {
      drm_gpusvm_notifier_unlock(svm.gpusvm);
      yield* w.end_restore(svm);
      return;
    }
    drm_gpusvm_notifier_unlock(svm.gpusvm);
  }
  queue_delayed_work(w.restore_wq, w.restore_work, AMDGPU_SVM_RANGE_RESTORE_DELAY_NS);
}

/**
 * amdgpu_svm_range_work_init (V1 patch 09): the two workqueues, lists, works; compute VMs get
 * the KFD quiesce/resume callbacks (amdgpu_svm_init_compute, patch 10). 0.
 */
export function amdgpu_svm_range_work_init(svm: amdgpu_svm): number {
  const gc_wq = alloc_workqueue(
    AMDGPU_SVM_RANGE_WQ_NAME,
    WQ_UNBOUND | WQ_HIGHPRI | WQ_MEM_RECLAIM,
    0,
  );
  const restore_wq = alloc_ordered_workqueue(
    AMDGPU_SVM_RESTORE_WQ_NAME,
    WQ_HIGHPRI | WQ_MEM_RECLAIM,
  );
  svm.work = new amdgpu_svm_v1_work(
    gc_wq,
    restore_wq,
    new WorkStruct('gc_work', () => amdgpu_svm_range_gc_worker(svm)),
    new DelayedWork('restore_work', () => amdgpu_svm_range_restore_worker(svm)),
    amdgpu_svm_range_restore_begin_compute,
    amdgpu_svm_range_restore_end_compute,
  );
  return 0;
}

/** amdgpu_svm_range_flush (V1 patch 09): gc, then restore (its timer fired now), then gc. */
export function* amdgpu_svm_range_flush(svm: amdgpu_svm): Co {
  const w = v1_work(svm);
  yield* flush_work(w.gc_work);
  yield* flush_delayed_work(w.restore_work);
  yield* flush_work(w.gc_work);
}

/** amdgpu_svm_range_sync_work (V1 patch 09): flush, then both workqueues. */
export function* amdgpu_svm_range_sync_work(svm: amdgpu_svm): Co {
  const w = v1_work(svm);
  yield* amdgpu_svm_range_flush(svm);
  yield* flush_workqueue(w.gc_wq);
  yield* flush_workqueue(w.restore_wq);
}

/**
 * amdgpu_svm_range_work_fini (V1 patch 09): cancel the restore, flush the GC, drain both lists
 * (dropping references), reset the eviction count, resume queues this instance still holds
 * quiesced, destroy both workqueues.
 */
export function* amdgpu_svm_range_work_fini(svm: amdgpu_svm): Co {
  const w = v1_work(svm);
  yield* cancel_delayed_work_sync(w.restore_work);
  yield* flush_work(w.gc_work);
  yield* amdgpu_svm_range_clean_queue(svm, w.gc_list, false);
  yield* amdgpu_svm_range_clean_queue(svm, w.restore_work_list, true);
  atomic_set(w.evicted_ranges, 0);
  if (atomic_read(w.kfd_queues_quiesced)) yield* w.end_restore(svm);
  yield* destroy_workqueue(w.restore_wq);
  yield* destroy_workqueue(w.gc_wq);
}

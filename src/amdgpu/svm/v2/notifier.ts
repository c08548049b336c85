/**
 * The V2-design invalidation paths (RFC V3 patches 08 and 09, amdgpu_svm_range.c;
 * shared/spec/rfc-series.md §3.4, clarifications.md §2-§3):
 * - the two-phase MMU notifier: on UNMAP capture the IH checkpoint timestamp; pass 1
 *   (event_begin) zaps the PTEs of every GPU-mapped range, then one TLB flush; pass 2
 *   (event_end) DMA-unmaps every range and, on UNMAP, marks it unmapped and queues it to the
 *   GC. Other events take the same zap-and-unmap path with nothing queued: the GPU refaults;
 * - range removal, and invalidate_interval for the RANGE_SPLIT trigger: zap the whole of
 *   every GPU-mapped range in the interval, remove the ones crossing the new attribute
 *   boundary (the next fault recreates them inside it), one TLB flush at the end.
 * The notifier runs with notifier_lock held for write and never takes svm_lock.
 */
import {
  drm_gpusvm_for_each_notifier_safe,
  drm_gpusvm_for_each_range,
  drm_gpusvm_for_each_range_safe,
  drm_gpusvm_notifier_end,
  drm_gpusvm_notifier_start,
  drm_gpusvm_range_end,
  drm_gpusvm_range_find,
  drm_gpusvm_range_get,
  drm_gpusvm_range_remove,
  drm_gpusvm_range_set_unmapped,
  drm_gpusvm_range_start,
  drm_gpusvm_range_unmap_pages,
  type drm_gpusvm_ctx,
  type drm_gpusvm_notifier,
  type drm_gpusvm_range,
} from '../../../drm/index.js';
import { MMU_NOTIFY_RELEASE, MMU_NOTIFY_UNMAP, mmu_notify_event_name } from '../../../mm/consts.js';
import type { MmuNotifierRange } from '../../../mm/mm_types.js';
import { atomic_read } from '../../../sim/kref.js';
import { lockdep_assert_held, spin_lock, spin_unlock } from '../../../sim/locks.js';
import { getSim } from '../../../sim/scheduler.js';
import type { Co } from '../../../sim/task.js';
import { queue_work } from '../../../sim/workqueue.js';
import { amdgpu_ih_checkpoint_ts } from '../../ih.js';
import type { amdgpu_svm } from '../amdgpu_svm.js';
import { amdgpu_svm_range_lock_vm_pd, amdgpu_svm_range_unlock_vm_pd } from '../amdgpu_svm_gpu.js';
import {
  range_invalidate_gpu_mapping,
  to_amdgpu_svm_range,
  type amdgpu_svm_range,
} from '../amdgpu_svm_range.js';
import { amdgpu_svm_gc_forget } from './gc.js';
import { amdgpu_svm_range_zap_ptes, amdgpu_svm_v2_clear_ptes } from './range.js';
import {
  AMDGPU_SVM_RANGE_OP_UNMAP,
  AMDGPU_SVM_V2_OPT_CLAMPED_ZAP,
  AMDGPU_SVM_V2_OPT_GC_REQUEUE,
  AMDGPU_SVM_V2_OPT_SPLIT_REMOVE_QUEUED,
  SVM_RANGES_SPLIT_REMOVED,
  SVM_RANGES_ZAPPED,
  v2_work,
} from './work_types.js';
import './events.js';

/** amdgpu_svm_assert_in_notifier (V3 patch 08): the notifier holds notifier_lock for write. */
function amdgpu_svm_assert_in_notifier(svm: amdgpu_svm): void {
  lockdep_assert_held(svm.gpusvm.notifier_lock, 'write');
}

/**
 * amdgpu_svm_range_remove (V3 patch 08): DMA-unmap unless the notifier already did (unmapped
 * or partially unmapped), clear gpu_mapped, and remove the range. svm_lock held for write.
 * SIM (fix): invalidate_interval (RANGE_SPLIT) may remove a range that a concurrent munmap
 * has just queued to the GC (the notifier runs while the split zaps); the RFC leaves it on the
 * GC list and the GC removes it a second time (an interval-tree WARN, a refcount underflow).
 * The model drops the range's GC work with it (amdgpu_svm_gc_forget); the unmapped pages'
 * attributes then stay, as for memory that never had a range. Option `v3_split_remove_queued`
 * puts the RFC's behaviour back.
 */
export function* amdgpu_svm_range_remove(
  svm: amdgpu_svm,
  range: amdgpu_svm_range,
  ctx: drm_gpusvm_ctx,
): Co {
  lockdep_assert_held(svm.svm_lock, 'write');
  if (!range.pages.flags.unmapped && !range.pages.flags.partial_unmap)
    yield* drm_gpusvm_range_unmap_pages(svm.gpusvm, range, ctx);
  range_invalidate_gpu_mapping(range);
  yield* drm_gpusvm_range_remove(svm.gpusvm, range);
  if (svm.ctx.env.options[AMDGPU_SVM_V2_OPT_SPLIT_REMOVE_QUEUED] !== true)
    yield* amdgpu_svm_gc_forget(svm, range);
}

/**
 * amdgpu_svm_range_notifier_event_begin (V3 patch 08): skip a range already unmapped or not
 * GPU-mapped; otherwise zap its PTEs (fence waited) and clear gpu_mapped. True when it
 * zapped, so the caller flushes the TLB.
 * SIM (fix): V3 (and the later postings checked, up to v8) zaps only the range clamped to the
 * interval, yet clears gpu_mapped, DMA-unmaps the whole range and, on UNMAP, has the GC
 * discard it: the PTEs outside the interval stay valid with no DMA mapping and nothing that
 * will ever invalidate them, so a later CPU change there leaves the GPU on a freed frame
 * (stale-gpu-mapping), and a partial munmap's survivors never refault. The model zaps the
 * whole range, as Xe does (xe_svm_invalidate, drm-gpusvm.md §7.4), which is what the design
 * describes ("discard-and-refault"). Option `v3_clamped_zap` puts the RFC's clamp back.
 */
function* amdgpu_svm_range_notifier_event_begin(
  svm: amdgpu_svm,
  range: drm_gpusvm_range,
  mmu_range: MmuNotifierRange,
): Co<boolean> {
  const svm_range = to_amdgpu_svm_range(range);
  amdgpu_svm_assert_in_notifier(svm);
  if (range.pages.flags.unmapped || !svm_range.gpu_mapped) return false;
  if (svm.ctx.env.options[AMDGPU_SVM_V2_OPT_CLAMPED_ZAP] === true)
    yield* amdgpu_svm_range_zap_ptes(svm, svm_range, mmu_range);
  else
    yield* amdgpu_svm_v2_clear_ptes(
      svm,
      drm_gpusvm_range_start(range),
      drm_gpusvm_range_end(range) - 1,
    );
  range_invalidate_gpu_mapping(svm_range);
  getSim().counters.add(SVM_RANGES_ZAPPED, 1, svm.adev.name);
  return true;
}

/**
 * amdgpu_svm_gc_enqueue (V3 patch 08): ignored while exiting; the first queueing takes a range
 * reference (in_queue); widen the pending interval, set OP_UNMAP, put the range on the GC list
 * once, and kick the GC work.
 */
function* amdgpu_svm_gc_enqueue(
  svm: amdgpu_svm,
  range: amdgpu_svm_range,
  start_page: number,
  last_page: number,
  was_unmapped: boolean,
): Co {
  const w = v2_work(svm);
  if (atomic_read(svm.exiting)) return;
  yield* spin_lock(w.work_lock);
  // SIM (fix, see amdgpu_svm_gc_add_range): under work_lock, so the GC cannot dequeue it now.
  const requeue = svm.ctx.env.options[AMDGPU_SVM_V2_OPT_GC_REQUEUE] === true;
  if (!requeue && was_unmapped && !range.gc_queued) {
    spin_unlock(w.work_lock);
    return;
  }
  if (!range.in_queue) {
    drm_gpusvm_range_get(range);
    range.in_queue = true;
  }
  range.pending_start = Math.min(range.pending_start, start_page);
  range.pending_last = Math.max(range.pending_last, last_page);
  range.pending_ops |= AMDGPU_SVM_RANGE_OP_UNMAP;
  if (!range.gc_queued) {
    w.gc.list.add(range);
    range.gc_queued = true;
  }
  spin_unlock(w.work_lock);
  getSim().trace.emit('svm.range.enqueue', {
    gpu: svm.adev.name,
    start: start_page,
    last: last_page,
    op: 'UNMAP',
  });
  queue_work(w.gc.wq, w.gc.work);
}

/**
 * amdgpu_svm_gc_add_range (V3 patch 08): mark the range unmapped (partially when the unmap
 * does not cover it) and queue its unmapped pages to the GC.
 * SIM (fix): a second UNMAP over a range the GC has already dequeued (an exit's UNMAP of the
 * whole address space right after a munmap) queues it again in the RFC; the GC then calls
 * drm_gpusvm_range_remove on it a second time (a WARN on a missing notifier, or a tree and
 * refcount corruption). Found by the kfdtest E2 and IGT twice-mmap-remap ports. The model
 * does not queue again a range that was unmapped before and is off the GC list (the GC has it:
 * it is being removed whole); the test is made under work_lock in gc_enqueue. Option
 * `v3_gc_requeue` puts the RFC's re-queue back.
 */
function* amdgpu_svm_gc_add_range(
  svm: amdgpu_svm,
  svm_range: amdgpu_svm_range,
  mmu_range: MmuNotifierRange,
): Co {
  const start_page = Math.max(drm_gpusvm_range_start(svm_range), mmu_range.start);
  const last_page = Math.min(drm_gpusvm_range_end(svm_range), mmu_range.end) - 1;
  const was_unmapped = svm_range.pages.flags.unmapped;
  drm_gpusvm_range_set_unmapped(svm_range, mmu_range);
  yield* amdgpu_svm_gc_enqueue(svm, svm_range, start_page, last_page, was_unmapped);
}

/**
 * amdgpu_svm_range_notifier_event_end (V3 patch 08): DMA-unmap the whole range (in the
 * notifier); on UNMAP hand it to the GC.
 */
function* amdgpu_svm_range_notifier_event_end(
  svm: amdgpu_svm,
  range: drm_gpusvm_range,
  mmu_range: MmuNotifierRange,
): Co {
  const ctx: drm_gpusvm_ctx = { in_notifier: true };
  amdgpu_svm_assert_in_notifier(svm);
  yield* drm_gpusvm_range_unmap_pages(svm.gpusvm, range, ctx);
  if (mmu_range.event === MMU_NOTIFY_UNMAP)
    yield* amdgpu_svm_gc_add_range(svm, to_amdgpu_svm_range(range), mmu_range);
}

/**
 * amdgpu_svm_capture_checkpoint_ts (V3 patch 09): when the retry-fault ring holds entries not
 * yet processed, remember the timestamp at its write pointer; the fault handler then drops
 * every fault raised at or before it (clarifications.md §3). SIM: one IH ring per GPU stands
 * for ih1 (no retry CAM) and ih_soft.
 */
export function amdgpu_svm_capture_checkpoint_ts(svm: amdgpu_svm): void {
  const ih = svm.adev.irq.ih;
  const checkpoint_wptr = ih.wptr;
  if (ih.rptr !== checkpoint_wptr) {
    const ts = amdgpu_ih_checkpoint_ts(ih);
    v2_work(svm).checkpoint_ts = ts; // WRITE_ONCE
    getSim().trace.emit('svm.v2.checkpoint', { gpu: svm.adev.name, ts });
  }
}

/**
 * amdgpu_svm_range_invalidate (V3 patch 09), drm_gpusvm_ops.invalidate: nothing for RELEASE,
 * an exiting instance, or no range in the interval clamped to the notifier. Otherwise the
 * checkpoint on UNMAP, pass 1 (zap, then one flush if anything was zapped), pass 2 (DMA
 * unmap, GC on UNMAP). notifier_lock held for write.
 */
export function* amdgpu_svm_range_invalidate(
  svm: amdgpu_svm,
  notifier: drm_gpusvm_notifier,
  mmu_range: MmuNotifierRange,
): Co {
  amdgpu_svm_assert_in_notifier(svm);
  if (mmu_range.event === MMU_NOTIFY_RELEASE) return;
  if (atomic_read(svm.exiting)) return;
  const adj_start = Math.max(drm_gpusvm_notifier_start(notifier), mmu_range.start);
  const adj_end = Math.min(drm_gpusvm_notifier_end(notifier), mmu_range.end);
  const first = drm_gpusvm_range_find(notifier, adj_start, adj_end);
  if (!first) return;
  getSim().trace.emit('svm.range.invalidate', {
    gpu: svm.adev.name,
    start: adj_start,
    end: adj_end,
    event: mmu_notify_event_name(mmu_range.event),
    op: mmu_range.event === MMU_NOTIFY_UNMAP ? AMDGPU_SVM_RANGE_OP_UNMAP : 0,
  });
  if (mmu_range.event === MMU_NOTIFY_UNMAP) amdgpu_svm_capture_checkpoint_ts(svm);
  let needs_flush = false;
  // SIM: the walks take a snapshot; neither pass adds or removes ranges.
  for (const r of [...drm_gpusvm_for_each_range(notifier, adj_start, adj_end)])
    needs_flush = (yield* amdgpu_svm_range_notifier_event_begin(svm, r, mmu_range)) || needs_flush;
  if (needs_flush) yield* svm.flush_tlb(svm);
  // range_notifier_event_end:
  for (const r of [...drm_gpusvm_for_each_range(notifier, adj_start, adj_end)])
    yield* amdgpu_svm_range_notifier_event_end(svm, r, mmu_range);
}

/**
 * One range of invalidate_interval: zap the whole range if GPU-mapped; remove it when it
 * crosses [start, end), else clear gpu_mapped. 0, 1 when it zapped, or -errno.
 */
function* invalidate_interval_one(
  svm: amdgpu_svm,
  range: drm_gpusvm_range,
  start: number,
  end: number,
): Co<number> {
  const svm_range = to_amdgpu_svm_range(range);
  const range_start = drm_gpusvm_range_start(range);
  const range_end = drm_gpusvm_range_end(range);
  const crosses_boundary = start > range_start || end < range_end;
  let zapped = 0;
  if (svm_range.gpu_mapped) {
    const ret = yield* amdgpu_svm_v2_clear_ptes(svm, range_start, range_end - 1);
    if (ret) return ret;
    getSim().counters.add(SVM_RANGES_ZAPPED, 1, svm.adev.name);
    zapped = 1;
  }
  if (crosses_boundary) {
    // remove the ranges crossing the boundary so that GPU faults create new ranges bounded
    // by the updated attr_range boundaries
    yield* amdgpu_svm_range_remove(svm, svm_range, { in_notifier: false });
    getSim().counters.add(SVM_RANGES_SPLIT_REMOVED, 1, svm.adev.name);
  } else {
    range_invalidate_gpu_mapping(svm_range);
  }
  return zapped;
}

/**
 * amdgpu_svm_range_invalidate_interval (V3 patch 08), for RANGE_SPLIT: under the page-directory
 * lock, every gpusvm range meeting [start_page, last_page] (invalidate_interval_one), then one
 * TLB flush if anything was zapped. svm_lock held for write.
 */
export function* amdgpu_svm_range_invalidate_interval(
  svm: amdgpu_svm,
  start_page: number,
  last_page: number,
): Co<number> {
  const start = start_page;
  const end = last_page + 1;
  let needs_flush = false;
  let zapped = 0;
  let removed = 0;
  lockdep_assert_held(svm.svm_lock, 'write');
  let ret = yield* amdgpu_svm_range_lock_vm_pd(svm);
  if (ret) return ret;
  outer: for (const notifier of drm_gpusvm_for_each_notifier_safe(svm.gpusvm, start, end)) {
    for (const range of drm_gpusvm_for_each_range_safe(notifier, start, end)) {
      const crosses = start > drm_gpusvm_range_start(range) || end < drm_gpusvm_range_end(range);
      ret = yield* invalidate_interval_one(svm, range, start, end);
      if (ret < 0) break outer;
      if (ret > 0) {
        needs_flush = true;
        zapped++;
      }
      if (crosses) removed++;
      ret = 0;
    }
  }
  amdgpu_svm_range_unlock_vm_pd(svm);
  const gpu = svm.adev.name;
  if (!ret && needs_flush) yield* svm.flush_tlb(svm);
  getSim().trace.emit('svm.v2.invalidate_interval', {
    gpu,
    start: start_page,
    last: last_page,
    zapped,
    removed,
    ret,
  });
  return ret;
}

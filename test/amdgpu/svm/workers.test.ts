/**
 * The V1 workers (rfc-series §4.1): enqueue with references and pending bits, the GC
 * (attributes cleared, ranges removed, survivors rebuilt), the restore worker's
 * compare-and-exchange and KFD resume, and the flush, sync and fini helpers.
 */
import { describe, expect, it } from 'vitest';
import { amdgpu_svm_fini, amdgpu_svm_ranges } from '../../../src/amdgpu/svm/amdgpu_svm.js';
import {
  AMDGPU_SVM_RANGE_PENDING_OP_RESTORE as P_RESTORE,
  AMDGPU_SVM_RANGE_PENDING_OP_UNMAP as P_UNMAP,
  SVM_RANGES_LIVE,
  to_amdgpu_svm_range,
  type amdgpu_svm_range,
} from '../../../src/amdgpu/svm/amdgpu_svm_range.js';
import {
  amdgpu_svm_range_begin_restore,
  amdgpu_svm_range_enqueue,
  range_put_if_dequeued,
} from '../../../src/amdgpu/svm/v1/queue.js';
import {
  AMDGPU_SVM_RANGE_OP_RESTORE,
  AMDGPU_SVM_RANGE_OP_UNMAP,
  v1_work,
} from '../../../src/amdgpu/svm/v1/work_types.js';
import {
  amdgpu_svm_range_flush,
  amdgpu_svm_range_sync_work,
} from '../../../src/amdgpu/svm/v1/workers.js';
import { AMDGPU_SVM_ATTR as A } from '../../../src/amdgpu/svm/uapi.js';
import { MMU_NOTIFY_CLEAR } from '../../../src/mm/consts.js';
import { do_munmap } from '../../../src/mm/mmap.js';
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
  mmu_notifier_range_init,
} from '../../../src/mm/mmu_notifier.js';
import { queue_delayed_work } from '../../../src/sim/workqueue.js';
import { atomic_set, kref_read } from '../../../src/sim/kref.js';
import { down_read, up_read } from '../../../src/sim/locks.js';
import {
  counter,
  exitAndCheck,
  fill,
  machine,
  mapped,
  mmap,
  run,
  setAttr,
  svmOf,
  type Machine,
} from './harness.js';

function boot(xnack: boolean): { m: Machine; buf: number } {
  const m = machine(`{ design: rfc-v1, xnack: ${xnack ? 'on' : 'off'} }`);
  const buf = run(m, function* () {
    const b = yield* mmap(m, 1024);
    yield* fill(m, b, 1024, (i) => i);
    yield* setAttr(m, b, 1024, [
      { type: A.ACCESS, value: 0x1000 },
      { type: A.SET_FLAGS, value: 0x10 },
    ]);
    return b;
  });
  expect(mapped(m, buf, 1024)).toBe(1024);
  return { m, buf };
}

function firstRange(m: Machine): amdgpu_svm_range {
  const r = amdgpu_svm_ranges(svmOf(m))[0];
  if (!r) throw new Error('no range');
  return to_amdgpu_svm_range(r);
}

describe('amdgpu_svm_range_enqueue', () => {
  it('takes one reference, widens the interval, moves UNMAP work to the GC list', () => {
    const { m } = boot(false);
    const svm = svmOf(m);
    const w = v1_work(svm);
    const range = firstRange(m);
    const s = range.itree.start;
    const seen = run(m, function* () {
      yield* down_read(svm.svm_lock); // keep the workers waiting
      yield* amdgpu_svm_range_enqueue(svm, range, s + 10, s + 20, AMDGPU_SVM_RANGE_OP_RESTORE);
      const a = {
        refs: kref_read(range.refcount),
        restore: w.restore_work_list.has(range),
        ops: range.pending_ops,
      };
      yield* amdgpu_svm_range_enqueue(svm, range, s + 5, s + 8, AMDGPU_SVM_RANGE_OP_RESTORE);
      yield* amdgpu_svm_range_enqueue(svm, range, s + 30, s + 31, AMDGPU_SVM_RANGE_OP_UNMAP);
      const b = {
        refs: kref_read(range.refcount),
        restore: w.restore_work_list.has(range),
        gc: w.gc_list.has(range),
        ops: range.pending_ops,
        interval: [range.pending_start - s, range.pending_last - s],
        flags: [range.gc_queued, range.restore_queued, range.in_queue],
      };
      up_read(svm.svm_lock);
      return { a, b };
    });
    expect(seen.a).toEqual({ refs: 2, restore: true, ops: P_RESTORE });
    expect(seen.b).toEqual({
      refs: 2,
      restore: false,
      gc: true,
      ops: P_UNMAP | P_RESTORE,
      interval: [5, 31],
      flags: [true, false, true],
    });
    // The workers ran once the lock was dropped: the GC removed the range (its UNMAP work,
    // although nothing was unmapped here) and dropped the queue's reference: it is freed.
    expect(range.in_queue).toBe(false);
    expect(range.refcount.released).toBe(true);
    exitAndCheck(m);
  });

  it('is ignored once the instance is exiting', () => {
    const { m } = boot(false);
    const svm = svmOf(m);
    const range = firstRange(m);
    atomic_set(svm.exiting, 1);
    run(m, () => amdgpu_svm_range_enqueue(svm, range, 0, 1, AMDGPU_SVM_RANGE_OP_UNMAP));
    expect(range.in_queue).toBe(false);
    expect(kref_read(range.refcount)).toBe(1);
    atomic_set(svm.exiting, 0);
    exitAndCheck(m);
  });

  it('range_put_if_dequeued keeps the reference while work is pending', () => {
    const { m } = boot(false);
    const svm = svmOf(m);
    const range = firstRange(m);
    const refs = run(m, function* () {
      yield* down_read(svm.svm_lock);
      yield* amdgpu_svm_range_enqueue(svm, range, 0, 1, AMDGPU_SVM_RANGE_OP_RESTORE);
      yield* range_put_if_dequeued(svm, range);
      const r = kref_read(range.refcount);
      up_read(svm.svm_lock);
      return r;
    });
    expect(refs).toBe(2);
    exitAndCheck(m);
  });
});

describe('the GC worker', () => {
  it.each([false, true])(
    'XNACK %s: clears attributes, removes the range, rebuilds or clears',
    (xnack) => {
      const { m, buf } = boot(xnack);
      const svm = svmOf(m);
      run(m, () => do_munmap(m.proc.mm, buf + 100, 50));
      expect(counter(m, 'gc_work_runs@gpu0')).toBeGreaterThanOrEqual(1);
      // The unmapped pages lost their attributes; the survivors kept theirs.
      const tree = svm.attr_tree;
      if (!tree) throw new Error('no tree');
      expect(tree.tree.map((n) => [n.it_node.start - buf, n.it_node.last - buf])).toEqual([
        [0, 99],
        [150, 1023],
      ]);
      // XNACK off: the survivors were rebuilt; XNACK on: the removed span was cleared.
      expect(mapped(m, buf, 100)).toBe(xnack ? 0 : 100);
      expect(mapped(m, buf + 150, 362)).toBe(xnack ? 0 : 362);
      expect(mapped(m, buf + 512, 512)).toBe(512);
      expect(counter(m, 'ranges_removed@gpu0')).toBe(1);
      exitAndCheck(m);
    },
  );
});

describe('the restore worker', () => {
  it('resumes once every eviction is handled (count compared and exchanged to 0)', () => {
    const { m } = boot(false);
    const svm = svmOf(m);
    const w = v1_work(svm);
    const qpd = m.proc.kfd?.pdds[0]?.qpd;
    run(m, function* () {
      yield* down_read(svm.svm_lock);
      yield* amdgpu_svm_range_begin_restore(svm);
      yield* amdgpu_svm_range_begin_restore(svm);
      up_read(svm.svm_lock);
    });
    // Two evictions, one quiesce; nothing queued the worker: queue it and flush.
    expect(w.evicted_ranges.value).toBe(2);
    expect(qpd?.evicted).toBe(1);
    run(m, function* () {
      queue_delayed_work(w.restore_wq, w.restore_work, 1_000_000);
      yield* amdgpu_svm_range_flush(svm);
    });
    expect(w.evicted_ranges.value).toBe(0);
    expect(w.kfd_queues_quiesced.value).toBe(0);
    expect(qpd?.evicted).toBe(0);
    exitAndCheck(m);
  });

  it('requeues a failed pass (the skip path after an eviction) and re-arms until it maps', () => {
    const { m, buf } = boot(false);
    const svm = svmOf(m);
    run(m, function* () {
      yield* down_read(svm.svm_lock);
      const r = mmu_notifier_range_init(MMU_NOTIFY_CLEAR, 0, m.proc.mm, buf, buf + 1);
      yield* mmu_notifier_invalidate_range_start(r);
      yield* mmu_notifier_invalidate_range_end(r);
      up_read(svm.svm_lock);
    });
    // Pass 1: skip path, pages invalid -> gpu_mapped cleared, -EAGAIN, requeued, re-armed.
    // Pass 2: get_pages, map, nothing pending, cmpxchg, resume.
    expect(counter(m, 'restore_work_runs@gpu0')).toBe(2);
    expect(firstRange(m).gpu_mapped).toBe(true);
    expect(firstRange(m).pages.flags.has_dma_mapping).toBe(true);
    expect(m.proc.kfd?.pdds[0]?.qpd.evicted).toBe(0);
    exitAndCheck(m);
  });
});

describe('flush, sync and fini', () => {
  it('sync_work waits for both workqueues', () => {
    const { m, buf } = boot(false);
    const svm = svmOf(m);
    const w = v1_work(svm);
    run(m, function* () {
      yield* do_munmap(m.proc.mm, buf, 8);
      yield* amdgpu_svm_range_sync_work(svm);
      expect(w.gc_wq.busy).toBe(0);
      expect(w.gc_list.size + w.restore_work_list.size).toBe(0);
    });
    exitAndCheck(m);
  });

  it('fini with work pending: lists drained, references dropped, queues resumed', () => {
    const { m } = boot(false);
    const svm = svmOf(m);
    const range = firstRange(m);
    const vm = svm.vm;
    run(m, function* () {
      yield* down_read(svm.svm_lock);
      yield* amdgpu_svm_range_begin_restore(svm);
      yield* amdgpu_svm_range_enqueue(svm, range, 0, 4, AMDGPU_SVM_RANGE_OP_RESTORE);
      up_read(svm.svm_lock);
      // close sets exiting first: the restore worker does nothing, fini cleans up.
      yield* amdgpu_svm_fini(vm);
    });
    expect(vm.svm).toBe(null);
    expect(m.proc.kfd?.pdds[0]?.qpd.evicted).toBe(0);
    expect(counter(m, SVM_RANGES_LIVE)).toBe(0);
    expect(svm.refcount.released).toBe(true);
    exitAndCheck(m);
  });
});

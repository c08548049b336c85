/**
 * The V1 notifier's three cases by event and XNACK mode (rfc-series §3.4), driven through the
 * mm's notifier core (mmu_notifier_invalidate_range_start/end) and observed right after the
 * callback, with svm_lock held for read so that the workers cannot run yet.
 */
import { describe, expect, it } from 'vitest';
import { amdgpu_svm_ranges, type amdgpu_svm } from '../../../src/amdgpu/svm/amdgpu_svm.js';
import { to_amdgpu_svm_range } from '../../../src/amdgpu/svm/amdgpu_svm_range.js';
import { v1_work } from '../../../src/amdgpu/svm/v1/work_types.js';
import {
  AMDGPU_SVM_RANGE_PENDING_OP_RESTORE as P_RESTORE,
  AMDGPU_SVM_RANGE_PENDING_OP_UNMAP as P_UNMAP,
} from '../../../src/amdgpu/svm/amdgpu_svm_range.js';
import { AMDGPU_SVM_ATTR as A, AMDGPU_SVM_FLAGS as F } from '../../../src/amdgpu/svm/uapi.js';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_MIGRATE,
  MMU_NOTIFY_PROTECTION_PAGE,
  MMU_NOTIFY_PROTECTION_VMA,
  MMU_NOTIFY_RELEASE,
  MMU_NOTIFY_UNMAP,
  type MmuNotifierEvent,
} from '../../../src/mm/consts.js';
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
  mmu_notifier_range_init,
} from '../../../src/mm/mmu_notifier.js';
import { atomic_set, kref_read } from '../../../src/sim/kref.js';
import { down_read, up_read } from '../../../src/sim/locks.js';
import {
  counter,
  events,
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

interface Snapshot {
  mappedIn: number;
  mappedOut: number;
  gpu_mapped: boolean;
  dma: boolean;
  unmapped: boolean;
  partial: boolean;
  gc_queued: boolean;
  restore_queued: boolean;
  pending_ops: number;
  pending: [number, number];
  refs: number;
  qpdEvicted: number;
  quiesced: number;
  evicted_ranges: number;
  tlb: number;
}

/** A process with pages [buf, buf + 1024) of which the first 512 (one range) are mapped. */
function setup(xnack: boolean, extraFlags = 0): { m: Machine; buf: number } {
  const m = machine(`{ design: rfc-v1, xnack: ${xnack ? 'on' : 'off'} }`, true);
  const buf = run(m, function* () {
    const b = yield* mmap(m, 1024);
    yield* fill(m, b, 1024, (i) => i);
    // ACCESS maps eagerly with XNACK off; with XNACK on the PTE-flag change (GPU_EXEC) does.
    const r = yield* setAttr(m, b, 512, [
      { type: A.ACCESS, value: 0x1000 },
      { type: A.SET_FLAGS, value: F.GPU_EXEC | extraFlags },
    ]);
    if (r) throw new Error(`SET_ATTR ${r}`);
    return b;
  });
  expect(mapped(m, buf, 512)).toBe(512);
  return { m, buf };
}

/** Deliver `event` over [start, start + n) and snapshot the state right after the callbacks. */
function invalidate(
  m: Machine,
  buf: number,
  event: MmuNotifierEvent,
  start: number,
  n: number,
): Snapshot {
  const svm: amdgpu_svm = svmOf(m);
  const w = v1_work(svm);
  const tlb0 = counter(m, 'tlb_flushes@gpu0');
  return run(m, function* () {
    yield* down_read(svm.svm_lock);
    const r = mmu_notifier_range_init(event, 0, m.proc.mm, start, start + n);
    yield* mmu_notifier_invalidate_range_start(r);
    const [range] = amdgpu_svm_ranges(svm);
    if (!range) throw new Error('no range');
    const rr = to_amdgpu_svm_range(range);
    const snap: Snapshot = {
      mappedIn: mapped(m, start, n),
      mappedOut: mapped(m, buf, 512) - mapped(m, start, n),
      gpu_mapped: rr.gpu_mapped,
      dma: range.pages.flags.has_dma_mapping,
      unmapped: range.pages.flags.unmapped,
      partial: range.pages.flags.partial_unmap,
      gc_queued: rr.gc_queued,
      restore_queued: rr.restore_queued,
      pending_ops: rr.pending_ops,
      pending: [rr.pending_start - buf, rr.pending_last - buf],
      refs: kref_read(range.refcount),
      qpdEvicted: m.proc.kfd?.pdds[0]?.qpd.evicted ?? -1,
      quiesced: w.kfd_queues_quiesced.value,
      evicted_ranges: w.evicted_ranges.value,
      tlb: counter(m, 'tlb_flushes@gpu0') - tlb0,
    };
    yield* mmu_notifier_invalidate_range_end(r);
    up_read(svm.svm_lock);
    return snap;
  });
}

describe('amdgpu_svm_range_invalidate: early returns', () => {
  it('ignores MMU_NOTIFY_RELEASE', () => {
    const { m, buf } = setup(false);
    const s = invalidate(m, buf, MMU_NOTIFY_RELEASE, buf, 512);
    expect(s).toMatchObject({ mappedIn: 512, dma: true, gc_queued: false, restore_queued: false });
    expect(s).toMatchObject({ qpdEvicted: 0, tlb: 0, refs: 1 });
    exitAndCheck(m);
  });

  it('ignores everything once the instance is exiting', () => {
    const { m, buf } = setup(false);
    atomic_set(svmOf(m).exiting, 1);
    const s = invalidate(m, buf, MMU_NOTIFY_UNMAP, buf, 16);
    expect(s).toMatchObject({ mappedIn: 16, dma: true, unmapped: false, gc_queued: false });
    atomic_set(svmOf(m).exiting, 0);
    exitAndCheck(m);
  });

  it('ignores an interval without a range (same notifier window)', () => {
    const { m, buf } = setup(false);
    const s = invalidate(m, buf, MMU_NOTIFY_CLEAR, buf + 600, 16);
    expect(s).toMatchObject({ mappedOut: 512, dma: true, restore_queued: false, qpdEvicted: 0 });
    expect(events(m, 'svm.range.invalidate')).toHaveLength(0);
    exitAndCheck(m);
  });
});

describe('amdgpu_svm_range_invalidate: UNMAP', () => {
  it.each([
    [false, P_UNMAP | P_RESTORE, 1],
    [true, P_UNMAP, 0],
  ])(
    'XNACK %s: clears the interval, DMA-unmaps, marks unmapped, queues the GC',
    (xnack, ops, q) => {
      const { m, buf } = setup(xnack);
      const s = invalidate(m, buf, MMU_NOTIFY_UNMAP, buf + 100, 100);
      expect(s).toMatchObject({ mappedIn: 0, mappedOut: 412, gpu_mapped: false, dma: false });
      expect(s).toMatchObject({ unmapped: true, partial: true, gc_queued: true });
      expect(s).toMatchObject({ restore_queued: false, pending_ops: ops, pending: [100, 199] });
      // The queue's reference; with XNACK off the first eviction quiesces the process.
      expect(s).toMatchObject({ refs: 2, qpdEvicted: q, quiesced: q, evicted_ranges: q });
      // One flush with the range's PTE clear, one after the loop (clarifications §2).
      expect(s.tlb).toBe(2);
      const kinds = events(m)
        .map((e) => e.kind)
        .filter((k) => ['svm.restore', 'drm.gpusvm_unmap_pages', 'svm.range.enqueue'].includes(k));
      // The notifier's events come first; the GC and the restore worker follow.
      expect(kinds.slice(0, xnack ? 2 : 3)).toEqual(
        xnack
          ? ['drm.gpusvm_unmap_pages', 'svm.range.enqueue']
          : ['svm.restore', 'drm.gpusvm_unmap_pages', 'svm.range.enqueue'],
      );
      exitAndCheck(m);
    },
  );
});

describe('amdgpu_svm_range_invalidate: eviction (any other event)', () => {
  const others: [string, MmuNotifierEvent][] = [
    ['CLEAR', MMU_NOTIFY_CLEAR],
    ['PROTECTION_VMA', MMU_NOTIFY_PROTECTION_VMA],
    ['PROTECTION_PAGE', MMU_NOTIFY_PROTECTION_PAGE],
    ['MIGRATE', MMU_NOTIFY_MIGRATE],
  ];
  it.each(others)(
    'XNACK off, %s: quiesce first, DMA-unmap, queue the restore, PTEs kept',
    (_n, ev) => {
      const { m, buf } = setup(false);
      const s = invalidate(m, buf, ev, buf + 8, 8);
      expect(s).toMatchObject({ mappedIn: 8, mappedOut: 504, gpu_mapped: true, dma: false });
      expect(s).toMatchObject({ unmapped: false, gc_queued: false, restore_queued: true });
      expect(s).toMatchObject({ pending_ops: P_RESTORE, pending: [8, 15], refs: 2 });
      expect(s).toMatchObject({ qpdEvicted: 1, quiesced: 1, evicted_ranges: 1, tlb: 0 });
      const order = events(m)
        .map((e) => e.kind)
        .filter((k) => k === 'kfd.evict' || k === 'drm.gpusvm_unmap_pages');
      expect(order).toEqual(['kfd.evict', 'drm.gpusvm_unmap_pages']);
      // The restore worker remaps and resumes: clarifications §1 (skip path, -EAGAIN, remap).
      run(m, function* () {
        yield* [];
      });
      expect(m.proc.kfd?.pdds[0]?.qpd.evicted).toBe(0);
      expect(range0(m).pages.flags.has_dma_mapping).toBe(true);
      expect(counter(m, 'restore_work_runs@gpu0')).toBe(2);
      exitAndCheck(m);
    },
  );

  it.each(others)('XNACK on, %s: clear the PTEs and DMA-unmap; no worker, no quiesce', (_n, ev) => {
    const { m, buf } = setup(true);
    const s = invalidate(m, buf, ev, buf + 8, 8);
    expect(s).toMatchObject({ mappedIn: 0, mappedOut: 504, gpu_mapped: false, dma: false });
    expect(s).toMatchObject({ unmapped: false, gc_queued: false, restore_queued: false });
    expect(s).toMatchObject({ pending_ops: 0, refs: 1, qpdEvicted: 0, evicted_ranges: 0 });
    expect(s.tlb).toBe(2);
    exitAndCheck(m);
  });

  it('XNACK on with a GPU_ALWAYS_MAPPED range: quiesce and restore as with XNACK off', () => {
    const { m, buf } = setup(true, F.GPU_ALWAYS_MAPPED);
    const s = invalidate(m, buf, MMU_NOTIFY_CLEAR, buf, 4);
    expect(s).toMatchObject({ mappedIn: 4, gpu_mapped: true, dma: false, restore_queued: true });
    expect(s).toMatchObject({ pending_ops: P_RESTORE, qpdEvicted: 1, evicted_ranges: 1, tlb: 0 });
    run(m, function* () {
      yield* [];
    });
    expect(m.proc.kfd?.pdds[0]?.qpd.evicted).toBe(0);
    expect(mapped(m, buf, 512)).toBe(512);
    exitAndCheck(m);
  });
});

function range0(m: Machine): ReturnType<typeof amdgpu_svm_ranges>[number] {
  const [r] = amdgpu_svm_ranges(svmOf(m));
  if (!r) throw new Error('no range');
  return r;
}

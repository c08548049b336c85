import { describe, expect, it } from 'vitest';
import { EFAULT, getSim, join, sleep, type Co } from '../../src/sim/index.js';
import {
  AMDGPU_JOB_TIMEOUT_NS,
  AMDGPU_VM_NORETRY_FLAGS,
  TLB_FLUSH_HEAVYWEIGHT,
  amdgpu_engine_dispatch,
  amdgpu_gmc_flush_gpu_tlb_pasid,
  amdgpu_vm_count_mapped,
  amdgpu_vm_flush_compute_tlb,
  amdgpu_vm_pasid_load,
  amdgpu_vm_pte_flags,
  type AmdgpuSvmOps,
  type GpuAccessVia,
  type KernelResult,
  type VmFaultRecord,
} from '../../src/amdgpu/index.js';
import {
  RO,
  clearPages,
  createQueue,
  frames,
  makeWorld,
  mapPages,
  openProcess,
  runMain,
  vmOf,
  type World,
} from './helpers.js';

interface Access {
  page: number;
  pfn: number;
  via: GpuAccessVia;
  write: boolean;
  t: number;
}

function watch(w: World): Access[] {
  const log: Access[] = [];
  w.sys.hooks.access.push((_adev, _vm, page, pfn, via, write) =>
    log.push({ page, pfn, via, write, t: getSim().now() }),
  );
  return log;
}

/**
 * A stand-in SVM driver: init marks the VM as having an SVM instance; the fault handler maps
 * the faulting page to the frame `backing` gives (after `delay` ns), or returns `fail`.
 */
function svmStub(
  backing: Map<number, number>,
  calls: number[],
  opts: { delay?: number; fail?: number; noop?: boolean } = {},
): AmdgpuSvmOps {
  return {
    *init(_adev, vm) {
      vm.svm = { stub: true };
      return 0;
    },
    *handle_fault(adev, pasid, addr) {
      calls.push(addr);
      if (opts.delay) yield* sleep(opts.delay);
      if (opts.noop) return 0;
      const pfn = backing.get(addr);
      const vm = amdgpu_vm_pasid_load(adev, pasid);
      if (pfn === undefined || !vm) return opts.fail ?? -EFAULT;
      return yield* mapPages(adev, vm, addr, [pfn]);
    },
  };
}

function* run(t: ReturnType<typeof amdgpu_engine_dispatch>): Co<KernelResult> {
  const r = yield* join(t);
  if (!r) throw new Error('kernel task returned nothing');
  return r;
}

describe('the data path goes through the translation', () => {
  it('a read walks the page table once, then hits the TLB', () => {
    const w = makeWorld();
    const log = watch(w);
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, false);
      const q = yield* createQueue(p, w.gpu0);
      const f = frames(w, [11, 22]);
      yield* mapPages(w.gpu0, vmOf(p, w.gpu0), 100, f);
      const r1 = yield* run(amdgpu_engine_dispatch(q, { op: 'read', start: 100, npages: 2 }));
      const r2 = yield* run(amdgpu_engine_dispatch(q, { op: 'read', start: 100, npages: 2 }));
      expect(r1.status).toBe('completed');
      expect([...r1.values]).toEqual([11, 22]);
      expect([...r2.values]).toEqual([11, 22]);
      expect(log.map((a) => [a.page, a.pfn, a.via])).toEqual([
        [100, f[0], 'pte'],
        [101, f[1], 'pte'],
        [100, f[0], 'tlb'],
        [101, f[1], 'tlb'],
      ]);
      expect(w.sim.counters.get('gpu_access_pages@gpu0')).toBe(4);
    });
  });

  it('a PTE left pointing at an old frame returns that frame, not the CPU page', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, false);
      const q = yield* createQueue(p, w.gpu0);
      const [oldF] = frames(w, [1]);
      yield* mapPages(w.gpu0, vmOf(p, w.gpu0), 100, [oldF as number]);
      // The CPU moves the page and writes to its new frame; the GPU PTE is not updated.
      const newF = w.phys.alloc(w.ram);
      w.phys.copy(oldF as number, newF);
      w.phys.write(newF, 5);
      const r = yield* run(amdgpu_engine_dispatch(q, { op: 'read', start: 100, npages: 1 }));
      expect(r.values[0]).toBe(1);
    });
  });

  it('a TLB entry left pointing at an old frame returns it until a flush', () => {
    const w = makeWorld();
    const log = watch(w);
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, false);
      const q = yield* createQueue(p, w.gpu0);
      const vm = vmOf(p, w.gpu0);
      const [a, b] = frames(w, [1, 2]) as [number, number];
      yield* mapPages(w.gpu0, vm, 100, [a]);
      const read = () => run(amdgpu_engine_dispatch(q, { op: 'read', start: 100, npages: 1 }));
      expect((yield* read()).values[0]).toBe(1); // TLB filled
      yield* mapPages(w.gpu0, vm, 100, [b], undefined, false); // PTE -> b, no flush
      expect((yield* read()).values[0]).toBe(1);
      expect(log.at(-1)).toMatchObject({ pfn: a, via: 'tlb' });
      // No update asked for a flush, so the compute flush is skipped: still stale.
      yield* amdgpu_vm_flush_compute_tlb(w.gpu0, vm, TLB_FLUSH_HEAVYWEIGHT, w.gpu0.xcc_mask);
      expect((yield* read()).values[0]).toBe(1);
      amdgpu_gmc_flush_gpu_tlb_pasid(w.gpu0, vm.pasid, TLB_FLUSH_HEAVYWEIGHT, true, 0);
      expect((yield* read()).values[0]).toBe(2);
      expect(log.at(-1)).toMatchObject({ pfn: b, via: 'pte' });
    });
  });

  it('a PTE cleared without a flush stays usable through the TLB', () => {
    const w = makeWorld();
    const log = watch(w);
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, false);
      const q = yield* createQueue(p, w.gpu0);
      const vm = vmOf(p, w.gpu0);
      const [a] = frames(w, [7]) as [number];
      yield* mapPages(w.gpu0, vm, 100, [a]);
      const read = () => run(amdgpu_engine_dispatch(q, { op: 'read', start: 100, npages: 1 }));
      yield* read();
      yield* clearPages(w.gpu0, vm, 100, 1, false);
      expect(amdgpu_vm_count_mapped(vm, 100, 1)).toBe(0); // gpu.mapped: none
      const stale = yield* read();
      expect(stale.status).toBe('completed');
      expect(stale.values[0]).toBe(7);
      expect(log.at(-1)).toMatchObject({ page: 100, pfn: a, via: 'tlb' });
      // The notifier's flush: now the access faults (XNACK off: fatal).
      yield* clearPages(w.gpu0, vm, 100, 1, true);
      const after = yield* read();
      expect(after.status).toBe('vm-fault');
      expect(after.fault).toEqual({
        kind: 'vm-fault',
        page: 100,
        write: false,
        reason: 'not-present',
      });
    });
  });
});

describe('retry faults (XNACK on)', () => {
  it('a fault goes through the IH ring to the SVM handler and the access is replayed', () => {
    const w = makeWorld();
    const f = frames(w, [1, 2, 3]);
    const calls: number[] = [];
    w.sys.hooks.svm_ops = svmStub(new Map(f.map((pfn, i) => [100 + i, pfn])), calls);
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, true);
      const q = yield* createQueue(p, w.gpu0);
      expect(q.xnack_enabled).toBe(true);
      const r = yield* run(amdgpu_engine_dispatch(q, { op: 'read', start: 100, npages: 3 }));
      expect(r.status).toBe('completed');
      expect([...r.values]).toEqual([1, 2, 3]);
      const w2 = yield* run(
        amdgpu_engine_dispatch(q, { op: 'write', start: 100, npages: 3, value: (i) => 40 + i }),
      );
      expect(w2.status).toBe('completed');
    });
    expect(calls).toEqual([100, 101, 102]);
    expect(f.map((pfn) => w.phys.read(pfn))).toEqual([40, 41, 42]);
    expect(w.sim.counters.get('gpu_faults_retry@gpu0')).toBe(3);
    expect(w.sim.counters.get('gpu_faults_fatal')).toBe(0);
    expect(w.gpu0.irq.ih.rptr).toBe(3);
  });

  it('the trace shows fault, handler mapping, handled, in that order', () => {
    const w = makeWorld(1, { trace: true });
    const [a] = frames(w, [4]) as [number];
    w.sys.hooks.svm_ops = svmStub(new Map([[100, a]]), []);
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, true);
      const q = yield* createQueue(p, w.gpu0);
      yield* run(amdgpu_engine_dispatch(q, { op: 'read', start: 100, npages: 1 }));
    });
    const ev = w.sim.trace
      .events()
      .filter((e) => e.kind.startsWith('amdgpu.') && e.kind !== 'amdgpu.vm')
      .map((e) => [e.task, e.kind, e['outcome'] ?? e['action'] ?? e['start'] ?? e['pdes']]);
    expect(ev).toEqual([
      ['gpu0/compute0#0', 'amdgpu.gpu_fault', 'retry'],
      ['irq/gpu0', 'amdgpu.vm_update', 100],
      ['irq/gpu0', 'amdgpu.update_pdes', 1],
      ['irq/gpu0', 'amdgpu.ih', 'handled'],
    ]);
  });

  it('the fault filter drops a duplicate fault of another queue on the same page', () => {
    const w = makeWorld();
    const [a] = frames(w, [9]) as [number];
    const calls: number[] = [];
    w.sys.hooks.svm_ops = svmStub(new Map([[100, a]]), calls, { delay: 20_000 });
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, true);
      const q1 = yield* createQueue(p, w.gpu0);
      const q2 = yield* createQueue(p, w.gpu0);
      const t1 = amdgpu_engine_dispatch(q1, { op: 'read', start: 100, npages: 1 });
      const t2 = amdgpu_engine_dispatch(q2, { op: 'read', start: 100, npages: 1 });
      const r1 = yield* run(t1);
      const r2 = yield* run(t2);
      expect([r1.status, r2.status]).toEqual(['completed', 'completed']);
      expect([r1.values[0], r2.values[0]]).toEqual([9, 9]);
    });
    expect(calls).toEqual([100]);
    expect(w.sim.counters.get('gpu_faults_retry')).toBe(2);
    expect(w.sim.counters.get('gpu_faults_filtered@gpu0')).toBe(1);
  });

  it('a permission fault is fatal even with XNACK on, and never reaches the handler', () => {
    const w = makeWorld();
    const calls: number[] = [];
    w.sys.hooks.svm_ops = svmStub(new Map(), calls);
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, true);
      const q = yield* createQueue(p, w.gpu0);
      yield* mapPages(w.gpu0, vmOf(p, w.gpu0), 100, frames(w, [3]), RO);
      const r = yield* run(
        amdgpu_engine_dispatch(q, { op: 'write', start: 100, npages: 1, value: 1 }),
      );
      expect(r.fault).toEqual({ kind: 'vm-fault', page: 100, write: true, reason: 'permission' });
    });
    expect(calls).toEqual([]);
    expect(w.sim.counters.get('gpu_faults_retry')).toBe(0);
    expect(w.sim.counters.get('gpu_faults_fatal')).toBe(1);
  });

  it('a handler error leaves a no-retry PTE: the replay is a fatal fault', () => {
    const w = makeWorld();
    const calls: number[] = [];
    w.sys.hooks.svm_ops = svmStub(new Map(), calls, { fail: -EFAULT });
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, true);
      const q = yield* createQueue(p, w.gpu0);
      const r = yield* run(amdgpu_engine_dispatch(q, { op: 'read', start: 200, npages: 1 }));
      expect(r.fault).toEqual({ kind: 'vm-fault', page: 200, write: false, reason: 'noretry' });
      const vm = vmOf(p, w.gpu0);
      expect(amdgpu_vm_pte_flags(vm, 200)).toBe(AMDGPU_VM_NORETRY_FLAGS);
      expect(amdgpu_vm_count_mapped(vm, 200, 1)).toBe(0);
    });
    expect(calls).toEqual([200]);
    expect(w.sim.counters.get('gpu_faults_retry')).toBe(1);
    expect(w.sim.counters.get('gpu_faults_unhandled')).toBe(1);
    expect(w.sim.counters.get('gpu_faults_fatal')).toBe(1);
  });

  it('a retried fault that never resolves ends at the 10 s job timeout', () => {
    const w = makeWorld();
    const calls: number[] = [];
    const fatal: VmFaultRecord[] = [];
    w.sys.hooks.svm_ops = svmStub(new Map(), calls, { noop: true });
    w.sys.hooks.fatal.push((f) => fatal.push(f));
    let start = 0;
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, true);
      const q = yield* createQueue(p, w.gpu0);
      start = w.sim.now();
      const r = yield* run(amdgpu_engine_dispatch(q, { op: 'read', start: 300, npages: 1 }));
      expect(r.status).toBe('timeout');
      expect(r.fault).toEqual({ kind: 'timeout', page: 300, write: false, reason: 'job-timeout' });
      expect(q.dead).toBe(true);
    });
    expect(fatal).toHaveLength(1);
    expect(fatal[0]?.time).toBeGreaterThanOrEqual(start + AMDGPU_JOB_TIMEOUT_NS);
    expect(fatal[0]?.time).toBeLessThan(start + AMDGPU_JOB_TIMEOUT_NS + 2_000_000);
    // Spaced replays: about one handled fault per ms, never a busy loop.
    expect(calls.length).toBeGreaterThan(5_000);
    expect(calls.length).toBeLessThan(12_000);
    expect(w.sim.counters.get('gpu_job_timeouts@gpu0')).toBe(1);
    expect(w.sim.counters.get('gpu_faults_fatal')).toBe(0);
  });
});

describe('unrecoverable faults (XNACK off)', () => {
  it('an unmapped page is a VM fault: the kernel stops, the queue dies, the fault is recorded', () => {
    const w = makeWorld();
    const fatal: VmFaultRecord[] = [];
    w.sys.hooks.fatal.push((f) => fatal.push(f));
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, false);
      const q = yield* createQueue(p, w.gpu0);
      expect(q.xnack_enabled).toBe(false);
      yield* mapPages(w.gpu0, vmOf(p, w.gpu0), 100, frames(w, [5]));
      const r = yield* run(amdgpu_engine_dispatch(q, { op: 'read', start: 100, npages: 3 }));
      expect(r.status).toBe('vm-fault');
      expect(r.pages_done).toBe(1);
      expect(r.values[0]).toBe(5);
      expect(r.fault).toEqual({ kind: 'vm-fault', page: 101, write: false, reason: 'not-present' });
      expect(q.dead).toBe(true);
      const next = yield* run(amdgpu_engine_dispatch(q, { op: 'read', start: 100, npages: 1 }));
      expect(next.status).toBe('aborted');
      // A new queue works.
      const q2 = yield* createQueue(p, w.gpu0);
      const ok = yield* run(amdgpu_engine_dispatch(q2, { op: 'read', start: 100, npages: 1 }));
      expect(ok.status).toBe('completed');
    });
    expect(w.gpu0.vm_faults).toEqual(fatal);
    expect(fatal).toMatchObject([
      { gpu: 'gpu0', gpu_id: 0x1000, pasid: 1, page: 101, write: false, kind: 'vm-fault' },
    ]);
    expect(w.sim.counters.get('gpu_faults_fatal@gpu0')).toBe(1);
    expect(w.sim.counters.get('gpu_faults_retry')).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { EBUSY, EPERM, ESRCH, Trap, getSim, join, sleep, type Co } from '../../src/sim/index.js';
import {
  KFD_QUEUE_EVICTION_TRIGGER_SVM,
  amdgpu_engine_dispatch,
  kfd_ioctl_destroy_queue,
  kfd_ioctl_set_xnack_mode,
  kfd_open_process,
  kfd_process_queues_evicted,
  kfd_process_teardown,
  kgd2kfd_quiesce_mm,
  kgd2kfd_resume_mm,
  type KernelResult,
  type amdgpu_device,
  type kfd_process,
} from '../../src/amdgpu/index.js';
import {
  createQueue,
  frames,
  makeWorld,
  mapPages,
  openProcess,
  runMain,
  vmOf,
  type World,
} from './helpers.js';

function* xnack(p: kfd_process, v?: boolean): Co<number> {
  const args = { xnack_enabled: v === undefined ? -1 : v ? 1 : 0 };
  const r = yield* kfd_ioctl_set_xnack_mode(p, args);
  return v === undefined ? args.xnack_enabled : r;
}

/** A process with the XNACK mode its GPUs give by default. */
function* defaultProcess(w: World): Co<kfd_process> {
  const p = yield* kfd_open_process(w.sys.devices, {});
  if (typeof p === 'number') throw new Error(String(p));
  return p;
}

describe('quiesce and resume (kgd2kfd_quiesce_mm / kgd2kfd_resume_mm)', () => {
  it('stops a running kernel at an access boundary; resume continues it', () => {
    const w = makeWorld();
    const accesses: number[] = [];
    const times: number[] = [];
    w.sys.hooks.access.push((_a, _vm, page) => {
      accesses.push(page);
      times.push(getSim().now());
    });
    let quiescedAt = 0;
    let resumedAt = 0;
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, false);
      const q = yield* createQueue(p, w.gpu0);
      const f = frames(w, [0, 0, 0, 0, 0, 0, 0, 0]);
      yield* mapPages(w.gpu0, vmOf(p, w.gpu0), 100, f);
      const t = amdgpu_engine_dispatch(q, {
        op: 'write',
        start: 100,
        npages: 8,
        value: (i) => 100 + i,
      });
      yield* sleep(35); // a few 10 ns accesses in
      expect(yield* kgd2kfd_quiesce_mm(p.mm, KFD_QUEUE_EVICTION_TRIGGER_SVM)).toBe(0);
      quiescedAt = w.sim.now();
      const done = accesses.length;
      expect(done).toBeGreaterThan(0);
      expect(done).toBeLessThan(8);
      expect(q.properties.is_active).toBe(false);
      expect(kfd_process_queues_evicted(p)).toBe(true);
      yield* sleep(1_000_000);
      expect(accesses.length).toBe(done); // stopped
      expect(t.done).toBe(false);
      expect(f.slice(done).map((pfn) => w.phys.read(pfn))).toEqual(new Array(8 - done).fill(0));
      resumedAt = w.sim.now();
      expect(yield* kgd2kfd_resume_mm(p.mm)).toBe(0);
      const r = (yield* join(t)) as KernelResult;
      expect(r.status).toBe('completed');
      expect(f.map((pfn) => w.phys.read(pfn))).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
      expect(times.filter((x) => x > quiescedAt && x < resumedAt)).toEqual([]);
      expect(times.slice(done).every((x) => x >= resumedAt)).toBe(true);
    });
    expect(accesses).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
    expect(w.sim.counters.get('queue_quiesce@gpu0')).toBe(1);
    expect(w.sim.counters.get('queue_resume@gpu0')).toBe(1);
  });

  it('is process-wide, nests, and covers queues created while evicted', () => {
    const w = makeWorld(2);
    const [g0, g1] = w.sys.devices as [amdgpu_device, amdgpu_device];
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, false);
      const other = yield* openProcess(w, false);
      const q0 = yield* createQueue(p, g0);
      const q1 = yield* createQueue(p, g1, 'sdma');
      const qo = yield* createQueue(other, g0);
      yield* kgd2kfd_quiesce_mm(p.mm, KFD_QUEUE_EVICTION_TRIGGER_SVM);
      yield* kgd2kfd_quiesce_mm(p.mm, KFD_QUEUE_EVICTION_TRIGGER_SVM);
      expect([q0.properties.is_active, q1.properties.is_active, qo.properties.is_active]).toEqual([
        false,
        false,
        true,
      ]);
      expect(p.pdds.map((d) => d.qpd.evicted)).toEqual([2, 2]);
      const late = yield* createQueue(p, g0);
      expect(late.properties.is_evicted).toBe(true);
      yield* kgd2kfd_resume_mm(p.mm);
      expect(q0.properties.is_active).toBe(false); // one resume per quiesce
      yield* kgd2kfd_resume_mm(p.mm);
      expect([q0, q1, late].map((q) => q.properties.is_active)).toEqual([true, true, true]);
      expect(kfd_process_queues_evicted(p)).toBe(false);
      expect(yield* kgd2kfd_quiesce_mm({}, KFD_QUEUE_EVICTION_TRIGGER_SVM)).toBe(-ESRCH);
    });
    // Counted once per GPU per 0 -> 1 transition.
    expect(w.sim.counters.get('queue_quiesce')).toBe(2);
    expect(w.sim.counters.get('queue_quiesce@gpu1')).toBe(1);
    expect(w.sim.counters.get('queue_resume')).toBe(2);
  });

  it('a resume without a quiesce is a bug (WARN_ON_ONCE in restore_process_queues)', () => {
    const w = makeWorld();
    expect(() =>
      runMain(w, function* (): Co {
        const p = yield* openProcess(w, false);
        yield* kgd2kfd_resume_mm(p.mm);
      }),
    ).toThrow(Trap);
  });

  it('kernels behind a queue left evicted end the run unfinished, without a deadlock trap', () => {
    const w = makeWorld();
    const tasks: { done: boolean }[] = [];
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, false);
      const q = yield* createQueue(p, w.gpu0);
      yield* mapPages(w.gpu0, vmOf(p, w.gpu0), 100, frames(w, [1]));
      yield* kgd2kfd_quiesce_mm(p.mm, KFD_QUEUE_EVICTION_TRIGGER_SVM);
      tasks.push(amdgpu_engine_dispatch(q, { op: 'read', start: 100, npages: 1 }));
      tasks.push(amdgpu_engine_dispatch(q, { op: 'read', start: 100, npages: 1 }));
    });
    // The runner's liveness check sees them (a `stuck` finding); the scheduler does not trap.
    expect(tasks.map((t) => t.done)).toEqual([false, false]);
  });

  it('a kernel waiting on an evicted queue ends when the process goes away', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, false);
      const q = yield* createQueue(p, w.gpu0);
      yield* mapPages(w.gpu0, vmOf(p, w.gpu0), 100, frames(w, [1]));
      yield* kgd2kfd_quiesce_mm(p.mm, KFD_QUEUE_EVICTION_TRIGGER_SVM);
      const t = amdgpu_engine_dispatch(q, { op: 'read', start: 100, npages: 1 });
      yield* sleep(1000);
      expect(t.done).toBe(false);
      yield* kfd_process_teardown(p);
      const r = (yield* join(t)) as KernelResult;
      expect(r.status).toBe('aborted');
      expect(r.pages_done).toBe(0);
    });
  });
});

describe('the XNACK mode of a process', () => {
  it('defaults per GPU and cannot change while queues exist', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const p = yield* defaultProcess(w);
      expect(yield* xnack(p)).toBe(1); // gfx943: on by default
      const q = yield* createQueue(p, w.gpu0);
      expect(yield* xnack(p, false)).toBe(-EBUSY);
      expect(yield* xnack(p)).toBe(1);
      yield* kfd_ioctl_destroy_queue(p, q);
      expect(yield* xnack(p, false)).toBe(0);
      expect(yield* xnack(p)).toBe(0);
      const q2 = yield* createQueue(p, w.gpu0);
      expect(q2.xnack_enabled).toBe(false);
      yield* kfd_ioctl_destroy_queue(p, q2);
      expect(yield* xnack(p, true)).toBe(0);
      expect(yield* xnack(p)).toBe(1);
    });
  });

  it('gfx1100 cannot enable it; gfx906 defaults off but may; a mixed system follows the weakest', () => {
    const cases: [string, ('gfx943' | 'gfx906' | 'gfx1100')[], number, number][] = [
      ['gfx1100', ['gfx1100'], 0, -EPERM],
      ['gfx906', ['gfx906'], 0, 0],
      ['gfx943+gfx1100', ['gfx943', 'gfx1100'], 0, -EPERM],
      ['gfx943+gfx906', ['gfx943', 'gfx906'], 0, 0],
    ];
    for (const [, ips, dflt, enable] of cases) {
      const w = makeWorld(ips.map((ip) => ({ ip })));
      runMain(w, function* (): Co {
        const p = yield* defaultProcess(w);
        expect(yield* xnack(p)).toBe(dflt);
        expect(yield* xnack(p, true)).toBe(enable);
      });
    }
  });
});

describe('engines', () => {
  it('atomic add returns the old values; an SDMA copy moves page by page', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, false);
      const q = yield* createQueue(p, w.gpu0);
      const sdma = yield* createQueue(p, w.gpu0, 'sdma');
      const vm = vmOf(p, w.gpu0);
      const src = frames(w, [5, 6]);
      const dst = frames(w, [0, 0]);
      yield* mapPages(w.gpu0, vm, 10, src);
      yield* mapPages(w.gpu0, vm, 20, dst);
      const a = (yield* join(
        amdgpu_engine_dispatch(q, { op: 'atomic', start: 10, npages: 2, add: 10 }),
      )) as KernelResult;
      expect([...a.values]).toEqual([5, 6]);
      const c = (yield* join(
        amdgpu_engine_dispatch(sdma, { op: 'copy', from: 10, to: 20, npages: 2 }),
      )) as KernelResult;
      expect(c.status).toBe('completed');
      expect(dst.map((pfn) => w.phys.read(pfn))).toEqual([15, 16]);
      const wrap = (yield* join(
        amdgpu_engine_dispatch(q, { op: 'atomic', start: 20, npages: 1, add: 0xffffffff }),
      )) as KernelResult;
      expect(wrap.values[0]).toBe(15);
      expect(w.phys.read(dst[0] as number)).toBe(14); // 32-bit wrap
    });
  });

  it('kernels on one queue run in order; queues run concurrently', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, false);
      const q = yield* createQueue(p, w.gpu0);
      const [f] = frames(w, [0]) as [number];
      yield* mapPages(w.gpu0, vmOf(p, w.gpu0), 1, [f]);
      const t1 = amdgpu_engine_dispatch(q, { op: 'write', start: 1, npages: 1, value: 1 });
      const t2 = amdgpu_engine_dispatch(q, { op: 'atomic', start: 1, npages: 1, add: 1 });
      const r2 = (yield* join(t2)) as KernelResult;
      expect(t1.done).toBe(true);
      expect(r2.values[0]).toBe(1);
      expect(w.phys.read(f)).toBe(2);
    });
  });
});

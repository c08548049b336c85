/**
 * Test fixture of the drm layer: a machine (sim, RAM, one process mm, one GPU's DMA
 * device) and a drm_gpusvm over it with the DOC example's notifier callback (unmap the
 * pages of every overlapping range; on UNMAP mark it and queue it for the garbage
 * collector).
 */
import { expect } from 'vitest';
import {
  Mutex,
  Sim,
  Trap,
  mutex_lock,
  mutex_unlock,
  type Co,
  type PolicyName,
} from '../../src/sim/index.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MMU_NOTIFY_UNMAP,
  MmSystem,
  PROT_READ,
  PROT_WRITE,
  do_mmap,
  mm_alloc,
  type MmStruct,
  type MmapOptions,
  type MmuNotifierRange,
} from '../../src/mm/index.js';
import { DmaDevice } from '../../src/dma/index.js';
import {
  drm_gpusvm,
  drm_gpusvm_driver_set_lock,
  drm_gpusvm_for_each_range,
  drm_gpusvm_init,
  drm_gpusvm_range_set_unmapped,
  drm_gpusvm_range_unmap_pages,
  type drm_device,
  type drm_gpusvm_notifier,
  type drm_gpusvm_ops,
  type drm_gpusvm_range,
} from '../../src/drm/index.js';

/** SZ_2M, SZ_64K, SZ_4K in pages. */
export const SZ_2M = 512;
export const SZ_1M = 256;
export const SZ_64K = 16;
export const SZ_4K = 1;
export const XE_CHUNKS = [SZ_2M, SZ_64K, SZ_4K];

export interface Machine {
  sim: Sim;
  sys: MmSystem;
  mm: MmStruct;
  drm: drm_device;
}

export function machine(
  opts: {
    policy?: PolicyName;
    replay?: string;
    seed?: number;
    ram_pages?: number;
    trace?: boolean;
    steps?: number;
  } = {},
): Machine {
  const sim = new Sim({
    policy: opts.policy ?? 'timed',
    seed: opts.seed ?? 1,
    ...(opts.replay !== undefined ? { replay: opts.replay } : {}),
    trace: opts.trace ?? true,
    steps: opts.steps ?? 2000,
    depth: 3,
  });
  const sys = new MmSystem({ ram_pages: opts.ram_pages ?? 1 << 16 });
  const mm = mm_alloc(sys, { name: 'proc' });
  const drm = { name: 'gpu0', dev: new DmaDevice('gpu0', sys.phys) };
  return { sim, sys, mm, drm };
}

/** Run `body` as task 'main' to the end of the run; returns its result. */
export function run<T>(m: Machine, body: () => Co<T>): T {
  const t = m.sim.spawn('main', body);
  m.sim.run();
  if (!t.done) throw new Error(`main did not finish (${t.waitingOn?.describe() ?? '?'})`);
  return t.result as T;
}

/** Run and return the trap the run must end with. */
export function runTrap(m: Machine, body: () => Co): Trap {
  m.sim.spawn('main', body);
  try {
    m.sim.run();
  } catch (e) {
    if (e instanceof Trap) return e;
    throw e;
  }
  throw new Error('expected a trap');
}

/** mmap of npages (anonymous private RW unless told), optionally at a fixed page. */
export function* mmap(mm: MmStruct, npages: number, extra: Partial<MmapOptions> = {}): Co<number> {
  const fixed = extra.addr !== undefined ? MAP_FIXED : 0;
  const r = yield* do_mmap(mm, {
    npages,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_PRIVATE | MAP_ANONYMOUS | fixed,
    ...extra,
  });
  expect(r).toBeGreaterThanOrEqual(0);
  return r;
}

/** A gpusvm with its driver lock and the DOC example callback. */
export interface Svm {
  gpusvm: drm_gpusvm;
  lock: Mutex;
  /** Ranges queued by UNMAP events, in order. */
  gc: drm_gpusvm_range[];
  /** Every invalidation seen: [event, start, end]. */
  events: [number, number, number][];
  /** Extra work in the callback (e.g. sleeping), before the DOC example body. */
  hook: ((range: MmuNotifierRange) => Co) | null;
}

export interface SvmOptions {
  notifier_size?: number;
  chunks?: readonly number[];
  mm_start?: number;
  mm_range?: number;
}

/** drm_gpusvm_init with the DOC example ops; must run in a task. */
export function svm_init(m: Machine, o: SvmOptions = {}): Svm {
  const svm: Svm = {
    gpusvm: new drm_gpusvm(),
    lock: new Mutex('driver_svm_lock'),
    gc: [],
    events: [],
    hook: null,
  };
  const ops: drm_gpusvm_ops = {
    *invalidate(gpusvm, notifier: drm_gpusvm_notifier, mmu_range) {
      svm.events.push([mmu_range.event, mmu_range.start, mmu_range.end]);
      if (svm.hook) yield* svm.hook(mmu_range);
      for (const range of [
        ...drm_gpusvm_for_each_range(notifier, mmu_range.start, mmu_range.end),
      ]) {
        yield* drm_gpusvm_range_unmap_pages(gpusvm, range, { in_notifier: true });
        if (mmu_range.event !== MMU_NOTIFY_UNMAP) continue;
        drm_gpusvm_range_set_unmapped(range, mmu_range);
        if (!svm.gc.includes(range)) svm.gc.push(range);
      }
    },
  };
  const chunks = o.chunks ?? XE_CHUNKS;
  const ret = drm_gpusvm_init(
    svm.gpusvm,
    'test-svm',
    m.drm,
    m.mm,
    o.mm_start ?? 0,
    o.mm_range ?? 2 ** 36,
    o.notifier_size ?? 1 << 17, // 512 MiB
    ops,
    chunks,
    chunks.length,
  );
  expect(ret).toBe(0);
  drm_gpusvm_driver_set_lock(svm.gpusvm, svm.lock);
  return svm;
}

/** Run `body` with the driver lock held. */
export function* locked<T>(svm: Svm, body: () => Co<T>): Co<T> {
  yield* mutex_lock(svm.lock);
  try {
    return yield* body();
  } finally {
    mutex_unlock(svm.lock);
  }
}

import { describe, expect, it } from 'vitest';
import { amdgpu_vram_mgr_alloc } from '../../src/amdgpu/vram.js';
import { kgd2kfd_quiesce_mm } from '../../src/amdgpu/kfd_queue.js';
import { mm_pte_pfn } from '../../src/mm/access.js';
import type { World } from '../../src/scenario/world.js';
import {
  BUG_ON,
  Completion,
  Kref,
  Mutex,
  PREEMPT,
  SpinLock,
  fs_reclaim_acquire,
  fs_reclaim_release,
  kref_put,
  might_alloc,
  might_lock,
  mutex_lock,
  mutex_unlock,
  sleep,
  spin_lock,
  spin_unlock,
  wait_for_completion,
  type Co,
} from '../../src/sim/index.js';
import { run } from './harness.js';

const BUF = 0x10000000n; // bytes; page 0x10000
const simple = `
name: planted
steps:
  - mmap: { as: buf, size: 4 pages, at: 0x10000000 }
  - write: { at: buf, size: 4 pages, value: 1 }
  - sleep: { time: 2ms }
  - read: { at: buf, size: 4 pages, expect: 1 }
`;

/** Plant a task that runs `body` 1 ms into the run. */
function plant(body: (w: World) => Co) {
  return (w: World): void => {
    w.sim.spawn('planted', function* (): Co {
      yield* sleep(1_000_000);
      yield* body(w);
    });
  };
}

function expectTrap(
  text: string,
  setup: ((w: World) => void) | undefined,
  kind: string,
  opts: { maxSteps?: number } = {},
) {
  const r = run(text, { ...(setup ? { setup } : {}), ...opts });
  expect(r.pass).toBe(false);
  expect(r.trap?.kind).toBe(kind);
  expect(r.reason).toMatch(new RegExp(`^trap ${kind}: .*\\(replay v1\\.`));
  const withExpect = text.replace(/^name: .*$/m, `$&\nexpect: { violations: [${kind}] }`);
  const r2 = run(withExpect, { ...(setup ? { setup } : {}), ...opts });
  expect(r2.reason).toBe('');
  expect(r2.pass).toBe(true);
  return r;
}

describe('oracle: every trap kind is reported, and accepted when expected', () => {
  it('stale-gpu-mapping: the GPU reads a frame the CPU no longer maps', () => {
    const r = expectTrap(
      `name: stale
system: { design: test-mirror }
steps:
  - mmap: { as: buf, size: 4 pages }
  - write: { at: buf, size: 4 pages, value: 1 }
  - svm.set: { at: buf, size: 4 pages, attrs: { ACCESS: gpu0 } }
  - reclaim: { at: buf, size: 4 pages }
  - gpu.read: { at: buf, size: 4 pages }
`,
      undefined,
      'stale-gpu-mapping',
    );
    expect(r.trap?.message).toMatch(
      /gpu0 accessed page 0x[0-9a-f]+ of main through frame \d+, but the CPU maps a swapped-out page there/,
    );
  });

  it('fatal-gpu-fault: XNACK off, accessible memory, no mapping', () => {
    expectTrap(
      `name: fatal
system: { design: test-mirror, xnack: off, options: { noisy: true } }
steps:
  - mmap: { as: buf, size: 4 pages }
  - svm.set: { at: buf, size: 4 pages, attrs: { ACCESS: gpu0 } }
  - gpu.read: { at: buf, size: 4 pages }
`,
      undefined,
      'fatal-gpu-fault',
    );
  });

  it('data-mismatch: a frame changes behind the CPU', () => {
    expectTrap(
      simple,
      plant(function* (w) {
        const p = w.processes[0];
        if (p) w.mmsys.phys.write(mm_pte_pfn(p.mm, Number(BUF >> 12n)), 0xbad);
      }),
      'data-mismatch',
    );
  });

  it('lock-order, reclaim-lock, deadlock, sleep-in-atomic, use-after-free, bug', () => {
    expectTrap(
      simple,
      plant(function* () {
        const a = new Mutex('planted_a');
        const b = new Mutex('planted_b');
        yield* mutex_lock(a);
        yield* mutex_lock(b);
        mutex_unlock(b);
        mutex_unlock(a);
        yield* mutex_lock(b);
        yield* mutex_lock(a);
      }),
      'lock-order',
    );
    expectTrap(
      simple,
      plant(function* () {
        const n = new Mutex('planted_notifier_lock');
        fs_reclaim_acquire('GFP_KERNEL');
        might_lock(n);
        fs_reclaim_release('GFP_KERNEL');
        yield* mutex_lock(n);
        might_alloc('GFP_KERNEL');
      }),
      'reclaim-lock',
    );
    expectTrap(
      simple,
      plant(() => wait_for_completion(new Completion('never'))),
      'deadlock',
    );
    expectTrap(
      simple,
      plant(function* () {
        const s = new SpinLock('planted_spin');
        yield* spin_lock(s);
        yield* sleep(1);
        spin_unlock(s);
      }),
      'sleep-in-atomic',
    );
    expectTrap(
      simple,
      plant(function* () {
        const k = new Kref('planted_ref');
        kref_put(k, () => undefined);
        kref_put(k, () => undefined);
      }),
      'use-after-free',
    );
    expectTrap(
      simple,
      plant(function* () {
        BUG_ON(true, 'planted');
      }),
      'bug',
    );
  });

  it('livelock: a loop that never ends', () => {
    expectTrap(
      simple,
      plant(function* () {
        for (;;) yield PREEMPT;
      }),
      'livelock',
      { maxSteps: 20_000 },
    );
  });

  it('stuck: queues left quiesced after settling', () => {
    expectTrap(
      simple,
      plant(function* (w) {
        const p = w.processes[0];
        if (p) yield* kgd2kfd_quiesce_mm(p.mm, 0);
      }),
      'stuck',
    );
  });

  it('leak: VRAM left allocated after exit', () => {
    const r = expectTrap(
      simple,
      plant(function* (w) {
        const dev = w.gpus.devices[0];
        if (dev) amdgpu_vram_mgr_alloc(dev.vram, 2, []);
      }),
      'leak',
    );
    expect(r.trap?.message).toMatch(/left after exit: 2 VRAM pages on gpu0/);
  });

  it('data-mismatch: GET_ATTR does not return what SET_ATTR stored', () => {
    const text = (liar: boolean) => `name: attrs
system: { design: test-mirror, options: { liar: ${liar} } }
steps:
  - mmap: { as: buf, size: 4 pages }
  - svm.set: { at: buf, size: 4 pages, attrs: { PREFERRED_LOC: sysmem, GRANULARITY: 3 } }
  - svm.get: { at: buf + 1 pages, size: 2 pages, attrs: [PREFERRED_LOC, GRANULARITY] }
`;
    expect(run(text(false)).reason).toBe('');
    const r = expectTrap(text(true), undefined, 'data-mismatch');
    expect(r.trap?.message).toMatch(
      /GET_ATTR PREFERRED_LOC over pages 0x[0-9a-f]+-0x[0-9a-f]+ returned 0x1234, but SET_ATTR stored 0x0/,
    );
  });

  it('an expected trap that does not happen fails the run', () => {
    const r = run(simple.replace(/^name: .*$/m, '$&\nexpect: { violations: [deadlock] }'));
    expect(r.reason).toBe('expected a trap of kind deadlock, and the run ended without one');
  });
});

describe('runner determinism', () => {
  const race = `
name: race
system: { policy: random, seed: SEED }
threads:
  a:
    - mmap: { as: buf, size: 32 pages }
    - barrier: { name: go }
    - write: { at: buf, size: 32 pages, value: 1 }
  b:
    - barrier: { name: go }
    - munmap: { at: buf, size: 32 pages }
`;
  it('gives a byte-identical trace for the same scenario and seed', () => {
    const one = run(race.replace('SEED', '5'), { trace: true });
    const two = run(race.replace('SEED', '5'), { trace: true });
    expect(one.trace?.length).toBeGreaterThan(500);
    expect(two.trace).toBe(one.trace);
  });

  it('reproduces a failing run from its replay string', () => {
    let failing;
    for (let seed = 1; seed < 40 && !failing; seed++) {
      const r = run(race.replace('SEED', String(seed)), { trace: true });
      if (!r.pass) failing = r;
    }
    expect(failing?.reason).toMatch(/step 2 \(write\) of a: expected OK, got EFAULT/);
    const again = run(race.replace('SEED', '1'), { replay: failing?.replay ?? '', trace: true });
    expect(again.reason).toBe(failing?.reason);
    expect(again.trace).toBe(failing?.trace);
  });
});

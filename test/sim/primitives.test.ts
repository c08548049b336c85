import { describe, expect, it } from 'vitest';
import {
  Atomic,
  Completion,
  CostTable,
  Counters,
  Kref,
  Sim,
  WaitQueue,
  atomic_cmpxchg,
  complete,
  complete_all,
  errnoByName,
  errnoName,
  kref_get,
  kref_get_unless_zero,
  kref_put,
  sleep,
  wait_event,
  wait_event_timeout,
  wait_for_completion,
  wait_for_completion_timeout,
  wake_up_all,
  type Co,
} from '../../src/sim/index.js';
import { trapOf } from './helpers.js';

describe('completion and wait queues', () => {
  it('complete wakes one waiter per call; complete_all wakes every one', () => {
    const sim = new Sim();
    const c = new Completion('done');
    const woke: string[] = [];
    for (const n of ['w1', 'w2', 'w3']) {
      sim.spawn(n, function* (): Co {
        yield* wait_for_completion(c);
        woke.push(`${n}@${sim.now()}`);
      });
    }
    sim.spawn('signaller', function* (): Co {
      yield* sleep(10);
      complete(c);
      yield* sleep(10);
      complete_all(c);
    });
    sim.run();
    expect(woke).toEqual(['w1@10', 'w2@20', 'w3@20']);
  });

  it('wait_for_completion_timeout returns 0 on timeout and the time left otherwise', () => {
    const sim = new Sim();
    const c = new Completion('fence');
    const got: number[] = [];
    sim.spawn('waiter', function* (): Co {
      got.push(yield* wait_for_completion_timeout(c, 100));
      got.push(sim.now());
      got.push(yield* wait_for_completion_timeout(c, 100));
      got.push(sim.now());
    });
    sim.spawn('signaller', function* (): Co {
      yield* sleep(130);
      complete(c);
    });
    sim.run();
    expect(got).toEqual([0, 100, 70, 130]);
  });

  it('wait_event re-checks its condition after every wake-up', () => {
    const sim = new Sim();
    const wq = new WaitQueue('wq');
    let x = 0;
    const seen: number[] = [];
    sim.spawn('waiter', function* (): Co {
      yield* wait_event(wq, () => x >= 2);
      seen.push(sim.now());
      const left = yield* wait_event_timeout(wq, () => x >= 5, 1000);
      seen.push(left, sim.now());
    });
    sim.spawn('waker', function* (): Co {
      for (let i = 0; i < 3; i++) {
        yield* sleep(10);
        x++;
        wake_up_all(wq);
      }
    });
    sim.run();
    expect(seen).toEqual([20, 0, 1020]);
  });
});

describe('kref and atomics', () => {
  it('releases at zero and traps use-after-free afterwards', () => {
    const sim = new Sim();
    const k = new Kref('svm_range');
    let released = 0;
    sim.spawn('t', function* (): Co {
      kref_get(k);
      expect(kref_put(k, () => released++)).toBe(false);
      expect(kref_put(k, () => released++)).toBe(true);
      expect(kref_get_unless_zero(k)).toBe(false);
      kref_get(k);
    });
    const t = trapOf(sim);
    expect(released).toBe(1);
    expect(t.kind).toBe('use-after-free');
    expect(t.message).toContain('svm_range');
  });

  it('atomic_cmpxchg stores only on a match and returns the old value', () => {
    const a = new Atomic(3);
    expect(atomic_cmpxchg(a, 2, 9)).toBe(3);
    expect(a.value).toBe(3);
    expect(atomic_cmpxchg(a, 3, 9)).toBe(3);
    expect(a.value).toBe(9);
  });
});

describe('counters, costs, errno and trace', () => {
  it('counters add per scope and diff', () => {
    const c = new Counters();
    c.add('tlb_flushes', 2, 'gpu0');
    c.add('tlb_flushes', 1, 'gpu1');
    const before = c.snapshot();
    c.add('tlb_flushes');
    expect(c.get('tlb_flushes')).toBe(4);
    expect(c.get('tlb_flushes@gpu0')).toBe(2);
    expect(Counters.diff(before, c.snapshot())).toEqual({ tlb_flushes: 1 });
  });

  it('the cost table takes overrides and rejects unknown names', () => {
    const t = new CostTable({ tlb_flush: 6000 });
    expect(t.get('tlb_flush')).toBe(6000);
    expect(t.get('dma_map_page')).toBe(150);
    expect(() => t.set('tlb_flsh', 1)).toThrow(/unknown cost 'tlb_flsh'/);
    expect(() => t.set('tlb_flush', -1)).toThrow(/non-negative/);
  });

  it('account counts and charges virtual time to the running task', () => {
    const sim = new Sim({ costs: { pte_write: 30 } });
    sim.spawn('t', function* (): Co {
      sim.account('pte_writes', 10, 'pte_write', 'gpu0');
      yield* sleep(0);
    });
    sim.run();
    expect(sim.counters.get('pte_writes@gpu0')).toBe(10);
    expect(sim.now()).toBe(300);
  });

  it('errno names both ways', () => {
    expect(errnoName(-22)).toBe('EINVAL');
    expect(errnoName(0)).toBe('OK');
    expect(errnoByName('EBUSY')).toBe(16);
  });

  it('trace events carry time and task and serialise as JSON lines', () => {
    const sim = new Sim({ trace: true });
    sim.spawn('t', function* (): Co {
      yield* sleep(5);
      sim.trace.emit('note', { text: 'hello' });
    });
    sim.run();
    const lines = sim.trace.toJsonLines().trim().split('\n');
    expect(JSON.parse(lines[1] ?? '')).toEqual({ t: 5, task: 't', kind: 'note', text: 'hello' });
    expect(sim.trace.tail().map((e) => e.kind)).toEqual(['task.spawn', 'note', 'task.exit']);
  });
});

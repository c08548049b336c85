import { describe, expect, it } from 'vitest';
import {
  DelayedWork,
  Mutex,
  Sim,
  WorkStruct,
  alloc_ordered_workqueue,
  alloc_workqueue,
  cancel_delayed_work_sync,
  cancel_work_sync,
  destroy_workqueue,
  flush_delayed_work,
  flush_work,
  flush_workqueue,
  mod_delayed_work,
  mutex_lock,
  mutex_unlock,
  queue_delayed_work,
  queue_work,
  sleep,
  type Co,
} from '../../src/sim/index.js';
import { trapOf } from './helpers.js';

describe('workqueue', () => {
  it('does not queue a pending item twice, and reruns one queued while running', () => {
    const sim = new Sim();
    const wq = alloc_workqueue('wq');
    const runs: number[] = [];
    const w = new WorkStruct('w', function* (): Co {
      runs.push(sim.now());
      yield* sleep(100);
    });
    const results: boolean[] = [];
    sim.spawn('user', function* (): Co {
      results.push(queue_work(wq, w), queue_work(wq, w)); // second: already pending
      yield* sleep(50); // w is running now
      results.push(queue_work(wq, w)); // queued again while running
      results.push(queue_work(wq, w)); // pending again: refused
      yield* flush_work(w);
      results.push(w.pending);
    });
    sim.run();
    expect(results).toEqual([true, false, true, false, false]);
    expect(runs).toEqual([0, 100]); // never concurrently with itself
  });

  it('flush_work waits for the queued instance; flush of an idle item returns false', () => {
    const sim = new Sim();
    const wq = alloc_workqueue('wq');
    let done = 0;
    const w = new WorkStruct('w', function* (): Co {
      yield* sleep(70);
      done++;
    });
    const flushed: [boolean, number, number][] = [];
    sim.spawn('user', function* (): Co {
      queue_work(wq, w);
      const r = yield* flush_work(w);
      flushed.push([r, done, sim.now()]);
      const r2 = yield* flush_work(w);
      flushed.push([r2, done, sim.now()]);
    });
    sim.run();
    expect(flushed).toEqual([
      [true, 1, 70],
      [false, 1, 70],
    ]);
  });

  it('cancel_work_sync removes a pending item and waits for a running one', () => {
    const sim = new Sim();
    const wq = alloc_ordered_workqueue('ordered');
    const ran: string[] = [];
    const mk = (n: string) =>
      new WorkStruct(n, function* (): Co {
        yield* sleep(100);
        ran.push(`${n}@${sim.now()}`);
      });
    const a = mk('a');
    const b = mk('b');
    const out: unknown[] = [];
    sim.spawn('user', function* (): Co {
      queue_work(wq, a);
      queue_work(wq, b); // ordered: b waits behind a
      yield* sleep(10);
      out.push(yield* cancel_work_sync(b)); // pending: removed
      out.push(yield* cancel_work_sync(a)); // running: not pending, waits for it
      out.push(sim.now());
    });
    sim.run();
    expect(out).toEqual([true, false, 100]);
    expect(ran).toEqual(['a@100']);
  });

  it('an ordered workqueue runs items one at a time in queueing order', () => {
    const sim = new Sim({ policy: 'random', seed: 11 });
    const wq = alloc_ordered_workqueue('restore');
    const log: string[] = [];
    const items = ['w0', 'w1', 'w2', 'w3'].map(
      (n, i) =>
        new WorkStruct(n, function* (): Co {
          log.push(`${n}<`);
          yield* sleep(10 * (4 - i));
          log.push(`${n}>`);
        }),
    );
    sim.spawn('user', function* (): Co {
      for (const w of items) queue_work(wq, w);
      yield* flush_workqueue(wq);
      yield* destroy_workqueue(wq);
    });
    sim.run();
    expect(log).toEqual(['w0<', 'w0>', 'w1<', 'w1>', 'w2<', 'w2>', 'w3<', 'w3>']);
  });

  it('an unbound workqueue runs different items concurrently', () => {
    const sim = new Sim();
    const wq = alloc_workqueue('gc', 0, 4);
    const starts: number[] = [];
    const items = [0, 1, 2].map(
      (i) =>
        new WorkStruct(`w${i}`, function* (): Co {
          starts.push(sim.now());
          yield* sleep(100);
        }),
    );
    sim.spawn('user', function* (): Co {
      for (const w of items) queue_work(wq, w);
      yield* flush_workqueue(wq);
      starts.push(sim.now());
    });
    sim.run();
    expect(starts).toEqual([0, 0, 0, 100]);
  });

  it('delayed work fires at the right virtual time; mod_delayed_work re-arms it', () => {
    const sim = new Sim();
    const wq = alloc_ordered_workqueue('restore');
    const fired: number[] = [];
    const dw = new DelayedWork('restore_work', function* (): Co {
      fired.push(sim.now());
    });
    const out: boolean[] = [];
    sim.spawn('user', function* (): Co {
      out.push(queue_delayed_work(wq, dw, 1_000_000)); // 1 ms
      out.push(queue_delayed_work(wq, dw, 5)); // pending: refused
      yield* sleep(2_000_000);
      out.push(mod_delayed_work(wq, dw, 3_000_000)); // not pending: arms
      yield* sleep(1_000_000);
      out.push(mod_delayed_work(wq, dw, 500_000)); // pending: re-arm earlier
    });
    sim.run();
    expect(out).toEqual([true, false, false, true]);
    expect(fired).toEqual([1_000_000, 3_500_000]);
  });

  it('flush_delayed_work runs a pending timer now; cancel_delayed_work_sync stops it', () => {
    const sim = new Sim();
    const wq = alloc_workqueue('wq');
    const fired: number[] = [];
    const dw = new DelayedWork('dw', function* (): Co {
      fired.push(sim.now());
    });
    const out: boolean[] = [];
    sim.spawn('user', function* (): Co {
      queue_delayed_work(wq, dw, 1_000);
      out.push(yield* flush_delayed_work(dw));
      queue_delayed_work(wq, dw, 1_000);
      out.push(yield* cancel_delayed_work_sync(dw));
      yield* sleep(5_000);
    });
    sim.run();
    expect(out).toEqual([true, true]);
    expect(fired).toEqual([0]);
  });

  it('flushing a work under a lock the work takes is a lockdep cycle', () => {
    const sim = new Sim();
    const wq = alloc_workqueue('gc');
    const svmLock = new Mutex('svm_lock');
    const w = new WorkStruct('gc_work', function* (): Co {
      yield* mutex_lock(svmLock);
      mutex_unlock(svmLock);
    });
    sim.spawn('ioctl', function* (): Co {
      queue_work(wq, w);
      yield* sleep(10); // the work has run and recorded gc_work -> svm_lock
      queue_work(wq, w);
      yield* mutex_lock(svmLock);
      yield* flush_work(w);
      mutex_unlock(svmLock);
    });
    const t = trapOf(sim);
    expect(t.kind).toBe('lock-order');
    expect(t.details['cycle']).toContain('(work_completion)(gc_work)');
  });

  it('queueing on a destroyed workqueue is a bug', () => {
    const sim = new Sim();
    const wq = alloc_workqueue('wq');
    const w = new WorkStruct('w', function* (): Co {});
    sim.spawn('user', function* (): Co {
      yield* destroy_workqueue(wq);
      queue_work(wq, w);
    });
    expect(trapOf(sim).kind).toBe('bug');
  });
});

describe('settle_workqueues', () => {
  it('waits for queued, running, re-queued and delayed work on every workqueue', async () => {
    const { settle_workqueues } = await import('../../src/sim/index.js');
    const sim = new Sim();
    const gc = alloc_workqueue('gc');
    const restore = alloc_ordered_workqueue('restore');
    const log: string[] = [];
    const rw = new DelayedWork('restore_work', function* (): Co {
      log.push(`restore@${sim.now()}`);
    });
    const gw = new WorkStruct('gc_work', function* (): Co {
      yield* sleep(500);
      log.push(`gc@${sim.now()}`);
      queue_delayed_work(restore, rw, 1_000_000);
    });
    sim.spawn('user', function* (): Co {
      queue_work(gc, gw);
      yield* settle_workqueues();
      log.push(`settled@${sim.now()}`);
    });
    sim.run();
    expect(log).toEqual(['gc@500', 'restore@1000500', 'settled@1000500']);
  });
});

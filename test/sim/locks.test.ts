import { describe, expect, it } from 'vitest';
import {
  Mutex,
  RwSemaphore,
  Sim,
  SpinLock,
  cond_resched,
  down_read,
  down_read_trylock,
  down_write,
  down_write_trylock,
  downgrade_write,
  lockdep_assert_held,
  mutex_lock,
  mutex_trylock,
  mutex_unlock,
  sleep,
  spin_lock,
  spin_unlock,
  up_read,
  up_write,
  type Co,
} from '../../src/sim/index.js';
import { trapOf } from './helpers.js';

describe('mutex', () => {
  it('excludes and hands over to waiters in FIFO order', () => {
    const sim = new Sim({ policy: 'random', seed: 3 });
    const m = new Mutex('m');
    const log: string[] = [];
    let inside = 0;
    for (const name of ['a', 'b', 'c']) {
      sim.spawn(name, function* (): Co {
        yield* mutex_lock(m);
        inside++;
        expect(inside).toBe(1);
        log.push(name);
        yield* sleep(100);
        inside--;
        mutex_unlock(m);
      });
    }
    sim.run();
    expect(log.sort()).toEqual(['a', 'b', 'c']);
    expect(m.owner).toBeNull();
    expect(sim.now()).toBe(300);
  });

  it('trylock fails while held and unlock by a non-owner traps bug', () => {
    const sim = new Sim();
    const m = new Mutex('m');
    const got: boolean[] = [];
    sim.spawn('a', function* (): Co {
      yield* mutex_lock(m);
      yield* sleep(10);
      mutex_unlock(m);
    });
    sim.spawn('b', function* (): Co {
      got.push(mutex_trylock(m));
      yield* sleep(20);
      got.push(mutex_trylock(m));
      mutex_unlock(m);
    });
    sim.run();
    expect(got).toEqual([false, true]);

    const sim2 = new Sim();
    const m2 = new Mutex('m2');
    sim2.spawn('x', function* (): Co {
      yield* mutex_lock(m2);
      yield* sleep(10);
      mutex_unlock(m2);
    });
    sim2.spawn('y', function* (): Co {
      yield* cond_resched();
      mutex_unlock(m2);
    });
    expect(trapOf(sim2).kind).toBe('bug');
  });
});

describe('rw_semaphore', () => {
  it('shares among readers, excludes writers, and a queued writer blocks new readers', () => {
    const sim = new Sim();
    const s = new RwSemaphore('sem');
    const log: string[] = [];
    sim.spawn('r1', function* (): Co {
      yield* down_read(s);
      log.push(`r1+${sim.now()}`);
      yield* sleep(100);
      up_read(s);
    });
    sim.spawn('r2', function* (): Co {
      yield* down_read(s);
      log.push(`r2+${sim.now()}`);
      yield* sleep(100);
      up_read(s);
    });
    sim.spawn('w', function* (): Co {
      yield* sleep(10);
      yield* down_write(s);
      log.push(`w+${sim.now()}`);
      yield* sleep(50);
      up_write(s);
    });
    sim.spawn('r3', function* (): Co {
      yield* sleep(20);
      yield* down_read(s);
      log.push(`r3+${sim.now()}`);
      up_read(s);
    });
    sim.run();
    expect(log).toEqual(['r1+0', 'r2+0', 'w+100', 'r3+150']);
  });

  it('trylocks and downgrade_write follow Linux', () => {
    const sim = new Sim();
    const s = new RwSemaphore('sem');
    const out: unknown[] = [];
    sim.spawn('w', function* (): Co {
      yield* down_write(s);
      lockdep_assert_held(s, 'write');
      yield* sleep(10);
      downgrade_write(s);
      lockdep_assert_held(s, 'read');
      yield* sleep(10);
      up_read(s);
    });
    sim.spawn('t', function* (): Co {
      yield* sleep(5);
      out.push(down_read_trylock(s), down_write_trylock(s));
      yield* sleep(10); // t = 15: downgraded, readers allowed, writers not
      out.push(down_read_trylock(s));
      up_read(s);
      out.push(down_write_trylock(s));
      yield* sleep(10); // t = 25: free
      out.push(down_write_trylock(s));
      up_write(s);
    });
    sim.run();
    expect(out).toEqual([false, false, true, false, true]);
  });

  it('lockdep_assert_held traps when the lock is not held in that mode', () => {
    const sim = new Sim();
    const s = new RwSemaphore('sem');
    sim.spawn('t', function* (): Co {
      yield* down_read(s);
      lockdep_assert_held(s, 'write');
    });
    const t = trapOf(sim);
    expect(t.kind).toBe('bug');
    expect(t.message).toContain('lockdep_assert_held(sem, write)');
  });
});

describe('spinlock', () => {
  it('traps sleep-in-atomic when a holder sleeps', () => {
    const sim = new Sim();
    const s = new SpinLock('notifier_lock');
    const m = new Mutex('m');
    sim.spawn('t', function* (): Co {
      yield* spin_lock(s);
      yield* mutex_lock(m);
    });
    const t = trapOf(sim);
    expect(t.kind).toBe('sleep-in-atomic');
    expect(t.details['held']).toEqual(['notifier_lock']);
  });

  it('preemption points are skipped while it is held and work after unlock', () => {
    const sim = new Sim({ policy: 'random', seed: 1 });
    const s = new SpinLock('s');
    const log: string[] = [];
    for (const n of ['a', 'b']) {
      sim.spawn(n, function* (): Co {
        yield* spin_lock(s);
        log.push(`${n}<`);
        yield* cond_resched();
        log.push(`${n}>`);
        spin_unlock(s);
      });
    }
    sim.run();
    expect(log.join('')).toMatch(/^(a<a>b<b>|b<b>a<a>)$/);
  });
});

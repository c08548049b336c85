import { describe, expect, it } from 'vitest';
import {
  Completion,
  Mutex,
  RwSemaphore,
  Sim,
  down_read,
  down_write,
  fs_reclaim_acquire,
  fs_reclaim_release,
  memalloc_noreclaim_restore,
  memalloc_noreclaim_save,
  might_alloc,
  might_lock,
  mutex_lock,
  mutex_unlock,
  sleep,
  up_read,
  up_write,
  wait_for_completion,
  type Co,
} from '../../src/sim/index.js';
import { trapOf } from './helpers.js';

function* lockPair(first: Mutex, second: Mutex, hold = 0): Co {
  yield* mutex_lock(first);
  if (hold) yield* sleep(hold);
  yield* mutex_lock(second);
  mutex_unlock(second);
  mutex_unlock(first);
}

describe('lockdep', () => {
  it('reports an ABBA order on a schedule where no deadlock happened', () => {
    const sim = new Sim();
    const a = new Mutex('lock_a');
    const b = new Mutex('lock_b');
    let firstDone = false;
    sim.spawn('t1', function* (): Co {
      yield* lockPair(a, b);
      firstDone = true;
    });
    sim.spawn('t2', function* (): Co {
      yield* sleep(1000); // long after t1 released both: no deadlock possible here
      yield* lockPair(b, a);
    });
    const t = trapOf(sim);
    expect(firstDone).toBe(true);
    expect(t.kind).toBe('lock-order');
    expect(t.details['cycle']).toEqual(['lock_b', 'lock_a', 'lock_b']);
    expect(t.task).toBe('t2');
    expect(t.message).toContain('lock_a -> lock_b first by t1');
  });

  it('orders rw_semaphore readers like writers (mmap_lock vs a driver lock)', () => {
    const sim = new Sim();
    const mmap = new RwSemaphore('mmap_lock');
    const svm = new Mutex('svm_lock');
    sim.spawn('ioctl', function* (): Co {
      yield* down_read(mmap);
      yield* mutex_lock(svm);
      mutex_unlock(svm);
      up_read(mmap);
    });
    sim.spawn('worker', function* (): Co {
      yield* sleep(10);
      yield* mutex_lock(svm);
      yield* down_write(mmap);
      up_write(mmap);
      mutex_unlock(svm);
    });
    expect(trapOf(sim).kind).toBe('lock-order');
  });

  it('reports recursive locking of one class', () => {
    const sim = new Sim();
    const a1 = new Mutex('range_lock');
    const a2 = new Mutex('range_lock');
    sim.spawn('t', () => lockPair(a1, a2));
    const t = trapOf(sim);
    expect(t.kind).toBe('lock-order');
    expect(t.message).toContain('recursive locking');
  });

  it('allows nesting of one class with a subclass annotation', () => {
    const sim = new Sim();
    const parent = new Mutex('range_lock');
    const child = new Mutex('range_lock', 1);
    sim.spawn('t', () => lockPair(parent, child));
    sim.run();
    expect(parent.owner).toBeNull();
  });

  it('traps reclaim-lock for an allocation under a lock the notifier takes', () => {
    const sim = new Sim();
    const notifierLock = new Mutex('notifier_lock');
    sim.spawn('init', function* (): Co {
      // drm_gpusvm_init primes: reclaim may take notifier_lock.
      fs_reclaim_acquire('GFP_KERNEL');
      might_lock(notifierLock);
      fs_reclaim_release('GFP_KERNEL');
      yield* mutex_lock(notifierLock);
      might_alloc('GFP_KERNEL');
      mutex_unlock(notifierLock);
    });
    const t = trapOf(sim);
    expect(t.kind).toBe('reclaim-lock');
    expect(t.details['cycle']).toEqual(['notifier_lock', 'fs_reclaim', 'notifier_lock']);
  });

  it('does not trap for GFP_NOWAIT or inside memalloc_noreclaim_save', () => {
    const sim = new Sim();
    const notifierLock = new Mutex('notifier_lock');
    sim.spawn('init', function* (): Co {
      fs_reclaim_acquire('GFP_KERNEL');
      might_lock(notifierLock);
      fs_reclaim_release('GFP_KERNEL');
      yield* mutex_lock(notifierLock);
      might_alloc('GFP_NOWAIT');
      const saved = memalloc_noreclaim_save();
      might_alloc('GFP_KERNEL');
      memalloc_noreclaim_restore(saved);
      mutex_unlock(notifierLock);
    });
    sim.run();
    expect(notifierLock.owner).toBeNull();
  });
});

describe('deadlock detection', () => {
  it('reports a real ABBA deadlock with its wait-for graph', () => {
    const sim = new Sim();
    sim.lockdep.enabled = false; // let the schedule deadlock for real
    const a = new Mutex('lock_a');
    const b = new Mutex('lock_b');
    sim.spawn('t1', () => lockPair(a, b, 10));
    sim.spawn('t2', () => lockPair(b, a, 10));
    const t = trapOf(sim);
    expect(t.kind).toBe('deadlock');
    expect(t.details['waitFor']).toEqual([
      { task: 't1#0', waitsFor: 'mutex lock_b', heldBy: ['t2#1'], holds: ['lock_a'] },
      { task: 't2#1', waitsFor: 'mutex lock_a', heldBy: ['t1#0'], holds: ['lock_b'] },
    ]);
    expect(t.replay).toMatch(/^v1\./);
  });

  it('reports a wait on a completion nobody will complete', () => {
    const sim = new Sim();
    const c = new Completion('fence');
    sim.spawn('waiter', () => wait_for_completion(c));
    const t = trapOf(sim);
    expect(t.kind).toBe('deadlock');
    expect(t.message).toContain('waiter#0 waits for completion fence');
  });
});

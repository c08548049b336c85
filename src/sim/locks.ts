/**
 * Sleeping and spinning locks with Linux semantics (kernel/locking/mutex.c, rwsem.c,
 * spinlock.c), wired to lockdep. Every sleeping acquisition is a preemption point before the
 * lock is taken (so the explorer can interleave there), checks might_sleep, and records the
 * lock order before it may block, as lock_acquire does. Waiters queue FIFO and a release
 * hands the lock to the first waiter (Linux's handoff), so no waiter starves.
 * Unlocking never sleeps and is a plain function.
 *
 * As in Linux, an acquisition has a fast path and a slow path: the preemption point is
 * decided in place (Sim.preempt) and a free lock is taken at once, so an uncontended
 * acquisition that the scheduler does not preempt makes no generator (co_return); yielding
 * for the preemption and sleeping for the lock are generators of their own.
 */
import { array_del } from './array.js';
import { getSim, current } from './scheduler.js';
import { BLOCK, PREEMPT, co_return, type Co, type Task, type WaitTarget } from './task.js';
import { trap } from './trap.js';

/** The preemption point: true when the running task must yield (see Sim.preempt). */
function preempted(): boolean {
  return current().atomicDepth === 0 && getSim().preempt();
}

/** Yield at the preemption point, then go on with `next` (a lock's acquisition). */
function* resched(next?: () => Co): Co {
  yield PREEMPT;
  if (next) yield* next();
}

/** Preemption point: a place where the scheduler may switch tasks (none with preemption off). */
export function cond_resched(): Co {
  return preempted() ? resched() : co_return(undefined);
}

/** might_sleep(): trap when the running task is in atomic context. */
export function might_sleep(what = 'might_sleep'): void {
  const t = getSim().current;
  if (t && t.atomicDepth > 0) {
    trap('sleep-in-atomic', `${what} called by ${t.name} in atomic context`, {
      held: getSim().lockdep.heldNames(t),
    });
  }
}

abstract class LockBase implements WaitTarget {
  /** FIFO of sleeping acquirers. */
  readonly waiters: { task: Task; mode: 'read' | 'write' }[] = [];
  private cls = -1;
  private clsSim: unknown = null;

  constructor(
    readonly lockdepName: string,
    /** Nesting subclass (mutex_lock_nested / down_read_nested). */
    readonly subclass = 0,
  ) {}

  /** The lockdep class of this lock in the active simulation. */
  lockClass(): number {
    const sim = getSim();
    if (this.clsSim !== sim) {
      this.cls = sim.lockdep.classId(this.lockdepName, this.subclass);
      this.clsSim = sim;
    }
    return this.cls;
  }

  abstract describe(): string;
  abstract owners(): readonly Task[];

  /** Sleep until a releaser hands the lock to this task. */
  *waitFor(t: Task, mode: 'read' | 'write'): Co {
    this.waiters.push({ task: t, mode });
    getSim().block(this);
    yield BLOCK;
  }
}

export class Mutex extends LockBase {
  owner: Task | null = null;

  describe(): string {
    return `mutex ${this.lockdepName}`;
  }
  owners(): readonly Task[] {
    return this.owner ? [this.owner] : [];
  }

  get locked(): boolean {
    return this.owner !== null;
  }
}

export function mutex_lock(m: Mutex): Co {
  might_sleep('mutex_lock');
  return preempted() ? resched(() => __mutex_lock(m)) : __mutex_lock(m);
}

/** Take the mutex at once when it is free (__mutex_trylock_fast), else sleep for it. */
function __mutex_lock(m: Mutex): Co {
  const t = current();
  getSim().lockdep.acquire(t, m, m.lockClass(), 'write');
  if (m.owner === null) {
    m.owner = t;
    return co_return(undefined);
  }
  if (m.owner === t) trap('deadlock', `${t.name} locks mutex ${m.lockdepName} it already holds`);
  return __mutex_lock_slowpath(m, t);
}

function* __mutex_lock_slowpath(m: Mutex, t: Task): Co {
  yield* m.waitFor(t, 'write');
  if (m.owner !== t) throw new Error(`mutex ${m.lockdepName}: woken without handoff`);
  getSim().lockdep.acquired(t, m);
}

export function mutex_trylock(m: Mutex): boolean {
  const t = current();
  if (m.owner !== null) return false;
  m.owner = t;
  getSim().lockdep.acquire(t, m, m.lockClass(), 'write', true);
  return true;
}

export function mutex_unlock(m: Mutex): void {
  const t = current();
  if (m.owner !== t)
    trap('bug', `${t.name} unlocks mutex ${m.lockdepName} owned by ${m.owner?.name ?? 'nobody'}`);
  getSim().lockdep.release(t, m);
  const next = m.waiters.shift();
  m.owner = next ? next.task : null;
  if (next) getSim().wake(next.task);
}

export function mutex_is_locked(m: Mutex): boolean {
  return m.owner !== null;
}

/** struct rw_semaphore. */
export class RwSemaphore extends LockBase {
  writer: Task | null = null;
  readonly readers: Task[] = [];

  describe(): string {
    return `rw_semaphore ${this.lockdepName}`;
  }
  owners(): readonly Task[] {
    return this.writer ? [this.writer] : this.readers;
  }

  /** Hand the semaphore to the waiters at the head: one writer, or every leading reader. */
  wakeWaiters(): void {
    if (this.writer || this.waiters.length === 0) return;
    const head = this.waiters[0];
    if (head?.mode === 'write') {
      if (this.readers.length > 0) return;
      this.waiters.shift();
      this.writer = head.task;
      getSim().wake(head.task);
      return;
    }
    while (this.waiters[0]?.mode === 'read') {
      const w = this.waiters.shift();
      if (!w) break;
      this.readers.push(w.task);
      getSim().wake(w.task);
    }
  }
}

export function down_read(s: RwSemaphore): Co {
  might_sleep('down_read');
  return preempted() ? resched(() => __down_read(s)) : __down_read(s);
}

/** Join the readers at once when no writer holds or waits (the fast path), else sleep. */
function __down_read(s: RwSemaphore): Co {
  const t = current();
  getSim().lockdep.acquire(t, s, s.lockClass(), 'read');
  if (!s.writer && s.waiters.length === 0) {
    s.readers.push(t);
    return co_return(undefined);
  }
  if (s.writer === t)
    trap('deadlock', `${t.name} down_read ${s.lockdepName} while holding it for write`);
  return rwsem_down_slowpath(s, t, 'read');
}

export function down_write(s: RwSemaphore): Co {
  might_sleep('down_write');
  return preempted() ? resched(() => __down_write(s)) : __down_write(s);
}

/** Take the semaphore at once when it is free (the fast path), else sleep for it. */
function __down_write(s: RwSemaphore): Co {
  const t = current();
  getSim().lockdep.acquire(t, s, s.lockClass(), 'write');
  if (!s.writer && s.readers.length === 0 && s.waiters.length === 0) {
    s.writer = t;
    return co_return(undefined);
  }
  if (s.writer === t || s.readers.includes(t)) {
    trap('deadlock', `${t.name} down_write ${s.lockdepName} while holding it`);
  }
  return rwsem_down_slowpath(s, t, 'write');
}

/** rwsem_down_read_slowpath / rwsem_down_write_slowpath: sleep until handed the semaphore. */
function* rwsem_down_slowpath(s: RwSemaphore, t: Task, mode: 'read' | 'write'): Co {
  yield* s.waitFor(t, mode);
  getSim().lockdep.acquired(t, s);
}

export function down_read_trylock(s: RwSemaphore): boolean {
  const t = current();
  if (s.writer || s.waiters.length > 0) return false;
  s.readers.push(t);
  getSim().lockdep.acquire(t, s, s.lockClass(), 'read', true);
  return true;
}

export function down_write_trylock(s: RwSemaphore): boolean {
  const t = current();
  if (s.writer || s.readers.length > 0) return false;
  s.writer = t;
  getSim().lockdep.acquire(t, s, s.lockClass(), 'write', true);
  return true;
}

export function up_read(s: RwSemaphore): void {
  const t = current();
  const i = s.readers.indexOf(t);
  if (i < 0) trap('bug', `${t.name} up_read ${s.lockdepName} it does not hold for read`);
  array_del(s.readers, i);
  getSim().lockdep.release(t, s);
  s.wakeWaiters();
}

export function up_write(s: RwSemaphore): void {
  const t = current();
  if (s.writer !== t) trap('bug', `${t.name} up_write ${s.lockdepName} it does not hold for write`);
  s.writer = null;
  getSim().lockdep.release(t, s);
  s.wakeWaiters();
}

/** downgrade_write: keep the semaphore as a reader and let waiting readers in. */
export function downgrade_write(s: RwSemaphore): void {
  const t = current();
  if (s.writer !== t)
    trap('bug', `${t.name} downgrade_write ${s.lockdepName} it does not hold for write`);
  s.writer = null;
  s.readers.push(t);
  getSim().lockdep.setMode(t, s, 'read');
  s.wakeWaiters();
}

/**
 * spinlock_t. Holding one disables preemption: any sleep or yield until spin_unlock traps
 * `sleep-in-atomic`. Because of that no other task can hold it while this one asks, so an
 * acquisition never waits; acquiring one already held by this task is a self-deadlock.
 */
export class SpinLock extends LockBase {
  owner: Task | null = null;
  describe(): string {
    return `spinlock ${this.lockdepName}`;
  }
  owners(): readonly Task[] {
    return this.owner ? [this.owner] : [];
  }
}

export function spin_lock(s: SpinLock): Co {
  return preempted() ? resched(() => spin_lock_fast(s)) : spin_lock_fast(s);
}

function spin_lock_fast(s: SpinLock): Co {
  spin_lock_atomic(s);
  return co_return(undefined);
}

/** spin_lock where preemption is already off (nested spinlocks, interrupt context). */
export function spin_lock_atomic(s: SpinLock): void {
  const t = current();
  getSim().lockdep.acquire(t, s, s.lockClass(), 'write');
  if (s.owner === t) trap('deadlock', `${t.name} spins on ${s.lockdepName} it already holds`);
  if (s.owner)
    trap(
      'bug',
      `${t.name} takes spinlock ${s.lockdepName} held by ${s.owner.name}, which slept holding it`,
    );
  s.owner = t;
  t.atomicDepth++;
}

export function spin_unlock(s: SpinLock): void {
  const t = current();
  if (s.owner !== t) trap('bug', `${t.name} unlocks spinlock ${s.lockdepName} it does not hold`);
  s.owner = null;
  t.atomicDepth--;
  getSim().lockdep.release(t, s);
}

// ---- lockdep annotations --------------------------------------------------------------

/** lockdep_assert_held / _read / _write: a `bug` trap when the running task lacks it. */
export function lockdep_assert_held(lock: LockBase, mode?: 'read' | 'write'): void {
  const sim = getSim();
  const t = sim.current;
  if (!t || !sim.lockdep.enabled) return;
  if (!sim.lockdep.holds(t, lock, mode)) {
    trap(
      'bug',
      `lockdep_assert_held(${lock.lockdepName}${mode ? `, ${mode}` : ''}) failed in ${t.name}`,
      {
        held: sim.lockdep.heldNames(t),
      },
    );
  }
}

/** might_lock(lock): record the order as if the lock were taken here (lockdep priming). */
export function might_lock(lock: LockBase): void {
  const sim = getSim();
  const t = current();
  sim.lockdep.acquire(t, lock, lock.lockClass(), 'write');
  sim.lockdep.release(t, lock);
}

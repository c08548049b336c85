/**
 * Tasks: every execution context of the model (user threads, workqueue workers, the
 * interrupt handler, GPU engines) is a generator driven by the scheduler. A function that may
 * sleep or be preempted is itself a generator called with `yield*`; each `yield` is a point
 * where the scheduler may switch tasks (DESIGN.md "Simulation model").
 *
 * A function whose only sleep is a tail call (a lock wrapper such as mmap_read_lock) returns
 * that call's coroutine instead of being a generator itself: callers `yield*` it alike, and
 * every yield below it passes through one generator frame less.
 */

/** Yielded by a task that may be preempted here and stays runnable. */
export const PREEMPT = 0;
/** Yielded by a task that has put itself to sleep (see {@link Task.block}). */
export const BLOCK = 1;
export type YieldOp = typeof PREEMPT | typeof BLOCK;

/** A coroutine: the type of every function that may sleep. */
export type Co<T = void> = Generator<YieldOp, T, void>;

export const RUNNABLE = 0;
export const BLOCKED = 1;
export const DONE = 2;
export type TaskState = typeof RUNNABLE | typeof BLOCKED | typeof DONE;

/** What a blocked task waits for, for the deadlock report's wait-for graph. */
export interface WaitTarget {
  /** e.g. "mutex svm_lock", "completion fence", "work gc_work". */
  describe(): string;
  /** Tasks that hold what is waited for (lock owners), when known. */
  owners(): readonly Task[];
}

/** A lock held by a task, as lockdep records it. */
export interface HeldLock {
  /** Lock class id (lockdep). */
  readonly cls: number;
  /** The lock instance (for lockdep_assert_held). */
  readonly lock: object;
  readonly mode: 'read' | 'write';
  /** Virtual time at which the lock was acquired (hold-time accounting). */
  since: number;
}

export class Task<T = unknown> {
  state: TaskState = RUNNABLE;
  /** Virtual time at which this task may run next (its own clock, advanced by charges). */
  readyAt = 0;
  /** Position in the scheduler's run queue, -1 when not in it. */
  runqIndex = -1;
  result: T | undefined = undefined;
  waitingOn: WaitTarget | null = null;
  /**
   * Blocked waiting for work that may never come (an idle workqueue worker): such a task
   * does not keep the run alive and is no deadlock.
   */
  idle = false;
  /** lockdep: locks held, in acquisition order. */
  readonly held: HeldLock[] = [];
  /** preempt_count: spinlocks held and preempt_disable nesting. Sleeping here traps. */
  atomicDepth = 0;
  /** PF_MEMALLOC nesting (memalloc_noreclaim_save): allocations do not enter reclaim. */
  noreclaim = 0;
  /** Tasks waiting in join(). */
  readonly joiners: Task[] = [];
  /** Free-form per-task state for upper layers (e.g. the process a thread belongs to). */
  ctx: Record<string, unknown> = {};

  constructor(
    readonly id: number,
    readonly name: string,
    readonly gen: Co<T>,
    /** A daemon (workqueue worker, interrupt handler) does not keep the run going. */
    readonly daemon: boolean,
  ) {}

  get done(): boolean {
    return this.state === DONE;
  }

  toString(): string {
    return `${this.name}#${this.id}`;
  }
}

/** A coroutine that has already returned (see {@link co_return}). */
class Returned<T> implements Generator<YieldOp, T, void> {
  readonly done = true;
  constructor(readonly value: T) {}
  next(): IteratorReturnResult<T> {
    return this;
  }
  return(value: T): IteratorReturnResult<T> {
    return { done: true, value };
  }
  throw(e: unknown): never {
    throw e;
  }
  [Symbol.iterator](): this {
    return this;
  }
}

const RETURNED_VOID = new Returned<unknown>(undefined);
const RETURNED_ZERO = new Returned<unknown>(0);
const RETURNED_TRUE = new Returned<unknown>(true);
const RETURNED_FALSE = new Returned<unknown>(false);

/**
 * A coroutine that has already returned `value`: what a function that may sleep returns on a
 * path where it does not (mmput of a user that is not the last, a wait on a signaled fence),
 * written as a plain function whose sleeping path is a generator of its own. Callers
 * `yield*` it alike and get `value` at once; no generator is made for the path that does not
 * sleep.
 */
export function co_return<T>(value: T): Co<T> {
  const r =
    value === undefined
      ? RETURNED_VOID
      : value === 0
        ? RETURNED_ZERO
        : value === true
          ? RETURNED_TRUE
          : value === false
            ? RETURNED_FALSE
            : new Returned<unknown>(value);
  return r as Returned<T>;
}

/**
 * src/sim: the deterministic kernel runtime every other layer runs on.
 *
 * Overview
 * - Tasks are generators (task.ts); a function that may sleep is a generator called with
 *   `yield*`, and every `yield` is a point where the scheduler (scheduler.ts) may switch.
 * - One task runs at a time. At each decision a policy (policy.ts: timed, random, pct,
 *   replay) picks the next task; choices that differ from the timed default are recorded,
 *   and their list is the replay string that reproduces the run.
 * - Time is virtual ns: primitives charge costs from the cost table (costs.ts) to the running
 *   task; timers (timers.ts) drive sleeps, timeouts and delayed work.
 * - Kernel primitives with Linux semantics: mutex, rw_semaphore, spinlock (locks.ts), wait
 *   queues and completions (wait.ts), workqueues (workqueue.ts), kref and atomics (kref.ts),
 *   allocation context for lockdep (reclaim.ts).
 * - lockdep (lockdep.ts) records lock-class orders and traps on a cycle even when the
 *   schedule did not deadlock; the scheduler traps a real deadlock with its wait-for graph.
 * - Findings are traps (trap.ts) that stop the run with the replay string and the trace tail
 *   (trace.ts); counters (counters.ts) count every primitive.
 *
 * Locking rules
 * - Sleeping (blocking on a lock, wait queue, completion, flush, sleep) while holding a
 *   spinlock traps `sleep-in-atomic`; so does yielding at all with preemption disabled.
 * - Unlock functions never sleep. Lock acquisitions are preemption points.
 * - Workers hold their workqueue's and work's lockdep maps while the work runs.
 *
 * Known limits
 * - Exclusive waits (wake_up waking one of several exclusive waiters) are not modelled;
 *   waiters always re-check their condition.
 * - lockdep orders read and write acquisitions alike (rw_semaphore readers are not
 *   recursive in Linux either); IRQ-safety states are not tracked.
 * - Unbound workqueues cap concurrency at max_active (8 when 0 is given), not Linux's 1024.
 */
export * from './costs.js';
export * from './errno.js';
export * from './counters.js';
export * from './kref.js';
export * from './lockdep.js';
export * from './locks.js';
export * from './policy.js';
export * from './reclaim.js';
export * from './rng.js';
export * from './scheduler.js';
export * from './task.js';
export * from './timers.js';
export * from './trace.js';
export * from './trap.js';
export * from './wait.js';
export * from './workqueue.js';

/**
 * Waiting: wait queues (include/linux/wait.h), completions (kernel/sched/completion.c),
 * sleeping on the virtual clock (msleep, schedule_timeout) and joining a task.
 */
import { might_sleep } from './locks.js';
import { current, getSim } from './scheduler.js';
import { BLOCK, type Co, type Task, type WaitTarget } from './task.js';

/** wait_queue_head_t. */
export class WaitQueue implements WaitTarget {
  readonly waiters: Task[] = [];
  constructor(readonly name: string) {}
  describe(): string {
    return `wait queue ${this.name}`;
  }
  owners(): readonly Task[] {
    return [];
  }
}

/** Sleep on `wq` until woken (one wait; callers loop on their condition). */
function* sleepOn(wq: WaitQueue, target: WaitTarget = wq): Co {
  const t = current();
  wq.waiters.push(t);
  getSim().block(target);
  yield BLOCK;
}

/** wait_event(wq, cond). */
export function* wait_event(wq: WaitQueue, cond: () => boolean): Co {
  might_sleep('wait_event');
  while (!cond()) yield* sleepOn(wq);
}

/**
 * wait_event_timeout(wq, cond, timeout): the time left (at least 1) when `cond` became true,
 * 0 when the timeout passed with `cond` still false.
 */
export function* wait_event_timeout(
  wq: WaitQueue,
  cond: () => boolean,
  timeoutNs: number,
): Co<number> {
  might_sleep('wait_event_timeout');
  const sim = getSim();
  const deadline = sim.now() + timeoutNs;
  const t = current();
  while (!cond()) {
    if (sim.now() >= deadline) return 0;
    const timer = sim.after(deadline - sim.now(), () => {
      const i = wq.waiters.indexOf(t);
      if (i >= 0) wq.waiters.splice(i, 1);
      sim.wake(t);
    });
    yield* sleepOn(wq);
    timer.cancelled = true;
  }
  return Math.max(1, deadline - sim.now());
}

/** wake_up_all(wq): every sleeper re-checks its condition. */
export function wake_up_all(wq: WaitQueue): void {
  const sim = getSim();
  for (const t of wq.waiters.splice(0)) sim.wake(t);
}

/** wake_up(wq): with no exclusive waiters (not modelled) Linux wakes every sleeper too. */
export function wake_up(wq: WaitQueue): void {
  wake_up_all(wq);
}

/** struct completion. */
export class Completion implements WaitTarget {
  done = 0;
  readonly wq: WaitQueue;
  constructor(readonly name: string) {
    this.wq = new WaitQueue(name);
  }
  describe(): string {
    return `completion ${this.name}`;
  }
  owners(): readonly Task[] {
    return [];
  }
}

const COMPLETE_ALL = Number.MAX_SAFE_INTEGER;

export function reinit_completion(c: Completion): void {
  c.done = 0;
}

export function complete(c: Completion): void {
  if (c.done !== COMPLETE_ALL) c.done++;
  const first = c.wq.waiters.shift();
  if (first) getSim().wake(first);
}

export function complete_all(c: Completion): void {
  c.done = COMPLETE_ALL;
  wake_up_all(c.wq);
}

export function completion_done(c: Completion): boolean {
  return c.done > 0;
}

export function try_wait_for_completion(c: Completion): boolean {
  if (c.done === 0) return false;
  if (c.done !== COMPLETE_ALL) c.done--;
  return true;
}

export function* wait_for_completion(c: Completion): Co {
  might_sleep('wait_for_completion');
  while (c.done === 0) yield* sleepOn(c.wq, c);
  if (c.done !== COMPLETE_ALL) c.done--;
}

/** wait_for_completion_timeout: time left (>= 1) on success, 0 on timeout. */
export function* wait_for_completion_timeout(c: Completion, timeoutNs: number): Co<number> {
  const left = yield* wait_event_timeout(c.wq, () => c.done > 0, timeoutNs);
  if (left > 0 && c.done !== COMPLETE_ALL) c.done--;
  return left;
}

class SleepTarget implements WaitTarget {
  constructor(readonly until: number) {}
  describe(): string {
    return `timer until ${this.until} ns`;
  }
  owners(): readonly Task[] {
    return [];
  }
}

/** Sleep for `ns` of virtual time (msleep / usleep_range / schedule_timeout). */
export function* sleep(ns: number): Co {
  might_sleep('sleep');
  const sim = getSim();
  const t = current();
  const until = sim.now() + Math.max(0, ns);
  sim.after(until - sim.now(), () => sim.wake(t));
  sim.block(new SleepTarget(until));
  yield BLOCK;
}

class JoinTarget implements WaitTarget {
  constructor(readonly task: Task) {}
  describe(): string {
    return `exit of ${this.task.toString()}`;
  }
  owners(): readonly Task[] {
    return [this.task];
  }
}

/** Wait until `t` has finished and return its result. */
export function* join<T>(t: Task<T>): Co<T | undefined> {
  while (!t.done) {
    t.joiners.push(current());
    getSim().block(new JoinTarget(t));
    yield BLOCK;
  }
  return t.result;
}

/**
 * Workqueues with Linux semantics (kernel/workqueue.c):
 * - a work item is queued at most once: queue_work on a pending item returns false;
 * - an item queued again while it runs runs again afterwards, never concurrently with itself
 *   (Linux's non-reentrancy: a worker skips an item another worker is executing);
 * - ordered workqueues run one item at a time in queueing order; unbound ones run up to
 *   max_active items at once, each on a worker task created on demand;
 * - delayed work arms a virtual-time timer that queues the item when it fires;
 * - flush and cancel wait for the running instance. For lockdep, a worker holds the
 *   workqueue's and the work's lockdep maps while the function runs, and flush_work /
 *   flush_workqueue touch them, so "flush a work under a lock the work takes" is a cycle,
 *   as Linux reports it.
 * Workers are daemon tasks: idle workers do not keep a run going.
 */
import { lockMap, type LockMap } from './lockdep.js';
import { might_sleep } from './locks.js';
import { lock_map_acquire, lock_map_release } from './reclaim.js';
import { current, getSim } from './scheduler.js';
import { BLOCK, type Co, type Task, type WaitTarget } from './task.js';
import type { Timer } from './timers.js';
import { trap } from './trap.js';
import { WaitQueue, sleep, wake_up_all } from './wait.js';

export type WorkFunc = (work: WorkStruct) => Co;

/** struct work_struct. */
export class WorkStruct implements WaitTarget {
  /** On a workqueue's list, waiting for a worker. */
  inList = false;
  /** Executing on a worker now. */
  runningOn: Task | null = null;
  /** Times the item entered a list / finished. flush_work waits for done >= queued. */
  queuedCount = 0;
  doneCount = 0;
  /** The workqueue it was last queued on. */
  wq: Workqueue | null = null;
  readonly lockdepMap: LockMap;
  /** wq-level sequence number of the pending list entry (for flush_workqueue). */
  seq = -1;

  constructor(
    readonly name: string,
    readonly func: WorkFunc,
  ) {
    this.lockdepMap = lockMap(`(work_completion)(${name})`);
  }

  /** work_pending(): queued and not yet started (for delayed work also: timer armed). */
  get pending(): boolean {
    return this.inList;
  }

  describe(): string {
    return `work ${this.name}`;
  }
  owners(): readonly Task[] {
    return this.runningOn ? [this.runningOn] : [];
  }
}

/** struct delayed_work. */
export class DelayedWork extends WorkStruct {
  timer: Timer | null = null;
  override get pending(): boolean {
    return this.inList || this.timer !== null;
  }
}

export const WQ_UNBOUND = 1 << 1;
export const WQ_FREEZABLE = 1 << 2;
export const WQ_MEM_RECLAIM = 1 << 3;
export const WQ_HIGHPRI = 1 << 4;
/** Cap for max_active 0 (Linux's WQ_DFL_ACTIVE is 1024; the model needs far fewer). */
const DEFAULT_MAX_ACTIVE = 8;

export class Workqueue implements WaitTarget {
  readonly list: WorkStruct[] = [];
  readonly workers: Task[] = [];
  readonly idleWorkers: Task[] = [];
  readonly lockdepMap: LockMap;
  /** Sequence numbers of items queued and not yet finished (or cancelled). */
  readonly outstanding = new Set<number>();
  readonly done = new WaitQueue('workqueue');
  /** Delayed works whose timer is armed for this workqueue. */
  readonly armed = new Set<DelayedWork>();
  nextSeq = 0;
  destroyed = false;

  constructor(
    readonly name: string,
    readonly flags: number,
    readonly maxActive: number,
    readonly ordered: boolean,
  ) {
    this.lockdepMap = lockMap(`(wq_completion)${name}`);
  }

  describe(): string {
    return `workqueue ${this.name}`;
  }
  owners(): readonly Task[] {
    return this.workers.filter((w) => !this.idleWorkers.includes(w));
  }

  /** Pending plus running items. */
  get busy(): number {
    return this.outstanding.size;
  }
}

/** Workqueues created in each simulation, for settling. */
const registry = new WeakMap<object, Workqueue[]>();

function register(wq: Workqueue): Workqueue {
  const sim = getSim();
  const list = registry.get(sim) ?? [];
  list.push(wq);
  registry.set(sim, list);
  return wq;
}

/** Every workqueue created in the active simulation and not destroyed. */
export function live_workqueues(): Workqueue[] {
  return (registry.get(getSim()) ?? []).filter((wq) => !wq.destroyed);
}

export function alloc_workqueue(name: string, flags = WQ_UNBOUND, max_active = 0): Workqueue {
  return register(
    new Workqueue(name, flags, max_active > 0 ? max_active : DEFAULT_MAX_ACTIVE, false),
  );
}

export function alloc_ordered_workqueue(name: string, flags = 0): Workqueue {
  return register(new Workqueue(name, flags | WQ_UNBOUND, 1, true));
}

// ---- workers ---------------------------------------------------------------------------

class IdleTarget implements WaitTarget {
  constructor(readonly wq: Workqueue) {}
  describe(): string {
    return `work on ${this.wq.name}`;
  }
  owners(): readonly Task[] {
    return [];
  }
}

function takeNext(wq: Workqueue): WorkStruct | undefined {
  const i = wq.list.findIndex((w) => w.runningOn === null);
  if (i < 0) return undefined;
  const [w] = wq.list.splice(i, 1);
  return w;
}

function* workerLoop(wq: Workqueue): Co {
  const sim = getSim();
  const me = current();
  const idle = new IdleTarget(wq);
  for (;;) {
    const w = takeNext(wq);
    if (!w) {
      if (wq.destroyed) return;
      wq.idleWorkers.push(me);
      sim.block(idle, true);
      yield BLOCK;
      continue;
    }
    yield* runOne(wq, w, me);
  }
}

function* runOne(wq: Workqueue, w: WorkStruct, me: Task): Co {
  const sim = getSim();
  w.inList = false;
  w.runningOn = me;
  const runCovers = w.queuedCount;
  const seq = w.seq;
  const depth = me.held.length;
  lock_map_acquire(wq.lockdepMap);
  lock_map_acquire(w.lockdepMap);
  const t0 = sim.now();
  yield* w.func(w);
  sim.counters.add('worker_ns', sim.now() - t0, wq.name);
  lock_map_release(w.lockdepMap);
  lock_map_release(wq.lockdepMap);
  if (me.held.length !== depth) {
    trap(
      'bug',
      `work ${w.name} returned holding ${sim.lockdep.heldNames(me).slice(depth).join(', ')}`,
    );
  }
  w.runningOn = null;
  if (w.doneCount < runCovers) w.doneCount = runCovers;
  wq.outstanding.delete(seq);
  wake_up_all(wq.done);
}

/** Make sure a worker will look at the list: wake an idle one or create one. */
function kick(wq: Workqueue): void {
  const sim = getSim();
  const idle = wq.idleWorkers.shift();
  if (idle) {
    sim.wake(idle);
    return;
  }
  const running = wq.workers.length;
  if (running < wq.maxActive) {
    const t = sim.spawn(`kworker/${wq.name}:${running}`, () => workerLoop(wq), { daemon: true });
    wq.workers.push(t);
  }
}

/** __queue_work: put a non-pending item on the list. */
function enqueue(wq: Workqueue, w: WorkStruct): void {
  if (wq.destroyed) trap('bug', `queue_work(${w.name}) on destroyed workqueue ${wq.name}`);
  w.inList = true;
  w.wq = wq;
  w.queuedCount++;
  w.seq = wq.nextSeq++;
  wq.outstanding.add(w.seq);
  wq.list.push(w);
  kick(wq);
}

// ---- queueing --------------------------------------------------------------------------

/** queue_work: false when the item is already pending. */
export function queue_work(wq: Workqueue, w: WorkStruct): boolean {
  if (w.pending) return false;
  enqueue(wq, w);
  return true;
}

/** queue_delayed_work: false when already pending (timer armed or queued). */
export function queue_delayed_work(wq: Workqueue, dw: DelayedWork, delayNs: number): boolean {
  if (dw.pending) return false;
  armDelayed(wq, dw, delayNs);
  return true;
}

function armDelayed(wq: Workqueue, dw: DelayedWork, delayNs: number): void {
  dw.wq = wq;
  if (delayNs <= 0) {
    enqueue(wq, dw);
    return;
  }
  wq.armed.add(dw);
  dw.timer = getSim().after(delayNs, () => {
    dw.timer = null;
    wq.armed.delete(dw);
    enqueue(wq, dw);
  });
}

/** Take a pending item off its timer or list; true when it was pending. */
function unqueue(w: WorkStruct): boolean {
  let was = false;
  if (w instanceof DelayedWork && w.timer) {
    w.timer.cancelled = true;
    w.timer = null;
    w.wq?.armed.delete(w);
    was = true;
  }
  if (w.inList && w.wq) {
    const wq = w.wq;
    const i = wq.list.indexOf(w);
    if (i >= 0) wq.list.splice(i, 1);
    w.inList = false;
    wq.outstanding.delete(w.seq);
    // A cancelled instance counts as finished for flush_work.
    if (!w.runningOn) w.doneCount = w.queuedCount;
    wake_up_all(wq.done);
    was = true;
  }
  return was;
}

/** mod_delayed_work: (re)arm with a new delay whether or not pending; true if it was. */
export function mod_delayed_work(wq: Workqueue, dw: DelayedWork, delayNs: number): boolean {
  const was = unqueue(dw);
  armDelayed(wq, dw, delayNs);
  return was;
}

/** cancel_delayed_work (no wait): true if it was pending. */
export function cancel_delayed_work(dw: DelayedWork): boolean {
  return unqueue(dw);
}

// ---- flushing and cancelling ------------------------------------------------------------

/** flush_work: wait for the last queueing of `w` to finish; true if there was one. */
export function* flush_work(w: WorkStruct): Co<boolean> {
  might_sleep('flush_work');
  const sim = getSim();
  const t = current();
  const wq = w.wq;
  if (wq) {
    sim.lockdep.touch(t, w.lockdepMap);
    if (wq.ordered || wq.maxActive === 1) sim.lockdep.touch(t, wq.lockdepMap);
  }
  if (!wq || (!w.inList && !w.runningOn)) return false;
  if (w.runningOn === t) trap('deadlock', `work ${w.name} flushes itself`);
  const target = w.queuedCount;
  yield* waitOn(wq, w, () => w.doneCount >= target);
  return true;
}

/** flush_delayed_work: fire a pending timer now, then flush_work. */
export function* flush_delayed_work(dw: DelayedWork): Co<boolean> {
  if (dw.timer && dw.wq) {
    dw.timer.cancelled = true;
    dw.timer = null;
    dw.wq.armed.delete(dw);
    enqueue(dw.wq, dw);
  }
  return yield* flush_work(dw);
}

/** cancel_work_sync: unqueue, then wait for a running instance; true if it was pending. */
export function* cancel_work_sync(w: WorkStruct): Co<boolean> {
  might_sleep('cancel_work_sync');
  const t = current();
  if (w.wq) getSim().lockdep.touch(t, w.lockdepMap);
  const was = unqueue(w);
  if (w.runningOn === t) trap('deadlock', `work ${w.name} cancels itself synchronously`);
  const wq = w.wq;
  if (wq && w.runningOn) yield* waitOn(wq, w, () => w.runningOn === null);
  return was;
}

export function cancel_delayed_work_sync(dw: DelayedWork): Co<boolean> {
  return cancel_work_sync(dw);
}

/** flush_workqueue: wait until everything queued before the call has finished. */
export function* flush_workqueue(wq: Workqueue): Co {
  might_sleep('flush_workqueue');
  const t = current();
  getSim().lockdep.touch(t, wq.lockdepMap);
  if (wq.workers.includes(t)) trap('deadlock', `${t.name} flushes its own workqueue ${wq.name}`);
  const upTo = wq.nextSeq;
  yield* waitOn(wq, wq, () => {
    for (const s of wq.outstanding) if (s < upTo) return false;
    return true;
  });
}

/** drain_workqueue + destroy: wait until empty (re-queues included), then stop the workers. */
export function* destroy_workqueue(wq: Workqueue): Co {
  while (wq.outstanding.size > 0) yield* flush_workqueue(wq);
  wq.destroyed = true;
  const sim = getSim();
  for (const w of wq.idleWorkers.splice(0)) sim.wake(w);
}

function* waitOn(wq: Workqueue, target: WaitTarget, cond: () => boolean): Co {
  const q = wq.done;
  const sim = getSim();
  while (!cond()) {
    q.waiters.push(current());
    sim.block(target);
    yield BLOCK;
  }
}

/** Is anything queued, armed or running on `wq`? */
export function workqueue_busy(wq: Workqueue): boolean {
  return wq.outstanding.size > 0;
}

/**
 * Wait until no work is queued, running or armed on any workqueue of the simulation: what a
 * scenario's `settle` step does. Delayed work fires at its own time (the clock advances to
 * it), as it would if the thread slept.
 */
export function* settle_workqueues(): Co {
  for (;;) {
    const busy = live_workqueues().find((wq) => wq.outstanding.size > 0);
    if (busy) {
      yield* flush_workqueue(busy);
      continue;
    }
    let next = Infinity;
    for (const wq of live_workqueues()) {
      for (const dw of wq.armed) next = Math.min(next, dw.timer?.deadline ?? Infinity);
    }
    if (next === Infinity) return;
    yield* sleep(Math.max(0, next - getSim().now()));
  }
}

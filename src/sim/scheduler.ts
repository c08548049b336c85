/**
 * The scheduler: runs one task at a time and asks the policy at every yield point
 * (DESIGN.md "Simulation model"). Every decision follows the same steps in every policy, so a
 * replay reproduces any run exactly:
 *   1. fire the timers that are due on the virtual clock;
 *   2. nothing runnable: end the run (or trap `deadlock`), or jump the clock to the next timer;
 *   3. the default choice is the runnable task with the earliest virtual time; a timer due
 *      before it fires first;
 *   4. the policy chooses; a choice other than the default is recorded as a deviation;
 *   5. the clock advances to the chosen task's time and timers due by then fire;
 *   6. the chosen task runs to its next yield.
 * Time is virtual nanoseconds: a task's own clock (`readyAt`) moves by the costs it charges;
 * the global clock moves to the time of the task or timer that runs.
 */
import { CostTable, type CostName } from './costs.js';
import { Counters } from './counters.js';
import { Lockdep } from './lockdep.js';
import {
  encodeReplay,
  makePolicy,
  type Deviation,
  type Policy,
  type PolicyOptions,
} from './policy.js';
import { BLOCK, BLOCKED, DONE, RUNNABLE, Task, type Co, type WaitTarget } from './task.js';
import { TimerHeap, type Timer } from './timers.js';
import { Trace } from './trace.js';
import { Trap, trap } from './trap.js';

export interface SimOptions extends Partial<PolicyOptions> {
  /** A policy object to use instead of the named one (the explorer's DFS). */
  policyImpl?: Policy;
  /** Cost-table overrides in ns. */
  costs?: Partial<Record<string, number>>;
  /** Keep the whole trace (for --trace). */
  trace?: boolean;
  /** Trap `livelock` after this many decisions (default 50 million). */
  maxSteps?: number;
}

let active: Sim | null = null;

/** The simulation whose model code is running (the one last constructed or run). */
export function getSim(): Sim {
  if (!active) throw new Error('no active simulation: construct a Sim first');
  return active;
}

/** The running task; model code that may sleep needs one. */
export function current(): Task {
  const t = getSim().current;
  if (!t) throw new Error('not in a task: sleeping code must run inside a task');
  return t;
}

export class Sim {
  readonly policy: Policy;
  readonly counters = new Counters();
  readonly costs: CostTable;
  readonly trace: Trace;
  readonly lockdep: Lockdep;
  readonly seed: number;
  current: Task | null = null;

  private clock = 0;
  private readonly runq: Task[] = [];
  private readonly timers = new TimerHeap();
  private readonly tasks: Task[] = [];
  private nextId = 0;
  private step = 0;
  private last: Task | null = null;
  private readonly devs: Deviation[] = [];
  private readonly maxSteps: number;
  private stopped = false;
  /** The task whose step runTask is running (preempt() decides inline only inside it). */
  private stepping: Task | null = null;
  /**
   * A decision preempt() made that the run loop has yet to act on: the task to run next, or
   * what the decision threw (a trap in a timer, a replay that does not fit), thrown then.
   */
  private decision: { readonly task: Task | null } | { readonly error: unknown } | null = null;
  /** runUntil's condition, checked before every decision. */
  private until: (() => boolean) | null = null;

  constructor(opts: SimOptions = {}) {
    this.seed = opts.seed ?? 1;
    this.policy =
      opts.policyImpl ?? makePolicy({ policy: opts.policy ?? 'timed', seed: this.seed, ...opts });
    this.costs = new CostTable(opts.costs ?? {});
    this.maxSteps = opts.maxSteps ?? 50_000_000;
    this.trace = new Trace(
      { keepAll: opts.trace ?? false },
      () => this.now(),
      () => (this.current ? this.current.name : '-'),
    );
    this.lockdep = new Lockdep(this);
    active = this;
  }

  /** Make this the simulation that model code talks to. */
  activate(): void {
    active = this;
  }

  /** Current virtual time in ns as seen by the running task. */
  now(): number {
    const t = this.current;
    return t && t.readyAt > this.clock ? t.readyAt : this.clock;
  }

  /**
   * The virtual time the run has reached: the clock, or later where a task charged time after
   * its last scheduling point (it finished without yielding again).
   */
  endTime(): number {
    let t = this.clock;
    for (const task of this.tasks) if (task.readyAt > t) t = task.readyAt;
    return t;
  }

  /** Scheduling decisions made so far. */
  get decisions(): number {
    return this.step;
  }

  /** The replay string of the run so far. */
  replay(): string {
    return encodeReplay(this.step, this.devs);
  }

  /** Number of recorded deviations from the default schedule (preemptions and reorders). */
  get deviations(): number {
    return this.devs.length;
  }

  // ---- tasks ---------------------------------------------------------------------------

  spawn<T>(name: string, body: Co<T> | (() => Co<T>), opts: { daemon?: boolean } = {}): Task<T> {
    const gen = typeof body === 'function' ? body() : body;
    const t = new Task<T>(this.nextId++, name, gen, opts.daemon ?? false);
    t.readyAt = this.now();
    this.tasks.push(t);
    this.policy.onSpawn?.(t);
    this.enqueue(t);
    this.trace.emit('task.spawn', { id: t.id, name });
    return t;
  }

  /** Every task ever spawned, in id order. */
  allTasks(): readonly Task[] {
    return this.tasks;
  }

  private enqueue(t: Task): void {
    t.runqIndex = this.runq.length;
    this.runq.push(t);
  }

  private dequeue(t: Task): void {
    const i = t.runqIndex;
    if (i < 0) return;
    const last = this.runq.pop() as Task;
    if (last !== t) {
      this.runq[i] = last;
      last.runqIndex = i;
    }
    t.runqIndex = -1;
  }

  /**
   * Put the running task to sleep on `target`; it must `yield BLOCK` right after. Used by the
   * wait primitives; it traps when the task may not sleep.
   */
  block(target: WaitTarget, idle = false): void {
    const t = current();
    if (t.atomicDepth > 0) {
      trap('sleep-in-atomic', `${t.name} sleeps on ${target.describe()} in atomic context`, {
        held: this.lockdep.heldNames(t),
      });
    }
    t.state = BLOCKED;
    t.waitingOn = target;
    t.idle = idle;
  }

  /** Make a blocked task runnable (a no-op for a task that is not blocked). */
  wake(t: Task): void {
    if (t.state !== BLOCKED) return;
    t.state = RUNNABLE;
    t.waitingOn = null;
    t.idle = false;
    const now = this.now();
    if (t.readyAt < now) t.readyAt = now;
    this.enqueue(t);
  }

  /** Charge `ns` of virtual time to the running task (no-op outside tasks). */
  charge(ns: number): void {
    const t = this.current;
    if (!t || ns <= 0) return;
    const base = t.readyAt > this.clock ? t.readyAt : this.clock;
    t.readyAt = base + ns;
  }

  /** Lock hold-time accounting: `lock_held_ns:<class>` (mmap_lock hold time, ...). */
  held(counter: string, ns: number): void {
    if (ns > 0) this.counters.add(counter, ns);
  }

  /** Count `n` of `counter` and charge n times the named cost. */
  account(counter: string, n: number, cost: CostName, scope?: string): void {
    this.counters.add(counter, n, scope);
    this.charge(n * this.costs.get(cost));
  }

  /** Arm a timer `delay` ns from now. */
  after(delay: number, fire: () => void): Timer {
    return this.timers.add(this.now() + Math.max(0, delay), fire);
  }

  // ---- the run loop --------------------------------------------------------------------

  /**
   * Run until nothing is left to do. A trap is thrown with the replay string and the trace
   * tail attached; the run cannot continue after one.
   */
  run(): void {
    const prevActive = active;
    active = this;
    try {
      for (;;) {
        const t = this.next();
        if (!t) return;
        this.runTask(t);
      }
    } catch (e) {
      throw this.decorate(e);
    } finally {
      this.current = null;
      this.stepping = null;
      this.decision = null;
      active = prevActive ?? this;
    }
  }

  /** Run until `done()` holds at a decision point, or nothing is left to do. */
  runUntil(done: () => boolean): void {
    const prevActive = active;
    active = this;
    this.until = done;
    try {
      while (!done()) {
        const t = this.next();
        if (!t) return;
        this.runTask(t);
      }
    } catch (e) {
      throw this.decorate(e);
    } finally {
      this.until = null;
      this.current = null;
      this.stepping = null;
      this.decision = null;
      active = prevActive ?? this;
    }
  }

  /**
   * A preemption point of the running task (cond_resched and the sleeping locks, before they
   * `yield PREEMPT`): make here the decision that the run loop would make right after the
   * yield, and tell whether the task must really yield. When the policy keeps the running
   * task, the task goes on without unwinding and resuming its generator stack, which is most
   * of the cost of a decision; when it chooses another task (or the run ends, or the decision
   * throws) the task yields and the run loop acts on the decision already made. Either way
   * the decisions, their order, the timers they fire and the replay string are the same.
   */
  preempt(): boolean {
    const t = this.current;
    if (t === null || t !== this.stepping || this.until !== null || this.decision) return true;
    // As after a yield: no task is current while the decision is made.
    this.current = null;
    let chosen: Task | null;
    try {
      chosen = this.pick();
    } catch (e) {
      this.current = t;
      this.decision = { error: e };
      return true;
    }
    this.current = t;
    if (chosen === t) return false;
    this.decision = { task: chosen };
    return true;
  }

  /** The task to run next: a decision preempt() made, or a new one. */
  private next(): Task | null {
    const d = this.decision;
    if (!d) return this.pick();
    this.decision = null;
    if ('error' in d) throw d.error;
    return d.task;
  }

  private decorate(e: unknown): unknown {
    if (e instanceof Trap) {
      if (!e.replay) {
        e.replay = this.replay();
        e.time = this.now();
        e.task = this.current?.name ?? '';
        this.trace.emit('trap', { trapKind: e.kind, message: e.message });
        e.traceTail = this.trace.tail();
      }
      return e;
    }
    if (e instanceof Error && !e.message.includes('[replay ')) {
      e.message += ` [replay ${this.replay()} at ${this.now()} ns in ${this.current?.name ?? '-'}]`;
    }
    return e;
  }

  private fireDue(): void {
    for (;;) {
      const tm = this.timers.peek();
      if (!tm || tm.deadline > this.clock) return;
      this.timers.pop();
      tm.fire();
    }
  }

  /**
   * End the run at the next decision (the running task finishes its current step first).
   * Used when a scenario step fails: nothing after it can mean anything.
   */
  stop(): void {
    this.stopped = true;
  }

  /** Steps 1-5 of a decision; null when the run is over. */
  private pick(): Task | null {
    if (this.stopped) return null;
    for (;;) {
      this.fireDue();
      const runq = this.runq;
      if (runq.length === 0) {
        const next = this.timers.peek();
        if (!next) {
          this.checkDeadlock();
          return null;
        }
        this.clock = next.deadline;
        continue;
      }
      const dflt = this.defaultChoice();
      const next = this.timers.peek();
      if (next && next.deadline < dflt.readyAt) {
        this.clock = next.deadline;
        continue;
      }
      if (this.step >= this.maxSteps) {
        trap('livelock', `the run exceeded ${this.maxSteps} scheduling decisions`);
      }
      const chosen = this.policy.choose(runq, dflt, this.step);
      if (chosen !== dflt) this.devs.push({ step: this.step, taskId: chosen.id });
      this.step++;
      if (chosen.readyAt > this.clock) {
        this.clock = chosen.readyAt;
        this.fireDue();
      }
      return chosen;
    }
  }

  /** The timed choice: earliest readyAt; the task that ran last, then the lowest id, on a tie. */
  private defaultChoice(): Task {
    const runq = this.runq;
    let best = runq[0] as Task;
    for (let i = 1; i < runq.length; i++) {
      const t = runq[i] as Task;
      if (
        t.readyAt < best.readyAt ||
        (t.readyAt === best.readyAt && best !== this.last && (t === this.last || t.id < best.id))
      ) {
        best = t;
      }
    }
    return best;
  }

  private runTask(t: Task): void {
    this.current = t;
    this.last = t;
    this.stepping = t;
    const r = t.gen.next();
    this.stepping = null;
    if (r.done) {
      this.finish(t, r.value);
    } else if (t.atomicDepth > 0) {
      trap('sleep-in-atomic', `${t.name} yields with preemption disabled`, {
        held: this.lockdep.heldNames(t),
      });
    } else if (r.value === BLOCK) {
      if (t.state !== BLOCKED) throw new Error(`${t.name} yielded BLOCK without block()`);
      this.dequeue(t);
    }
    this.current = null;
  }

  private finish(t: Task, value: unknown): void {
    if (t.held.length > 0) {
      trap('bug', `${t.name} exits holding ${this.lockdep.heldNames(t).join(', ')}`);
    }
    t.state = DONE;
    t.result = value;
    this.dequeue(t);
    this.trace.emit('task.exit', { id: t.id });
    for (const j of t.joiners.splice(0)) this.wake(j);
  }

  /**
   * Stop a task that is not running: its generator is closed (its `finally` blocks run, and
   * must not sleep). Used for SIGKILL and teardown.
   */
  kill(t: Task): void {
    if (t.state === DONE) return;
    if (t === this.current) throw new Error('a task cannot kill itself; return instead');
    const prev = this.current;
    this.current = t;
    try {
      t.gen.return(undefined);
    } finally {
      this.current = prev;
    }
    this.trace.emit('task.kill', { id: t.id });
    this.finish(t, undefined);
  }

  /** Tasks blocked and not idle: a deadlock when nothing else can run. */
  private checkDeadlock(): void {
    const stuck = this.tasks.filter((t) => t.state === BLOCKED && !t.idle);
    if (stuck.length === 0) return;
    const graph = stuck.map((t) => ({
      task: t.toString(),
      waitsFor: t.waitingOn?.describe() ?? '?',
      heldBy: (t.waitingOn?.owners() ?? []).map((o) => o.toString()),
      holds: t.held.filter((h) => h.lock !== t.waitingOn).map((h) => this.lockdep.className(h.cls)),
    }));
    const lines = graph.map(
      (g) =>
        `${g.task} waits for ${g.waitsFor}` +
        (g.heldBy.length ? ` held by ${g.heldBy.join(', ')}` : '') +
        (g.holds.length ? ` (holds ${g.holds.join(', ')})` : ''),
    );
    trap('deadlock', `no task can run:\n  ${lines.join('\n  ')}`, { waitFor: graph });
  }
}

/**
 * Scheduling policies (DESIGN.md "Scheduler"). At every decision the scheduler hands the
 * policy the runnable tasks and the default choice, which is the `timed` choice (earliest
 * virtual time; the task that just ran wins a tie, then the lowest id). A policy returns the
 * task to run. Every choice that differs from the default is recorded as a deviation; the
 * deviations form the replay string, so a `timed` run replays from an empty list and a
 * schedule with few preemptions has a short string.
 */
import { Rng } from './rng.js';
import type { Task } from './task.js';

export interface Policy {
  readonly name: string;
  /** Called once per decision; `step` counts decisions from 0. */
  choose(runq: readonly Task[], dflt: Task, step: number): Task;
  /** A task was created (PCT gives it a priority). */
  onSpawn?(task: Task): void;
}

/** Discrete-event order on the virtual clock. */
export class TimedPolicy implements Policy {
  readonly name = 'timed';
  choose(_runq: readonly Task[], dflt: Task): Task {
    return dflt;
  }
}

/** A uniformly random runnable task at every decision. */
export class RandomPolicy implements Policy {
  readonly name = 'random';
  private readonly rng: Rng;
  constructor(seed: number) {
    this.rng = new Rng(seed, 'policy.random');
  }
  choose(runq: readonly Task[], dflt: Task): Task {
    return runq[this.rng.below(runq.length)] ?? dflt;
  }
}

/**
 * Probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS
 * 2010): tasks get distinct random priorities at or above `depth`; `depth - 1` change points
 * are drawn uniformly in [0, steps); at the j-th change point the task that ran last drops to
 * priority j. The highest-priority runnable task always runs. A bug of depth d is found with
 * probability at least 1 / (n * k^(d-1)) per run.
 */
export class PctPolicy implements Policy {
  readonly name = 'pct';
  private readonly rng: Rng;
  private readonly prio = new Map<number, number>();
  /** decision index -> new (low) priority for the task that ran last. */
  private readonly changeAt = new Map<number, number>();
  private last: Task | undefined;

  constructor(
    seed: number,
    readonly depth: number,
    /** Estimated number of decisions in a run (k of the paper). */
    readonly steps: number,
  ) {
    if (!(depth >= 1)) throw new RangeError(`pct depth must be at least 1, got ${depth}`);
    this.rng = new Rng(seed, 'policy.pct');
    for (let j = 1; j < depth; j++) this.changeAt.set(this.rng.below(Math.max(1, steps)), j);
  }

  onSpawn(task: Task): void {
    // A random priority above every change-point priority; ties are broken by id below.
    this.prio.set(task.id, this.depth + this.rng.int(0, 1 << 30));
  }

  choose(runq: readonly Task[], dflt: Task, step: number): Task {
    const low = this.changeAt.get(step);
    if (low !== undefined && this.last) this.prio.set(this.last.id, low);
    let best = dflt;
    let bestPrio = -1;
    for (const t of runq) {
      const p = this.prio.get(t.id) ?? 0;
      if (p > bestPrio || (p === bestPrio && t.id < best.id)) {
        best = t;
        bestPrio = p;
      }
    }
    this.last = best;
    return best;
  }
}

/** One recorded deviation from the default choice. */
export interface Deviation {
  readonly step: number;
  readonly taskId: number;
}

export class ReplayMismatch extends Error {
  override readonly name = 'ReplayMismatch';
}

/**
 * Replay string: `v1.N` then `.S-T` per deviation, where N is the number of decisions of the
 * recorded run, S the decision index relative to the previous deviation and T the task id,
 * all base 36. Example: `v1.2s.3-2.0-4` (two deviations at decisions 3 and 3+0... ).
 */
export function encodeReplay(decisions: number, devs: readonly Deviation[]): string {
  let out = `v1.${decisions.toString(36)}`;
  let prev = 0;
  for (const d of devs) {
    out += `.${(d.step - prev).toString(36)}-${d.taskId.toString(36)}`;
    prev = d.step;
  }
  return out;
}

export function decodeReplay(s: string): { decisions: number; devs: Deviation[] } {
  const parts = s.trim().split('.');
  const bad = (why: string): never => {
    throw new ReplayMismatch(`invalid replay string '${s}': ${why}`);
  };
  if (parts[0] !== 'v1') bad('it must start with "v1."');
  const decisions = parseInt(parts[1] ?? '', 36);
  if (!Number.isInteger(decisions) || decisions < 0) bad('no decision count after "v1."');
  const devs: Deviation[] = [];
  let step = 0;
  for (const p of parts.slice(2)) {
    const m = /^([0-9a-z]+)-([0-9a-z]+)$/.exec(p);
    if (!m) bad(`'${p}' is not STEP-TASK`);
    step += parseInt(m?.[1] ?? '', 36);
    devs.push({ step, taskId: parseInt(m?.[2] ?? '', 36) });
  }
  return { decisions, devs };
}

/** Follows a replay string: the default choice except at the recorded deviations. */
export class ReplayPolicy implements Policy {
  readonly name = 'replay';
  private readonly byStep = new Map<number, number>();
  readonly decisions: number;

  constructor(
    replay: string,
    /**
     * Follow the default where a recorded task is not runnable instead of failing (used while
     * minimising: a shortened schedule need not fit the program exactly).
     */
    private readonly lenient = false,
  ) {
    const { decisions, devs } = decodeReplay(replay);
    this.decisions = decisions;
    for (const d of devs) this.byStep.set(d.step, d.taskId);
  }

  choose(runq: readonly Task[], dflt: Task, step: number): Task {
    const want = this.byStep.get(step);
    if (want === undefined) return dflt;
    const t = runq.find((x) => x.id === want);
    if (!t) {
      if (this.lenient) return dflt;
      const ready = [...runq].sort((a, b) => a.id - b.id).map((x) => `${x.id} (${x.name})`);
      throw new ReplayMismatch(
        `replay decision ${step} names task ${want}, which is not runnable there; runnable: ${ready.join(', ')}`,
      );
    }
    return t;
  }
}

export type PolicyName = 'timed' | 'random' | 'pct' | 'replay';

export interface PolicyOptions {
  policy: PolicyName;
  seed?: number;
  depth?: number;
  steps?: number;
  replay?: string;
  /** With `replay`: fall back to the default where the string does not fit. */
  lenient?: boolean;
}

export function makePolicy(o: PolicyOptions): Policy {
  const seed = o.seed ?? 1;
  switch (o.policy) {
    case 'timed':
      return new TimedPolicy();
    case 'random':
      return new RandomPolicy(seed);
    case 'pct':
      return new PctPolicy(seed, o.depth ?? 3, o.steps ?? 10_000);
    case 'replay':
      if (o.replay === undefined) throw new RangeError('policy replay needs a replay string');
      return new ReplayPolicy(o.replay, o.lenient ?? false);
  }
}

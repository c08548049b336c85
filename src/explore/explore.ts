/**
 * Schedule exploration (issue "explore"): run one scenario under many schedules and report
 * the first run that fails (a trap, or a step that did not do what the scenario says).
 * Schedule i of `random` and `pct` uses seed + i, so a finding is the same whatever the
 * number of jobs; `dfs` enumerates schedules within a preemption bound.
 */
import type { Scenario } from '../scenario/loader.js';
import { runScenario, type RunOptions, type RunResult } from '../scenario/runner.js';
import type { SystemOverrides } from '../scenario/system.js';
import { DfsPolicy, DfsSearch } from './dfs.js';
import { signature } from './signature.js';

export type ExplorePolicy = 'random' | 'pct' | 'dfs';

export interface ExploreOptions {
  policy: ExplorePolicy;
  /** pct: the bug depth d (default 3); dfs: the preemption bound (default 2). */
  depth?: number;
  /** Schedules to try at most (default 1000). */
  schedules?: number;
  /** Base seed (default 1). */
  seed?: number;
  /** Keep going after a finding. */
  all?: boolean;
  overrides?: SystemOverrides;
  /** Asked between schedules: a wall-clock budget lives in the CLI. */
  shouldStop?: () => boolean;
  onProgress?: (done: number, findings: number) => void;
}

export interface Finding {
  /** Schedule index (0-based). */
  readonly schedule: number;
  readonly seed: number;
  readonly result: RunResult;
}

export interface ExploreResult {
  readonly explored: number;
  readonly findings: readonly Finding[];
  /** dfs only: every schedule within the bound was run. */
  readonly complete: boolean;
  /** How often each distinct sequence of step outcomes occurred. */
  readonly outcomes: ReadonlyMap<string, number>;
  /** The pct step estimate used (decisions of the timed run, rounded up). */
  readonly steps: number;
}

/** Decisions of the timed run: the k of PCT. */
export function estimateSteps(s: Scenario, overrides: SystemOverrides = {}): number {
  const r = runScenario(s, { overrides: { ...overrides, policy: 'timed' } });
  return Math.max(16, Math.ceil(r.decisions * 1.25));
}

/** The options of schedule `i` for random and pct. */
export function scheduleOptions(o: ExploreOptions, i: number, steps: number): RunOptions {
  const seed = (o.seed ?? 1) + i;
  const policy = o.policy === 'dfs' ? 'timed' : o.policy;
  return {
    overrides: { ...o.overrides, policy, seed },
    ...(o.policy === 'pct' ? { depth: o.depth ?? 3, steps } : {}),
  };
}

export function explore(s: Scenario, o: ExploreOptions): ExploreResult {
  const max = o.schedules ?? 1000;
  const findings: Finding[] = [];
  const outcomes = new Map<string, number>();
  const steps = o.policy === 'pct' ? estimateSteps(s, o.overrides) : 0;
  const note = (i: number, seed: number, r: RunResult): boolean => {
    const sig = signature(r);
    outcomes.set(sig, (outcomes.get(sig) ?? 0) + 1);
    if (!r.pass) findings.push({ schedule: i, seed, result: r });
    o.onProgress?.(i + 1, findings.length);
    return !r.pass && !o.all;
  };
  if (o.policy === 'dfs') {
    const search = new DfsSearch(o.depth ?? 2);
    let prefix: number[] | null = [];
    let i = 0;
    for (; prefix && i < max && !o.shouldStop?.(); i++) {
      const policy = new DfsPolicy(prefix);
      const r = runScenario(s, {
        overrides: { ...o.overrides, policy: 'timed' },
        policyImpl: policy,
      });
      search.record(policy);
      if (note(i, 0, r)) return { explored: i + 1, findings, complete: false, outcomes, steps };
      prefix = search.next();
    }
    return { explored: i, findings, complete: prefix === null, outcomes, steps };
  }
  let i = 0;
  for (; i < max && !o.shouldStop?.(); i++) {
    const opts = scheduleOptions(o, i, steps);
    const r = runScenario(s, opts);
    if (note(i, opts.overrides?.seed ?? 0, r))
      return { explored: i + 1, findings, complete: false, outcomes, steps };
  }
  return { explored: i, findings, complete: false, outcomes, steps };
}

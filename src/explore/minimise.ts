/**
 * Minimisation of a finding: fewer preemptions first (delta debugging, Zeller and
 * Hildebrandt 2002, over the replay string's deviations), then fewer steps, each accepted
 * only while the same failure still occurs: the same trap kind, or the same failing step.
 */
import { parseDocument } from 'yaml';
import type { Scenario, Step } from '../scenario/loader.js';
import { runScenario, type RunOptions, type RunResult } from '../scenario/runner.js';
import type { SystemOverrides } from '../scenario/system.js';
import { decodeReplay, encodeReplay, type Deviation } from '../sim/policy.js';

/** Does `b` fail the way `a` did? */
export function sameFailure(a: RunResult, b: RunResult): boolean {
  if (b.pass) return false;
  if (a.trap) return b.trap?.kind === a.trap.kind;
  const fa = a.failure;
  const fb = b.failure;
  return (
    !b.trap &&
    !!fa &&
    !!fb &&
    fb.thread === fa.thread &&
    fb.index === fa.index &&
    fb.actual === fa.actual
  );
}

export interface ScheduleMinimum {
  readonly result: RunResult;
  readonly before: number;
  readonly after: number;
  readonly runs: number;
}

/** ddmin over the deviations of `found.replay`; replays are lenient so subsets always run. */
export function minimiseSchedule(
  s: Scenario,
  found: RunResult,
  overrides: SystemOverrides = {},
): ScheduleMinimum {
  const { decisions, devs } = decodeReplay(found.replay);
  let runs = 0;
  let best = found;
  const test = (subset: readonly Deviation[]): boolean => {
    runs++;
    const r = runScenario(s, { overrides, replay: encodeReplay(decisions, subset), lenient: true });
    if (!sameFailure(found, r)) return false;
    best = r;
    return true;
  };
  let cur = [...devs];
  let n = 2;
  while (cur.length > 0) {
    const size = Math.ceil(cur.length / n);
    let reduced = false;
    for (let i = 0; i < cur.length; i += size) {
      const complement = [...cur.slice(0, i), ...cur.slice(i + size)];
      if (test(complement)) {
        cur = complement;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (size === 1) break;
      n = Math.min(cur.length, n * 2);
    }
  }
  return { result: best, before: devs.length, after: decodeReplay(best.replay).devs.length, runs };
}

export interface StepMinimum {
  readonly scenario: Scenario;
  /** The scenario file without the removed steps. */
  readonly yaml: string;
  readonly removed: number;
  readonly result: RunResult;
  readonly runs: number;
}

function without(s: Scenario, drop: ReadonlyMap<string, ReadonlySet<number>>): Scenario {
  return {
    ...s,
    threads: s.threads.map((t) => ({
      ...t,
      steps: t.steps.filter((st: Step) => !(drop.get(t.name)?.has(st.index) ?? false)),
    })),
  };
}

/**
 * Remove steps one at a time, last first, keeping each removal after which the failure still
 * occurs under the finding's schedule (replayed leniently) or its seeded policy.
 */
export function minimiseSteps(s: Scenario, found: RunResult, schedule: RunOptions): StepMinimum {
  const drop = new Map<string, Set<number>>(s.threads.map((t) => [t.name, new Set<number>()]));
  let best = found;
  let runs = 0;
  const tryRun = (cand: Scenario): RunResult | null => {
    for (const opts of [
      { overrides: schedule.overrides ?? {}, replay: best.replay, lenient: true },
      schedule,
    ]) {
      runs++;
      const r = runScenario(cand, opts);
      if (sameFailure(found, r)) return r;
    }
    return null;
  };
  for (const t of s.threads) {
    for (const st of [...t.steps].reverse()) {
      if (found.failure?.thread === t.name && found.failure.index === st.index) continue;
      drop.get(t.name)?.add(st.index);
      const r = tryRun(without(s, drop));
      if (r) best = r;
      else drop.get(t.name)?.delete(st.index);
    }
  }
  const scenario = without(s, drop);
  const doc = parseDocument(s.source);
  let removed = 0;
  for (const t of s.threads) {
    for (const idx of [...(drop.get(t.name) ?? [])].sort((a, b) => b - a)) {
      doc.deleteIn([...t.path, idx]);
      removed++;
    }
  }
  return { scenario, yaml: doc.toString(), removed, result: best, runs };
}

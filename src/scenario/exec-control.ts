/** Control steps (SCENARIO-FORMAT.md "Control"): settle, sleep, barrier, expect_counters. */
import type { Co } from '../sim/task.js';
import { sleep, wait_event, wake_up_all } from '../sim/wait.js';
import { settle_workqueues } from '../sim/workqueue.js';
import type { StepCtx } from './context.js';
import type { CounterExpect } from './fields.js';
import type { Step } from './loader.js';
import { StepFailed } from './world.js';

type S<K extends Step['kind']> = Extract<Step, { kind: K }>;

export function* exec_settle(_ctx: StepCtx, _st: S<'settle'>): Co<number> {
  yield* settle_workqueues();
  return 0;
}

export function* exec_sleep(_ctx: StepCtx, st: S<'sleep'>): Co<number> {
  yield* sleep(st.f.time);
  return 0;
}

export function* exec_barrier(ctx: StepCtx, st: S<'barrier'>): Co<number> {
  const b = ctx.barriers.get(st.f.name);
  if (!b) throw new StepFailed(`barrier ${st.f.name} to be known`, 'unknown barrier');
  b.arrived++;
  if (b.arrived >= b.parties) wake_up_all(b.wq);
  yield* wait_event(b.wq, () => b.arrived >= b.parties || ctx.proc.exiting);
  return 0;
}

/** Compare counters with expectations; the first mismatch, or null. */
export function counterMismatch(
  counters: { get(name: string): number },
  expect: Record<string, CounterExpect>,
): { expected: string; actual: string } | null {
  for (const [name, e] of Object.entries(expect)) {
    const v = counters.get(name);
    const want: string[] = [];
    if (e.eq !== undefined && v !== e.eq) want.push(`= ${e.eq}`);
    if (e.min !== undefined && v < e.min) want.push(`>= ${e.min}`);
    if (e.max !== undefined && v > e.max) want.push(`<= ${e.max}`);
    if (want.length) return { expected: `${name} ${want.join(' and ')}`, actual: `${name} = ${v}` };
  }
  return null;
}

export function* exec_expect_counters(ctx: StepCtx, st: S<'expect_counters'>): Co<number> {
  const m = counterMismatch(ctx.world.sim.counters, st.f);
  if (m) throw new StepFailed(m.expected, m.actual);
  return 0;
}

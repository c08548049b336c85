/**
 * The runner (SCENARIO-FORMAT.md): builds the system from `system:`, runs each thread as a
 * task, forks processes, settles after the last step, checks `expect`, tears the process
 * down and checks that nothing leaked. A failing step or a trap ends the run; its result
 * names the first failing step or the trap with its replay string.
 */
import { errnoName } from '../sim/errno.js';
import type { Policy, PolicyName } from '../sim/policy.js';
import type { Co } from '../sim/task.js';
import { Trap } from '../sim/trap.js';
import type { TraceEvent } from '../sim/trace.js';
import { WaitQueue } from '../sim/wait.js';
import { settle_workqueues } from '../sim/workqueue.js';
import type { Barrier, RunState, StepCtx } from './context.js';
import { counterMismatch } from './exec-control.js';
import { ThreadExit, teardownProcess, threadDone } from './exec-process.js';
import { EXECUTORS } from './executors.js';
import type { Scenario, Step } from './loader.js';
import { Oracle } from './oracle.js';
import { resolveSystem, type SystemOverrides } from './system.js';
import { StepFailed, World, type Process } from './world.js';

declare module '../sim/trace.js' {
  interface TraceEventMap {
    /** A scenario step begins, or ends with its result (OK or an errno name). */
    'scenario.step': { thread: string; index: number; step: string; phase: string };
  }
}

export interface RunOptions {
  /** Called once the machine is built (tests plant faults through it). */
  setup?: (world: World, oracle: Oracle) => void;
  overrides?: SystemOverrides;
  /** Follow this replay string instead of the policy. */
  replay?: string;
  /** Keep the whole trace. */
  trace?: boolean;
  /** A policy object instead of the named policy (the explorer's DFS). */
  policyImpl?: Policy;
  /** With `replay`: fall back to the default schedule where the string does not fit. */
  lenient?: boolean;
  /** Trap `livelock` after this many scheduling decisions. */
  maxSteps?: number;
  /** pct depth and step estimate. */
  depth?: number;
  steps?: number;
}

export interface StepFailure {
  readonly thread: string;
  readonly index: number;
  readonly kind: string;
  readonly label?: string;
  readonly line: number;
  readonly col: number;
  readonly expected: string;
  readonly actual: string;
}

export interface TrapInfo {
  readonly kind: string;
  readonly message: string;
  readonly task: string;
  readonly time: number;
  readonly replay: string;
  readonly tail: readonly TraceEvent[];
}

export interface RunResult {
  readonly file: string;
  readonly name: string;
  readonly pass: boolean;
  /** Why it failed, in one line. */
  readonly reason: string;
  readonly failure?: StepFailure;
  readonly trap?: TrapInfo;
  readonly replay: string;
  readonly decisions: number;
  /** Virtual time at the end, ns. */
  readonly time: number;
  readonly counters: Record<string, number>;
  /** Each completed step's result in completion order: "thread[index] kind: OK|ERRNO". */
  readonly outcomes: readonly string[];
  readonly trace?: string;
}

/** The fields every step accepts (the counter map of expect_counters has none). */
function common(st: Step): { label?: string | undefined; expect_errno?: number[] | undefined } {
  return st.kind === 'expect_counters' ? {} : st.f;
}

/** Threads that name each barrier, over the whole file (forks included). */
function barrierParties(s: Scenario): Map<string, Barrier> {
  const out = new Map<string, Barrier>();
  const visit = (steps: readonly Step[]): void => {
    for (const st of steps) {
      if (st.kind === 'barrier') {
        const b = out.get(st.f.name);
        out.set(st.f.name, {
          parties: (b?.parties ?? 0) + 1,
          arrived: 0,
          wq: b?.wq ?? new WaitQueue(`barrier ${st.f.name}`),
        });
      }
      if (st.children) visit(st.children);
    }
  };
  for (const t of s.threads) visit(t.steps);
  return out;
}

class Run implements RunState {
  readonly world: World;
  readonly oracle: Oracle;
  readonly barriers: Map<string, Barrier>;
  failure: StepFailure | undefined;
  readonly outcomes: string[] = [];
  readonly main: Process;

  constructor(
    readonly scenario: Scenario,
    world: World,
  ) {
    this.world = world;
    this.oracle = new Oracle(world);
    this.barriers = barrierParties(scenario);
    this.main = world.newProcess('main', null);
  }

  readonly runThread = (proc: Process, name: string, steps: readonly Step[]): void => {
    proc.liveThreads++;
    const task = this.world.sim.spawn(name, () => this.thread(proc, name, steps));
    task.ctx['process'] = proc.name;
    proc.threads.push(task);
  };

  private *thread(proc: Process, name: string, steps: readonly Step[]): Co {
    const ctx: StepCtx = { ...this, runThread: this.runThread, proc, thread: name };
    try {
      for (const st of steps) {
        if (proc.exiting || this.failure) break;
        yield* this.step(ctx, st);
      }
      // A child exits (code 0) after its last step; the main process exits after the checks.
      if (proc !== this.main) proc.exitStatus ??= 0;
    } catch (e) {
      if (!(e instanceof ThreadExit)) throw e;
    }
    yield* threadDone(this.world, proc);
  }

  private *step(ctx: StepCtx, st: Step): Co {
    const exec = EXECUTORS[st.kind] as (c: StepCtx, s: Step) => Co<number>;
    const allowed = common(st).expect_errno ?? [0];
    const trace = this.world.sim.trace;
    trace.emit('scenario.step', {
      thread: ctx.thread,
      index: st.index,
      step: st.kind,
      phase: 'begin',
    });
    try {
      const r = yield* exec(ctx, st);
      trace.emit('scenario.step', {
        thread: ctx.thread,
        index: st.index,
        step: st.kind,
        phase: errnoName(r),
      });
      this.outcomes.push(`${ctx.thread}[${st.index}] ${st.kind}: ${errnoName(r)}`);
      if (!allowed.includes(-r)) {
        throw new StepFailed(
          allowed.map(errnoName).join(' or '),
          r === 0 ? 'success' : errnoName(r),
        );
      }
    } catch (e) {
      if (!(e instanceof StepFailed)) throw e;
      this.fail(ctx.thread, st, e.expected, e.actual);
    }
  }

  fail(thread: string, st: Step, expected: string, actual: string): void {
    if (this.failure) return;
    const label = common(st).label;
    this.failure = {
      thread,
      index: st.index,
      kind: st.kind,
      ...(label !== undefined ? { label } : {}),
      line: st.pos.line,
      col: st.pos.col,
      expected,
      actual,
    };
    this.world.sim.stop();
  }

  /** Run one phase as a task to completion. */
  phase(name: string, body: () => Co): void {
    this.world.sim.spawn(name, body);
    this.world.sim.run();
  }

  /** The initial state (a KFD process with a compute VM on every GPU), then the threads. */
  *start(): Co {
    try {
      yield* this.world.ensureKfd(this.main);
    } catch (e) {
      if (!(e instanceof StepFailed)) throw e;
      // E.g. a design that refuses the XNACK mode when the compute VM is made (V3).
      this.failure = {
        thread: 'init',
        index: -1,
        kind: 'process start',
        line: 1,
        col: 1,
        expected: e.expected,
        actual: e.actual,
      };
      this.world.sim.stop();
      return;
    }
    for (const t of this.scenario.threads) this.runThread(this.main, t.name, t.steps);
  }
}

/** Run one scenario. Invalid files are rejected before this (ScenarioError). */
export function runScenario(s: Scenario, opts: RunOptions = {}): RunResult {
  const resolved = resolveSystem(s, opts.overrides);
  if (!resolved.ok)
    throw new Error(
      resolved.issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.message}`).join('\n'),
    );
  const sys = resolved.system;
  const policy: PolicyName = opts.replay !== undefined ? 'replay' : sys.policy;
  const world = new World(sys, {
    policy,
    seed: sys.seed,
    trace: opts.trace ?? false,
    ...(opts.replay !== undefined ? { replay: opts.replay } : {}),
    ...(opts.depth !== undefined ? { depth: opts.depth } : {}),
    ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
    ...(opts.maxSteps !== undefined ? { maxSteps: opts.maxSteps } : {}),
    ...(opts.policyImpl !== undefined ? { policyImpl: opts.policyImpl } : {}),
    ...(opts.lenient !== undefined ? { lenient: opts.lenient } : {}),
  });
  const run = new Run(s, world);
  opts.setup?.(world, run.oracle);
  let trap: Trap | undefined;
  let reason = '';
  try {
    run.phase('init', () => run.start());
    if (!run.failure) run.phase('settle', () => settle_workqueues());
    if (!run.failure) {
      run.phase('check', function* (): Co {
        run.oracle.checkLiveness();
        const m = counterMismatch(world.sim.counters, s.expect.counters);
        if (m) reason = `expect.counters: expected ${m.expected}, got ${m.actual}`;
        yield* [];
      });
    }
    if (!run.failure && !reason) {
      run.phase('exit', function* (): Co {
        for (const p of world.processes) {
          if (p.gone) continue;
          p.exitStatus ??= 0;
          yield* teardownProcess(world, p);
        }
        yield* settle_workqueues();
        run.oracle.checkTeardown();
      });
    }
  } catch (e) {
    if (!(e instanceof Trap)) throw e;
    trap = e;
  }
  return result(s, run, trap, reason, opts);
}

function result(
  s: Scenario,
  run: Run,
  trap: Trap | undefined,
  checkReason: string,
  opts: RunOptions,
): RunResult {
  const sim = run.world.sim;
  const wanted = s.expect.violations;
  let reason = checkReason;
  if (run.failure) {
    const f = run.failure;
    const what = f.expected ? `expected ${f.expected}, got ${f.actual}` : f.actual;
    const where = f.index < 0 ? `${s.file}: ${f.kind}` : null;
    reason =
      where !== null
        ? `${where}: ${what}`
        : `${s.file}:${f.line}:${f.col}: step ${f.index} (${f.kind}${f.label ? `, "${f.label}"` : ''}) of ${f.thread}: ${what}`;
  } else if (trap && !wanted.includes(trap.kind)) {
    reason = `trap ${trap.message.split('\n')[0] ?? trap.kind} (replay ${trap.replay})`;
  } else if (!trap && wanted.length > 0) {
    reason = `expected a trap of kind ${wanted.join(' or ')}, and the run ended without one`;
  }
  return {
    file: s.file,
    name: s.name,
    pass: reason === '',
    reason,
    ...(run.failure ? { failure: run.failure } : {}),
    ...(trap
      ? {
          trap: {
            kind: trap.kind,
            message: trap.message,
            task: trap.task,
            time: trap.time,
            replay: trap.replay,
            tail: trap.traceTail,
          },
        }
      : {}),
    replay: trap?.replay || sim.replay(),
    decisions: sim.decisions,
    time: sim.endTime(),
    counters: sim.counters.snapshot(),
    outcomes: run.outcomes,
    ...(opts.trace ? { trace: sim.trace.toJsonLines() } : {}),
  };
}

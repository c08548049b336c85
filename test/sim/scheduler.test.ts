import { describe, expect, it } from 'vitest';
import {
  Mutex,
  PREEMPT,
  Sim,
  Trap,
  co_return,
  cond_resched,
  current,
  join,
  mutex_lock,
  mutex_unlock,
  sleep,
  trap,
  type Co,
  type PolicyOptions,
} from '../../src/sim/index.js';

/** Two tasks append their names to a log at each step. */
function racyLog(sim: Sim, steps = 4): string[] {
  const log: string[] = [];
  const body = (name: string) =>
    function* (): Co {
      for (let i = 0; i < steps; i++) {
        log.push(`${name}${i}`);
        yield* cond_resched();
      }
    };
  sim.spawn('a', body('a'));
  sim.spawn('b', body('b'));
  sim.run();
  return log;
}

describe('scheduler', () => {
  it('timed policy runs the task that ran last on ties, so a yield without cost does not switch', () => {
    const log = racyLog(new Sim());
    expect(log).toEqual(['a0', 'a1', 'a2', 'a3', 'b0', 'b1', 'b2', 'b3']);
  });

  it('timed policy interleaves by virtual time when tasks charge costs', () => {
    const sim = new Sim();
    const log: string[] = [];
    const body = (name: string, cost: number) =>
      function* (): Co {
        for (let i = 0; i < 3; i++) {
          log.push(`${name}@${sim.now()}`);
          sim.charge(cost);
          yield PREEMPT;
        }
      };
    sim.spawn('a', body('a', 10));
    sim.spawn('b', body('b', 15));
    sim.run();
    expect(log).toEqual(['a@0', 'b@0', 'a@10', 'b@15', 'a@20', 'b@30']);
  });

  it('sleep wakes at the right virtual time and join returns the result', () => {
    const sim = new Sim();
    const seen: number[] = [];
    const child = sim.spawn('child', function* (): Co<number> {
      yield* sleep(5_000);
      seen.push(sim.now());
      return 42;
    });
    let got: number | undefined;
    sim.spawn('parent', function* (): Co {
      got = yield* join(child);
      seen.push(sim.now());
    });
    sim.run();
    expect(seen).toEqual([5_000, 5_000]);
    expect(got).toBe(42);
  });

  it('current() names the running task', () => {
    const sim = new Sim();
    const names: string[] = [];
    sim.spawn('x', function* (): Co {
      names.push(current().name);
      yield PREEMPT;
      names.push(current().name);
    });
    sim.run();
    expect(names).toEqual(['x', 'x']);
  });
});

/**
 * Three tasks that charge costs, sleep, share a mutex and pass preemption points, either as
 * cond_resched (which decides inline when the running task goes on) or as a bare
 * `yield PREEMPT` (which always returns to the run loop). What they did and the run's
 * schedule, or the trap it ended with.
 */
type RunOpts = PolicyOptions & { maxSteps?: number; trapAt?: number };

function preemptionRun(opts: RunOpts, inline: boolean): string[] {
  const sim = new Sim(opts);
  const log: string[] = [];
  const lock = new Mutex('m');
  const point = inline
    ? cond_resched
    : function* (): Co {
        yield PREEMPT;
      };
  const body = (name: string, cost: number) =>
    function* (): Co {
      for (let i = 0; i < 6; i++) {
        log.push(`${name}${i}@${sim.now()}`);
        sim.charge(cost);
        yield* point();
        if (i % 2 === 0) {
          yield* mutex_lock(lock);
          sim.charge(cost);
          yield* point();
          mutex_unlock(lock);
        } else if (i === 3) {
          yield* sleep(cost * 3);
        }
      }
    };
  sim.spawn('a', body('a', 10));
  sim.spawn('b', body('b', 15));
  sim.spawn('c', body('c', 7));
  sim.after(40, () => log.push(`timer@${sim.now()}`));
  if (opts.trapAt !== undefined) sim.after(opts.trapAt, () => trap('bug', 'timer trap'));
  try {
    sim.run();
  } catch (e) {
    if (e instanceof Trap) log.push(`trap ${e.kind} ${e.replay} ${e.time} '${e.task}'`);
    else log.push(`error ${(e as Error).message}`);
  }
  log.push(`replay ${sim.replay()} decisions ${sim.decisions}`);
  return log;
}

describe('inline preemption decisions', () => {
  const policies: RunOpts[] = [
    { policy: 'timed' },
    { policy: 'random', seed: 1 },
    { policy: 'random', seed: 7, trapAt: 95 },
    { policy: 'pct', seed: 3, depth: 3, steps: 60 },
    { policy: 'replay', replay: 'v1.1k.3-1.2-2.5-0', lenient: true },
    { policy: 'replay', replay: 'v1.1k.3-1.2-2.5-0.4-9' },
    { policy: 'random', seed: 2, maxSteps: 25 },
  ];
  for (const opts of policies) {
    it(`a preemption point schedules as a yield to the run loop does (${JSON.stringify(opts)})`, () => {
      expect(preemptionRun(opts, true)).toEqual(preemptionRun(opts, false));
    });
  }
});

describe('co_return', () => {
  it('gives its value to yield* at once, without a decision', () => {
    const sim = new Sim();
    const got: unknown[] = [];
    sim.spawn('t', function* (): Co {
      got.push(yield* co_return(undefined), yield* co_return(0), yield* co_return(true));
      got.push(yield* co_return(false), yield* co_return(-4), yield* co_return('x'));
    });
    sim.run();
    expect(got).toEqual([undefined, 0, true, false, -4, 'x']);
    expect(sim.decisions).toBe(1);
  });
});

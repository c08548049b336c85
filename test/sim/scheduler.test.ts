import { describe, expect, it } from 'vitest';
import { PREEMPT, Sim, cond_resched, current, join, sleep, type Co } from '../../src/sim/index.js';

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

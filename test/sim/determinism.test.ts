import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Mutex,
  PREEMPT,
  ReplayMismatch,
  Sim,
  decodeReplay,
  encodeReplay,
  mutex_lock,
  mutex_unlock,
  trap,
  type Co,
  type SimOptions,
} from '../../src/sim/index.js';
import { trapOf } from './helpers.js';

/** Three tasks that log each step and take a mutex in the middle: a racy toy program. */
function toy(opts: SimOptions): { log: string; sim: Sim } {
  const sim = new Sim({ trace: true, ...opts });
  const m = new Mutex('m');
  const log: string[] = [];
  for (const name of ['a', 'b', 'c']) {
    sim.spawn(name, function* (): Co {
      for (let i = 0; i < 5; i++) {
        log.push(`${name}${i}`);
        sim.trace.emit('note', { text: `${name} step ${i}` });
        if (i === 2) {
          yield* mutex_lock(m);
          sim.charge(5);
          yield PREEMPT;
          mutex_unlock(m);
        }
        sim.charge(1);
        yield PREEMPT;
      }
    });
  }
  sim.run();
  return { log: log.join(' '), sim };
}

/**
 * A depth-2 ordering bug: it shows only when b's check runs after a's first write and before
 * its second, two ordering constraints (Burckhardt et al.'s depth).
 */
function depth2(opts: SimOptions): boolean {
  const sim = new Sim(opts);
  let flag = 0;
  let hit = false;
  sim.spawn('a', function* (): Co {
    for (let i = 0; i < 20; i++) {
      if (i === 10) flag = 1;
      if (i === 11) flag = 0;
      yield PREEMPT;
    }
  });
  sim.spawn('b', function* (): Co {
    for (let i = 0; i < 20; i++) {
      if (i === 10 && flag === 1) hit = true;
      yield PREEMPT;
    }
  });
  sim.run();
  return hit;
}

describe('determinism', () => {
  it('the same seed gives a byte-identical trace', () => {
    for (const policy of ['timed', 'random', 'pct'] as const) {
      const one = toy({ policy, seed: 42 }).sim.trace.toJsonLines();
      const two = toy({ policy, seed: 42 }).sim.trace.toJsonLines();
      expect(one.length).toBeGreaterThan(100);
      expect(two).toBe(one);
    }
  });

  it('a recorded replay string reproduces the run exactly', () => {
    for (const policy of ['random', 'pct'] as const) {
      for (const seed of [1, 2, 3]) {
        const first = toy({ policy, seed, depth: 3, steps: 40 });
        const again = toy({ policy: 'replay', replay: first.sim.replay() });
        expect(again.log).toBe(first.log);
        expect(again.sim.trace.toJsonLines()).toBe(first.sim.trace.toJsonLines());
        expect(again.sim.replay()).toBe(first.sim.replay());
      }
    }
  });

  it('a timed run replays from a string with no deviations', () => {
    const timed = toy({ policy: 'timed' });
    expect(timed.sim.deviations).toBe(0);
    expect(toy({ policy: 'replay', replay: timed.sim.replay() }).log).toBe(timed.log);
  });

  it('different seeds of random and pct give different interleavings', () => {
    for (const policy of ['random', 'pct'] as const) {
      const logs = new Set<string>();
      for (let seed = 1; seed <= 10; seed++) logs.add(toy({ policy, seed, steps: 40 }).log);
      expect(logs.size).toBeGreaterThan(3);
    }
  });

  it('a replay that no longer fits says which decision failed', () => {
    const rec = toy({ policy: 'random', seed: 5 }).sim.replay();
    const { decisions, devs } = decodeReplay(rec);
    const bogus = encodeReplay(
      decisions,
      [...devs, { step: 1, taskId: 99 }].sort((x, y) => x.step - y.step),
    );
    expect(() => toy({ policy: 'replay', replay: bogus })).toThrow(ReplayMismatch);
    expect(() => toy({ policy: 'replay', replay: bogus })).toThrow(
      /replay decision 1 names task 99/,
    );
    expect(() => toy({ policy: 'replay', replay: 'v2.x' })).toThrow(/must start with "v1\."/);
  });

  it('a trap carries a replay string that reproduces it', () => {
    const run = (opts: SimOptions) => {
      const sim = new Sim(opts);
      let shared = 0;
      for (const n of ['x', 'y']) {
        sim.spawn(n, function* (): Co {
          for (let i = 0; i < 6; i++) {
            const seen = shared;
            yield PREEMPT;
            shared = seen + 1; // lost update when the other task ran in between
          }
        });
      }
      sim.spawn('check', function* (): Co {
        for (let i = 0; i < 30; i++) yield PREEMPT;
        if (shared !== 12) trap('data-mismatch', `shared = ${shared}`);
      });
      return trapOf(sim);
    };
    let found;
    for (let seed = 1; seed < 50 && !found; seed++) {
      try {
        found = run({ policy: 'random', seed });
      } catch {
        // no trap with this seed
      }
    }
    expect(found?.kind).toBe('data-mismatch');
    const again = run({ policy: 'replay', replay: found?.replay ?? '' });
    expect(again.message).toBe(found?.message);
    expect(again.replay).toBe(found?.replay);
    expect(again.traceTail.at(-1)?.kind).toBe('trap');
  });

  it('timed never shows the depth-2 bug', () => {
    expect(depth2({ policy: 'timed' })).toBe(false);
  });

  it('pct (depth 2) finds the planted depth-2 bug within 1,000 runs from any seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), (base) => {
        for (let run = 0; run < 1000; run++) {
          if (depth2({ policy: 'pct', depth: 2, steps: 42, seed: base + run })) return true;
        }
        return false;
      }),
      { numRuns: 20, seed: 2026 },
    );
  });
});

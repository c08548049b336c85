/**
 * The known-flaw variants of rfc-v1 (designs.ts options, v1/flaws.ts): the explorer finds each
 * one in its race scenario (scenarios/races/flaw-*.yaml) within a bounded number of pct
 * schedules, the finding replays to the same trap kind and its schedule minimises; with the
 * option off the same scenario passes over a bounded exploration. Also: the SET_ATTR race of
 * setattr-vs-munmap-v1 reaches more than one outcome.
 */
import { describe, expect, it } from 'vitest';
import '../../src/amdgpu/svm/index.js';
import { explore } from '../../src/explore/explore.js';
import { minimiseSchedule } from '../../src/explore/minimise.js';
import { loadScenario, type Scenario } from '../../src/scenario/loader.js';
import { runScenario } from '../../src/scenario/runner.js';

const FLAWS: readonly { option: string; kinds: readonly string[] }[] = [
  { option: 'flaw-eviction-lock', kinds: ['lock-order', 'deadlock'] },
  { option: 'flaw-unlocked-commit', kinds: ['stale-gpu-mapping'] },
  { option: 'flaw-no-tlb-flush', kinds: ['stale-gpu-mapping'] },
  { option: 'flaw-alloc-under-notifier-lock', kinds: ['reclaim-lock'] },
  { option: 'flaw-early-resume', kinds: ['fatal-gpu-fault', 'stale-gpu-mapping'] },
];

function withOption(s: Scenario, option: string, on: boolean): Scenario {
  return { ...s, system: { ...s.system, options: { ...s.system.options, [option]: on } } };
}

describe('known-flaw variants of rfc-v1', () => {
  for (const { option, kinds } of FLAWS) {
    const s = loadScenario(`scenarios/races/${option}.yaml`);

    it(`${option}: the scenario turns the option on and does not expect a trap`, () => {
      expect(s.system.options?.[option]).toBe(true);
      expect(s.expect.violations).toEqual([]);
      expect(s.system.design ?? 'rfc-v1').toBe('rfc-v1');
    });

    it(`${option}: pct finds ${kinds.join(' or ')}, the replay reproduces it and it minimises`, () => {
      const r = explore(s, { policy: 'pct', schedules: 10_000 });
      const f = r.findings[0];
      if (!f) throw new Error(`${option}: nothing found in ${r.explored} schedules`);
      const kind = f.result.trap?.kind;
      expect(kinds).toContain(kind);
      const again = runScenario(s, { replay: f.result.replay });
      expect(again.pass).toBe(false);
      expect(again.trap?.kind).toBe(kind);
      const min = minimiseSchedule(s, f.result);
      expect(min.result.trap?.kind).toBe(kind);
      expect(min.after).toBeLessThanOrEqual(min.before);
    });

    it(`${option}: with the option off, 200 pct schedules find nothing`, () => {
      const r = explore(withOption(s, option, false), { policy: 'pct', schedules: 200 });
      expect(r.explored).toBe(200);
      expect(r.findings.map((f) => f.result.reason)).toEqual([]);
    });
  }
});

describe('setattr-vs-munmap-v1', () => {
  it('the explored schedules reach both a successful and a failing SET_ATTR', () => {
    const s = loadScenario('scenarios/races/setattr-vs-munmap-v1.yaml');
    const r = explore(s, { policy: 'pct', schedules: 300, all: true });
    expect(r.findings).toEqual([]);
    const set = new Set<string>();
    for (const sig of r.outcomes.keys()) {
      for (const line of sig.split('; '))
        if (line.includes('svm.set:')) set.add(line.slice(line.indexOf('svm.set:') + 9));
    }
    expect(set.has('OK')).toBe(true);
    expect([...set].some((o) => /^E[A-Z]+/.test(o))).toBe(true);
  });
});

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explore } from '../../src/explore/explore.js';
import { formatInterleaving } from '../../src/explore/interleaving.js';
import { minimiseSchedule, minimiseSteps, sameFailure } from '../../src/explore/minimise.js';
import { parseScenario } from '../../src/scenario/loader.js';
import { runScenario } from '../../src/scenario/runner.js';
import { decodeReplay } from '../../src/sim/policy.js';
import type { TraceEvent } from '../../src/sim/trace.js';

const RACE = `name: race-munmap-write
threads:
  a:
    - mmap: { as: buf, size: 32 pages }
    - barrier: { name: go }
    - sleep: { time: 1us }
    - write: { at: buf, size: 32 pages, value: 1 }
  b:
    - barrier: { name: go }
    - sleep: { time: 1us }
    - munmap: { at: buf, size: 32 pages }
`;
const race = parseScenario(RACE, 'race.yaml');

describe('explore', () => {
  it('finds the race under random and pct within a bounded number of schedules, and replays it', () => {
    for (const policy of ['random', 'pct'] as const) {
      const r = explore(race, { policy, schedules: 200 });
      expect(r.findings).toHaveLength(1);
      const f = r.findings[0];
      expect(f?.result.reason).toMatch(/step 3 \(write\) of a: expected OK, got EFAULT/);
      const again = runScenario(race, { replay: f?.result.replay ?? '' });
      expect(again.reason).toBe(f?.result.reason);
      expect(r.explored).toBe((f?.schedule ?? 0) + 1);
    }
  });

  it('reaches both outcomes of the racing step when going on past findings', () => {
    const r = explore(race, { policy: 'random', schedules: 100, all: true });
    expect(r.explored).toBe(100);
    const sigs = [...r.outcomes.keys()];
    expect(sigs.some((s) => s.includes('a[3] write: OK'))).toBe(true);
    expect(r.findings.length).toBeGreaterThan(0);
  });

  it('dfs enumerates every schedule within the preemption bound and says so', () => {
    const r0 = explore(race, { policy: 'dfs', depth: 0, schedules: 10_000, all: true });
    const r1 = explore(race, { policy: 'dfs', depth: 1, schedules: 10_000, all: true });
    expect(r0.complete).toBe(true);
    expect(r1.complete).toBe(true);
    expect(r1.explored).toBeGreaterThan(r0.explored);
    expect(r1.findings.length).toBeGreaterThan(0);
    const again = explore(race, { policy: 'dfs', depth: 1, schedules: 10_000, all: true });
    expect(again.explored).toBe(r1.explored);
    const capped = explore(race, { policy: 'dfs', depth: 1, schedules: 3, all: true });
    expect(capped.complete).toBe(false);
  });

  it('minimises the schedule and the scenario while the same failure occurs', () => {
    const f = explore(race, { policy: 'random', schedules: 200 }).findings[0];
    if (!f) throw new Error('no finding');
    const sched = minimiseSchedule(race, f.result);
    expect(sched.after).toBeLessThanOrEqual(sched.before);
    expect(sameFailure(f.result, sched.result)).toBe(true);
    expect(decodeReplay(sched.result.replay).devs.length).toBe(sched.after);
    const steps = minimiseSteps(race, sched.result, {
      overrides: { policy: 'random', seed: f.seed },
    });
    expect(steps.removed).toBeGreaterThan(0);
    expect(steps.yaml).toContain('munmap');
    expect(steps.yaml).not.toContain('barrier');
    const rerun = runScenario(parseScenario(steps.yaml, 'min.yaml'), {
      replay: steps.result.replay,
      lenient: true,
    });
    expect(sameFailure(f.result, rerun) || rerun.failure?.actual === f.result.failure?.actual).toBe(
      true,
    );
  });

  it('formats a readable interleaving with task switches marked', () => {
    const events: TraceEvent[] = [
      { t: 1000, task: 'a', kind: 'note', text: 'one' },
      { t: 2000, task: 'b', kind: 'note', text: 'two' },
      { t: 2500, task: 'b', kind: 'note', text: 'three' },
    ];
    expect(formatInterleaving(events)).toEqual([
      '       1.000 us -> a         note text=one',
      '       2.000 us -> b         note text=two',
      '       2.500 us    b         note text=three',
    ]);
  });
});

describe('svmsim explore (built CLI)', () => {
  const cli = 'dist/src/cli/main.js';
  it.skipIf(!existsSync(cli))('gives the same finding whatever the number of jobs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'svmsim-'));
    const file = join(dir, 'race.yaml');
    writeFileSync(file, RACE);
    const out = (jobs: number): unknown => {
      const p = spawnSync(
        'node',
        [
          cli,
          'explore',
          file,
          '--policy',
          'pct',
          '--jobs',
          String(jobs),
          '--json',
          '--no-minimise',
        ],
        { encoding: 'utf8' },
      );
      expect(p.status).toBe(1);
      const j = JSON.parse(p.stdout) as { seconds?: number };
      delete j.seconds;
      return j;
    };
    const one = out(1);
    expect(out(2)).toEqual(one);
    expect(out(3)).toEqual(one);
  });

  it.skipIf(!existsSync(cli))('explores with a design option set on the command line', () => {
    // The file turns flaw-eviction-lock on; --option turns it off again, and pct finds nothing.
    const run = (...extra: string[]) =>
      spawnSync(
        'node',
        [
          cli,
          'explore',
          'scenarios/races/flaw-eviction-lock.yaml',
          '--schedules',
          '20',
          '--json',
          '--no-minimise',
          '--no-progress',
          ...extra,
        ],
        { encoding: 'utf8' },
      );
    const off = run('--option', 'flaw-eviction-lock=false');
    expect(off.status).toBe(0);
    const on = run('--option', 'flaw-eviction-lock');
    expect(on.status).toBe(1);
    expect(on.stdout).toContain('lock-order');
  });
});

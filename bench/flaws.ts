/**
 * Known-flaw variants (issue 10): wall time for the explorer to find each rfc-v1 flaw in its
 * race scenario (scenarios/races/flaw-*.yaml) with default settings (pct, depth 3; target
 * under 60 s each), and the "correct designs" run: every other race scenario, and every flaw
 * scenario with its option off, for N pct schedules each, which must give zero violations.
 * N is 10,000 (`npm run bench -- flaws`); SVMSIM_BENCH_SCHEDULES sets fewer (or more).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import '../src/amdgpu/svm/index.js';
import { explore } from '../src/explore/explore.js';
import { loadScenario, type Scenario } from '../src/scenario/loader.js';
import type { BenchResult } from './types.js';

const DIR = 'scenarios/races';
const FIND_SCHEDULES = 10_000;

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function schedulesN(): number {
  const env = process.env.SVMSIM_BENCH_SCHEDULES;
  const n = env === undefined ? NaN : Number(env);
  return Number.isInteger(n) && n > 0 ? n : 10_000;
}

/** The flaw option a flaw-*.yaml scenario turns on, if any. */
function flawOption(s: Scenario): string | undefined {
  return Object.entries(s.system.options ?? {}).find(
    ([k, v]) => k.startsWith('flaw-') && v === true,
  )?.[0];
}

export async function run(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const files = readdirSync(DIR)
    .filter((x) => x.endsWith('.yaml'))
    .sort();
  const scenarios = files.map((f) => loadScenario(join(DIR, f)));
  const flawed = scenarios.filter((s) => flawOption(s) !== undefined);
  const correct: { label: string; s: Scenario }[] = scenarios
    .filter((s) => flawOption(s) === undefined)
    .map((s) => ({ label: s.name, s }));

  for (const s of flawed) {
    const option = flawOption(s) ?? '';
    const t0 = process.hrtime.bigint();
    const r = explore(s, { policy: 'pct', schedules: FIND_SCHEDULES });
    const dt = seconds(t0);
    const f = r.findings[0];
    out.push({
      name: `find ${option} (${s.name})`,
      value: dt,
      unit: 's',
      target: 'under 60 s',
      note: f
        ? `found at schedule ${f.schedule + 1}: ${f.result.trap?.kind ?? 'step failure'}`
        : `NOT FOUND in ${r.explored} schedules`,
    });
    correct.push({
      label: `${s.name} with ${option} off`,
      s: { ...s, system: { ...s.system, options: { ...s.system.options, [option]: false } } },
    });
  }

  const n = schedulesN();
  let violations = 0;
  let total = 0;
  let time = 0;
  for (const { label, s } of correct) {
    const t0 = process.hrtime.bigint();
    const r = explore(s, { policy: 'pct', schedules: n, all: true });
    const dt = seconds(t0);
    violations += r.findings.length;
    total += r.explored;
    time += dt;
    const first = r.findings[0]?.result.reason;
    out.push({
      name: `correct designs: ${label}`,
      value: r.explored / dt,
      unit: 'schedules/s',
      target: '0 violations',
      note:
        `${r.explored} schedules, ${r.findings.length} violations, ${dt.toFixed(1)} s` +
        (first ? `; first: ${first.split('\n')[0] ?? ''}` : ''),
    });
  }
  out.push({
    name: `correct designs: violations over ${correct.length} scenarios x ${n} pct schedules`,
    value: violations,
    unit: 'violations',
    target: '0',
    note: `${total} schedules in ${time.toFixed(1)} s (${Math.round(total / time)} schedules/s)`,
  });
  await Promise.resolve();
  return out;
}

/**
 * Exploration throughput: schedules per second on the race scenarios (issue "explore"
 * target: at least 1,000 per second per core), one job, pct policy.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { explore } from '../src/explore/explore.js';
import { loadScenario } from '../src/scenario/loader.js';
import type { BenchResult } from './types.js';

const DIR = 'scenarios/races';
const SCHEDULES = 2000;

export async function run(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  let total = 0;
  let seconds = 0;
  // The race scenarios of the correct designs (flaw-*.yaml belong to bench/flaws.ts).
  for (const f of readdirSync(DIR)
    .filter((x) => x.endsWith('.yaml') && !x.startsWith('flaw-'))
    .sort()) {
    const s = loadScenario(join(DIR, f));
    const t0 = process.hrtime.bigint();
    const r = explore(s, { policy: 'pct', schedules: SCHEDULES, all: true });
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    total += r.explored;
    seconds += dt;
    out.push({
      name: `pct schedules/s: ${s.name}`,
      value: r.explored / dt,
      unit: 'schedules/s',
      note: `${r.explored} schedules, ${r.findings.length} failing, ${r.outcomes.size} outcomes`,
    });
  }
  out.push({
    name: 'pct schedules/s over all race scenarios (one core)',
    value: total / seconds,
    unit: 'schedules/s',
    target: 'at least 1,000 per core',
  });
  await Promise.resolve();
  return out;
}

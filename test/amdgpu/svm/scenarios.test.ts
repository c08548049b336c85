/**
 * Every scenario of scenarios/rfc-v1 (and the rfc-v1 examples) must pass, with no oracle
 * violation, under the timed policy and under a few random schedules. (The full sweep of 50
 * seeds per file runs from the command line: see the README's rfc-v1 notes.)
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../../src/amdgpu/svm/index.js';
import { loadScenario } from '../../../src/scenario/loader.js';
import { runScenario } from '../../../src/scenario/runner.js';

const DIR = 'scenarios/rfc-v1';
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => join(DIR, f))
  .concat(['scenarios/examples/gpu-eager-map.yaml', 'scenarios/examples/partial-munmap.yaml']);
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

describe('scenarios/rfc-v1', () => {
  it('has a scenario for each feature of the cover letter', () => {
    expect(files.length).toBeGreaterThanOrEqual(18);
  });

  it.each(files)('%s passes under timed and random schedules', (file) => {
    const s = loadScenario(file);
    const timed = runScenario(s);
    expect(timed.reason).toBe('');
    expect(timed.pass).toBe(true);
    for (const seed of SEEDS) {
      const r = runScenario(s, { overrides: { policy: 'random', seed } });
      expect(r.reason, `random seed ${seed}`).toBe('');
    }
  });
});

/**
 * Every scenario of scenarios/rfc-v2 passes under the timed policy and under SVM_V2_SEEDS
 * random schedules (seeds 1..N, default 200), with zero oracle violations and every `expect`
 * of the file met (counters and `where` included). The files' counter expectations hold on
 * every schedule; the exact timed values are pinned in fault.test.ts.
 */
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explore } from '../../../../src/explore/explore.js';
import { loadScenario } from '../../../../src/scenario/loader.js';
import { runScenario } from '../../../../src/scenario/runner.js';
import { v2Files } from './harness.js';

const SEEDS = Number(process.env['SVM_V2_SEEDS'] ?? 200);
const files = v2Files();

describe('scenarios/rfc-v2', () => {
  it('has a scenario for each step of the V2 fault handler', () => {
    const names = files.map((f) => basename(f, '.yaml'));
    for (const n of [
      'fault-map-basic',
      'stale-fault-checkpoint',
      'attr-bounds',
      'default-attrs-unregistered',
      'vma-permission',
      'dedupe-2ms',
      'is-valid-skip',
      'get-pages-error',
      'eagain-retry',
      'no-vma',
      'gc-in-fault',
      'range-split',
      'partial-munmap-refault',
      'notifier-one-flush',
      'prefetch',
      'race-split-vs-munmap',
      'race-fault-vs-split',
    ])
      expect(names).toContain(n);
  });

  it.each(files.map((f) => [basename(f), f]))(
    '%s passes timed and under random schedules',
    (_name, file) => {
      const s = loadScenario(file);
      expect(s.system.design).toBe('rfc-v2');
      const timed = runScenario(s);
      expect(timed.reason).toBe('');
      expect(timed.pass).toBe(true);
      const r = explore(s, { policy: 'random', schedules: SEEDS });
      const first = r.findings[0];
      expect(first ? `seed ${first.seed}: ${first.result.reason}` : '').toBe('');
      expect(r.explored).toBe(SEEDS);
    },
    120_000,
  );
});

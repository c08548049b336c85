import { describe, expect, it } from 'vitest';
import { ScenarioError, parseScenario } from '../../src/scenario/loader.js';
import { resolveSystem } from '../../src/scenario/system.js';
import { WORKLOADS, workloadScenario } from '../../src/scenario/workloads.js';

describe('workload generators', () => {
  it.each(Object.keys(WORKLOADS))('%s builds a valid scenario for 1, 2 and 4 GPUs', (kind) => {
    for (const gpus of [1, 2, 4]) {
      const text = workloadScenario(kind, {}, undefined, `{ gpus: ${gpus} }`);
      const s = parseScenario(text, `${kind}.yaml`);
      expect(resolveSystem(s).ok).toBe(true);
      const gpuSteps = s.threads.flatMap((t) => t.steps).filter((st) => st.kind === 'svm.set');
      expect(gpuSteps.length % gpus).toBe(0);
    }
  });

  it('is deterministic in its seed and takes parameters', () => {
    const a = workloadScenario('allocator-churn', { seed: 4, ops: 10 });
    expect(workloadScenario('allocator-churn', { seed: 4, ops: 10 })).toBe(a);
    expect(workloadScenario('allocator-churn', { seed: 5, ops: 10 })).not.toBe(a);
    expect(() => workloadScenario('allocator-churn', { colour: 1 })).toThrow(
      /has no parameter 'colour'/,
    );
    expect(() => workloadScenario('nope')).toThrow(/unknown workload 'nope'/);
  });

  it('expands a workload: key in a scenario file, and reports bad ones with positions', () => {
    const s = parseScenario(
      'name: w\nsystem: { gpus: 2 }\nworkload: { kind: streaming, mib: 2, passes: 1 }\n',
      'w.yaml',
    );
    const kinds = s.threads[0]?.steps.map((x) => x.kind) ?? [];
    expect(kinds.filter((k) => k === 'svm.set')).toHaveLength(2);
    expect(kinds).toContain('reclaim');
    const bad = (text: string): string[] => {
      try {
        parseScenario(text, 'b.yaml');
      } catch (e) {
        if (e instanceof ScenarioError)
          return e.issues.map((i) => `${i.line}:${i.col} ${i.message}`);
      }
      return [];
    };
    expect(bad('name: w\nworkload: { kind: streamy }\n')).toEqual([
      expect.stringMatching(/^2:19 workload.kind: unknown workload 'streamy'/),
    ]);
    expect(bad('name: w\nworkload: { kind: streaming, mb: 2 }\n')).toEqual([
      expect.stringMatching(/^2:34 workload.mb: workload streaming has no parameter 'mb'/),
    ]);
    expect(bad('name: w\nworkload: { kind: streaming }\nsteps: []\n')).toEqual([
      "2:11 workload: a file has either 'workload' or 'steps'/'threads'",
    ]);
  });
});

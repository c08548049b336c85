/**
 * Scheduler throughput: context switches per second (issue 2 target: at least 2 million on
 * the 2-core machine). A switch is a decision that resumes a different task than the one that
 * ran before. Measured with tinybench over a fixed workload.
 */
import { Bench } from 'tinybench';
import { PREEMPT, Sim, type Co, type PolicyName } from '../src/sim/index.js';
import type { BenchResult } from './types.js';

const TASKS = 4;
const STEPS = 50_000;

/** TASKS tasks each yield STEPS times; with costs, timed alternates them at every yield. */
function workload(policy: PolicyName): { switches: number; decisions: number } {
  const sim = new Sim({ policy, seed: 7 });
  let switches = 0;
  let last = -1;
  for (let i = 0; i < TASKS; i++) {
    sim.spawn(`t${i}`, function* (): Co {
      for (let s = 0; s < STEPS; s++) {
        const me = i;
        if (me !== last) {
          switches++;
          last = me;
        }
        sim.charge(10);
        yield PREEMPT;
      }
    });
  }
  sim.run();
  return { switches, decisions: sim.decisions };
}

export async function run(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  for (const policy of ['timed', 'random', 'pct'] as const) {
    const { switches, decisions } = workload(policy);
    const bench = new Bench({ iterations: 5, warmupIterations: 1 });
    bench.add(policy, () => {
      workload(policy);
    });
    await bench.run();
    const task = bench.tasks[0];
    const meanMs = task?.result.state === 'completed' ? task.result.latency.mean : NaN;
    const seconds = meanMs / 1000;
    if (policy !== 'pct') {
      out.push({
        name: `context switches/s (${policy}, ${TASKS} tasks)`,
        value: switches / seconds,
        unit: 'switches/s',
        target: 'at least 2,000,000',
        note: `${switches} switches in ${meanMs.toFixed(1)} ms`,
      });
    }
    out.push({
      name: `scheduling decisions/s (${policy}, ${TASKS} tasks)`,
      value: decisions / seconds,
      unit: 'decisions/s',
      note: `${decisions} decisions, ${switches} switches`,
    });
  }
  return out;
}

/**
 * Parallel exploration of random and pct schedules on worker threads. Workers take
 * schedule indices in strides; when one fails, every worker stops past it, and the
 * finding is the lowest failing index once all lower indices have reported, so the result
 * does not depend on the number of jobs. The finding is then run again here in full.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { loadScenario } from '../scenario/loader.js';
import { runScenario } from '../scenario/runner.js';
import {
  estimateSteps,
  scheduleOptions,
  type ExploreOptions,
  type ExploreResult,
  type Finding,
} from './explore.js';
import type { WorkerInput, WorkerReport } from './worker.js';

export function workerScript(): string {
  const path = fileURLToPath(new URL('./worker.js', import.meta.url));
  if (!existsSync(path))
    throw new Error('parallel exploration needs the built program (npm run build)');
  return path;
}

export async function exploreParallel(
  file: string,
  o: ExploreOptions,
  jobs: number,
): Promise<ExploreResult> {
  if (o.policy === 'dfs') throw new Error('dfs explores on one job');
  const s = loadScenario(file);
  const steps = o.policy === 'pct' ? estimateSteps(s, o.overrides) : 0;
  const max = o.schedules ?? 1000;
  const { shouldStop: _s, onProgress: _p, ...options } = o;
  const reports = new Map<number, WorkerReport>();
  let firstFail = Infinity;
  const failures: number[] = [];
  const workers: Worker[] = [];
  await new Promise<void>((resolve, reject) => {
    let running = jobs;
    for (let w = 0; w < jobs; w++) {
      const input: WorkerInput = { file, options, steps, first: w, stride: jobs, max };
      const worker = new Worker(workerScript(), { workerData: input });
      workers.push(worker);
      worker.on('message', (r: WorkerReport) => {
        reports.set(r.index, r);
        if (!r.pass) {
          failures.push(r.index);
          if (!o.all && r.index < firstFail) {
            firstFail = r.index;
            for (const x of workers) x.postMessage({ stopAfter: r.index });
          }
        }
        o.onProgress?.(reports.size, failures.length);
        if (o.shouldStop?.()) for (const x of workers) x.postMessage({ stopAfter: 0 });
      });
      worker.on('error', reject);
      worker.on('exit', () => {
        if (--running === 0) resolve();
      });
    }
  });
  // Only the schedules one job would have run count (workers may have run past the finding).
  const last = o.all || firstFail === Infinity ? Infinity : firstFail;
  const outcomes = new Map<string, number>();
  for (const r of reports.values()) {
    if (r.index <= last) outcomes.set(r.signature, (outcomes.get(r.signature) ?? 0) + 1);
  }
  const wanted = failures.filter((i) => o.all || i === firstFail).sort((a, b) => a - b);
  const findings: Finding[] = wanted.map((i) => {
    const opts = scheduleOptions(o, i, steps);
    return { schedule: i, seed: opts.overrides?.seed ?? 0, result: runScenario(s, opts) };
  });
  const explored = o.all
    ? reports.size
    : Math.min(reports.size, firstFail === Infinity ? max : firstFail + 1);
  return { explored, findings, complete: false, outcomes, steps };
}

/**
 * Worker thread of a parallel exploration: runs schedules `first`, `first + stride`, ... of
 * one scenario file and reports each result's outcome, until told where to stop.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { loadScenario } from '../scenario/loader.js';
import { runScenario } from '../scenario/runner.js';
import { scheduleOptions, type ExploreOptions } from './explore.js';
import { signature } from './signature.js';

export interface WorkerInput {
  readonly file: string;
  readonly options: Omit<ExploreOptions, 'shouldStop' | 'onProgress'>;
  readonly steps: number;
  readonly first: number;
  readonly stride: number;
  readonly max: number;
}

export interface WorkerReport {
  readonly index: number;
  readonly pass: boolean;
  readonly signature: string;
}

const input = workerData as WorkerInput;
const port = parentPort;
const s = loadScenario(input.file);
let limit = input.max;
for (let i = input.first; i < limit; i += input.stride) {
  const r = runScenario(s, scheduleOptions(input.options, i, input.steps));
  const report: WorkerReport = { index: i, pass: r.pass, signature: signature(r) };
  port?.postMessage(report);
  // Stop messages (the first failing index, or 0 for a budget that ran out) arrive here.
  for (let m = port && receiveMessageOnPort(port); m; m = port && receiveMessageOnPort(port)) {
    limit = Math.min(limit, (m.message as { stopAfter: number }).stopAfter);
  }
}
port?.close();

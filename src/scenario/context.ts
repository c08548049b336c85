/**
 * What every step executor gets: the world, the oracle, the process and thread it runs in,
 * and the helpers that turn a step's byte range into pages.
 */
import type { Oracle } from './oracle.js';
import type { Process, World } from './world.js';
import { StepFailed } from './world.js';
import type { Step } from './loader.js';
import type { Co } from '../sim/task.js';
import type { WaitQueue } from '../sim/wait.js';

export interface Barrier {
  /** Threads that name it (in the whole file). */
  readonly parties: number;
  arrived: number;
  readonly wq: WaitQueue;
}

export interface RunState {
  readonly world: World;
  readonly oracle: Oracle;
  readonly barriers: Map<string, Barrier>;
  /** Runs a list of steps as a thread of `proc` (used by fork for the child). */
  readonly runThread: (proc: Process, name: string, steps: readonly Step[]) => void;
}

export interface StepCtx extends RunState {
  readonly proc: Process;
  readonly thread: string;
}

export type Executor<S extends Step> = (ctx: StepCtx, step: S) => Co<number>;

/** The pages a byte range [at, at + size) touches: every page it overlaps. */
export function pagesOf(at: bigint, size: bigint): { start: number; npages: number } {
  if (size <= 0n) throw new StepFailed('a size above 0', String(size));
  const start = at >> 12n;
  const end = (at + size + 4095n) >> 12n;
  return { start: Number(start), npages: Number(end - start) };
}

/** Format a value list for a failure message, shortened. */
export function showValues(vals: ArrayLike<number>, max = 8): string {
  const a = Array.from(
    { length: Math.min(vals.length, max) },
    (_, i) => `0x${(vals[i] ?? 0).toString(16)}`,
  );
  return `[${a.join(', ')}${vals.length > max ? `, ... (${vals.length} pages)` : ''}]`;
}

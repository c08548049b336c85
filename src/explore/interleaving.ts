/**
 * A readable interleaving of a run: the trace events before the failure, one line each,
 * with the virtual time, the task and what it did, and a marker where the CPU switched tasks.
 */
import type { TraceEvent } from '../sim/trace.js';

function fields(e: TraceEvent): string {
  const skip = new Set(['t', 'task', 'kind']);
  return Object.entries(e)
    .filter(([k]) => !skip.has(k))
    .map(
      ([k, v]) =>
        `${k}=${typeof v === 'number' && k !== 'index' && v > 4096 ? `0x${v.toString(16)}` : String(v)}`,
    )
    .join(' ');
}

function time(ns: number): string {
  return `${(ns / 1000).toFixed(3).padStart(12)} us`;
}

/** The last `n` events as lines ("->" marks a switch to another task). */
export function formatInterleaving(events: readonly TraceEvent[], n = 40): string[] {
  const tail = events.slice(-n);
  const width = Math.max(8, ...tail.map((e) => e.task.length));
  let prev = '';
  return tail.map((e) => {
    const mark = e.task !== prev ? '->' : '  ';
    prev = e.task;
    return `${time(e.t)} ${mark} ${e.task.padEnd(width)}  ${e.kind} ${fields(e)}`.trimEnd();
  });
}

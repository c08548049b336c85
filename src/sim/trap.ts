/**
 * Traps: the ways a run can stop on a finding (SCENARIO-FORMAT.md "Trap kinds").
 * Model code raises them with {@link trap}; the scheduler catches the throw, stops the run and
 * attaches the replay string and the trace tail, so every trap is reproducible.
 */
import type { TraceEvent } from './trace.js';

export const TRAP_KINDS = [
  'stale-gpu-mapping',
  'fatal-gpu-fault',
  'data-mismatch',
  'lock-order',
  'reclaim-lock',
  'deadlock',
  'sleep-in-atomic',
  'use-after-free',
  'leak',
  'livelock',
  'stuck',
  'bug',
] as const;

export type TrapKind = (typeof TRAP_KINDS)[number];

export function isTrapKind(s: string): s is TrapKind {
  return (TRAP_KINDS as readonly string[]).includes(s);
}

export class Trap extends Error {
  override readonly name = 'Trap';
  /** Replay string of the schedule up to the trap (filled in by the scheduler). */
  replay = '';
  /** The last trace events before the trap (filled in by the scheduler). */
  traceTail: TraceEvent[] = [];
  /** Virtual time of the trap in ns (filled in by the scheduler). */
  time = 0;
  /** Name of the task that trapped, when one was running. */
  task = '';

  constructor(
    readonly kind: TrapKind,
    message: string,
    /** Structured details: the lock cycle, the wait-for graph, the page, ... */
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(`${kind}: ${message}`);
  }
}

/** Raise a trap: stops the run. */
export function trap(kind: TrapKind, message: string, details?: Record<string, unknown>): never {
  throw new Trap(kind, message, details);
}

/** BUG_ON(cond): the kernel's assertion, a `bug` trap when `cond` holds. */
export function BUG_ON(cond: boolean, what: string): void {
  if (cond) trap('bug', `BUG_ON(${what})`);
}

/**
 * WARN_ON(cond). Linux only warns; svmsim treats a warning as a finding and traps `bug`,
 * SIM: a WARN in a model run always means the model or the design under study is wrong.
 */
export function WARN_ON(cond: boolean, what: string): boolean {
  if (cond) trap('bug', `WARN_ON(${what})`);
  return cond;
}

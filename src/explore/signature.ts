import type { RunResult } from '../scenario/runner.js';

/** A run's outcome: its step results in order, and its trap. */
export function signature(r: RunResult): string {
  return r.outcomes.join('; ') + (r.trap ? ` | trap ${r.trap.kind}` : '');
}

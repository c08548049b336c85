/**
 * src/explore: schedule exploration, replay and minimisation.
 *
 * Overview
 * - explore.ts runs one scenario under many schedules: `random` and `pct` schedule i uses
 *   seed + i (so the first finding does not depend on the number of jobs), `dfs` (dfs.ts)
 *   enumerates every schedule within a preemption bound, CHESS-style, and says when it has
 *   covered them all. Each run is the runner's (src/scenario), oracle included.
 * - parallel.ts spreads random/pct schedules over worker threads (worker.ts) and keeps the
 *   lowest failing schedule index once every lower index has reported.
 * - minimise.ts shrinks a finding: ddmin over the replay string's deviations (lenient
 *   replay), then step removal, each kept only while the same failure occurs.
 * - interleaving.ts prints the trace events before a failure, task switches marked.
 *
 * Known limits
 * - A `--time` budget stops between schedules, so the schedules run then depend on the
 *   machine's speed; the finding of a schedule count does not.
 * - dfs runs on one job; the replay of a finding is exact, the minimised one lenient.
 */
export * from './dfs.js';
export * from './explore.js';
export * from './interleaving.js';
export * from './minimise.js';
export * from './parallel.js';
export * from './signature.js';

/**
 * src/report: design comparison and reports.
 *
 * Overview
 * - compare.ts runs the same workload on every design, GPU count and XNACK mode (timed
 *   policy) and derives the figures from counters and the cost table: virtual time, GPU
 *   stall, time in the notifier, mmap_lock hold time, worker time, migration bytes and time.
 * - questions.ts answers the cover letter's three design questions from those rows.
 * - html.ts renders one self-contained offline page (chart.js inlined) with the answers,
 *   charts and tables per workload, the scenario text and the commands that reproduce each
 *   figure; text.ts renders the same rows as a terminal table.
 *
 * Known limits
 * - Figures are virtual time from the cost table (costs-and-peers.md starting values), not
 *   measurements of hardware; the report says so and `svmsim costs` lists every source.
 */
export * from './compare.js';
export * from './html.js';
export * from './questions.js';
export * from './text.js';

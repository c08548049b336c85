/**
 * src/scenario: scenario files, the runner and the oracle.
 *
 * Overview
 * - loader.ts parses YAML/JSON with positions and validates every step (steps.ts, fields.ts,
 *   values.ts); system.ts resolves `system:` against defaults, overrides and the design
 *   registry. Problems come back as ScenarioError with file:line:col, and nothing runs.
 * - runner.ts builds a World (world.ts: scheduler, mm, GPUs, the design's driver, processes)
 *   and runs each thread as a task; executors (exec-*.ts) perform the steps as the system
 *   calls, ioctls and GPU kernels they name. After the last step the runner settles, checks
 *   liveness and `expect`, tears every process down in Linux's exit order and checks that
 *   nothing leaked.
 * - oracle.ts checks coherence at every GPU access, unrecoverable faults with XNACK off,
 *   (shadow.ts) that every read returns the last value written, and (attrs.ts) that GET_ATTR
 *   returns what SET_ATTR stored; after settling, liveness; after exit, that nothing leaked.
 *
 * Conventions (SIM: how the runner maps the format onto the model)
 * - A CPU access that faults (SIGSEGV/SIGBUS in a real process) ends the step with EFAULT, so
 *   a scenario can expect it; the process is not killed.
 * - Mapping a file grows it to cover the mapping (the ftruncate a real test does first).
 * - A fork child exits with code 0 after its last step; `kill` stops a child's threads at
 *   their next step and its GPU queues at once (the mm release that follows would).
 * - The data oracle follows private anonymous memory; shared and file-backed pages are
 *   checked only by the scenario's own expectations.
 *
 * Known limits
 * - The attribute oracle checks only what userspace set explicitly: defaults and what became
 *   of unmapped pages differ by design, so they are left to svm.get expectations.
 */
export * from './loader.js';
export * from './oracle.js';
export * from './runner.js';
export * from './system.js';
export * from './world.js';

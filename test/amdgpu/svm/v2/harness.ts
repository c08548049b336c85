/**
 * Test helpers for the rfc-v2 design: scenario runs (files of scenarios/rfc-v2 and inline
 * YAML) with trace access, and a direct machine (World built as the runner builds it, the main
 * process booted) for driving the V2 functions where the scenario format cannot reach.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import '../../../../src/amdgpu/svm/index.js';
import { amdgpu_vm_svm, type amdgpu_svm } from '../../../../src/amdgpu/svm/amdgpu_svm.js';
import { cpu_write_range } from '../../../../src/mm/access.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../../../src/mm/consts.js';
import { do_mmap } from '../../../../src/mm/mmap.js';
import { loadScenario, parseScenario } from '../../../../src/scenario/loader.js';
import { runScenario, type RunOptions, type RunResult } from '../../../../src/scenario/runner.js';
import { resolveSystem } from '../../../../src/scenario/system.js';
import { World, type Process } from '../../../../src/scenario/world.js';
import type { Co } from '../../../../src/sim/task.js';
import type { TraceEvent } from '../../../../src/sim/trace.js';

export const SCENARIO_DIR = join(process.cwd(), 'scenarios', 'rfc-v2');

/** The scenario files of scenarios/rfc-v2, sorted. */
export function v2Files(): string[] {
  return readdirSync(SCENARIO_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(SCENARIO_DIR, f));
}

/** Run a scenario file of scenarios/rfc-v2 (by base name). */
export function runFile(name: string, opts: RunOptions = {}): RunResult {
  return runScenario(loadScenario(join(SCENARIO_DIR, name)), opts);
}

/** Run inline scenario YAML. */
export function runText(text: string, opts: RunOptions = {}): RunResult {
  return runScenario(parseScenario(text, 'test.yaml'), opts);
}

/** The trace of a run made with `trace: true`, as events. */
export function traceOf(r: RunResult): TraceEvent[] {
  if (r.trace === undefined) throw new Error('run without trace: true');
  return r.trace
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as TraceEvent);
}

/** The index of the first event of step `step` (kind) of `thread` beginning. */
export function stepBegin(ev: readonly TraceEvent[], thread: string, index: number): number {
  return ev.findIndex(
    (e) =>
      e.kind === 'scenario.step' &&
      e['thread'] === thread &&
      e['index'] === index &&
      e['phase'] === 'begin',
  );
}

export interface Machine {
  readonly world: World;
  readonly proc: Process;
}

/** A machine for `system` (a YAML flow map) with the main process booted (KFD, compute VMs). */
export function machine(system = '{ design: rfc-v2 }'): Machine {
  const s = parseScenario(`name: t\nsystem: ${system}\nsteps: [settle]\n`, 't.yaml');
  const r = resolveSystem(s);
  if (!r.ok) throw new Error(r.issues.map((i) => i.message).join('\n'));
  const world = new World(r.system, { policy: 'timed', seed: 1, trace: false });
  const proc = world.newProcess('main', null);
  const m = { world, proc };
  run(m, () => world.ensureKfd(proc));
  return m;
}

/** Run `body` as a task to the end of the simulation and return its result. */
export function run<T>(m: Machine, body: () => Co<T>): T {
  const t = m.world.sim.spawn('test', body);
  m.world.sim.run();
  if (!t.done) throw new Error('the test task did not finish');
  return t.result as T;
}

/** Anonymous private read-write memory of `npages`, `align`-page aligned: its first page. */
export function* mmapAnon(m: Machine, npages: number, align = 512): Co<number> {
  const prot = PROT_READ | PROT_WRITE;
  const r = yield* do_mmap(m.proc.mm, { npages, prot, flags: MAP_PRIVATE | MAP_ANONYMOUS, align });
  if (r < 0) throw new Error(`mmap: ${r}`);
  return r;
}

/** CPU writes: page i gets value(i). */
export function* fill(m: Machine, start: number, npages: number, value: (i: number) => number): Co {
  const r = yield* cpu_write_range(m.proc.mm, start, npages, value);
  if (r) throw new Error(`cpu write: ${r}`);
}

/** The amdgpu_svm instance of the main process on `gpu`. */
export function svmOf(m: Machine, gpu = 'gpu0'): amdgpu_svm {
  const f = m.world.device(gpu).files.get(m.proc.mm);
  const s = f ? amdgpu_vm_svm(f.vm) : null;
  if (!s) throw new Error(`no SVM instance on ${gpu}`);
  return s;
}

/** A counter of the machine's simulation (`name@gpu0` reads one GPU's share). */
export function counter(m: Machine, name: string): number {
  return m.world.sim.counters.get(name);
}

/**
 * A direct harness for the SVM driver's unit tests: a machine built as the scenario runner
 * builds it (World: scheduler, mm, GPUs, the design's driver installed), one KFD process
 * with a compute VM per GPU, and helpers that run model code in a task, issue the SVM ioctl
 * and look at page tables and instances. Tests drive the driver's functions directly where
 * the scenario format cannot reach them.
 */
import '../../../src/amdgpu/svm/index.js';
import type { amdgpu_fpriv } from '../../../src/amdgpu/amdgpu.js';
import { amdgpu_vm_count_mapped, amdgpu_vm_pte_flags } from '../../../src/amdgpu/vm_pt.js';
import { amdgpu_vm_svm, type amdgpu_svm } from '../../../src/amdgpu/svm/amdgpu_svm.js';
import {
  UserMemory,
  encode_attrs,
  encode_gem_svm,
  decode_attrs,
  type drm_amdgpu_svm_attribute,
} from '../../../src/amdgpu/svm/uapi.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../../src/mm/consts.js';
import { cpu_write_range } from '../../../src/mm/access.js';
import { do_mmap } from '../../../src/mm/mmap.js';
import { parseScenario } from '../../../src/scenario/loader.js';
import { Oracle } from '../../../src/scenario/oracle.js';
import { resolveSystem } from '../../../src/scenario/system.js';
import { World, type Process } from '../../../src/scenario/world.js';
import { teardownProcess } from '../../../src/scenario/exec-process.js';
import type { Co } from '../../../src/sim/task.js';
import { settle_workqueues } from '../../../src/sim/workqueue.js';
import type { TraceEvent } from '../../../src/sim/trace.js';

export interface Machine {
  readonly world: World;
  readonly oracle: Oracle;
  readonly user: UserMemory;
  proc: Process;
}

/** A machine for `system` (a YAML flow map), with the main process booted. */
export function machine(system = '{ design: rfc-v1, xnack: off }', trace = false): Machine {
  const s = parseScenario(`name: t\nsystem: ${system}\nsteps: [settle]\n`, 't.yaml');
  const r = resolveSystem(s);
  if (!r.ok) throw new Error(r.issues.map((i) => i.message).join('\n'));
  const world = new World(r.system, { policy: r.system.policy, seed: r.system.seed, trace });
  const oracle = new Oracle(world);
  const proc = world.newProcess('main', null);
  const m: Machine = { world, oracle, user: new UserMemory(), proc };
  run(m, () => world.ensureKfd(proc));
  return m;
}

/** Run `body` as a task to completion and return its result. */
export function run<T>(m: Machine, body: () => Co<T>): T {
  const t = m.world.sim.spawn('test', body);
  m.world.sim.run();
  if (!t.done) throw new Error('the test task did not finish');
  return t.result as T;
}

/** Anonymous private memory of `npages`, aligned to `align` pages; the start page. */
export function* mmap(
  m: Machine,
  npages: number,
  align = 512,
  prot = PROT_READ | PROT_WRITE,
): Co<number> {
  const r = yield* do_mmap(m.proc.mm, { npages, prot, flags: MAP_PRIVATE | MAP_ANONYMOUS, align });
  if (r < 0) throw new Error(`mmap: ${r}`);
  return r;
}

/** CPU writes: page i gets value(i). */
export function* fill(m: Machine, start: number, npages: number, value: (i: number) => number): Co {
  const r = yield* cpu_write_range(m.proc.mm, start, npages, value);
  if (r) throw new Error(`cpu write: ${r}`);
}

export function fpriv(m: Machine, gpu = 'gpu0'): amdgpu_fpriv {
  const f = m.world.device(gpu).files.get(m.proc.mm);
  if (!f) throw new Error(`no render node of ${gpu}`);
  return f;
}

export function svmOf(m: Machine, gpu = 'gpu0'): amdgpu_svm {
  const s = amdgpu_vm_svm(fpriv(m, gpu).vm);
  if (!s) throw new Error(`no SVM instance on ${gpu}`);
  return s;
}

export interface IoctlArgs {
  op: number;
  start: bigint;
  size: bigint;
  attrs?: drm_amdgpu_svm_attribute[];
  nattr?: number;
  /** Pass this attrs_ptr instead of the buffer's address. */
  ptr?: bigint;
  gpu?: string;
  user?: UserMemory;
  file?: amdgpu_fpriv;
}

/** DRM_IOCTL_AMDGPU_GEM_SVM through the installed driver: the errno and what GET wrote. */
export function* ioctl(
  m: Machine,
  a: IoctlArgs,
): Co<{ r: number; out: drm_amdgpu_svm_attribute[] }> {
  const user = a.user ?? m.user;
  const attrs = a.attrs ?? [];
  const buf = encode_attrs(attrs);
  const at = attrs.length ? user.alloc(buf) : 0n;
  const arg = encode_gem_svm({
    start_addr: a.start,
    size: a.size,
    operation: a.op,
    nattr: a.nattr ?? attrs.length,
    attrs_ptr: a.ptr ?? at,
  });
  const driver = m.world.design.driver;
  if (!driver) throw new Error('no driver');
  const r = yield* driver.ioctl(a.file ?? fpriv(m, a.gpu), arg, user);
  if (at) user.free(at);
  return { r, out: decode_attrs(buf, attrs.length) };
}

/** SET_ATTR over pages [start, start + npages). */
export function* setAttr(
  m: Machine,
  start: number,
  npages: number,
  attrs: drm_amdgpu_svm_attribute[],
  gpu = 'gpu0',
): Co<number> {
  const { r } = yield* ioctl(m, {
    op: 0,
    start: BigInt(start) << 12n,
    size: BigInt(npages) << 12n,
    attrs,
    gpu,
  });
  return r;
}

/** Pages of [start, start + npages) with a valid PTE on `gpu`. */
export function mapped(m: Machine, start: number, npages: number, gpu = 'gpu0'): number {
  return amdgpu_vm_count_mapped(fpriv(m, gpu).vm, start, npages);
}

export function pteFlags(m: Machine, page: number, gpu = 'gpu0'): number {
  return amdgpu_vm_pte_flags(fpriv(m, gpu).vm, page);
}

export function counter(m: Machine, name: string): number {
  return m.world.sim.counters.get(name);
}

export function* settle(): Co {
  yield* settle_workqueues();
}

/** Exit the process (Linux's order: mm first, then the files) and settle. */
export function exit(m: Machine): void {
  run(m, function* () {
    m.proc.exitStatus = 0;
    yield* teardownProcess(m.world, m.proc);
    yield* settle_workqueues();
  });
}

/** The oracle's teardown check (a `leak` trap when something is left). */
export function checkTeardown(m: Machine): void {
  run(m, function* () {
    m.oracle.checkTeardown();
    yield* [];
  });
}

export function exitAndCheck(m: Machine): void {
  exit(m);
  checkTeardown(m);
}

/** Trace events of `kind` (machine built with trace = true). */
export function events(m: Machine, kind?: string): TraceEvent[] {
  const all = m.world.sim.trace.events();
  return kind ? all.filter((e) => e.kind === kind) : [...all];
}

/**
 * rfc-v1 driver benchmarks (issue 7), each on a fresh machine built as the scenario runner
 * builds it:
 *  - XNACK off: SET_ATTR ACCESS over 16 GiB of touched memory (the eager map of 8192 2 MiB
 *    ranges: hmm_range_fault, DMA map, PTE writes, TLB flushes);
 *  - XNACK on: a GPU read sweep over 4 GiB, every page a retry fault that the V1 handler
 *    maps as a 4 KiB range (1M faults).
 * Wall time (target under 10 s each), the virtual time it models, and memory: the peak
 * resident set of the process (target under 1 GiB), and the JS heap plus typed arrays grown
 * during the run (after a full GC, machine still alive). Each benchmark runs in a child
 * process of its own so that the figures do not mix.
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import '../src/amdgpu/svm/index.js';
import { amdgpu_engine_dispatch, type KernelResult } from '../src/amdgpu/engine.js';
import { amdgpu_vm_count_mapped } from '../src/amdgpu/vm_pt.js';
import {
  AMDGPU_SVM_ATTR,
  AMDGPU_SVM_OP_SET_ATTR,
  UserMemory,
  encode_attrs,
  encode_gem_svm,
} from '../src/amdgpu/svm/uapi.js';
import {
  MAP_ANONYMOUS,
  MAP_POPULATE,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../src/mm/consts.js';
import { do_mmap } from '../src/mm/mmap.js';
import { parseScenario } from '../src/scenario/loader.js';
import { resolveSystem } from '../src/scenario/system.js';
import { World, type Process } from '../src/scenario/world.js';
import type { Co } from '../src/sim/task.js';
import { join } from '../src/sim/wait.js';
import type { BenchResult } from './types.js';

const MiB = 1024 * 1024;
const GiB_PAGES = 262_144;

function gc_fn(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  v8.setFlagsFromString('--expose_gc');
  return vm.runInNewContext('gc') as () => void;
}

function used(gc: () => void): { bytes: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { bytes: m.heapUsed + m.arrayBuffers };
}

function boot(xnack: boolean): { world: World; proc: Process } {
  const text = `name: bench\nsystem: { design: rfc-v1, xnack: ${xnack ? 'on' : 'off'}, ram: 24GiB }\nsteps: [settle]\n`;
  const r = resolveSystem(parseScenario(text, 'bench.yaml'));
  if (!r.ok) throw new Error(r.issues.map((i) => i.message).join('\n'));
  const world = new World(r.system, { policy: 'timed', seed: 1 });
  const proc = world.newProcess('main', null);
  task(world, () => world.ensureKfd(proc));
  return { world, proc };
}

function task<T>(world: World, body: () => Co<T>): T {
  const t = world.sim.spawn('bench', body);
  world.sim.run();
  if (!t.done) throw new Error('bench task did not finish');
  return t.result as T;
}

function* populate(proc: Process, npages: number): Co<number> {
  const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
  const r = yield* do_mmap(proc.mm, { npages, prot: PROT_READ | PROT_WRITE, flags, align: 512 });
  if (r < 0) throw new Error(`mmap: ${r}`);
  return r;
}

interface Measure {
  wall_s: number;
  virtual_ms: number;
  grown_mib: number;
  /** Peak resident set of the process (getrusage maxrss). */
  rss_mib: number;
  note: string;
}

function peak_rss_mib(): number {
  return process.resourceUsage().maxRSS / 1024;
}

function report(name: string, m: Measure): BenchResult[] {
  return [
    {
      name: `${name}: wall time`,
      value: m.wall_s,
      unit: 's',
      target: 'under 10',
      note: `${m.note}; ${m.virtual_ms.toFixed(1)} ms of virtual time`,
    },
    {
      name: `${name}: memory`,
      value: m.rss_mib,
      unit: 'MiB resident',
      target: 'under 1024',
      note: `JS heap + typed arrays grew ${m.grown_mib.toFixed(0)} MiB during the run`,
    },
  ];
}

/** XNACK off: SET_ATTR ACCESS over 16 GiB of populated memory maps everything eagerly. */
function setAttr16GiB(): Measure {
  const gc = gc_fn();
  const before = used(gc);
  const { world, proc } = boot(false);
  const npages = 16 * GiB_PAGES;
  const start = task(world, () => populate(proc, npages));
  const fpriv = world.device('gpu0').files.get(proc.mm);
  const driver = world.design.driver;
  if (!fpriv || !driver) throw new Error('no render node');
  const user = new UserMemory();
  const attrs = encode_attrs([{ type: AMDGPU_SVM_ATTR.ACCESS, value: 0x1000 }]);
  const arg = encode_gem_svm({
    start_addr: BigInt(start) << 12n,
    size: BigInt(npages) << 12n,
    operation: AMDGPU_SVM_OP_SET_ATTR,
    nattr: 1,
    attrs_ptr: user.alloc(attrs),
  });
  const v0 = world.sim.now();
  const t0 = performance.now();
  const r = task(world, () => driver.ioctl(fpriv, arg, user));
  const wall_s = (performance.now() - t0) / 1000;
  const virtual_ms = (world.sim.now() - v0) / 1e6;
  if (r) throw new Error(`SET_ATTR: ${r}`);
  const mapped = amdgpu_vm_count_mapped(fpriv.vm, start, npages);
  if (mapped !== npages) throw new Error(`mapped ${mapped} of ${npages}`);
  const after = used(gc);
  const ranges = world.sim.counters.get('ranges_created');
  return {
    wall_s,
    virtual_ms,
    grown_mib: (after.bytes - before.bytes) / MiB,
    rss_mib: peak_rss_mib(),
    note: `${npages} pages, ${ranges} ranges`,
  };
}

/** XNACK on: one GPU kernel reads 4 GiB; every page faults once and is mapped by V1. */
function sweep4GiB(): Measure {
  const gc = gc_fn();
  const before = used(gc);
  const { world, proc } = boot(true);
  const npages = 4 * GiB_PAGES;
  const start = task(world, () => populate(proc, npages));
  const dev = world.device('gpu0');
  const v0 = world.sim.now();
  const t0 = performance.now();
  const res = task(world, function* (): Co<KernelResult | undefined> {
    const q = yield* world.queueFor(proc, dev, 'compute');
    return yield* join(amdgpu_engine_dispatch(q, { op: 'read', start, npages }));
  });
  const wall_s = (performance.now() - t0) / 1000;
  const virtual_ms = (world.sim.now() - v0) / 1e6;
  if (!res || res.status !== 'completed') throw new Error(`sweep: ${res?.status ?? 'no result'}`);
  const after = used(gc);
  const faults = world.sim.counters.get('svm_fault_handler_entries');
  return {
    wall_s,
    virtual_ms,
    grown_mib: (after.bytes - before.bytes) / MiB,
    rss_mib: peak_rss_mib(),
    note: `${npages} pages, ${faults} faults handled, ${world.sim.counters.get('ranges_created')} ranges`,
  };
}

const BENCHES: Record<string, { name: string; fn: () => Measure }> = {
  setattr: { name: 'rfc-v1 XNACK off: SET_ATTR ACCESS over 16 GiB touched', fn: setAttr16GiB },
  sweep: { name: 'rfc-v1 XNACK on: GPU read sweep over 4 GiB (a fault per page)', fn: sweep4GiB },
};

const SELF = fileURLToPath(import.meta.url);

/** Run one benchmark in a child process (`node svm.js <key>` prints its Measure as JSON). */
function inChild(key: string): Measure {
  const out = execFileSync(process.execPath, ['--expose-gc', SELF, key], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out) as Measure;
}

export async function run(): Promise<BenchResult[]> {
  await Promise.resolve();
  const out: BenchResult[] = [];
  for (const [key, b] of Object.entries(BENCHES)) out.push(...report(b.name, inChild(key)));
  return out;
}

if (process.argv[1] === SELF) {
  const b = BENCHES[process.argv[2] ?? ''];
  if (!b) throw new Error(`usage: node ${SELF} ${Object.keys(BENCHES).join('|')}`);
  process.stdout.write(JSON.stringify(b.fn()));
}

/**
 * The simulated machine a scenario runs on: the scheduler, the mm system with its RAM, the
 * GPUs, the design's SVM driver, and the processes of the scenario with their bound names,
 * KFD state and GPU queues.
 */
import '../amdgpu/svm/index.js';
import { AmdgpuSystem } from '../amdgpu/device.js';
import type { amdgpu_device, amdgpu_vm } from '../amdgpu/amdgpu.js';
import type { kfd_process, queue } from '../amdgpu/kfd_priv.js';
import { kfd_ioctl_set_xnack_mode, kfd_open_process } from '../amdgpu/kfd_process.js';
import { kfd_ioctl_create_queue, kfd_process_notifier_release } from '../amdgpu/kfd_queue.js';
import { mmu_notifier_register } from '../mm/index.js';
import { getDesign, type DesignInfo } from '../amdgpu/svm/designs.js';
import { MmSystem, MmuNotifier } from '../mm/mm_types.js';
import type { MmStruct } from '../mm/mm_types.js';
import { mm_alloc } from '../mm/mm_struct.js';
import { errnoName } from '../sim/errno.js';
import { Sim, type SimOptions } from '../sim/scheduler.js';
import type { Co, Task } from '../sim/task.js';
import { WaitQueue, wake_up_all } from '../sim/wait.js';
import type { ResolvedSystem } from './system.js';
import type { AddrExpr } from './values.js';

/** A step that did not do what the scenario says: reported as the scenario's failure. */
export class StepFailed extends Error {
  override readonly name = 'StepFailed';
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`expected ${expected}, got ${actual}`);
  }
}

export class Process {
  readonly names = new Map<string, bigint>();
  readonly children = new Map<string, Process>();
  /** KFD state, created at start for the first process and on the first GPU step of a child. */
  kfd: kfd_process | null = null;
  /** GPU queues by "gpu/engine". */
  readonly queues = new Map<string, queue>();
  readonly threads: Task[] = [];
  /** Exit status: a code, or a signal name; null while running. */
  exitStatus: number | string | null = null;
  /** Set once teardown has finished. */
  gone = false;
  tearingDown = false;
  /** Threads still running steps. */
  liveThreads = 0;
  /** Woken when the process is signalled, so blocked steps can notice. */
  readonly signalled = new WaitQueue('signal');

  constructor(
    readonly name: string,
    readonly mm: MmStruct,
    readonly parent: Process | null,
  ) {}

  /** Exiting or signalled: threads stop at their next step. */
  get exiting(): boolean {
    return this.exitStatus !== null;
  }

  wake(): void {
    wake_up_all(this.signalled);
  }

  /** An address expression evaluated against the bound names (bytes). */
  addr(a: AddrExpr): bigint {
    let v = 0n;
    for (const t of a.terms) {
      let x: bigint;
      if ('name' in t) {
        const b = this.names.get(t.name);
        if (b === undefined)
          throw new StepFailed(`'${t.name}' to be bound`, `'${t.name}' is not bound yet`);
        x = b;
      } else {
        x = t.bytes;
      }
      v += t.sign > 0 ? x : -x;
    }
    if (v < 0n) throw new StepFailed('a non-negative address', `${a.text} = ${v}`);
    return v;
  }
}

export class World {
  readonly sim: Sim;
  readonly mmsys: MmSystem;
  readonly gpus: AmdgpuSystem;
  readonly design: DesignInfo;
  readonly processes: Process[] = [];
  /** Every GPU kernel task dispatched, for the liveness check. */
  readonly jobs: Task[] = [];
  /** Which process each GPU VM belongs to (for the oracle's access check). */
  readonly vmOwner = new Map<amdgpu_vm, Process>();
  /** Teardown checks of the layers above mm (the driver's ranges, DMA mappings, ...). */
  readonly leakChecks: (() => string[])[] = [];

  constructor(
    readonly config: ResolvedSystem,
    simOptions: SimOptions,
  ) {
    this.sim = new Sim({ ...simOptions, costs: { ...config.costs } });
    this.mmsys = new MmSystem({ ram_pages: Number(config.ram >> 12n) });
    this.gpus = new AmdgpuSystem(
      this.mmsys.phys,
      config.gpus.map((g) => ({ name: g.name, ip: g.ip, vram_pages: Number(g.vram >> 12n) })),
    );
    const design = getDesign(config.design);
    if (!design) throw new Error(`unknown design ${config.design}`);
    this.design = design;
    design.driver?.install({
      amdgpu: this.gpus,
      mm: this.mmsys,
      options: config.options,
      xnack: config.xnack,
      chunkSizes: config.chunkSizes.map((c) => Number(c >> 12n)),
      notifierSize: Number(config.notifierSize >> 12n),
      leakChecks: this.leakChecks,
    });
  }

  newProcess(name: string, parent: Process | null, mm?: MmStruct): Process {
    const p = new Process(
      name,
      mm ?? mm_alloc(this.mmsys, { va_bits: this.config.vaBits, name }),
      parent,
    );
    this.processes.push(p);
    return p;
  }

  device(name: string): amdgpu_device {
    const d = this.gpus.device(name);
    if (!d) throw new StepFailed(`a GPU named ${name}`, 'no such GPU');
    return d;
  }

  /** Frames of system RAM held by anonymous memory (not the page cache). */
  anonFramesInUse(): number {
    return this.mmsys.ram.used - this.mmsys.pagecache.size;
  }

  /**
   * Make `p` a KFD process with a compute VM on every GPU (the scenario's initial state), in
   * the system's XNACK mode.
   */
  *ensureKfd(p: Process): Co<kfd_process> {
    if (p.kfd) return p.kfd;
    const r = yield* kfd_open_process(this.gpus.devices, p.mm);
    if (typeof r === 'number') throw new StepFailed('the process to open the GPUs', errnoName(r));
    p.kfd = r;
    // KFD's mmu notifier: its release (at exit_mmap) destroys the process's queues.
    const kfd = r;
    const mn = new MmuNotifier({ release: () => kfd_process_notifier_release(kfd) }, 'kfd_process');
    const reg = yield* mmu_notifier_register(mn, p.mm);
    if (reg) throw new StepFailed('the KFD mmu notifier to register', errnoName(reg));
    for (const d of this.gpus.devices) {
      const vm = d.files.get(p.mm)?.vm;
      if (vm) this.vmOwner.set(vm, p);
    }
    const x = yield* kfd_ioctl_set_xnack_mode(r, { xnack_enabled: this.config.xnack ? 1 : 0 });
    if (x) throw new StepFailed(`XNACK ${this.config.xnack ? 'on' : 'off'}`, errnoName(x));
    return r;
  }

  /** The process's live queue of `engine` on `dev`, created on first use (or after a fault). */
  *queueFor(p: Process, dev: amdgpu_device, engine: 'compute' | 'sdma'): Co<queue> {
    const key = `${dev.name}/${engine}`;
    const q = p.queues.get(key);
    if (q && !q.destroyed && !q.dead) return q;
    const kfd = yield* this.ensureKfd(p);
    const r = yield* kfd_ioctl_create_queue(kfd, dev, engine);
    if (typeof r === 'number')
      throw new StepFailed(`a ${engine} queue on ${dev.name}`, errnoName(r));
    p.queues.set(key, r);
    return r;
  }
}

/** Shared set-up for the GPU model tests: a simulation, RAM, GPUs, a KFD process. */
import { PhysMem, type PhysRegion } from '../../src/mm/phys.js';
import { Sim, type Co } from '../../src/sim/index.js';
import {
  AMDGPU_PTE_READABLE,
  AMDGPU_PTE_SNOOPED,
  AMDGPU_PTE_SYSTEM,
  AMDGPU_PTE_VALID,
  AMDGPU_PTE_WRITEABLE,
  AmdgpuSystem,
  amdgpu_vm_lock_pd,
  amdgpu_vm_unlock_pd,
  amdgpu_vm_update_pdes,
  amdgpu_vm_update_range,
  kfd_ioctl_create_queue,
  kfd_ioctl_set_xnack_mode,
  kfd_open_process,
  type AmdgpuDeviceOptions,
  type amdgpu_device,
  type amdgpu_vm,
  type kfd_process,
  type queue,
} from '../../src/amdgpu/index.js';

export const RW =
  AMDGPU_PTE_VALID |
  AMDGPU_PTE_SYSTEM |
  AMDGPU_PTE_SNOOPED |
  AMDGPU_PTE_READABLE |
  AMDGPU_PTE_WRITEABLE;
export const RO = RW & ~AMDGPU_PTE_WRITEABLE;

export interface World {
  readonly sim: Sim;
  readonly phys: PhysMem;
  readonly ram: PhysRegion;
  readonly sys: AmdgpuSystem;
  readonly gpu0: amdgpu_device;
}

export function makeWorld(
  gpus: number | readonly AmdgpuDeviceOptions[] = 1,
  opts: { trace?: boolean } = {},
): World {
  const sim = new Sim({ trace: opts.trace ?? false });
  const phys = new PhysMem();
  const ram = phys.addRegion('ram', 1 << 20, 'system');
  const sys = new AmdgpuSystem(phys, gpus);
  return { sim, phys, ram, sys, gpu0: sys.devices[0] as amdgpu_device };
}

/** Run `body` as the task 'main' to the end of the simulation and return its result. */
export function runMain<T>(w: World, body: () => Co<T>): T {
  const t = w.sim.spawn('main', body);
  w.sim.run();
  if (!t.done) throw new Error(`main did not finish (${t.waitingOn?.describe() ?? '?'})`);
  return t.result as T;
}

/** A KFD process of a fresh mm on every GPU, with XNACK set as asked. */
export function* openProcess(w: World, xnack: boolean): Co<kfd_process> {
  const p = yield* kfd_open_process(w.sys.devices, {});
  if (typeof p === 'number') throw new Error(`kfd_open_process: ${p}`);
  const r = yield* kfd_ioctl_set_xnack_mode(p, { xnack_enabled: xnack ? 1 : 0 });
  if (r) throw new Error(`set_xnack_mode: ${r}`);
  return p;
}

export function vmOf(p: kfd_process, gpu: amdgpu_device): amdgpu_vm {
  const vm = p.pdds.find((d) => d.dev === gpu)?.drm_priv?.vm;
  if (!vm) throw new Error(`no VM on ${gpu.name}`);
  return vm;
}

export function* createQueue(
  p: kfd_process,
  gpu: amdgpu_device,
  engine: 'compute' | 'sdma' = 'compute',
): Co<queue> {
  const q = yield* kfd_ioctl_create_queue(p, gpu, engine);
  if (typeof q === 'number') throw new Error(`create_queue: ${q}`);
  return q;
}

/** Map pages start.. to `pfns` the way a driver does: PD lock, update, PDEs, unlock. */
export function* mapPages(
  gpu: amdgpu_device,
  vm: amdgpu_vm,
  start: number,
  pfns: readonly number[],
  flags = RW,
  flush = false,
): Co<number> {
  yield* amdgpu_vm_lock_pd(vm);
  let r = yield* amdgpu_vm_update_range(
    gpu,
    vm,
    false,
    false,
    flush,
    true,
    null,
    start,
    start + pfns.length - 1,
    flags,
    0,
    0,
    null,
    pfns,
    null,
  );
  if (!r) r = yield* amdgpu_vm_update_pdes(gpu, vm, false);
  amdgpu_vm_unlock_pd(vm);
  return r;
}

/** Clear PTEs as an MMU notifier does: unlocked, with or without the TLB flush. */
export function* clearPages(
  gpu: amdgpu_device,
  vm: amdgpu_vm,
  start: number,
  npages: number,
  flush: boolean,
): Co<number> {
  return yield* amdgpu_vm_update_range(
    gpu,
    vm,
    false,
    true,
    flush,
    false,
    null,
    start,
    start + npages - 1,
    0,
    0,
    0,
    null,
    null,
    null,
  );
}

/** Allocate system frames holding the given values. */
export function frames(w: World, values: readonly number[]): number[] {
  return values.map((v) => w.phys.alloc(w.ram, v));
}

/** Run `body` with the VM's page directory locked. */
export function* withPd(vm: amdgpu_vm, body: () => Co): Co {
  yield* amdgpu_vm_lock_pd(vm);
  yield* body();
  amdgpu_vm_unlock_pd(vm);
}

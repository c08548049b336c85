/**
 * KFD processes (kfd_process.c, kfd_chardev.c): one per mm, with a device entry per GPU, the
 * compute VM of each GPU (from the process's render-node file) and the XNACK mode.
 */
import { EBUSY, EINVAL, ENODEV, EPERM } from '../sim/errno.js';
import { kref_get, kref_put } from '../sim/kref.js';
import { mutex_lock, mutex_unlock } from '../sim/locks.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import type { amdgpu_device, amdgpu_fpriv } from './amdgpu.js';
import { amdgpu_driver_open_kms } from './device.js';
import { IP_VERSION, kfd_support_xnack_per_process } from './ip.js';
import { kfd_process, kfd_process_device } from './kfd_priv.js';
import { amdgpu_vm_make_compute } from './vm.js';

/**
 * kfd_processes_table: processes by mm. A WeakMap on the mm object, so each simulation's mms
 * find only their own processes.
 */
const kfd_processes_table = new WeakMap<object, kfd_process>();

/**
 * kfd_process_xnack_mode(p, supported): can (supported=true) or does by default
 * (supported=false) the process run with retry faults? Not on GC 10.1.1 and later (no shader
 * preemption during faults); GPUs with a per-process mode are skipped when asking whether it
 * can; otherwise a GPU booted with noretry forbids it.
 */
export function kfd_process_xnack_mode(p: kfd_process, supported: boolean): boolean {
  for (const pdd of p.pdds) {
    const dev = pdd.dev;
    if (dev.ip.gc >= IP_VERSION(10, 1, 1)) return false;
    if (supported && kfd_support_xnack_per_process(dev.ip)) continue;
    if (dev.gmc.noretry) return false;
  }
  return true;
}

/**
 * kfd_create_process (create_process): the process of `mm` with a device entry for every GPU,
 * XNACK at its default; the existing one when `mm` already has a process.
 */
export function kfd_create_process(mm: object, devices: readonly amdgpu_device[]): kfd_process {
  const have = kfd_processes_table.get(mm);
  if (have && !have.released) return have;
  const p = new kfd_process(mm);
  for (const dev of devices) p.pdds.push(new kfd_process_device(dev, p));
  p.xnack_enabled = kfd_process_xnack_mode(p, false);
  kfd_processes_table.set(mm, p);
  return p;
}

/** kfd_lookup_process_by_mm: the live process of `mm` with a reference taken, or null. */
export function kfd_lookup_process_by_mm(mm: object): kfd_process | null {
  const p = kfd_processes_table.get(mm);
  if (!p || p.released) return null;
  kref_get(p.ref);
  return p;
}

/** kfd_unref_process. */
export function kfd_unref_process(p: kfd_process): void {
  kref_put(p.ref, () => undefined);
}

/** Forget the mm -> process link (kfd_process_notifier_release's hash_del_rcu). */
export function kfd_process_table_remove(p: kfd_process): void {
  if (kfd_processes_table.get(p.mm) === p) kfd_processes_table.delete(p.mm);
}

/** kfd_get_process_device_data: the process's entry for GPU `dev`. */
export function kfd_get_process_device_data(
  p: kfd_process,
  dev: amdgpu_device,
): kfd_process_device | null {
  return p.pdds.find((d) => d.dev === dev) ?? null;
}

/**
 * kfd_process_device_init_vm: KFD takes the VM of the process's render-node file and makes it
 * a compute VM (amdgpu_amdkfd_gpuvm_acquire_process_vm -> amdgpu_vm_make_compute, where the
 * RFC creates the SVM instance). p->mutex held.
 */
export function* kfd_process_device_init_vm(
  pdd: kfd_process_device,
  fpriv: amdgpu_fpriv,
): Co<number> {
  if (pdd.drm_priv) return -EBUSY;
  if (fpriv.adev !== pdd.dev || fpriv.mm !== pdd.process.mm) return -EINVAL;
  const r = yield* amdgpu_vm_make_compute(pdd.dev, fpriv.vm);
  if (r) return r;
  pdd.drm_priv = fpriv;
  return 0;
}

/** kfd_ioctl_acquire_vm: bind the file's VM to the process's entry for its GPU. */
export function* kfd_ioctl_acquire_vm(p: kfd_process, fpriv: amdgpu_fpriv): Co<number> {
  yield* mutex_lock(p.mutex);
  const pdd = kfd_get_process_device_data(p, fpriv.adev);
  const r = pdd ? yield* kfd_process_device_init_vm(pdd, fpriv) : -ENODEV;
  mutex_unlock(p.mutex);
  return r;
}

/**
 * kfd_ioctl_set_xnack_mode: args.xnack_enabled >= 0 switches the mode (-EBUSY while the
 * process has queues, -EPERM when a GPU cannot retry); < 0 queries it into args.
 * SIM: svm_range_switch_xnack_reserve_mem (KFD's system-memory accounting) is not modelled.
 */
export function* kfd_ioctl_set_xnack_mode(
  p: kfd_process,
  args: { xnack_enabled: number },
): Co<number> {
  let r = 0;
  yield* mutex_lock(p.mutex);
  if (args.xnack_enabled >= 0) {
    const enable = args.xnack_enabled !== 0;
    if (p.pqm.queues.length > 0) {
      r = -EBUSY;
    } else if (p.xnack_enabled !== enable) {
      if (enable && !kfd_process_xnack_mode(p, true)) {
        r = -EPERM;
      } else {
        p.xnack_enabled = enable;
        getSim().trace.emit('kfd.xnack', { enabled: enable });
      }
    }
  } else {
    args.xnack_enabled = p.xnack_enabled ? 1 : 0;
  }
  mutex_unlock(p.mutex);
  return r;
}

/**
 * SIM: the scenario's initial state in one call: the process of `mm` opens every GPU's render
 * node and acquires each VM as a compute VM (so each GPU's SVM instance exists). Returns the
 * process, or the first error.
 */
export function* kfd_open_process(
  devices: readonly amdgpu_device[],
  mm: object,
): Co<kfd_process | number> {
  const p = kfd_create_process(mm, devices);
  for (const dev of devices) {
    const f = dev.files.get(mm) ?? (yield* amdgpu_driver_open_kms(dev, mm));
    if (typeof f === 'number') return f;
    const pdd = kfd_get_process_device_data(p, dev);
    if (pdd?.drm_priv === f) continue;
    const r = yield* kfd_ioctl_acquire_vm(p, f);
    if (r) return r;
  }
  return p;
}

/**
 * PASIDs (amdgpu_ids.c amdgpu_pasid_alloc / amdgpu_pasid_free) and the per-device PASID ->
 * VM xarray (amdgpu_vm.c amdgpu_vm_set_pasid, adev->vm_manager.pasids).
 *
 * PASIDs are global in Linux (all GPUs share the IOMMU's address-space numbering) and are
 * allocated cyclically from 1 (the XArray conversion of 2025-26: "naturally delays reuse", so
 * a late retry fault of a dead process does not reach a new one). SIM: "global" means per
 * simulation, so that every run, and its replay, numbers PASIDs the same way.
 */
import { EINVAL, ENOSPC } from '../sim/errno.js';
import { spin_lock_atomic, spin_unlock } from '../sim/locks.js';
import { getSim, type Sim } from '../sim/scheduler.js';
import { trap } from '../sim/trap.js';
import type { amdgpu_device, amdgpu_vm } from './amdgpu.js';

interface PasidXa {
  readonly used: Set<number>;
  /** amdgpu_pasid_next: where the cyclic search starts. */
  next: number;
}

const pasidState = new WeakMap<Sim, PasidXa>();

function xa(): PasidXa {
  const sim = getSim();
  let s = pasidState.get(sim);
  if (!s) {
    s = { used: new Set(), next: 1 };
    pasidState.set(sim, s);
  }
  return s;
}

/**
 * amdgpu_pasid_alloc(bits): the next free PASID in [1, 2^bits - 1] at or after the last one
 * handed out, wrapping around (xa_alloc_cyclic). -EINVAL for bits 0, -ENOSPC when all are used.
 */
export function amdgpu_pasid_alloc(bits: number): number {
  if (bits === 0) return -EINVAL;
  const s = xa();
  const max = 2 ** Math.min(bits, 31) - 1;
  const start = s.next >= 1 && s.next <= max ? s.next : 1;
  for (let n = 0; n < max; n++) {
    const pasid = ((start - 1 + n) % max) + 1;
    if (!s.used.has(pasid)) {
      s.used.add(pasid);
      s.next = pasid + 1;
      return pasid;
    }
  }
  return -ENOSPC;
}

/** amdgpu_pasid_free. SIM: immediate (amdgpu_pasid_free_delayed waits for the VM's fences). */
export function amdgpu_pasid_free(pasid: number): void {
  if (!xa().used.delete(pasid)) trap('bug', `amdgpu_pasid_free(${pasid}): not allocated`);
}

/** Allocated PASIDs, for teardown checks. */
export function amdgpu_pasids_in_use(): number {
  return xa().used.size;
}

/**
 * amdgpu_vm_set_pasid: publish `vm` under `pasid` in the device's xarray (0 unpublishes).
 * -EBUSY-free in the model: a PASID is unique per simulation, so a slot is never taken.
 */
export function amdgpu_vm_set_pasid(adev: amdgpu_device, vm: amdgpu_vm, pasid: number): number {
  const pasids = adev.vm_manager.pasids;
  if (vm.pasid) {
    if (pasids.get(vm.pasid) === vm) pasids.delete(vm.pasid);
    vm.pasid = 0;
  }
  if (pasid) {
    if (pasids.has(pasid)) trap('bug', `PASID ${pasid} already maps a VM on ${adev.name}`);
    pasids.set(pasid, vm);
    vm.pasid = pasid;
  }
  return 0;
}

/** xa_load(&adev->vm_manager.pasids, pasid): the VM or undefined (RCU-safe, no lock needed). */
export function amdgpu_vm_pasid_load(adev: amdgpu_device, pasid: number): amdgpu_vm | undefined {
  return adev.vm_manager.pasids.get(pasid);
}

/** xa_lock_irqsave(&adev->vm_manager.pasids): for code that must act while the VM is pinned. */
export function amdgpu_pasids_lock(adev: amdgpu_device): void {
  spin_lock_atomic(adev.vm_manager.xa_lock);
}

export function amdgpu_pasids_unlock(adev: amdgpu_device): void {
  spin_unlock(adev.vm_manager.xa_lock);
}

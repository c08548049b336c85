/**
 * amdgpu_vm life cycle and locks (amdgpu_vm.c): init and fini, compute VMs, the root
 * page-directory reservation and the VM eviction lock.
 */
import { ENODEV } from '../sim/errno.js';
import { mutex_lock, mutex_trylock, mutex_unlock } from '../sim/locks.js';
import { memalloc_noreclaim_restore, memalloc_noreclaim_save } from '../sim/reclaim.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import { trap } from '../sim/trap.js';
import type { amdgpu_bo, amdgpu_device, amdgpu_vm } from './amdgpu.js';
import { dma_fence_is_signaled } from './fence.js';
import { amdgpu_vm_set_pasid } from './pasid.js';

/** amdgpu_bo_reserve(bo, no_intr): take the BO's reservation (its dma_resv lock). */
export function* amdgpu_bo_reserve(bo: amdgpu_bo, _no_intr = true): Co<number> {
  yield* mutex_lock(bo.resv);
  return 0;
}

export function amdgpu_bo_unreserve(bo: amdgpu_bo): void {
  mutex_unlock(bo.resv);
}

/**
 * amdgpu_vm_lock_pd(vm, exec, num_fences): lock the root page directory, the "page-directory
 * lock" every locked page-table update needs. SIM: no drm_exec; the caller unlocks with
 * amdgpu_vm_unlock_pd (drm_exec_fini in Linux).
 */
export function* amdgpu_vm_lock_pd(vm: amdgpu_vm): Co<number> {
  if (vm.dead) return -ENODEV;
  return yield* amdgpu_bo_reserve(vm.root.bo, true);
}

export function amdgpu_vm_unlock_pd(vm: amdgpu_vm): void {
  amdgpu_bo_unreserve(vm.root.bo);
}

/**
 * amdgpu_vm_eviction_lock: the lock around page-table updates; it enters noreclaim because
 * MMU notifiers take it (unlocked updates) while reclaim may be running.
 */
export function* amdgpu_vm_eviction_lock(vm: amdgpu_vm): Co {
  yield* mutex_lock(vm.eviction_lock);
  vm.saved_flags = memalloc_noreclaim_save();
}

export function amdgpu_vm_eviction_trylock(vm: amdgpu_vm): boolean {
  if (!mutex_trylock(vm.eviction_lock)) return false;
  vm.saved_flags = memalloc_noreclaim_save();
  return true;
}

export function amdgpu_vm_eviction_unlock(vm: amdgpu_vm): void {
  memalloc_noreclaim_restore(vm.saved_flags);
  mutex_unlock(vm.eviction_lock);
}

/**
 * amdgpu_vm_evictable: TTM asks whether the VM's page tables may be evicted; it may when the
 * eviction lock is free and no unlocked update is in flight, and then page-table updates fail
 * with -EBUSY until amdgpu_vm_validate brings the tables back. SIM: there is no TTM; tests and
 * scenario steps call this to put a VM in that state.
 */
export function amdgpu_vm_evictable(vm: amdgpu_vm): boolean {
  if (!amdgpu_vm_eviction_trylock(vm)) return false;
  if (!dma_fence_is_signaled(vm.last_update)) {
    amdgpu_vm_eviction_unlock(vm);
    return false;
  }
  vm.evicting = true;
  amdgpu_vm_eviction_unlock(vm);
  return true;
}

/** amdgpu_vm_validate: the page tables are back (root reservation held); updates work again. */
export function* amdgpu_vm_validate(vm: amdgpu_vm): Co<number> {
  yield* amdgpu_vm_eviction_lock(vm);
  vm.evicting = false;
  amdgpu_vm_eviction_unlock(vm);
  return 0;
}

/** amdgpu_vm_init(adev, vm, xcp_id, pasid): a fresh VM published under `pasid`. */
export function amdgpu_vm_init(adev: amdgpu_device, vm: amdgpu_vm, pasid: number): number {
  if (vm.adev !== adev) trap('bug', 'amdgpu_vm_init: VM of another device');
  vm.svm = null;
  const r = amdgpu_vm_set_pasid(adev, vm, pasid);
  getSim().trace.emit('amdgpu.vm', { gpu: adev.name, pasid, action: 'init' });
  return r;
}

/**
 * amdgpu_vm_make_compute: turn a graphics VM into a KFD compute VM (CPU page-table updates,
 * is_compute_context). RFC patch 12: then amdgpu_svm_init creates the VM's SVM instance, and
 * its error is returned (the V3 design fails here with -EOPNOTSUPP when XNACK is off).
 */
export function* amdgpu_vm_make_compute(adev: amdgpu_device, vm: amdgpu_vm): Co<number> {
  if (vm.dead) return -ENODEV;
  const r = yield* amdgpu_bo_reserve(vm.root.bo, true);
  if (r) return r;
  vm.use_cpu_for_update = true;
  vm.is_compute_context = true;
  amdgpu_bo_unreserve(vm.root.bo);
  getSim().trace.emit('amdgpu.vm', { gpu: adev.name, pasid: vm.pasid, action: 'make_compute' });
  const init = adev.hooks.svm_ops.init;
  return init ? yield* init(adev, vm) : 0;
}

/**
 * amdgpu_vm_fini: tear the VM down. RFC patch 12: the SVM instance is closed and freed first
 * (amdgpu_svm_close + amdgpu_svm_fini). Then the PASID is unpublished and the page tables go.
 * SIM: the PASID's TLB entries are dropped here; in Linux the next user of the VMID/PASID
 * flushes them when it is assigned.
 */
export function* amdgpu_vm_fini(adev: amdgpu_device, vm: amdgpu_vm): Co {
  if (vm.dead) trap('use-after-free', `amdgpu_vm_fini twice on ${adev.name} pasid ${vm.pasid}`);
  const fini = adev.hooks.svm_ops.fini;
  if (vm.svm && fini) yield* fini(adev, vm);
  const pasid = vm.pasid;
  amdgpu_vm_set_pasid(adev, vm, 0);
  yield* amdgpu_bo_reserve(vm.root.bo, true);
  vm.pt.clear();
  vm.relocated.clear();
  vm.dead = true;
  amdgpu_bo_unreserve(vm.root.bo);
  adev.tlb.vms.delete(pasid);
  getSim().trace.emit('amdgpu.vm', { gpu: adev.name, pasid, action: 'fini' });
}

/**
 * amdgpu_vm_handle_fault (amdgpu_vm.c) with the RFC's hook (patch 12): the retry-fault path
 * from the interrupt handler into the SVM driver.
 */
import type { Co } from '../sim/task.js';
import type { amdgpu_bo, amdgpu_device } from './amdgpu.js';
import { amdgpu_pasids_lock, amdgpu_pasids_unlock, amdgpu_vm_pasid_load } from './pasid.js';
import {
  AMDGPU_PTE_SNOOPED,
  AMDGPU_PTE_SYSTEM,
  AMDGPU_PTE_VALID,
  AMDGPU_VM_NORETRY_FLAGS,
} from './pte.js';
import { amdgpu_bo_reserve, amdgpu_bo_unreserve } from './vm.js';
import { amdgpu_vm_update_pdes, amdgpu_vm_update_range } from './vm_pt.js';

/**
 * amdgpu_vm_handle_fault(adev, pasid, vmid, node_id, addr, ts, write_fault): try to resolve a
 * retry fault at page `addr`; true when handled (the hardware's replay will succeed or fault
 * again). A compute VM with an SVM instance goes to amdgpu_svm_handle_fault, one without to
 * KFD's svm_range_restore_pages (RFC patch 12; has_svm is read under the PASID lock). When
 * that fails, a compute VM gets AMDGPU_VM_NORETRY_FLAGS in the page's PTE, so the replay
 * becomes a no-retry fault: fatal to the queue. Returns false then.
 */
export function* amdgpu_vm_handle_fault(
  adev: amdgpu_device,
  pasid: number,
  vmid: number,
  node_id: number,
  addr: number,
  ts: number,
  write_fault: boolean,
): Co<boolean> {
  let root: amdgpu_bo | null = null;
  let is_compute_context = false;
  let has_svm = false;
  amdgpu_pasids_lock(adev);
  const found = amdgpu_vm_pasid_load(adev, pasid);
  if (found) {
    root = found.root.bo;
    is_compute_context = found.is_compute_context;
    has_svm = found.svm !== null;
  }
  amdgpu_pasids_unlock(adev);
  if (!root) return false;

  if (is_compute_context) {
    const ops = adev.hooks.svm_ops;
    if (has_svm && ops.handle_fault) {
      if ((yield* ops.handle_fault(adev, pasid, addr, ts, write_fault)) === 0) return true;
    } else if (!has_svm && ops.restore_pages) {
      const r = yield* ops.restore_pages(adev, pasid, vmid, node_id, addr, ts, write_fault);
      if (r === 0) return true;
    }
  }

  yield* amdgpu_bo_reserve(root, true);
  // Double check that the VM still exists.
  amdgpu_pasids_lock(adev);
  let vm = amdgpu_vm_pasid_load(adev, pasid);
  if (vm && vm.root.bo !== root) vm = undefined;
  amdgpu_pasids_unlock(adev);
  if (vm) {
    // Compute: an invalid flag combination forces a no-retry fault. Otherwise let the
    // hardware retry silently on the PTE (amdgpu_vm_fault_stop is never "never" here).
    const flags = is_compute_context
      ? AMDGPU_VM_NORETRY_FLAGS
      : AMDGPU_PTE_VALID | AMDGPU_PTE_SNOOPED | AMDGPU_PTE_SYSTEM;
    const r = yield* amdgpu_vm_update_range(
      adev,
      vm,
      true,
      false,
      false,
      false,
      null,
      addr,
      addr,
      flags,
      0,
      0,
      null,
      null,
      null,
    );
    if (!r) yield* amdgpu_vm_update_pdes(adev, vm, true);
  }
  amdgpu_bo_unreserve(root);
  return false;
}

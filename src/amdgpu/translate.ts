/**
 * Address translation by the GPU (the UTCL2 and its page walker) and the recording of
 * unrecoverable faults. Plain functions: a translation is atomic with the access that uses it.
 */
import { getSim } from '../sim/scheduler.js';
import type {
  amdgpu_device,
  amdgpu_vm,
  GpuAccessVia,
  GpuFaultReason,
  VmFaultRecord,
} from './amdgpu.js';
import type { queue } from './kfd_priv.js';
import { PteStore, ptb_offset } from './pagetable.js';
import {
  AMDGPU_PTE_READABLE,
  AMDGPU_PTE_VALID,
  AMDGPU_PTE_WRITEABLE,
  AMDGPU_VM_NORETRY_FLAGS,
} from './pte.js';

/** No valid translation: a retry fault when the queue has XNACK on. */
export const GPU_FAULT_NOT_PRESENT = -1;
/** A valid translation without the needed permission: never retried. */
export const GPU_FAULT_PERMISSION = -2;
/** The PTE carries AMDGPU_VM_NORETRY_FLAGS: a no-retry fault. */
export const GPU_FAULT_NORETRY = -3;

export function gpu_fault_reason(code: number): GpuFaultReason {
  if (code === GPU_FAULT_PERMISSION) return 'permission';
  if (code === GPU_FAULT_NORETRY) return 'noretry';
  return 'not-present';
}

function gpu_observe(
  adev: amdgpu_device,
  vm: amdgpu_vm,
  page: number,
  pfn: number,
  via: GpuAccessVia,
  write: boolean,
): void {
  getSim().account('gpu_access_pages', 1, 'gpu_access_page', adev.name);
  for (const fn of adev.hooks.access) fn(adev, vm, page, pfn, via, write);
}

/**
 * Translate `page` of `vm` for a read, a write, or an atomic (both): the frame, or a
 * GPU_FAULT_* code. A TLB entry with the permission wins, whatever the page table says now;
 * otherwise the walker reads the PTE (reachable only once its PDE is written), caches a valid
 * one in the TLB, and checks the permission. Observers see every successful translation.
 */
export function gpu_translate(
  adev: amdgpu_device,
  vm: amdgpu_vm,
  page: number,
  write: boolean,
  atomic: boolean,
): number {
  const need = atomic
    ? AMDGPU_PTE_READABLE | AMDGPU_PTE_WRITEABLE
    : write
      ? AMDGPU_PTE_WRITEABLE
      : AMDGPU_PTE_READABLE;
  const off = ptb_offset(page);
  let tlb = adev.tlb.vms.get(vm.pasid);
  const hit = tlb?.chunk(page);
  if (hit) {
    const f = hit.flags[off] as number;
    if (f & AMDGPU_PTE_VALID && (f & need) === need) {
      const pfn = hit.pfn[off] as number;
      gpu_observe(adev, vm, page, pfn, 'tlb', write || atomic);
      return pfn;
    }
  }
  getSim().counters.add('gpu_tlb_misses', 1, adev.name);
  const c = vm.pt.chunk(page);
  const f = c && c.pde_valid ? (c.flags[off] as number) : 0;
  if (!c || !(f & AMDGPU_PTE_VALID)) {
    return (f & AMDGPU_VM_NORETRY_FLAGS) === AMDGPU_VM_NORETRY_FLAGS
      ? GPU_FAULT_NORETRY
      : GPU_FAULT_NOT_PRESENT;
  }
  const pfn = c.pfn[off] as number;
  if (!tlb) {
    tlb = new PteStore();
    adev.tlb.vms.set(vm.pasid, tlb);
  }
  PteStore.set(tlb.chunkAlloc(page).chunk, page, pfn, f);
  if ((f & need) !== need) return GPU_FAULT_PERMISSION;
  gpu_observe(adev, vm, page, pfn, 'pte', write || atomic);
  return pfn;
}

/**
 * An access ended unrecoverably: count it (gpu_faults_fatal for VM faults, gpu_job_timeouts
 * for timeouts), kill the queue, record the event (kfd_signal_vm_fault_event) and tell the
 * `fatal` observers. SIM: Linux evicts every queue of the process on a VM fault
 * (kfd_process_vm_fault); the model kills only the faulting queue, so that later steps of a
 * scenario can run on new queues (SCENARIO-FORMAT.md, expect_fault).
 */
export function gpu_record_fault(
  q: queue,
  vm: amdgpu_vm,
  kind: 'vm-fault' | 'timeout',
  page: number,
  write: boolean,
  reason: GpuFaultReason,
): void {
  const sim = getSim();
  const adev = q.dev;
  if (kind === 'vm-fault') sim.account('gpu_faults_fatal', 1, 'gpu_fault_fatal', adev.name);
  else sim.counters.add('gpu_job_timeouts', 1, adev.name);
  q.dead = true;
  const rec: VmFaultRecord = {
    gpu: adev.name,
    gpu_id: adev.gpu_id,
    pasid: vm.pasid,
    page,
    write,
    kind,
    reason,
    queue_id: q.queue_id,
    time: sim.now(),
  };
  adev.vm_faults.push(rec);
  sim.trace.emit('amdgpu.gpu_fault', {
    gpu: adev.name,
    pasid: vm.pasid,
    page,
    write,
    outcome: kind,
    reason,
  });
  for (const fn of adev.hooks.fatal) fn(rec);
}

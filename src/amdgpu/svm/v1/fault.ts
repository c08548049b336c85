/**
 * The V1 GPU fault handler (RFC V1 patch 11 `amdgpu_svm_handle_fault`;
 * shared/spec/rfc-series.md §5.4 "V1 handler"): look the instance up by PASID with a
 * reference, refuse when exiting (-EAGAIN) or with XNACK off (-EOPNOTSUPP), then map the
 * faulting page through the attribute tree under svm_lock. Holes have the default attributes,
 * which grant access with XNACK on, so any page of a VMA maps. `write_fault` is only traced.
 */
import { EAGAIN, EOPNOTSUPP } from '../../../sim/errno.js';
import { atomic_read } from '../../../sim/kref.js';
import { down_write, up_write } from '../../../sim/locks.js';
import { getSim } from '../../../sim/scheduler.js';
import type { Co } from '../../../sim/task.js';
import type { amdgpu_device } from '../../amdgpu.js';
import { amdgpu_svm_lookup_by_pasid, amdgpu_svm_put } from '../amdgpu_svm.js';
import { amdgpu_svm_range_map_attr_ranges } from './map.js';
import '../events.js';

/** Retry faults that reached the SVM handler (counts the `fault_handler_entry` cost). */
export const SVM_FAULT_HANDLER_ENTRIES = 'svm_fault_handler_entries';

/**
 * amdgpu_svm_handle_fault (V1 patch 11): 0 when the page is mapped. SIM: `addr` is the
 * faulting page number (the V3 hook convention of the amdgpu model); V1's hook passed the
 * byte address and shifted it here. `ts` is unused in V1.
 */
export function* amdgpu_svm_handle_fault(
  adev: amdgpu_device,
  pasid: number,
  addr: number,
  _ts: number,
  write_fault: boolean,
): Co<number> {
  const sim = getSim();
  sim.account(SVM_FAULT_HANDLER_ENTRIES, 1, 'fault_handler_entry', adev.name);
  const svm = amdgpu_svm_lookup_by_pasid(adev, pasid);
  if (!svm) return -EOPNOTSUPP;
  let ret: number;
  if (atomic_read(svm.exiting)) {
    ret = -EAGAIN;
  } else if (!svm.xnack_enabled) {
    ret = -EOPNOTSUPP;
  } else {
    const fault_page = addr;
    yield* down_write(svm.svm_lock);
    ret = yield* amdgpu_svm_range_map_attr_ranges(svm, fault_page, fault_page, true);
    up_write(svm.svm_lock);
  }
  // out:
  sim.trace.emit('svm.fault', { gpu: adev.name, pasid, page: addr, write: write_fault, ret });
  amdgpu_svm_put(svm);
  return ret;
}

/**
 * The V2-design GPU fault handler (RFC V3 patch 11, amdgpu_svm_fault.c;
 * shared/spec/rfc-series.md §5.4 "V2 design", clarifications.md §3 and §7), step by step:
 * PASID lookup (exiting -EAGAIN, XNACK off -EOPNOTSUPP); the checkpoint-timestamp filter that
 * drops faults raised at or before the last UNMAP; under svm_lock the attribute bounds of the
 * page, or a node synthesised with default attributes for an unregistered address (heap and
 * stack prefer system memory); then map_fault: the garbage collector, the VMA permission
 * check, find_or_insert bounded by the attribute node, the 2 ms dedupe, the is_valid skip,
 * get_pages with its error handling, update_mapping, three attempts in all; an -EAGAIN left
 * over goes round the handler again through amdgpu_gmc_filter_faults_remove.
 * Faults with no VMA (or a dying mm) are acknowledged with 0: the GPU replays them until the
 * job timeout (clarifications.md §7).
 */
import { IS_ERR, drm_gpusvm_range_end, drm_gpusvm_range_start } from '../../../drm/index.js';
import { VM_IO, VM_MIXEDMAP, VM_PFNMAP, VM_READ, VM_WRITE } from '../../../mm/consts.js';
import { mmap_read_lock, mmap_read_unlock } from '../../../mm/mm_struct.js';
import type { MmStruct, VmAreaStruct } from '../../../mm/mm_types.js';
import { vma_lookup } from '../../../mm/vma.js';
import { EAGAIN, EFAULT, ENOENT, ENOMEM, EOPNOTSUPP, EPERM } from '../../../sim/errno.js';
import { atomic_read } from '../../../sim/kref.js';
import {
  down_write,
  lockdep_assert_held,
  mutex_lock,
  mutex_unlock,
  up_write,
} from '../../../sim/locks.js';
import { getSim } from '../../../sim/scheduler.js';
import type { Co } from '../../../sim/task.js';
import { WARN_ON, trap } from '../../../sim/trap.js';
import type { amdgpu_device } from '../../amdgpu.js';
import { amdgpu_gmc_filter_faults_remove } from '../../gmc.js';
import { amdgpu_ih_ts_after_or_equal } from '../../ih.js';
import { amdgpu_svm_lookup_by_pasid, amdgpu_svm_put, type amdgpu_svm } from '../amdgpu_svm.js';
import { amdgpu_svm_range_attr_pte_flags } from '../amdgpu_svm_pte.js';
import {
  amdgpu_svm_attr_get_bounds_locked,
  amdgpu_svm_attr_range_alloc,
  amdgpu_svm_attr_range_insert_locked,
} from '../attr_tree.js';
import {
  LOC_SYSMEM_I32,
  amdgpu_svm_attr_set_default,
  type amdgpu_svm_attr_range,
} from '../attr_types.js';
import { amdgpu_svm_migrate_target_of, amdgpu_svm_range_migrate } from '../migrate.js';
import { amdgpu_svm_garbage_collector } from './gc.js';
import {
  amdgpu_svm_range_find_or_insert,
  amdgpu_svm_range_get_pages,
  amdgpu_svm_range_is_valid,
  amdgpu_svm_range_update_mapping,
  amdgpu_svm_v2_map_ctx,
} from './range.js';
import {
  AMDGPU_SVM_FAULT_RETRY_COUNT,
  AMDGPU_SVM_V2_OPT_STALE_ATTR_NODE,
  AMDGPU_SVM_RANGE_RETRY_FAULT_PENDING,
  SVM_ATTRS_SYNTHESISED,
  SVM_FAULTS_DEDUPED,
  SVM_FAULTS_DENIED,
  SVM_FAULTS_NO_VMA,
  SVM_FAULTS_STALE,
  SVM_FAULTS_VALID,
  SVM_FAULT_EAGAIN,
  SVM_FAULT_HANDLER_ENTRIES,
  SVM_FAULT_RETRIES,
  attr_range_live,
  ktime_get_boottime,
  range_validate_timestamp,
  v2_work,
} from './work_types.js';
import './events.js';

/**
 * SIM: the handler's `goto retry` after -EAGAIN has no bound in the RFC; past this many the
 * model traps `livelock` (DESIGN.md Traps) instead of hanging.
 */
export const AMDGPU_SVM_FAULT_MAX_EAGAIN = 1000;

/** Count a fault-path outcome and trace it. */
function fault_step(svm: amdgpu_svm, page: number, step: string, counter: string | null, ret = 0) {
  const gpu = svm.adev.name;
  if (counter) getSim().counters.add(counter, 1, gpu);
  getSim().trace.emit('svm.v2.fault', { gpu, page, step, ret });
}

/**
 * amdgpu_svm_check_vma (V3 patch 04): the VMA at `page`, -EFAULT when there is none,
 * -EOPNOTSUPP for VM_IO | VM_PFNMAP | VM_MIXEDMAP. mmap_lock held.
 */
export function amdgpu_svm_check_vma(mm: MmStruct, page: number): VmAreaStruct | number {
  const vma = vma_lookup(mm, page);
  if (!vma) return -EFAULT;
  if (vma.vm_flags & (VM_IO | VM_PFNMAP | VM_MIXEDMAP)) return -EOPNOTSUPP;
  return vma;
}

/** vma_is_initial_heap / vma_is_initial_stack. SIM: the scenario tags those VMAs (`kind`). */
function vma_is_initial_heap_or_stack(vma: VmAreaStruct): boolean {
  return vma.kind === 'heap' || vma.kind === 'stack';
}

/**
 * amdgpu_svm_range_get_unregistered_attrs (V3 patch 11): default attributes for a page no SET
 * covered ("ROCm's kfd/rocr/hip tests expect unregistered addresses to be accessible"), with
 * preferred_loc SYSMEM in the initial heap or stack; a new node over the granularity-aligned
 * block around the page, clipped to the VMA and to the hole [attr_start, attr_last]. The node
 * or -errno (-EFAULT: no VMA; -EOPNOTSUPP: device VMA; -ENOMEM).
 */
function* amdgpu_svm_range_get_unregistered_attrs(
  svm: amdgpu_svm,
  fault_page: number,
  attr_start_page: number,
  attr_last_page: number,
): Co<amdgpu_svm_attr_range | number> {
  const attr_tree = svm.attr_tree;
  const mm = svm.mm;
  if (!attr_tree || !mm) return -EFAULT;
  const attrs = amdgpu_svm_attr_set_default(svm);
  yield* mmap_read_lock(mm);
  const vma = amdgpu_svm_check_vma(mm, fault_page);
  if (typeof vma === 'number') {
    mmap_read_unlock(mm);
    return vma;
  }
  const vma_start_page = vma.vm_start;
  const vma_last_page = vma.vm_end - 1;
  if (vma_is_initial_heap_or_stack(vma)) attrs.preferred_loc = LOC_SYSMEM_I32;
  mmap_read_unlock(mm);
  const gran = 2 ** attrs.granularity;
  let start_page = Math.max(vma_start_page, Math.floor(fault_page / gran) * gran);
  let last_page = Math.min(vma_last_page, Math.ceil((fault_page + 1) / gran) * gran - 1);
  start_page = Math.max(start_page, attr_start_page);
  last_page = Math.min(last_page, attr_last_page);
  yield* mutex_lock(attr_tree.lock);
  const range = amdgpu_svm_attr_range_alloc(start_page, last_page, attrs);
  if (!range) {
    mutex_unlock(attr_tree.lock);
    return -ENOMEM;
  }
  amdgpu_svm_attr_range_insert_locked(attr_tree, range);
  mutex_unlock(attr_tree.lock);
  fault_step(svm, fault_page, 'synthesised', SVM_ATTRS_SYNTHESISED);
  return range;
}

/**
 * svm_check_fault_allowed (V3 patch 11): -EPERM when the VMA at the page lacks VM_READ (or
 * VM_WRITE for a write fault). No VMA is not an error here (find_or_insert reports it).
 */
function* svm_check_fault_allowed(
  svm: amdgpu_svm,
  fault_page: number,
  write_fault: boolean,
): Co<number> {
  const mm = svm.mm;
  if (!mm) return 0;
  const requested = VM_READ | (write_fault ? VM_WRITE : 0);
  let ret = 0;
  yield* mmap_read_lock(mm);
  const vma = vma_lookup(mm, fault_page);
  if (vma && (vma.vm_flags & requested) !== requested) ret = -EPERM;
  mmap_read_unlock(mm);
  return ret;
}

/**
 * SIM (fix): amdgpu_svm_handle_fault looks the page's attribute node up, drops the tree mutex
 * and keeps the pointer. Before find_or_insert reads the node's bounds, map_fault's own garbage
 * collection (attr_clear_pages) or a concurrent SET_ATTR (its tree update takes the tree mutex
 * only, not svm_lock) may have split the node, so that it no longer holds the page, or freed
 * it. The RFC goes on with it: find_or_insert bounded by a node without the page fails
 * -EINVAL, a fatal VM fault on a valid address (IGT partial-middle-munmap ports; a fault racing
 * a splitting SET_ATTR), or reads a freed node. The model checks right before find_or_insert
 * (no sleep in between) and returns -EAGAIN, so that the handler's `retry:` looks the node up
 * again. Option `v3_stale_attr_node` puts the RFC's behaviour back.
 */
function amdgpu_svm_v2_attr_node_stale(
  svm: amdgpu_svm,
  attr_range: amdgpu_svm_attr_range,
  fault_page: number,
): boolean {
  if (svm.ctx.env.options[AMDGPU_SVM_V2_OPT_STALE_ATTR_NODE] === true) return false;
  const { start, last } = attr_range.it_node;
  return attr_range.freed || fault_page < start || fault_page > last;
}

/**
 * amdgpu_svm_range_map_fault (V3 patch 11), kept whole with its labels: per attempt (three in
 * all, shared by get_pages errors and -EAGAIN) the GC, the permission check, find_or_insert
 * (-EFAULT / -ENOENT: "no vma or mm is dying", 0), the 2 ms dedupe and the is_valid skip
 * (`out`: 0), get_pages (-EOPNOTSUPP / -EFAULT retried; -EPERM returned; anything else `out`),
 * update_mapping without flush or wait (a new mapping needs no TLB flush). svm_lock held.
 */
export function* amdgpu_svm_range_map_fault(
  svm: amdgpu_svm,
  fault_page: number,
  attr_range: amdgpu_svm_attr_range,
  write_fault: boolean,
): Co<number> {
  const map_ctx = amdgpu_svm_v2_map_ctx(svm, attr_range.attrs, true);
  const timestamp = ktime_get_boottime();
  let retry_count = AMDGPU_SVM_FAULT_RETRY_COUNT;
  lockdep_assert_held(svm.svm_lock, 'write');
  WARN_ON(!svm.xnack_enabled, 'map_fault with XNACK off');
  for (;;) {
    // retry:
    let ret = yield* amdgpu_svm_garbage_collector(svm, true);
    if (ret) return ret;
    ret = yield* svm_check_fault_allowed(svm, fault_page, write_fault);
    if (ret) {
      fault_step(svm, fault_page, 'denied', SVM_FAULTS_DENIED, ret);
      return ret;
    }
    if (amdgpu_svm_v2_attr_node_stale(svm, attr_range, fault_page)) {
      fault_step(svm, fault_page, 'stale-node', null, -EAGAIN);
      return -EAGAIN;
    }
    const range = yield* amdgpu_svm_range_find_or_insert(svm, fault_page, attr_range, map_ctx);
    if (IS_ERR(range)) {
      if (range !== -EFAULT && range !== -ENOENT) return range;
      fault_step(svm, fault_page, 'no-vma', SVM_FAULTS_NO_VMA, range);
      return 0; // "no vma or mm is dying"
    }
    if (timestamp < range_validate_timestamp(range) + AMDGPU_SVM_RANGE_RETRY_FAULT_PENDING) {
      fault_step(svm, fault_page, 'deduped', SVM_FAULTS_DEDUPED);
      return 0; // goto out: "already restored, skip"
    }
    attr_range_live(attr_range, 'amdgpu_svm_range_map_fault');
    const attrs = attr_range.attrs;
    const range_pte_flags = amdgpu_svm_range_attr_pte_flags(svm, attrs, map_ctx.read_only);
    if (
      !(write_fault && map_ctx.read_only) &&
      (yield* amdgpu_svm_range_is_valid(svm, range, attrs, range_pte_flags))
    ) {
      fault_step(svm, fault_page, 'valid', SVM_FAULTS_VALID);
      return 0; // goto out: "valid range, skip"
    }
    // Migration (left undone in the RFC, V3 patch 11; v8 migrates to the preferred GPU
    // before get_pages when device memory is possible): a failed move maps in place.
    yield* amdgpu_svm_range_migrate(
      svm,
      drm_gpusvm_range_start(range),
      drm_gpusvm_range_end(range),
      amdgpu_svm_migrate_target_of(svm, attrs, 'fault'),
      map_ctx.timeslice_ms ?? 0,
    );
    ret = yield* amdgpu_svm_range_get_pages(svm, range, map_ctx);
    if (ret === -EOPNOTSUPP || ret === -EFAULT) {
      map_ctx.timeslice_ms = (map_ctx.timeslice_ms ?? 0) * 2;
      if (!map_ctx.devmem_only && --retry_count > 0) {
        fault_step(svm, fault_page, 'retry', SVM_FAULT_RETRIES, ret);
        continue;
      }
    }
    if (ret === -EPERM) return ret;
    if (ret) {
      fault_step(svm, fault_page, 'get-pages', null, ret);
      return 0; // goto out: "PAGE FAULT - FAIL PAGE COLLECT"
    }
    ret = yield* amdgpu_svm_range_update_mapping(
      svm,
      range,
      range_pte_flags,
      attrs.flags,
      false,
      false,
      false,
    );
    if (!ret) {
      fault_step(svm, fault_page, 'mapped', null);
      return 0; // out:
    }
    // err_out:
    if (ret === -EAGAIN && --retry_count > 0) {
      map_ctx.timeslice_ms = (map_ctx.timeslice_ms ?? 0) * 2;
      fault_step(svm, fault_page, 'retry', SVM_FAULT_RETRIES, ret);
      continue;
    }
    return ret;
  }
}

/**
 * The svm_lock section of amdgpu_svm_handle_fault (V3 patch 11), from its `retry:` label:
 * the attribute node of the page (synthesised when unregistered; no VMA -> out_no_vma, 0),
 * map_fault, and on -EAGAIN forget the fault in the GMC filter and start again.
 */
function* amdgpu_svm_handle_fault_locked(
  svm: amdgpu_svm,
  fault_page: number,
  write_fault: boolean,
): Co<number> {
  const attr_tree = svm.attr_tree;
  if (!attr_tree) return -EOPNOTSUPP;
  for (let eagain = 0; ; eagain++) {
    // retry:
    yield* mutex_lock(attr_tree.lock);
    const b = amdgpu_svm_attr_get_bounds_locked(attr_tree, fault_page);
    mutex_unlock(attr_tree.lock);
    let attr_range = b.range;
    if (!attr_range) {
      const r = yield* amdgpu_svm_range_get_unregistered_attrs(
        svm,
        fault_page,
        b.start_page,
        b.last_page,
      );
      if (r === -EFAULT) {
        // out_no_vma: "stale retry or GPU NULL deref"
        fault_step(svm, fault_page, 'no-vma', SVM_FAULTS_NO_VMA, r);
        return 0;
      }
      if (typeof r === 'number') return r; // out_unlock
      attr_range = r;
    }
    const ret = yield* amdgpu_svm_range_map_fault(svm, fault_page, attr_range, write_fault);
    if (ret !== -EAGAIN) return ret;
    if (eagain >= AMDGPU_SVM_FAULT_MAX_EAGAIN)
      trap('livelock', `${svm.adev.name}: fault at page ${fault_page} got -EAGAIN ${eagain} times`);
    fault_step(svm, fault_page, 'eagain', SVM_FAULT_EAGAIN, ret);
    amdgpu_gmc_filter_faults_remove(svm.adev, fault_page, svm.vm.pasid);
  }
}

/**
 * amdgpu_svm_handle_fault (V3 patch 11): 0 when the fault is handled (mapped, or dropped so
 * that the GPU replays it). `addr` is the faulting page, `ts` its IH timestamp. The stale
 * filter drops a fault when after_or_equal(ts, checkpoint_ts) (it was raised at or before the
 * last UNMAP's checkpoint), forgetting it in the GMC filter; a later fault clears the
 * checkpoint.
 */
export function* amdgpu_svm_handle_fault(
  adev: amdgpu_device,
  pasid: number,
  addr: number,
  ts: number,
  write_fault: boolean,
): Co<number> {
  const sim = getSim();
  const fault_page = addr;
  sim.account(SVM_FAULT_HANDLER_ENTRIES, 1, 'fault_handler_entry', adev.name);
  const svm = amdgpu_svm_lookup_by_pasid(adev, pasid);
  if (!svm) return -EOPNOTSUPP;
  let ret: number;
  if (atomic_read(svm.exiting)) {
    ret = -EAGAIN;
  } else if (!svm.xnack_enabled) {
    ret = -EOPNOTSUPP;
  } else {
    const w = v2_work(svm);
    const ckpt = w.checkpoint_ts; // READ_ONCE
    if (ckpt !== 0 && amdgpu_ih_ts_after_or_equal(ts, ckpt)) {
      // draining stale retry fault
      fault_step(svm, fault_page, 'stale', SVM_FAULTS_STALE);
      amdgpu_gmc_filter_faults_remove(adev, fault_page, pasid);
      ret = 0;
    } else {
      if (ckpt !== 0) w.checkpoint_ts = 0; // WRITE_ONCE
      yield* down_write(svm.svm_lock);
      ret = yield* amdgpu_svm_handle_fault_locked(svm, fault_page, write_fault);
      up_write(svm.svm_lock);
    }
  }
  // out_put:
  sim.trace.emit('svm.fault', { gpu: adev.name, pasid, page: addr, write: write_fault, ret });
  amdgpu_svm_put(svm);
  return ret;
}

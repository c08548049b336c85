/**
 * The V2-design (code posted as V3) fields of struct amdgpu_svm and struct amdgpu_svm_range,
 * and the V3 range-layer enums (RFC V3 patches 06, 08 and 10; shared/spec/rfc-series.md
 * §3.1, §4.2, §5.1): the GC (one workqueue, one list under work_lock), the stale-fault
 * checkpoint timestamp, and each range's validate_timestamp. SIM: the C keeps the svm fields
 * in struct amdgpu_svm and the range field in struct amdgpu_svm_range; the shared core is
 * design-neutral, so the svm fields hang off svm.work and the range field lives in a WeakMap
 * keyed by the range (the shared range struct has no per-design slot).
 */
import { SpinLock } from '../../../sim/locks.js';
import { getSim } from '../../../sim/scheduler.js';
import { trap } from '../../../sim/trap.js';
import type { WorkStruct, Workqueue } from '../../../sim/workqueue.js';
import type { amdgpu_svm } from '../amdgpu_svm.js';
import type { amdgpu_svm_range } from '../amdgpu_svm_range.js';
import type { amdgpu_svm_attr_range } from '../attr_types.js';

/** enum amdgpu_svm_range_op (V3 patch 06): the GC's only pending operation. */
export const AMDGPU_SVM_RANGE_OP_NONE = 0;
export const AMDGPU_SVM_RANGE_OP_UNMAP = 1 << 0;

/** UNMAP_WORK(ops) (V3 patch 06). */
export function UNMAP_WORK(ops: number): boolean {
  return (ops & AMDGPU_SVM_RANGE_OP_UNMAP) !== 0;
}

/** XNACK_OFF(svm) (V3 patch 06). */
export function XNACK_OFF(svm: amdgpu_svm): boolean {
  return !svm.xnack_enabled;
}

/**
 * Design option (system.options) putting back the RFC's clamped notifier zap, a known flaw
 * (notifier.ts amdgpu_svm_range_notifier_event_begin). Declared in index.ts.
 */
export const AMDGPU_SVM_V2_OPT_CLAMPED_ZAP = 'v3_clamped_zap';
/**
 * Design option putting back the RFC's re-queue of a range the GC is already removing, a known
 * flaw (notifier.ts amdgpu_svm_gc_add_range). Declared in index.ts.
 */
export const AMDGPU_SVM_V2_OPT_GC_REQUEUE = 'v3_gc_requeue';
/**
 * Design option putting back the RFC's use of an attribute node that was split or freed after
 * the fault handler looked it up, a known flaw (fault.ts). Declared in index.ts.
 */
export const AMDGPU_SVM_V2_OPT_STALE_ATTR_NODE = 'v3_stale_attr_node';
/**
 * Design option putting back the RFC's removal, by invalidate_interval, of a range left on the
 * GC list, a known flaw (notifier.ts amdgpu_svm_range_remove). Declared in index.ts.
 */
export const AMDGPU_SVM_V2_OPT_SPLIT_REMOVE_QUEUED = 'v3_split_remove_queued';

/** AMDGPU_SVM_GC_WQ_NAME (V3 patch 10). */
export const AMDGPU_SVM_GC_WQ_NAME = 'amdgpu_svm_gc';

/**
 * AMDGPU_SVM_RANGE_RETRY_FAULT_PENDING (V3 patch 11): 2 ms, in ns. A range validated less
 * than this long ago is not mapped again by a fault: retry faults raised before the mapping
 * landed are still arriving.
 */
export const AMDGPU_SVM_RANGE_RETRY_FAULT_PENDING = 2_000_000;

/** The fault handler's map_fault retry budget (V3 patch 11, `retry_count = 3`). */
export const AMDGPU_SVM_FAULT_RETRY_COUNT = 3;

/**
 * SIM: ktime_get_boottime() reads the time since boot, which is seconds to days when a GPU
 * faults. Virtual time starts at 0, so a range never validated (validate_timestamp 0, from
 * kmem_cache_zalloc) would look "validated less than 2 ms ago" during the first 2 ms of a
 * run. The model's boot clock therefore starts this far before virtual time 0.
 */
export const SIM_BOOTTIME_OFFSET_NS = 60_000_000_000;

/** ktime_get_boottime(), in ns. */
export function ktime_get_boottime(): number {
  return getSim().now() + SIM_BOOTTIME_OFFSET_NS;
}

/** struct amdgpu_svm_gc (V3 patch 06). */
export interface amdgpu_svm_gc {
  /** "amdgpu_svm_gc": WQ_UNBOUND | WQ_HIGHPRI | WQ_MEM_RECLAIM. */
  readonly wq: Workqueue;
  /**
   * Ranges with pending UNMAP work (list_head, linked by range->work_node; SIM: an
   * insertion-ordered set, FIFO). svm->work_lock.
   */
  readonly list: Set<amdgpu_svm_range>;
  /** amdgpu_svm_garbage_collector_work_func. */
  readonly work: WorkStruct;
}

/** The V3 fields of struct amdgpu_svm (patch 10). */
export class amdgpu_svm_v2_work {
  /**
   * svm->work_lock (spinlock): protects gc.list and every range's gc_queued / in_queue /
   * pending_ops / pending_start / pending_last. Taken in the notifier (under notifier_lock)
   * and by the GC; nothing sleeps under it.
   */
  readonly work_lock = new SpinLock('&svm->work_lock');
  /**
   * svm->checkpoint_ts (u64, READ_ONCE / WRITE_ONCE): the IH timestamp at the ring's write
   * pointer when the last MMU_NOTIFY_UNMAP found unprocessed entries; 0 = no checkpoint.
   * Written by the notifier, read and cleared by the fault handler without a lock.
   */
  checkpoint_ts = 0;

  constructor(readonly gc: amdgpu_svm_gc) {}
}

/** The V2-design state of `svm` (a `bug` trap if the instance runs another design). */
export function v2_work(svm: amdgpu_svm): amdgpu_svm_v2_work {
  const w = svm.work;
  if (!(w instanceof amdgpu_svm_v2_work)) trap('bug', `${svm.adev.name}: not an rfc-v2 instance`);
  return w;
}

/**
 * range->validate_timestamp (ktime_t, V3 patch 06): boot time of the range's last successful
 * update_mapping; 0 (kmem_cache_zalloc) until then. Written and read under svm_lock (write).
 */
const validate_timestamps = new WeakMap<amdgpu_svm_range, number>();

export function range_validate_timestamp(range: amdgpu_svm_range): number {
  return validate_timestamps.get(range) ?? 0;
}

export function range_set_validate_timestamp(range: amdgpu_svm_range, ts: number): void {
  validate_timestamps.set(range, ts);
}

/** struct amdgpu_svm_range_op_ctx (V3 patch 06): what the GC dequeued. */
export interface amdgpu_svm_range_op_ctx {
  range: amdgpu_svm_range;
  start_page: number;
  last_page: number;
  pending_ops: number;
}

// ---- counters (scoped by GPU name) ------------------------------------------------------

/** Retry faults that reached the SVM handler (cost fault_handler_entry); V1's name too. */
export const SVM_FAULT_HANDLER_ENTRIES = 'svm_fault_handler_entries';
/** Faults dropped by the checkpoint-timestamp filter (raised before the last UNMAP). */
export const SVM_FAULTS_STALE = 'svm_faults_stale';
/** Faults skipped because their range was validated less than 2 ms ago. */
export const SVM_FAULTS_DEDUPED = 'svm_faults_deduped';
/** Faults skipped because their range is already validly mapped (is_valid). */
export const SVM_FAULTS_VALID = 'svm_faults_valid';
/** Faults with no VMA or a dying mm, acknowledged with 0 (the GPU replays them). */
export const SVM_FAULTS_NO_VMA = 'svm_faults_no_vma';
/** Faults refused by svm_check_fault_allowed (-EPERM: the VMA lacks the permission). */
export const SVM_FAULTS_DENIED = 'svm_faults_denied';
/** Attribute nodes synthesised with default attributes for an unregistered address. */
export const SVM_ATTRS_SYNTHESISED = 'svm_attrs_synthesised';
/** map_fault's `goto retry` (a get_pages error or -EAGAIN from the mapping). */
export const SVM_FAULT_RETRIES = 'svm_fault_retries';
/** The handler's -EAGAIN `goto retry` through amdgpu_gmc_filter_faults_remove. */
export const SVM_FAULT_EAGAIN = 'svm_fault_eagain';
/** drm_gpusvm_range_get_pages failures seen by the fault path and prefetch. */
export const SVM_GET_PAGES_ERRORS = 'svm_get_pages_errors';
/** Successful amdgpu_svm_range_update_mapping calls (a range's PTEs programmed). */
export const SVM_RANGES_MAPPED = 'svm_ranges_mapped';
/** Ranges the garbage collector removed (worker or fault path). */
export const SVM_GC_RANGES = 'svm_gc_ranges';
/** Of those, the ones removed by the fault path's synchronous garbage collection. */
export const SVM_GC_RANGES_IN_FAULT = 'svm_gc_ranges_in_fault';
/** GC work-function runs (cost gc_work_run); V1's name too. */
export const GC_WORK_RUNS = 'gc_work_runs';
/** Ranges the notifier zapped (event_begin) or invalidate_interval cleared. */
export const SVM_RANGES_ZAPPED = 'svm_ranges_zapped';
/** Ranges invalidate_interval removed because they cross a new attribute boundary. */
export const SVM_RANGES_SPLIT_REMOVED = 'svm_ranges_split_removed';

/**
 * SIM: the V3 fault path and SET's range-layer hook hold a pointer to an attribute node
 * without the tree mutex; the garbage collector's attr_clear_pages may free that node
 * (kmem_cache_free) while the pointer is still used. Each use after a point where that can
 * happen goes through this check, which traps `use-after-free` on a freed node.
 */
export function attr_range_live(attr_range: amdgpu_svm_attr_range, where: string): void {
  if (attr_range.freed) {
    const { start, last } = attr_range.it_node;
    trap('use-after-free', `${where}: attr range [${start}, ${last}] was freed by the GC`);
  }
}

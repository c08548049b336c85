/**
 * The V1 worker state of struct amdgpu_svm and the V1 range-layer enums (RFC V1 patches 02,
 * 07 and 09; shared/spec/rfc-series.md §3.1, §4.1): the GC workqueue and the ordered restore
 * workqueue, their lists under gc_lock, the eviction counters and the begin/end_restore
 * callbacks. SIM: the C keeps these fields in struct amdgpu_svm itself; here they hang off
 * svm.work so that the shared core stays design-neutral.
 */
import { Atomic } from '../../../sim/kref.js';
import { SpinLock } from '../../../sim/locks.js';
import type { Co } from '../../../sim/task.js';
import { trap } from '../../../sim/trap.js';
import type { DelayedWork, WorkStruct, Workqueue } from '../../../sim/workqueue.js';
import type { amdgpu_svm } from '../amdgpu_svm.js';
import type { amdgpu_svm_range } from '../amdgpu_svm_range.js';

/** enum amdgpu_svm_range_queue_op (V1 patch 07). */
export const AMDGPU_SVM_RANGE_OP_RESTORE = 0;
export const AMDGPU_SVM_RANGE_OP_UNMAP = 1;
export type amdgpu_svm_range_queue_op =
  typeof AMDGPU_SVM_RANGE_OP_RESTORE | typeof AMDGPU_SVM_RANGE_OP_UNMAP;

/** enum amdgpu_svm_range_notifier_op (V1 patch 07). */
export const AMDGPU_SVM_RANGE_NOTIFIER_CLEAR_PTE = 1 << 0;
export const AMDGPU_SVM_RANGE_NOTIFIER_QUEUE_INTERVAL = 1 << 1;

/** AMDGPU_SVM_RANGE_RESTORE_DELAY_MS (V1 patch 07): 1 ms, in ns. */
export const AMDGPU_SVM_RANGE_RESTORE_DELAY_NS = 1_000_000;
export const AMDGPU_SVM_RANGE_WQ_NAME = 'amdgpu_svm_range';
export const AMDGPU_SVM_RESTORE_WQ_NAME = 'amdgpu_svm_restore';

/** NEED_REBUILD(svm) (V1 patch 07): XNACK off, so the driver must keep everything mapped. */
export function NEED_REBUILD(svm: amdgpu_svm): boolean {
  return !svm.xnack_enabled;
}

/** The V1 fields of struct amdgpu_svm (patch 02). */
export class amdgpu_svm_v1_work {
  /**
   * svm->gc_lock (spinlock): protects gc_list, restore_work_list and every range's
   * gc_queued / restore_queued / in_queue / pending_* fields. Taken in the notifier (under
   * notifier_lock) and by the workers; nothing sleeps under it.
   */
  readonly gc_lock = new SpinLock('&svm->gc_lock');
  /** Ranges with UNMAP work (list_head gc_list, SIM: an insertion-ordered set). gc_lock. */
  readonly gc_list = new Set<amdgpu_svm_range>();
  /** Ranges with only RESTORE work. gc_lock. */
  readonly restore_work_list = new Set<amdgpu_svm_range>();
  /** atomic_t: 1 while this instance holds a kgd2kfd_quiesce_mm of the process. */
  readonly kfd_queues_quiesced = new Atomic(0);
  /** atomic_t: evictions since the last completed restore; 0 -> 1 quiesces. */
  readonly evicted_ranges = new Atomic(0);

  constructor(
    /** "amdgpu_svm_range": WQ_UNBOUND | WQ_HIGHPRI | WQ_MEM_RECLAIM. */
    readonly gc_wq: Workqueue,
    /** "amdgpu_svm_restore": ordered, WQ_HIGHPRI | WQ_MEM_RECLAIM. */
    readonly restore_wq: Workqueue,
    readonly gc_work: WorkStruct,
    readonly restore_work: DelayedWork,
    /** svm->begin_restore: amdgpu_svm_range_restore_begin_compute for compute VMs. */
    readonly begin_restore: (svm: amdgpu_svm) => Co,
    /** svm->end_restore: amdgpu_svm_range_restore_end_compute. */
    readonly end_restore: (svm: amdgpu_svm) => Co,
  ) {}
}

/** The V1 worker state of `svm` (a `bug` trap if the instance runs another design). */
export function v1_work(svm: amdgpu_svm): amdgpu_svm_v1_work {
  const w = svm.work;
  if (!(w instanceof amdgpu_svm_v1_work)) trap('bug', `${svm.adev.name}: not an rfc-v1 instance`);
  return w;
}

/** struct range_pending_op_ctx (V1 patch 09): what a worker dequeued. */
export interface range_pending_op_ctx {
  range: amdgpu_svm_range;
  start: number;
  last: number;
  pending_ops: number;
}

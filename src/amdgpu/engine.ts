/**
 * Compute and SDMA engines: a kernel dispatched to a user queue runs as a task that touches
 * memory page by page through the GPU's TLB and the VM's page tables.
 *
 * Each access: a preemption point; wait while the queue is evicted; translate (TLB, else a
 * page-table walk that fills the TLB); check VALID and READABLE / WRITEABLE; tell the access
 * observers (the oracle); then read or write the frame. A failed translation:
 * - not present, queue with XNACK on: a retry fault goes to the IH ring; the engine waits for
 *   the interrupt handler to process it and replays the access (again and again, until the
 *   job timeout of 10 s of virtual time from the first fault);
 * - not present with XNACK off, a permission fault, or a no-retry PTE: a VM fault. The queue
 *   is dead and the fault is recorded (adev.vm_faults, the `fatal` observers).
 *
 * SIM: the hardware replays a faulting access continuously and the IH filter drops the
 * duplicates within its window; the model replays once right after the handler processed the
 * fault, then waits before the next retry fault: the filter window (50 us) doubling per retry
 * up to 1 ms. This bounds the work of a fault that never resolves (about 10^4 rounds in 10 s).
 * SIM: SDMA engines behave as compute engines (same translation and retry rules).
 */
import { getSim } from '../sim/scheduler.js';
import { cond_resched } from '../sim/locks.js';
import { BLOCK, co_return, type Co, type Task, type WaitTarget } from '../sim/task.js';
import { sleep, wait_event_timeout } from '../sim/wait.js';
import {
  AMDGPU_JOB_TIMEOUT_NS,
  type GpuFaultReason,
  type amdgpu_device,
  type amdgpu_vm,
} from './amdgpu.js';
import { amdgpu_ih_ts_now } from './ih.js';
import { amdgpu_ih_raise_retry_fault } from './irq.js';
import type { queue } from './kfd_priv.js';
import {
  GPU_FAULT_NOT_PRESENT,
  gpu_fault_reason,
  gpu_record_fault,
  gpu_translate,
} from './translate.js';

/** A GPU kernel: one memory operation over a run of pages. */
export type GpuKernel =
  | { readonly op: 'read'; readonly start: number; readonly npages: number }
  | {
      readonly op: 'write';
      readonly start: number;
      readonly npages: number;
      /** The value of every page, or of page i. */
      readonly value: number | ((i: number) => number);
    }
  | { readonly op: 'atomic'; readonly start: number; readonly npages: number; readonly add: number }
  | { readonly op: 'copy'; readonly from: number; readonly to: number; readonly npages: number };

export type KernelStatus = 'completed' | 'vm-fault' | 'timeout' | 'aborted';

/** An unrecoverable end of a kernel. */
export interface KernelFault {
  readonly kind: 'vm-fault' | 'timeout';
  readonly page: number;
  readonly write: boolean;
  readonly reason: GpuFaultReason;
}

export interface KernelResult {
  readonly status: KernelStatus;
  /**
   * Per page: the value loaded (read), the value before the add (atomic), the value copied
   * (copy); 0 for write. Entries from pages_done on were not reached.
   */
  readonly values: Uint32Array;
  readonly pages_done: number;
  readonly fault: KernelFault | null;
  readonly gpu: string;
  readonly queue_id: number;
}

/** First wait between retry faults of one access, then doubled up to the maximum. */
export const GPU_REPLAY_DELAY_NS = 50_000;
export const GPU_REPLAY_DELAY_MAX_NS = 1_000_000;

/** SIM: the fault's VMID as reported in the IH entry (KFD VMIDs start at 8). */
const KFD_VMID = 8;

class GpuJob {
  status: KernelStatus = 'completed';
  fault: KernelFault | null = null;
  pages_done = 0;
  readonly values: Uint32Array;
  constructor(
    readonly q: queue,
    readonly vm: amdgpu_vm,
    npages: number,
  ) {
    this.values = new Uint32Array(npages);
  }

  result(): KernelResult {
    return {
      status: this.status,
      values: this.values,
      pages_done: this.pages_done,
      fault: this.fault,
      gpu: this.q.dev.name,
      queue_id: this.q.queue_id,
    };
  }
}

/** Sleep (idle) until the queue is active; false when it was destroyed meanwhile. */
function queue_wait_active(q: queue): Co<boolean> {
  if (q.properties.is_active || q.destroyed) return co_return(!q.destroyed);
  return queue_wait_evicted(q);
}

/** queue_wait_active on an evicted queue: the GPU stalls until it is resumed. */
function* queue_wait_evicted(q: queue): Co<boolean> {
  const sim = getSim();
  const t0 = sim.now();
  while (!q.properties.is_active && !q.destroyed) {
    q.wq.waiters.push(sim.current as Task);
    // Idle: a queue left evicted is a liveness finding of the runner, not a deadlock.
    sim.block(q.wq, true);
    yield BLOCK;
  }
  // GPU stall: the time the kernel waited for its evicted (quiesced) queue to resume.
  if (sim.now() > t0) sim.counters.add('gpu_stall_quiesced_ns', sim.now() - t0, q.dev.name);
  return !q.destroyed;
}

/** The retry-fault round trip: raise, then wait (until `deadline`) for the handler. */
function* gpu_retry_fault(
  adev: amdgpu_device,
  job: GpuJob,
  page: number,
  write: boolean,
  deadline: number,
): Co {
  const sim = getSim();
  const pasid = job.vm.pasid;
  sim.account('gpu_faults_retry', 1, 'gpu_fault_retry', adev.name);
  sim.trace.emit('amdgpu.gpu_fault', {
    gpu: adev.name,
    pasid,
    page,
    write,
    outcome: 'retry',
    reason: 'not-present',
  });
  const ts = amdgpu_ih_ts_now();
  const seq = amdgpu_ih_raise_retry_fault(adev, {
    pasid,
    vmid: KFD_VMID,
    node_id: 0,
    addr: page,
    timestamp: ts,
    write_fault: write,
  });
  if (seq < 0) return;
  const ih = adev.irq.ih;
  yield* wait_event_timeout(ih.processed, () => ih.rptr > seq, Math.max(0, deadline - sim.now()));
}

/** End the job on an unrecoverable fault; the queue is dead. */
function gpu_job_fail(
  job: GpuJob,
  kind: 'vm-fault' | 'timeout',
  page: number,
  write: boolean,
  reason: GpuFaultReason,
): number {
  gpu_record_fault(job.q, job.vm, kind, page, write, reason);
  job.status = kind;
  job.fault = { kind, page, write, reason };
  return -1;
}

/**
 * One access to `page`: the frame reached, or -1 when the job ended (fault, timeout, queue
 * destroyed). `atomic` needs both READABLE and WRITEABLE.
 */
function* gpu_access(job: GpuJob, page: number, write: boolean, atomic = false): Co<number> {
  const q = job.q;
  const adev = q.dev;
  let fault_start = -1;
  let raises = 0;
  let backoff = false;
  for (;;) {
    yield* cond_resched();
    if (!(yield* queue_wait_active(q)) || job.vm.dead) {
      job.status = 'aborted';
      return -1;
    }
    const pfn = gpu_translate(adev, job.vm, page, write, atomic);
    if (pfn >= 0) {
      // GPU stall: the time this access waited for retry faults to be resolved.
      if (fault_start >= 0)
        getSim().counters.add('gpu_stall_fault_ns', getSim().now() - fault_start, adev.name);
      return pfn;
    }
    if (pfn !== GPU_FAULT_NOT_PRESENT || !q.xnack_enabled) {
      return gpu_job_fail(job, 'vm-fault', page, write, gpu_fault_reason(pfn));
    }
    const now = getSim().now();
    if (fault_start < 0) fault_start = now;
    const deadline = fault_start + AMDGPU_JOB_TIMEOUT_NS;
    if (now >= deadline) return gpu_job_fail(job, 'timeout', page, write, 'job-timeout');
    if (backoff) {
      const delay = Math.min(
        GPU_REPLAY_DELAY_NS * 2 ** Math.min(raises - 1, 20),
        GPU_REPLAY_DELAY_MAX_NS,
      );
      yield* sleep(Math.min(delay, deadline - now));
      backoff = false;
      continue;
    }
    yield* gpu_retry_fault(adev, job, page, write, deadline);
    raises++;
    backoff = true;
  }
}

function* run_kernel(q: queue, vm: amdgpu_vm, k: GpuKernel): Co<KernelResult> {
  const job = new GpuJob(q, vm, k.npages);
  const phys = q.dev.phys;
  for (let i = 0; i < k.npages; i++) {
    switch (k.op) {
      case 'read': {
        const pfn = yield* gpu_access(job, k.start + i, false);
        if (pfn < 0) return job.result();
        job.values[i] = phys.read(pfn);
        break;
      }
      case 'write': {
        const pfn = yield* gpu_access(job, k.start + i, true);
        if (pfn < 0) return job.result();
        phys.write(pfn, typeof k.value === 'number' ? k.value : k.value(i));
        break;
      }
      case 'atomic': {
        const pfn = yield* gpu_access(job, k.start + i, true, true);
        if (pfn < 0) return job.result();
        const old = phys.read(pfn);
        phys.write(pfn, (old + k.add) >>> 0);
        job.values[i] = old;
        break;
      }
      case 'copy': {
        const src = yield* gpu_access(job, k.from + i, false);
        if (src < 0) return job.result();
        const v = phys.read(src);
        const dst = yield* gpu_access(job, k.to + i, true);
        if (dst < 0) return job.result();
        phys.write(dst, v);
        job.values[i] = v;
        break;
      }
    }
    job.pages_done++;
  }
  return job.result();
}

function aborted(q: queue, npages: number): KernelResult {
  return {
    status: 'aborted',
    values: new Uint32Array(npages),
    pages_done: 0,
    fault: null,
    gpu: q.dev.name,
    queue_id: q.queue_id,
  };
}

class PreviousKernel implements WaitTarget {
  constructor(readonly prev: Task) {}
  describe(): string {
    return `end of ${this.prev.toString()}`;
  }
  owners(): readonly Task[] {
    return [this.prev];
  }
}

/**
 * Wait for the queue's previous kernel to end. Idle, as the queue wait is: a kernel stuck
 * behind an evicted one is the same liveness finding, not a deadlock of its own.
 */
function* wait_previous(prev: Task): Co {
  const sim = getSim();
  const target = new PreviousKernel(prev);
  while (!prev.done) {
    prev.joiners.push(sim.current as Task);
    sim.block(target, true);
    yield BLOCK;
  }
}

/**
 * Dispatch a kernel to a user queue (userspace writes an AQL or SDMA packet and rings the
 * doorbell): a task that runs after the queue's previous kernel and returns a KernelResult;
 * `join` it. A dead or destroyed queue, or one without a VM, runs nothing ('aborted').
 */
export function amdgpu_engine_dispatch(q: queue, k: GpuKernel): Task<KernelResult> {
  const prev = q.last_job;
  const name = `${q.dev.name}/${q.properties.type}${q.queue_id}#${q.jobs++}`;
  const t = getSim().spawn(name, function* (): Co<KernelResult> {
    if (prev) yield* wait_previous(prev);
    const vm = q.pdd.drm_priv?.vm;
    if (q.dead || q.destroyed || !vm) return aborted(q, k.npages);
    return yield* run_kernel(q, vm, k);
  });
  q.last_job = t;
  return t;
}

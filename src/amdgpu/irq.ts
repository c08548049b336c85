/**
 * The interrupt path of retry faults: the hardware writes an entry into the IH ring, and a
 * per-GPU interrupt-handler task drains the ring (amdgpu_ih_process), filters each fault
 * (gmc_v9_0_process_interrupt with amdgpu_gmc_filter_faults) and hands the rest to
 * amdgpu_vm_handle_fault.
 *
 * SIM: Linux handles retry faults in the ih_soft / ih1 work item, a sleeping context; the model
 * runs them in one daemon task per GPU, spawned on the first fault and idle while the ring is
 * empty, so faults of one GPU are handled one at a time in ring order.
 */
import { ETIMEDOUT } from '../sim/errno.js';
import { cond_resched } from '../sim/locks.js';
import { getSim } from '../sim/scheduler.js';
import { BLOCK, type Co, type Task, type WaitTarget } from '../sim/task.js';
import { wait_event_timeout, wake_up_all } from '../sim/wait.js';
import type { amdgpu_device, amdgpu_ih_ring } from './amdgpu.js';
import { amdgpu_gmc_filter_faults } from './gmc.js';
import { amdgpu_ih_ring_peek, amdgpu_ih_ring_push, type amdgpu_iv_entry } from './ih.js';
import { amdgpu_vm_handle_fault } from './vm_fault.js';

/** What the idle interrupt handler waits for (for the deadlock report). */
class IhEmpty implements WaitTarget {
  constructor(readonly gpu: string) {}
  describe(): string {
    return `retry faults on ${this.gpu}`;
  }
  owners(): readonly Task[] {
    return [];
  }
}

/**
 * gmc_v9_0_process_interrupt for a retry fault: drop it when the filter says so, otherwise let
 * amdgpu_vm_handle_fault resolve it.
 */
function* gmc_v9_0_process_interrupt(
  adev: amdgpu_device,
  ih: amdgpu_ih_ring,
  e: amdgpu_iv_entry,
): Co {
  const sim = getSim();
  if (amdgpu_gmc_filter_faults(adev, ih, e.addr, e.pasid, e.timestamp)) {
    sim.counters.add('gpu_faults_filtered', 1, adev.name);
    sim.trace.emit('amdgpu.ih', {
      gpu: adev.name,
      pasid: e.pasid,
      page: e.addr,
      action: 'filtered',
    });
    return;
  }
  const handled = yield* amdgpu_vm_handle_fault(
    adev,
    e.pasid,
    e.vmid,
    e.node_id,
    e.addr,
    e.timestamp,
    e.write_fault,
  );
  if (!handled) sim.counters.add('gpu_faults_unhandled', 1, adev.name);
  sim.trace.emit('amdgpu.ih', {
    gpu: adev.name,
    pasid: e.pasid,
    page: e.addr,
    action: handled ? 'handled' : 'unhandled',
  });
}

/** The interrupt-handler task of one GPU (amdgpu_ih_process on the retry-fault ring). */
function* amdgpu_irq_handler(adev: amdgpu_device): Co {
  const ih = adev.irq.ih;
  const sim = getSim();
  const idle = new IhEmpty(adev.name);
  for (;;) {
    const e = amdgpu_ih_ring_peek(ih);
    if (!e) {
      ih.handler_sleeping = true;
      sim.block(idle, true);
      yield BLOCK;
      continue;
    }
    yield* gmc_v9_0_process_interrupt(adev, ih, e);
    ih.rptr++;
    ih.processed_timestamp = e.timestamp;
    wake_up_all(ih.processed);
    yield* cond_resched();
  }
}

/** Make sure the handler task will look at the ring. */
function amdgpu_irq_kick(adev: amdgpu_device): void {
  const ih = adev.irq.ih;
  const sim = getSim();
  if (!ih.handler || ih.handler.done) {
    ih.handler_sleeping = false;
    ih.handler = sim.spawn(`irq/${adev.name}`, () => amdgpu_irq_handler(adev), { daemon: true });
    return;
  }
  if (ih.handler_sleeping) {
    ih.handler_sleeping = false;
    sim.wake(ih.handler);
  }
}

/**
 * The GPU raises a retry fault: write the entry and wake the handler. Returns the entry's
 * sequence number (it is processed once ih.rptr passes it), or -1 when the ring overflowed and
 * the entry was lost.
 */
export function amdgpu_ih_raise_retry_fault(adev: amdgpu_device, e: amdgpu_iv_entry): number {
  const ih = adev.irq.ih;
  const seq = amdgpu_ih_ring_push(ih, e);
  if (seq < 0) {
    const sim = getSim();
    sim.counters.add('ih_overflows', 1, adev.name);
    sim.trace.emit('amdgpu.ih', {
      gpu: adev.name,
      pasid: e.pasid,
      page: e.addr,
      action: 'overflow',
    });
    return -1;
  }
  amdgpu_irq_kick(adev);
  return seq;
}

/**
 * amdgpu_ih_wait_on_checkpoint_process_ts: wait until every entry written before the call has
 * been processed (KFD's svm_range_drain_retry_fault; teardown). 0, or -ETIMEDOUT after 1 s.
 */
export function* amdgpu_ih_wait_on_checkpoint_process_ts(
  adev: amdgpu_device,
  ih: amdgpu_ih_ring = adev.irq.ih,
): Co<number> {
  const checkpoint = ih.wptr;
  const left = yield* wait_event_timeout(ih.processed, () => ih.rptr >= checkpoint, 1_000_000_000);
  return left > 0 ? 0 : -ETIMEDOUT;
}

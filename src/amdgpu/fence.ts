/**
 * A minimal struct dma_fence (include/linux/dma-fence.h) for page-table updates: amdgpu hands
 * one back from amdgpu_vm_update_range and callers wait on it before flushing or resuming.
 * SIM: compute VMs update page tables with the CPU (see amdgpu_vm.use_cpu_for_update), so
 * every update fence the model creates is already signaled; the type exists so that callers
 * keep the kernel's wait calls and a later SDMA-update model can make them asynchronous.
 */
import { might_sleep } from '../sim/locks.js';
import type { Co } from '../sim/task.js';
import { WaitQueue, wait_event, wake_up_all } from '../sim/wait.js';

export class dma_fence {
  signaled = false;
  readonly wq: WaitQueue;
  constructor(readonly name: string) {
    this.wq = new WaitQueue(`fence ${name}`);
  }
}

/** dma_fence_get_stub(): an already signaled fence. */
export function dma_fence_get_stub(): dma_fence {
  const f = new dma_fence('stub');
  f.signaled = true;
  return f;
}

export function dma_fence_is_signaled(f: dma_fence): boolean {
  return f.signaled;
}

export function dma_fence_signal(f: dma_fence): void {
  f.signaled = true;
  wake_up_all(f.wq);
}

/** dma_fence_wait(fence, intr): 0 once signaled (interruption is not modelled). */
export function* dma_fence_wait(f: dma_fence, _intr = false): Co<number> {
  might_sleep('dma_fence_wait');
  yield* wait_event(f.wq, () => f.signaled);
  return 0;
}

/** Out parameter for a fence (`struct dma_fence **fence`). */
export interface FenceOut {
  fence: dma_fence | null;
}

/**
 * A minimal struct dma_fence (include/linux/dma-fence.h) for page-table updates: amdgpu hands
 * one back from amdgpu_vm_update_range and callers wait on it before flushing or resuming.
 * SIM: compute VMs update page tables with the CPU (see amdgpu_vm.use_cpu_for_update), so
 * every update fence the model creates is already signaled; the type exists so that callers
 * keep the kernel's wait calls and a later SDMA-update model can make them asynchronous.
 */
import { might_sleep } from '../sim/locks.js';
import { co_return, type Co } from '../sim/task.js';
import { WaitQueue, wait_event, wake_up_all } from '../sim/wait.js';

export class dma_fence {
  signaled = false;
  readonly wq: WaitQueue;
  constructor(readonly name: string) {
    this.wq = new WaitQueue(`fence ${name}`);
  }
}

/** The stub fence (dma-fence.c dma_fence_stub): signaled, shared by every caller. */
const dma_fence_stub = new dma_fence('stub');
dma_fence_stub.signaled = true;

/** dma_fence_get_stub(): the already signaled stub fence. */
export function dma_fence_get_stub(): dma_fence {
  return dma_fence_stub;
}

export function dma_fence_is_signaled(f: dma_fence): boolean {
  return f.signaled;
}

export function dma_fence_signal(f: dma_fence): void {
  f.signaled = true;
  wake_up_all(f.wq);
}

/** dma_fence_wait(fence, intr): 0 once signaled (interruption is not modelled). */
export function dma_fence_wait(f: dma_fence, _intr = false): Co<number> {
  might_sleep('dma_fence_wait');
  return f.signaled ? co_return(0) : dma_fence_default_wait(f);
}

/** dma_fence_default_wait: sleep until signaled. */
function* dma_fence_default_wait(f: dma_fence): Co<number> {
  yield* wait_event(f.wq, () => f.signaled);
  return 0;
}

/** Out parameter for a fence (`struct dma_fence **fence`). */
export interface FenceOut {
  fence: dma_fence | null;
}

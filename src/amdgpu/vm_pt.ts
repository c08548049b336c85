/**
 * Page-table updates (amdgpu_vm.c amdgpu_vm_update_range, amdgpu_vm_update_pdes,
 * amdgpu_vm_flush_compute_tlb; amdgpu_vm_pt.c amdgpu_vm_pt_alloc) and read-only views of the
 * page tables for the layers above (gpu.mapped, the oracle).
 *
 * SIM: one directory level: a PTB's entries become reachable by the walker once its PDE is
 * written by amdgpu_vm_update_pdes (the real tree has four levels; the rule is the same).
 */
import { ENODEV, EBUSY } from '../sim/errno.js';
import { lockdep_assert_held } from '../sim/locks.js';
import { might_alloc } from '../sim/reclaim.js';
import { getSim } from '../sim/scheduler.js';
import { co_return, type Co } from '../sim/task.js';
import { BUG_ON, WARN_ON, trap } from '../sim/trap.js';
import type { amdgpu_device, amdgpu_vm } from './amdgpu.js';
import { dma_fence_get_stub, type FenceOut } from './fence.js';
import { TLB_FLUSH_HEAVYWEIGHT, amdgpu_gmc_flush_gpu_tlb_pasid } from './gmc.js';
import {
  AMDGPU_VM_PTB_ENTRIES,
  PteStore,
  ptb_index,
  ptb_offset,
  type PteChunk,
} from './pagetable.js';
import { AMDGPU_PTE_VALID } from './pte.js';
import { amdgpu_vm_eviction_lock, amdgpu_vm_eviction_unlock } from './vm.js';

/**
 * amdgpu_vm_pt_alloc: make sure the PTB covering `page` exists. The BO is created outside the
 * eviction lock so that the allocation may enter reclaim (with the root reservation held, which
 * lockdep therefore orders before fs_reclaim). A new PTB waits on vm.relocated for its PDE.
 */
function* amdgpu_vm_pt_alloc(vm: amdgpu_vm, page: number): Co<PteChunk> {
  const have = vm.pt.chunk(page);
  if (have) return have;
  amdgpu_vm_eviction_unlock(vm);
  might_alloc('GFP_KERNEL');
  yield* amdgpu_vm_eviction_lock(vm);
  const { chunk, created } = vm.pt.chunkAlloc(page);
  if (created) vm.relocated.add(chunk);
  return chunk;
}

/** The frame a PTE of page `start + i` points at (amdgpu_vm_update_range's cursor). */
function pte_pfn(
  i: number,
  flags: number,
  offset: number,
  vram_base: number,
  pages_addr: ArrayLike<number> | null,
): number {
  if (!(flags & AMDGPU_PTE_VALID)) return 0;
  if (!pages_addr) return vram_base + offset + i;
  const a = pages_addr[offset + i];
  if (a === undefined)
    trap('bug', `amdgpu_vm_update_range: no DMA address for entry ${offset + i}`);
  return a;
}

/** Write PTEs [start, last]; returns the number written. Runs under the eviction lock. */
function* amdgpu_vm_ptes_update(
  vm: amdgpu_vm,
  unlocked: boolean,
  start: number,
  last: number,
  flags: number,
  offset: number,
  vram_base: number,
  pages_addr: ArrayLike<number> | null,
): Co<number> {
  let written = 0;
  for (let page = start; page <= last;) {
    const chunkLast = Math.min(last, (ptb_index(page) + 1) * AMDGPU_VM_PTB_ENTRIES - 1);
    let c = vm.pt.chunk(page);
    if (!c) {
      // Nothing to clear there, and unlocked updates (MMU notifiers) never allocate.
      if (unlocked || flags === 0) {
        WARN_ON(unlocked && (flags & AMDGPU_PTE_VALID) !== 0, 'unlocked map into a missing PTB');
        page = chunkLast + 1;
        continue;
      }
      c = yield* amdgpu_vm_pt_alloc(vm, page);
    }
    for (; page <= chunkLast; page++) {
      PteStore.set(c, page, pte_pfn(page - start, flags, offset, vram_base, pages_addr), flags);
      written++;
    }
  }
  return written;
}

/**
 * amdgpu_vm_tlb_flush (the update's flush request): bump tlb_seq and invalidate the VM's TLB
 * entries. SIM: Linux flushes through a TLB-flush fence for locked compute updates and only
 * bumps tlb_seq for unlocked ones (the caller flushes after); the model flushes in both cases,
 * which is how clarifications.md §2 counts flushes.
 */
function amdgpu_vm_tlb_flush(adev: amdgpu_device, vm: amdgpu_vm): void {
  vm.tlb_seq++;
  amdgpu_gmc_flush_gpu_tlb_pasid(adev, vm.pasid, TLB_FLUSH_HEAVYWEIGHT, true, 0);
}

/**
 * amdgpu_vm_update_range: map [start, last] (page numbers) with `flags`, or clear it (flags
 * without VALID). Frame of page start+i: pages_addr[offset + i] (DMA addresses, which are
 * pfns in the model) when given, else vram_base + offset + i (a contiguous segment). Locked
 * updates need the root reservation; `unlocked` ones (MMU notifiers) only touch existing PTBs.
 * With flush_tlb the VM's TLB entries are invalidated after the write. `fence` receives the
 * update fence (signaled: CPU updates). -EBUSY while the page tables are being evicted.
 * SIM: `immediate`, `allow_override`, `sync` and `res` do not change the model's behaviour;
 * offsets are in pages, not bytes.
 */
export function* amdgpu_vm_update_range(
  adev: amdgpu_device,
  vm: amdgpu_vm,
  _immediate: boolean,
  unlocked: boolean,
  flush_tlb: boolean,
  _allow_override: boolean,
  _sync: null,
  start: number,
  last: number,
  flags: number,
  offset: number,
  vram_base: number,
  _res: null,
  pages_addr: ArrayLike<number> | null,
  fence: FenceOut | null,
): Co<number> {
  if (vm.dead) trap('use-after-free', `amdgpu_vm_update_range on a finished VM of ${adev.name}`);
  if (vm.adev !== adev) return -ENODEV;
  BUG_ON(last < start, 'amdgpu_vm_update_range: last < start');
  BUG_ON(
    flags < 0 || flags > 0xffff,
    `amdgpu_vm_update_range: flags ${flags} outside the model's 16 bits`,
  );
  if (!unlocked) lockdep_assert_held(vm.root.bo.resv);
  yield* amdgpu_vm_eviction_lock(vm);
  if (vm.evicting) {
    amdgpu_vm_eviction_unlock(vm);
    return -EBUSY;
  }
  const sim = getSim();
  const n = yield* amdgpu_vm_ptes_update(
    vm,
    unlocked,
    start,
    last,
    flags,
    offset,
    vram_base,
    pages_addr,
  );
  sim.account('pte_writes', n, 'pte_write', adev.name);
  sim.trace.emit('amdgpu.vm_update', {
    gpu: adev.name,
    pasid: vm.pasid,
    start,
    npages: last - start + 1,
    flags,
    unlocked,
    flush: flush_tlb,
  });
  if (flush_tlb) amdgpu_vm_tlb_flush(adev, vm);
  vm.last_update = dma_fence_get_stub();
  if (fence) fence.fence = vm.last_update;
  amdgpu_vm_eviction_unlock(vm);
  return 0;
}

/**
 * amdgpu_vm_update_pdes: write the PDEs of the PTBs allocated since the last call, making
 * their entries reachable by the GPU's page walker. Needs the root reservation. SIM: the CPU
 * writes the PDEs and nothing waits, so it returns without sleeping.
 */
export function amdgpu_vm_update_pdes(
  adev: amdgpu_device,
  vm: amdgpu_vm,
  _immediate: boolean,
): Co<number> {
  lockdep_assert_held(vm.root.bo.resv);
  if (vm.relocated.size === 0) return co_return(0);
  if (vm.dead) return co_return(-ENODEV);
  const n = vm.relocated.size;
  for (const c of vm.relocated) c.pde_valid = true;
  vm.relocated.clear();
  const sim = getSim();
  sim.account('pde_writes', n, 'pte_write', adev.name);
  sim.trace.emit('amdgpu.update_pdes', { gpu: adev.name, pasid: vm.pasid, pdes: n });
  return co_return(0);
}

/**
 * amdgpu_vm_flush_compute_tlb: flush the compute VM's TLB unless nothing was updated with a
 * flush request since the last call (tlb_seq unchanged). Linux flushes each XCC of
 * `xcc_mask`; the model has one TLB per GPU and flushes once. SIM: the flush does not wait
 * (amdgpu_gmc_flush_gpu_tlb_pasid is immediate), so it returns without sleeping.
 */
export function amdgpu_vm_flush_compute_tlb(
  adev: amdgpu_device,
  vm: amdgpu_vm,
  flush_type: number,
  xcc_mask: number,
): Co<number> {
  WARN_ON(!vm.is_compute_context, 'amdgpu_vm_flush_compute_tlb on a non-compute VM');
  const tlb_seq = vm.tlb_seq;
  const last = vm.kfd_last_flushed_seq;
  vm.kfd_last_flushed_seq = tlb_seq;
  if (last === tlb_seq) return co_return(0);
  if (xcc_mask === 0) return co_return(0);
  return co_return(amdgpu_gmc_flush_gpu_tlb_pasid(adev, vm.pasid, flush_type, true, 0));
}

// ---- views for the layers above --------------------------------------------------------

/**
 * The PTE flags the GPU's page walker finds for `page` now (0 when its PTB is missing or its
 * PDE not written yet). No TLB involved.
 */
export function amdgpu_vm_pte_flags(vm: amdgpu_vm, page: number): number {
  const c = vm.pt.chunk(page);
  return c && c.pde_valid ? (c.flags[ptb_offset(page)] as number) : 0;
}

/** The frame of the PTE of `page` (meaningful when amdgpu_vm_pte_flags has VALID). */
export function amdgpu_vm_pte_pfn(vm: amdgpu_vm, page: number): number {
  return vm.pt.pfn(page);
}

/** Pages of [start, start + npages) with a VALID PTE reachable by the walker. */
export function amdgpu_vm_count_mapped(vm: amdgpu_vm, start: number, npages: number): number {
  let n = 0;
  const end = start + npages;
  for (let page = start; page < end;) {
    const chunkEnd = Math.min(end, (ptb_index(page) + 1) * AMDGPU_VM_PTB_ENTRIES);
    const c = vm.pt.chunk(page);
    if (c && c.pde_valid) {
      for (; page < chunkEnd; page++) {
        if ((c.flags[ptb_offset(page)] as number) & AMDGPU_PTE_VALID) n++;
      }
    }
    page = chunkEnd;
  }
  return n;
}

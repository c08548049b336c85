/**
 * GPU page-table updates of the SVM range layer (RFC V1 patches 07-08, amdgpu_svm_range.c;
 * shared/spec/rfc-series.md §3.3, §3.4): the page-directory lock, a locked update of a page
 * interval, the coalesced update of a range from its DMA addresses, and the unlocked PTE
 * clear of the notifier. Addresses are page numbers; a DMA address is a frame number.
 */
import {
  DRM_INTERCONNECT_SYSTEM,
  drm_gpusvm_range_end,
  drm_gpusvm_range_start,
  type drm_gpusvm_range,
  type drm_pagemap_addr,
} from '../../drm/index.js';
import type { MmuNotifierRange } from '../../mm/mm_types.js';
import { EINVAL, EOPNOTSUPP } from '../../sim/errno.js';
import { lockdep_assert_held } from '../../sim/locks.js';
import { memalloc_noreclaim_restore, memalloc_noreclaim_save } from '../../sim/reclaim.js';
import type { Co } from '../../sim/task.js';
import { dma_fence_wait, type FenceOut } from '../fence.js';
import { amdgpu_vm_lock_pd, amdgpu_vm_unlock_pd } from '../vm.js';
import { amdgpu_vm_update_pdes, amdgpu_vm_update_range } from '../vm_pt.js';
import type { amdgpu_svm } from './amdgpu_svm.js';
import { AMDGPU_INTERCONNECT_P2P, AMDGPU_INTERCONNECT_VRAM } from './devmem.js';
import type { amdgpu_svm_vram_pte_flags } from './amdgpu_svm_pte.js';

/**
 * amdgpu_svm_range_lock_vm_pd (V1 patch 07): lock the VM's root page directory through
 * drm_exec (amdgpu_vm_lock_pd, DRM_EXEC_IGNORE_DUPLICATES). SIM: no drm_exec; the caller
 * unlocks with amdgpu_svm_range_unlock_vm_pd (drm_exec_fini).
 */
export function amdgpu_svm_range_lock_vm_pd(svm: amdgpu_svm): Co<number> {
  return amdgpu_vm_lock_pd(svm.vm);
}

export function amdgpu_svm_range_unlock_vm_pd(svm: amdgpu_svm): void {
  amdgpu_vm_unlock_pd(svm.vm);
}

/**
 * amdgpu_svm_range_update_gpu (V1 patch 07): under the page-directory lock, one locked
 * amdgpu_vm_update_range of [start_page, last_page] (pte_flags 0 clears), then optionally a
 * fence wait and amdgpu_vm_update_pdes.
 */
export function* amdgpu_svm_range_update_gpu(
  svm: amdgpu_svm,
  start_page: number,
  last_page: number,
  pte_flags: number,
  pages_addr: ArrayLike<number> | null,
  flush_tlb: boolean,
  update_pdes: boolean,
  wait_fence: boolean,
): Co<number> {
  let ret = yield* amdgpu_svm_range_lock_vm_pd(svm);
  if (ret) return ret;
  const fence: FenceOut = { fence: null };
  ret = yield* amdgpu_vm_update_range(
    svm.adev,
    svm.vm,
    false,
    false,
    flush_tlb,
    true,
    null,
    start_page,
    last_page,
    pte_flags,
    0,
    0,
    null,
    pages_addr,
    wait_fence ? fence : null,
  );
  if (!ret && wait_fence && fence.fence) ret = yield* dma_fence_wait(fence.fence, false);
  if (!ret && update_pdes) ret = yield* amdgpu_vm_update_pdes(svm.adev, svm.vm, false);
  amdgpu_svm_range_unlock_vm_pd(svm);
  return ret;
}

/** v8: the PTE flags for a DMA entry of protocol `proto`; null when this mapping has none. */
function amdgpu_svm_entry_pte_flags(
  proto: number,
  pte_flags: number,
  vram: amdgpu_svm_vram_pte_flags | null,
): number | null {
  if (proto === DRM_INTERCONNECT_SYSTEM) return pte_flags;
  if (proto === AMDGPU_INTERCONNECT_VRAM) return vram?.local ?? null;
  if (proto === AMDGPU_INTERCONNECT_P2P) return vram?.remote ?? null;
  return null;
}

/**
 * amdgpu_svm_range_update_gpu_range (V1 patch 07): program the whole range from its DMA
 * addresses, coalescing physically contiguous entries into one amdgpu_vm_update_range each
 * (a contiguous segment at its first DMA address); flush_tlb and the fence go with the last
 * segment. `coalesce` false is V3's one update per DMA entry (V3 patch 07 dropped the
 * coalescing; V7 brought it back). A non-system entry is -EOPNOTSUPP (V1 maps system pages
 * only), unless `vram_pte_flags` is given (`migration: true`, v8): an own-VRAM entry then
 * maps with its `local` flags and a peer's (P2P) with its `remote` flags, segments
 * splitting where the protocol changes. notifier_lock held.
 */
export function* amdgpu_svm_range_update_gpu_range(
  svm: amdgpu_svm,
  range: drm_gpusvm_range,
  pte_flags: number,
  flush_tlb: boolean,
  wait_fence: boolean,
  fence: FenceOut,
  vram_pte_flags: amdgpu_svm_vram_pte_flags | null = null,
  coalesce = true,
): Co<number> {
  // FLAW flaw-unlocked-commit (spec §7.5, patch 07): that variant writes the PTEs after
  // dropping notifier_lock, so the rule is not asserted there (the oracle finds what breaks).
  if (!svm.ctx.env.options['flaw-unlocked-commit']) lockdep_assert_held(svm.gpusvm.notifier_lock);
  const range_start_page = drm_gpusvm_range_start(range);
  const npages = drm_gpusvm_range_end(range) - range_start_page;
  const dma_addr = range.pages.dma_addr;
  if (!dma_addr || !npages) return -EINVAL;
  let mapped_pages = 0;
  let dma_idx = 0;
  while (mapped_pages < npages) {
    const entry = dma_addr[dma_idx++] as drm_pagemap_addr;
    let seg_pages = Math.min(2 ** entry.order, npages - mapped_pages);
    const seg_addr = entry.addr;
    const seg_flags = amdgpu_svm_entry_pte_flags(entry.proto, pte_flags, vram_pte_flags);
    if (seg_flags === null) return -EOPNOTSUPP;
    while (coalesce && mapped_pages + seg_pages < npages) {
      const next = dma_addr[dma_idx] as drm_pagemap_addr;
      const next_pages = Math.min(2 ** next.order, npages - (mapped_pages + seg_pages));
      if (next.proto !== entry.proto || next.addr !== seg_addr + seg_pages) break;
      seg_pages += next_pages;
      dma_idx++;
    }
    const start_page = range_start_page + mapped_pages;
    const last_page = start_page + seg_pages - 1;
    const is_last_seg = mapped_pages + seg_pages === npages;
    const ret = yield* amdgpu_vm_update_range(
      svm.adev,
      svm.vm,
      false,
      false,
      flush_tlb && is_last_seg,
      true,
      null,
      start_page,
      last_page,
      seg_flags,
      0,
      seg_addr,
      null,
      null,
      wait_fence && is_last_seg ? fence : null,
    );
    if (ret) return ret;
    mapped_pages += seg_pages;
  }
  return 0;
}

/**
 * amdgpu_svm_range_gpu_unmap_in_notifier (V1 patch 08): clear the PTEs of the range clamped
 * to the notifier interval with an unlocked update that flushes the TLB, under
 * memalloc_noreclaim (we are in the notifier), then wait for the fence synchronously.
 */
export function* amdgpu_svm_range_gpu_unmap_in_notifier(
  svm: amdgpu_svm,
  range: drm_gpusvm_range,
  mmu_range: MmuNotifierRange,
): Co<number> {
  const start = Math.max(drm_gpusvm_range_start(range), mmu_range.start);
  const end = Math.min(drm_gpusvm_range_end(range), mmu_range.end);
  if (end <= start) return 0;
  const fence: FenceOut = { fence: null };
  // FLAW flaw-no-tlb-flush (clarifications.md §2, RFC V1 patch 08): each range's clear is an
  // update with flush set; without it the GPU keeps translations to frames the CPU dropped.
  const flush_tlb = !svm.ctx.env.options['flaw-no-tlb-flush'];
  const flags = memalloc_noreclaim_save();
  let ret = yield* amdgpu_vm_update_range(
    svm.adev,
    svm.vm,
    false,
    true,
    flush_tlb,
    false,
    null,
    start,
    end - 1,
    0,
    0,
    0,
    null,
    null,
    fence,
  );
  memalloc_noreclaim_restore(flags);
  if (!ret && fence.fence) ret = yield* dma_fence_wait(fence.fence, false);
  return ret;
}

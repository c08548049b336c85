/**
 * The memory controller's software side (amdgpu_gmc.c): the retry-fault filter and TLB
 * invalidation by PASID.
 */
import { getSim } from '../sim/scheduler.js';
import {
  AMDGPU_GMC_FAULT_RING_SIZE,
  AMDGPU_GMC_FAULT_TIMEOUT,
  type amdgpu_device,
  type amdgpu_ih_ring,
} from './amdgpu.js';
import { amdgpu_ih_ts_after } from './ih.js';
import type { PteStore } from './pagetable.js';

/** enum TLB_FLUSH_TYPE (kgd_kfd_interface.h). */
export const TLB_FLUSH_LEGACY = 0;
export const TLB_FLUSH_LIGHTWEIGHT = 1;
export const TLB_FLUSH_HEAVYWEIGHT = 2;

/**
 * hash_64(amdgpu_gmc_fault_key(addr, pasid), AMDGPU_GMC_FAULT_HASH_ORDER). The key is
 * `addr << 4 | pasid` in C; page numbers may exceed 2^32, so the model mixes the page's two
 * halves and the PASID with 32-bit multiplies (a different hash, the same bucket semantics).
 */
function amdgpu_gmc_fault_hash(page: number, pasid: number): number {
  const lo = (page % 0x100000000) | 0;
  const hi = Math.floor(page / 0x100000000) | 0;
  const h = Math.imul(lo ^ Math.imul(hi, 0x85ebca77) ^ Math.imul(pasid, 0xc2b2ae35), 0x9e3779b1);
  return h >>> 24;
}

function key_is(adev: amdgpu_device, idx: number, page: number, pasid: number): boolean {
  const gmc = adev.gmc;
  return gmc.fault_key_page[idx] === page && gmc.fault_key_pasid[idx] === pasid;
}

/**
 * amdgpu_gmc_filter_faults: true when the retry fault should be dropped: it is older than the
 * last processed entry, the same page and PASID faulted within AMDGPU_GMC_FAULT_TIMEOUT
 * ticks, or the filter ring has no slot older than the window. Otherwise it is recorded in
 * the ring and its hash chain, and false is returned (the fault is new and must be handled).
 */
export function amdgpu_gmc_filter_faults(
  adev: amdgpu_device,
  ih: amdgpu_ih_ring,
  addr: number,
  pasid: number,
  timestamp: number,
): boolean {
  const gmc = adev.gmc;
  // Stale retry fault if the timestamp goes backward.
  if (amdgpu_ih_ts_after(timestamp, ih.processed_timestamp)) return true;
  const stamp = Math.max(timestamp, AMDGPU_GMC_FAULT_TIMEOUT + 1) - AMDGPU_GMC_FAULT_TIMEOUT;
  // No space left in the ring: drop.
  if ((gmc.fault_timestamp[gmc.last_fault] as number) >= stamp) return true;
  const hash = amdgpu_gmc_fault_hash(addr, pasid);
  let idx = gmc.fault_hash_idx[hash] as number;
  while ((gmc.fault_timestamp[idx] as number) >= stamp) {
    if (key_is(adev, idx, addr, pasid)) return true;
    const tmp = gmc.fault_timestamp[idx] as number;
    idx = gmc.fault_next[idx] as number;
    // The chain ends where an entry was reused for a newer fault.
    if ((gmc.fault_timestamp[idx] as number) >= tmp) break;
  }
  const slot = gmc.last_fault;
  gmc.fault_key_page[slot] = addr;
  gmc.fault_key_pasid[slot] = pasid;
  gmc.fault_timestamp[slot] = timestamp;
  gmc.fault_next[slot] = gmc.fault_hash_idx[hash] as number;
  gmc.fault_hash_idx[hash] = slot;
  gmc.last_fault = (slot + 1) % AMDGPU_GMC_FAULT_RING_SIZE;
  return false;
}

/**
 * amdgpu_gmc_filter_faults_remove: forget the fault on (addr, pasid), so that the hardware's
 * next retry of it reaches the handler instead of being filtered (fault handlers call it when
 * they could not make progress and want to see the fault again).
 */
export function amdgpu_gmc_filter_faults_remove(
  adev: amdgpu_device,
  addr: number,
  pasid: number,
): void {
  const gmc = adev.gmc;
  const hash = amdgpu_gmc_fault_hash(addr, pasid);
  let idx = gmc.fault_hash_idx[hash] as number;
  let tmp: number;
  do {
    if (key_is(adev, idx, addr, pasid)) {
      gmc.fault_key_page[idx] = -1;
      break;
    }
    tmp = gmc.fault_timestamp[idx] as number;
    idx = gmc.fault_next[idx] as number;
  } while ((gmc.fault_timestamp[idx] as number) < tmp);
}

/**
 * amdgpu_gmc_flush_gpu_tlb_pasid: invalidate every cached translation of `pasid` on the GPU.
 * Counts `tlb_flushes` and charges `tlb_flush`. SIM: the flush types all drop the whole
 * PASID's entries (the model has no page-walk caches that only a heavyweight flush reaches),
 * and one TLB stands for every XCC, so `inst` is ignored and callers flush once.
 */
export function amdgpu_gmc_flush_gpu_tlb_pasid(
  adev: amdgpu_device,
  pasid: number,
  flush_type: number,
  _all_hub: boolean,
  _inst: number,
): number {
  const sim = getSim();
  adev.tlb.vms.get(pasid)?.invalidate();
  sim.account('tlb_flushes', 1, 'tlb_flush', adev.name);
  sim.trace.emit('amdgpu.tlb_flush', { gpu: adev.name, pasid, flush_type });
  return 0;
}

/** The TLB entries of `pasid` on `adev` (undefined until a page walk fills one). */
export function amdgpu_tlb_get(adev: amdgpu_device, pasid: number): PteStore | undefined {
  return adev.tlb.vms.get(pasid);
}

/**
 * Interrupt-handler ring timestamps and entries (amdgpu_ih.c, amdgpu_ih.h).
 *
 * IH timestamps are 48-bit counters. SIM: they tick at 100 MHz (one tick per 10 ns of virtual
 * time), the SOC15 reference clock; the spec leaves the rate unverified. So the fault filter's
 * AMDGPU_GMC_FAULT_TIMEOUT of 5000 ticks is 50 us.
 */
import { getSim } from '../sim/scheduler.js';
import type { amdgpu_ih_ring } from './amdgpu.js';

export const AMDGPU_IH_TS_NS_PER_TICK = 10;
const TS_MOD = 2 ** 48;
const TS_HALF = 2 ** 47;

/** The IH timestamp of virtual time `ns` (the current time by default). */
export function amdgpu_ih_ts_now(ns: number = getSim().now()): number {
  return Math.floor(ns / AMDGPU_IH_TS_NS_PER_TICK) % TS_MOD;
}

/** (t2 - t1) as a signed 48-bit difference, as the C macros get by shifting left 16 bits. */
function ts_diff(t1: number, t2: number): number {
  let d = (t2 - t1) % TS_MOD;
  if (d < 0) d += TS_MOD;
  return d >= TS_HALF ? d - TS_MOD : d;
}

/** amdgpu_ih_ts_after(t1, t2): t2 is strictly after t1. */
export function amdgpu_ih_ts_after(t1: number, t2: number): boolean {
  return ts_diff(t1, t2) > 0;
}

/** amdgpu_ih_ts_after_or_equal(t1, t2): t2 is at or after t1 (clarifications.md §3). */
export function amdgpu_ih_ts_after_or_equal(t1: number, t2: number): boolean {
  return ts_diff(t1, t2) >= 0;
}

/** A decoded retry-fault entry (struct amdgpu_iv_entry, the fields gmc_v9 reads). */
export interface amdgpu_iv_entry {
  readonly pasid: number;
  readonly vmid: number;
  readonly node_id: number;
  /** Faulting page number. */
  readonly addr: number;
  readonly timestamp: number;
  readonly write_fault: boolean;
}

/** Free slots left in the ring. */
export function amdgpu_ih_space(ih: amdgpu_ih_ring): number {
  return ih.ring_size - (ih.wptr - ih.rptr);
}

/**
 * The hardware writes one entry: its sequence number, or -1 when the ring is full (the entry
 * is lost, as on a ring overflow; the wave keeps retrying and faults again).
 */
export function amdgpu_ih_ring_push(ih: amdgpu_ih_ring, e: amdgpu_iv_entry): number {
  if (amdgpu_ih_space(ih) <= 0) return -1;
  const slot = ih.wptr % ih.ring_size;
  ih.pasid[slot] = e.pasid;
  ih.vmid[slot] = e.vmid;
  ih.addr[slot] = e.addr;
  ih.timestamp[slot] = e.timestamp;
  ih.write_fault[slot] = e.write_fault ? 1 : 0;
  ih.wptr_timestamp = e.timestamp;
  return ih.wptr++;
}

/** Decode the entry at rptr (amdgpu_ih_decode_iv) without consuming it. */
export function amdgpu_ih_ring_peek(ih: amdgpu_ih_ring): amdgpu_iv_entry | null {
  if (ih.rptr === ih.wptr) return null;
  const slot = ih.rptr % ih.ring_size;
  return {
    pasid: ih.pasid[slot] as number,
    vmid: ih.vmid[slot] as number,
    node_id: 0,
    addr: ih.addr[slot] as number,
    timestamp: ih.timestamp[slot] as number,
    write_fault: ih.write_fault[slot] === 1,
  };
}

/**
 * The timestamp at the ring's write pointer: what amdgpu_ih_decode_iv_ts(adev, ih, wptr, -1)
 * gives a checkpoint (the RFC V2 design's amdgpu_svm_capture_checkpoint_ts, KFD's drain).
 * With nothing ever written it is 0, as the zeroed ring memory decodes in Linux.
 */
export function amdgpu_ih_checkpoint_ts(ih: amdgpu_ih_ring): number {
  return ih.wptr_timestamp;
}

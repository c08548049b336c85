import { describe, expect, it } from 'vitest';
import type { Co } from '../../src/sim/index.js';
import {
  AMDGPU_GMC_FAULT_RING_SIZE,
  AMDGPU_IH_RING_ENTRIES,
  amdgpu_gmc_filter_faults,
  amdgpu_gmc_filter_faults_remove,
  amdgpu_ih_checkpoint_ts,
  amdgpu_ih_raise_retry_fault,
  amdgpu_ih_ring_push,
  amdgpu_ih_ts_after,
  amdgpu_ih_ts_after_or_equal,
  amdgpu_ih_ts_now,
  amdgpu_ih_wait_on_checkpoint_process_ts,
  type amdgpu_iv_entry,
} from '../../src/amdgpu/index.js';
import { makeWorld, runMain } from './helpers.js';

const entry = (addr: number, timestamp: number, pasid = 1): amdgpu_iv_entry => ({
  pasid,
  vmid: 8,
  node_id: 0,
  addr,
  timestamp,
  write_fault: false,
});

describe('IH timestamps', () => {
  it('tick at 100 MHz and compare in the 48-bit domain', () => {
    expect(amdgpu_ih_ts_now(12_345)).toBe(1_234);
    expect(amdgpu_ih_ts_after(1, 2)).toBe(true);
    expect(amdgpu_ih_ts_after(2, 1)).toBe(false);
    expect(amdgpu_ih_ts_after(5, 5)).toBe(false);
    expect(amdgpu_ih_ts_after_or_equal(5, 5)).toBe(true);
    // Wrap-around: 0 comes right after 2^48 - 1.
    expect(amdgpu_ih_ts_after(2 ** 48 - 1, 0)).toBe(true);
    expect(amdgpu_ih_ts_after(0, 2 ** 48 - 1)).toBe(false);
  });
});

describe('amdgpu_gmc_filter_faults', () => {
  it('drops the same page and PASID within 5000 ticks, and only that', () => {
    const w = makeWorld();
    const ih = w.gpu0.irq.ih;
    const f = (page: number, ts: number, pasid = 1) =>
      amdgpu_gmc_filter_faults(w.gpu0, ih, page, pasid, ts);
    expect(f(100, 10_000)).toBe(false); // new
    expect(f(100, 14_999)).toBe(true); // duplicate
    expect(f(100, 15_000, 2)).toBe(false); // other PASID
    expect(f(101, 15_000)).toBe(false); // other page
    expect(f(100, 15_001)).toBe(false); // window passed
    expect(f(100, 15_002)).toBe(true);
    // A handler that wants to see the next retry removes the fault from the filter.
    amdgpu_gmc_filter_faults_remove(w.gpu0, 100, 1);
    expect(f(100, 15_003)).toBe(false);
    // Large page numbers (57-bit VAs) are keys like any other.
    const big = 2 ** 44 + 7;
    expect(f(big, 20_000)).toBe(false);
    expect(f(big, 20_001)).toBe(true);
    expect(f(big + 2 ** 32, 20_002)).toBe(false);
  });

  it('drops faults older than the last processed one, and any fault when the ring is full', () => {
    const w = makeWorld();
    const ih = w.gpu0.irq.ih;
    ih.processed_timestamp = 50_000;
    expect(amdgpu_gmc_filter_faults(w.gpu0, ih, 1, 1, 49_999)).toBe(true);
    for (let i = 0; i < AMDGPU_GMC_FAULT_RING_SIZE; i++) {
      expect(amdgpu_gmc_filter_faults(w.gpu0, ih, 1000 + i, 1, 60_000)).toBe(false);
    }
    expect(amdgpu_gmc_filter_faults(w.gpu0, ih, 5000, 1, 60_000)).toBe(true);
    // Once the oldest entry left the window its slot is reused.
    expect(amdgpu_gmc_filter_faults(w.gpu0, ih, 5000, 1, 65_001)).toBe(false);
  });
});

describe('the IH ring', () => {
  it('overflows after its entries; the checkpoint is the last written timestamp', () => {
    const w = makeWorld();
    const ih = w.gpu0.irq.ih;
    expect(amdgpu_ih_checkpoint_ts(ih)).toBe(0);
    for (let i = 0; i < AMDGPU_IH_RING_ENTRIES; i++) {
      expect(amdgpu_ih_ring_push(ih, entry(i, 100 + i))).toBe(i);
    }
    expect(amdgpu_ih_ring_push(ih, entry(999, 999))).toBe(-1);
    expect(amdgpu_ih_checkpoint_ts(ih)).toBe(100 + AMDGPU_IH_RING_ENTRIES - 1);
  });

  it('the handler drains raised faults (unknown PASIDs are unhandled) and checkpoints wait', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const ih = w.gpu0.irq.ih;
      for (let i = 0; i < 3; i++)
        amdgpu_ih_raise_retry_fault(w.gpu0, entry(10 * i, 1000 * (i + 1), 77));
      expect(ih.wptr).toBe(3);
      expect(ih.rptr).toBe(0);
      expect(yield* amdgpu_ih_wait_on_checkpoint_process_ts(w.gpu0)).toBe(0);
      expect(ih.rptr).toBe(3);
      expect(ih.processed_timestamp).toBe(3000);
      const handler = ih.handler;
      expect(handler?.daemon).toBe(true);
      // Raising again wakes the same idle handler.
      amdgpu_ih_raise_retry_fault(w.gpu0, entry(5, 4000, 77));
      yield* amdgpu_ih_wait_on_checkpoint_process_ts(w.gpu0);
      expect(ih.handler).toBe(handler);
      expect(handler?.done).toBe(false);
    });
    expect(w.sim.counters.get('gpu_faults_unhandled@gpu0')).toBe(4);
  });
});

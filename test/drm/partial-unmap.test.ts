/**
 * The partial-unmap flow Brost describes (spec rfc-series.md §7.1; drm-gpusvm.md §4.5):
 * fault 2 MiB, unmap 1 MiB of it, the range is flagged unmapped + partial_unmap (never
 * split), the driver removes it whole, and the refault creates a smaller range over what
 * is left.
 */
import { describe, expect, it } from 'vitest';
import { EFAULT, type Co } from '../../src/sim/index.js';
import {
  PTE_DEVICE_PRIVATE,
  PTE_PRESENT,
  cpu_read_range,
  cpu_write_range,
  do_munmap,
  mm_pte_kind,
} from '../../src/mm/index.js';
import {
  IS_ERR,
  drm_gpusvm_range_end,
  drm_gpusvm_range_evict,
  drm_gpusvm_range_find_or_insert,
  drm_gpusvm_range_get_pages,
  drm_gpusvm_range_remove,
  drm_gpusvm_range_start,
  drm_pagemap_populate_mm,
  type drm_gpusvm_range,
} from '../../src/drm/index.js';
import { SZ_1M, SZ_2M, locked, machine, mmap, run, svm_init, type Svm } from './fixture.js';
import { TestVram } from './devmem.js';
import { RefDriver } from './refdrv.js';

const B = 0x10000;

function* insert(svm: Svm, addr: number): Co<drm_gpusvm_range> {
  const r = yield* locked(svm, () =>
    drm_gpusvm_range_find_or_insert(svm.gpusvm, addr, 0, 2 ** 36, {}),
  );
  if (IS_ERR(r)) throw new Error(`find_or_insert: ${r}`);
  return r;
}

const span = (r: drm_gpusvm_range) => [drm_gpusvm_range_start(r), drm_gpusvm_range_end(r)];

describe('partial unmap of a range', () => {
  it('2 MiB faulted, 1 MiB unmapped: flagged, removed whole, refaulted smaller', () => {
    const m = machine();
    run(m, function* () {
      const svm = svm_init(m);
      const gpusvm = svm.gpusvm;
      const dev = m.drm.dev;
      yield* mmap(m.mm, 2 * SZ_2M, { addr: B });
      expect(yield* cpu_write_range(m.mm, B, 2 * SZ_2M, (i) => i + 1)).toBe(0);

      const r = yield* insert(svm, B + 10);
      expect(span(r)).toEqual([B, B + SZ_2M]);
      expect(yield* drm_gpusvm_range_get_pages(gpusvm, r, {})).toBe(0);
      expect(dev.mapped).toBe(SZ_2M);

      // munmap the second MiB of the range: one UNMAP covering part of it.
      expect(yield* do_munmap(m.mm, B + SZ_1M, SZ_1M)).toBe(0);
      expect(r.pages.flags.unmapped).toBe(true);
      expect(r.pages.flags.partial_unmap).toBe(true);
      expect(r.pages.flags.has_dma_mapping).toBe(false);
      expect(dev.mapped).toBe(0); // the notifier DMA-unmapped the whole range
      expect(span(r)).toEqual([B, B + SZ_2M]); // never split
      expect(svm.gc).toEqual([r]);
      // Until the driver removes it, the range is unusable.
      expect(yield* drm_gpusvm_range_get_pages(gpusvm, r, {})).toBe(-EFAULT);
      // find_or_insert still returns it for an address in the part still mapped.
      expect(yield* insert(svm, B + 10)).toBe(r);

      // The driver's garbage collector removes the whole range (and its empty notifier).
      yield* locked(svm, () => drm_gpusvm_range_remove(gpusvm, r));
      expect(gpusvm.root).toHaveLength(0);
      expect(m.mm.notifier_subscriptions?.itree).toHaveLength(0);

      // Refault: the CPU vma is now [B, B + 1M): the 2M chunk no longer fits, 64K does.
      const r2 = yield* insert(svm, B + 10);
      expect(span(r2)).toEqual([B, B + 16]);
      expect(yield* drm_gpusvm_range_get_pages(gpusvm, r2, {})).toBe(0);
      expect(dev.mapped).toBe(16);
      // The untouched second 2M block still gets a 2M range.
      const r3 = yield* insert(svm, B + SZ_2M + 3);
      expect(span(r3)).toEqual([B + SZ_2M, B + 2 * SZ_2M]);

      const c = m.sim.counters;
      expect(c.get('ranges_created')).toBe(3);
      expect(c.get('ranges_removed')).toBe(1);
      expect(c.get('gpusvm_notifiers_created')).toBe(2);
      expect(c.get('gpusvm_notifiers_removed')).toBe(1);
    });
  });

  it('the same flow through the reference driver with the range in VRAM', () => {
    const m = machine();
    run(m, function* () {
      const vram = new TestVram(m, 2048);
      const drv = new RefDriver(m, { chunks: [SZ_2M, 16, 1], notifier_size: 1 << 17, vram });
      yield* mmap(m.mm, SZ_2M, { addr: B });
      expect(yield* cpu_write_range(m.mm, B, SZ_2M, (i) => 100 + i)).toBe(0);

      expect(yield* drv.gpu_read(B + 10)).toBe(110); // fault, migrate 2M to VRAM, bind
      expect(vram.region.used).toBe(SZ_2M);
      expect(mm_pte_kind(m.mm, B + 300)).toBe(PTE_DEVICE_PRIVATE);
      const r = [...drv.bound][0] as drm_gpusvm_range;
      expect(span(r)).toEqual([B, B + SZ_2M]);

      expect(yield* do_munmap(m.mm, B + SZ_1M, SZ_1M)).toBe(0);
      expect(r.pages.flags.partial_unmap).toBe(true);
      expect(drv.pt.size).toBe(0);
      // The unmapped half's device pages are gone with their CPU mappings.
      expect(vram.region.used).toBe(SZ_1M);

      // Touch it again: the GC evicts the leftovers (partial_unmap), removes the range,
      // and the fault creates a 64K range, migrated anew.
      expect(yield* drv.gpu_read(B + 10)).toBe(110);
      expect(drv.stats.evicts).toBe(1);
      expect(drv.stats.removed).toBe(1);
      const r2 = [...drv.bound][0] as drm_gpusvm_range;
      expect(span(r2)).toEqual([B, B + 16]);
      expect(r2.pages.flags.has_devmem_pages).toBe(true);
      // The rest of the first MiB is back in RAM with its data.
      expect(mm_pte_kind(m.mm, B + 100)).toBe(PTE_PRESENT);
      const out = new Uint32Array(SZ_1M);
      expect(yield* cpu_read_range(m.mm, B, SZ_1M, out)).toBe(0);
      expect([...out].every((v, i) => v === 100 + i)).toBe(true);

      yield* drv.fini();
      expect(m.drm.dev.mapped).toBe(0);
      expect(vram.device_mapped).toBe(0);
    });
  });

  it('finding: evict of a range whose first part was unmapped moves nothing (-EFAULT)', () => {
    // The DOC example's GC evicts partially unmapped ranges to bring the remaining device
    // pages back; hmm_range_fault walks from the range start and fails at the hole.
    const m = machine();
    run(m, function* () {
      const svm = svm_init(m, { chunks: [32, 1] });
      const vram = new TestVram(m, 64);
      yield* mmap(m.mm, 32, { addr: B });
      expect(yield* cpu_write_range(m.mm, B, 32, 4)).toBe(0);
      const r = yield* insert(svm, B);
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 32, m.mm, 0)).toBe(0);
      expect(yield* do_munmap(m.mm, B, 8)).toBe(0);
      expect(r.pages.flags.partial_unmap).toBe(true);
      expect(yield* drm_gpusvm_range_evict(svm.gpusvm, r)).toBe(-EFAULT);
      expect(vram.region.used).toBe(24); // still in VRAM
      expect(mm_pte_kind(m.mm, B + 20)).toBe(PTE_DEVICE_PRIVATE);
    });
  });
});

/**
 * drm_gpusvm_range_get_pages (spec drm-gpusvm.md §3, §4.3): DMA mapping per page, the fast
 * path, invalidation, read_only, device pages in place, the mixed-page rules (allow_mixed,
 * devmem_only), and the error path that must unmap what it mapped.
 */
import { describe, expect, it } from 'vitest';
import { EFAULT, EOPNOTSUPP, EPERM, type Co } from '../../src/sim/index.js';
import {
  MADV_DONTNEED,
  PROT_READ,
  PTE_DEVICE_PRIVATE,
  PTE_PRESENT,
  cpu_write_range,
  do_madvise,
  do_mprotect,
  mm_pte_kind,
  mm_pte_pfn,
  mm_pte_writable,
} from '../../src/mm/index.js';
import { dma_mapped_count } from '../../src/dma/index.js';
import {
  DRM_INTERCONNECT_DRIVER,
  DRM_INTERCONNECT_SYSTEM,
  IS_ERR,
  LONG_MAX,
  drm_gpusvm_notifier_lock,
  drm_gpusvm_notifier_unlock,
  drm_gpusvm_range_evict,
  drm_gpusvm_range_find_or_insert,
  drm_gpusvm_range_get_pages,
  drm_gpusvm_range_pages_valid,
  drm_gpusvm_range_pages_valid_unlocked,
  drm_gpusvm_range_unmap_pages,
  drm_pagemap_populate_mm,
  type drm_gpusvm_ctx,
  type drm_gpusvm_range,
} from '../../src/drm/index.js';
import { locked, machine, mmap, run, svm_init, type Machine, type Svm } from './fixture.js';
import { TestVram } from './devmem.js';

const B = 0x10000;

function* range_at(svm: Svm, addr: number, ctx: drm_gpusvm_ctx = {}): Co<drm_gpusvm_range> {
  const r = yield* locked(svm, () =>
    drm_gpusvm_range_find_or_insert(svm.gpusvm, addr, 0, 2 ** 36, ctx),
  );
  if (IS_ERR(r)) throw new Error(`find_or_insert: ${r}`);
  return r;
}

function* valid(svm: Svm, r: drm_gpusvm_range): Co<boolean> {
  yield* drm_gpusvm_notifier_lock(svm.gpusvm);
  const v = drm_gpusvm_range_pages_valid(svm.gpusvm, r);
  drm_gpusvm_notifier_unlock(svm.gpusvm);
  return v;
}

/** A 32-page vma with a 32-page range (chunks {32, 1}), values i + 1. */
function* setup(m: Machine): Co<{ svm: Svm; r: drm_gpusvm_range; vram: TestVram }> {
  const svm = svm_init(m, { chunks: [32, 1] });
  const vram = new TestVram(m, 1024);
  yield* mmap(m.mm, 32, { addr: B });
  expect(yield* cpu_write_range(m.mm, B, 32, (i) => i + 1)).toBe(0);
  const r = yield* range_at(svm, B, { devmem_possible: true });
  return { svm, r, vram };
}

describe('drm_gpusvm_range_get_pages', () => {
  it('maps every page, records the sequence, then takes the fast path', () => {
    const m = machine();
    run(m, function* () {
      const { svm, r } = yield* setup(m);
      const dev = m.drm.dev;
      const c = m.sim.counters;
      expect(r.pages.notifier_seq).toBe(LONG_MAX);
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, {})).toBe(0);
      expect(yield* valid(svm, r)).toBe(true);
      expect(c.get('dma_map_pages')).toBe(32);
      expect(dev.mapped).toBe(32);
      expect(dma_mapped_count(dev, mm_pte_pfn(m.mm, B + 7))).toBe(1);
      const e = r.pages.dma_addr?.[7];
      expect(e).toEqual({
        addr: mm_pte_pfn(m.mm, B + 7),
        proto: DRM_INTERCONNECT_SYSTEM,
        order: 0,
        dir: 'DMA_BIDIRECTIONAL',
      });
      expect(r.pages.notifier_seq).toBe(r.notifier.notifier.invalidate_seq);
      const calls = c.get('hmm_range_fault_calls');
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, {})).toBe(0);
      expect(c.get('hmm_range_fault_calls')).toBe(calls); // fast path: pages still valid
      expect(c.get('dma_map_pages')).toBe(32);
      expect(c.get('gpusvm_get_pages_calls')).toBe(2);
      // Explicit unmap outside the notifier.
      yield* drm_gpusvm_range_unmap_pages(svm.gpusvm, r, {});
      expect(dev.mapped).toBe(0);
      expect(yield* drm_gpusvm_range_pages_valid_unlocked(svm.gpusvm, r)).toBe(false);
      expect(r.pages.dma_addr).toBeNull(); // the stale array is freed on the way
    });
  });

  it('any invalidation of the range DMA-unmaps it; the next call faults again', () => {
    const m = machine();
    run(m, function* () {
      const { svm, r } = yield* setup(m);
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, {})).toBe(0);
      expect(yield* do_madvise(m.mm, B + 30, 1, MADV_DONTNEED)).toBe(0); // CLEAR of one page
      expect(r.pages.flags.has_dma_mapping).toBe(false);
      expect(r.pages.flags.unmapped).toBe(false); // not an UNMAP: the range stays
      expect(m.drm.dev.mapped).toBe(0);
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, {})).toBe(0);
      expect(m.drm.dev.mapped).toBe(32);
    });
  });

  it('read_only maps DMA_TO_DEVICE and faults no writable page (zero page)', () => {
    const m = machine();
    run(m, function* () {
      const svm = svm_init(m, { chunks: [32, 1] });
      yield* mmap(m.mm, 32, { addr: B });
      const r = yield* range_at(svm, B, { read_only: true });
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, { read_only: true })).toBe(0);
      expect(r.pages.dma_addr?.[0]?.dir).toBe('DMA_TO_DEVICE');
      expect(r.pages.dma_addr?.[0]?.addr).toBe(0); // the shared zero page
      expect(mm_pte_kind(m.mm, B + 1)).toBe(PTE_PRESENT);
    });
  });

  it('-EPERM when the vma lost write permission, 0 with read_only', () => {
    const m = machine();
    run(m, function* () {
      const { svm, r } = yield* setup(m);
      expect(yield* do_mprotect(m.mm, B, 32, PROT_READ)).toBe(0);
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, {})).toBe(-EPERM);
      expect(m.drm.dev.mapped).toBe(0);
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, { read_only: true })).toBe(0);
    });
  });

  it('device pages of the owner are mapped in place through device_map', () => {
    const m = machine();
    run(m, function* () {
      const { svm, r, vram } = yield* setup(m);
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 32, m.mm, 0)).toBe(0);
      const ctx = { device_private_page_owner: vram.owner, devmem_only: true };
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, ctx)).toBe(0);
      expect(r.pages.flags).toMatchObject({ has_devmem_pages: true, has_dma_mapping: true });
      expect(r.pages.dma_addr?.every((a) => a.proto === DRM_INTERCONNECT_DRIVER)).toBe(true);
      expect(vram.device_mapped).toBe(32);
      expect(m.drm.dev.mapped).toBe(0);
      expect(vram.dpagemap.ref.refcount).toBe(2 + 1); // init, zdd, range
      yield* drm_gpusvm_range_unmap_pages(svm.gpusvm, r, {});
      expect(vram.device_mapped).toBe(0);
      expect(r.pages.dpagemap).toBeNull();
    });
  });

  it('device pages of another owner are migrated to RAM by hmm_range_fault', () => {
    const m = machine();
    run(m, function* () {
      const { svm, r, vram } = yield* setup(m);
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 16, m.mm, 0)).toBe(0);
      // No owner: the Xe "system memory preferred" case.
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, {})).toBe(0);
      expect(r.pages.flags.has_devmem_pages).toBe(false);
      expect(mm_pte_kind(m.mm, B + 3)).toBe(PTE_PRESENT);
      expect(m.drm.dev.mapped).toBe(32);
      expect(vram.region.used).toBe(0);
    });
  });

  it('mixed pages: -EOPNOTSUPP unless allow_mixed; evict makes them all system pages', () => {
    const m = machine();
    run(m, function* () {
      const { svm, r, vram } = yield* setup(m);
      const owner = vram.owner;
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 16, m.mm, 0)).toBe(0);
      expect(
        yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, { device_private_page_owner: owner }),
      ).toBe(-EOPNOTSUPP);
      expect(r.pages.flags.has_dma_mapping).toBe(false);
      // The 16 device mappings the walk made before the system page are undone (SIM: the C
      // device-unmaps through pages.dpagemap, not yet set; see the finding below).
      expect(vram.device_mapped).toBe(0);
      expect(r.pages.dpagemap).toBe(null);
      // allow_mixed: the device pages come first, then system pages: accepted.
      const mixed = { device_private_page_owner: owner, allow_mixed: true };
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, mixed)).toBe(0);
      expect(r.pages.dma_addr?.[15]?.proto).toBe(DRM_INTERCONNECT_DRIVER);
      expect(r.pages.dma_addr?.[16]?.proto).toBe(DRM_INTERCONNECT_SYSTEM);
      expect(m.drm.dev.mapped).toBe(16);
      // devmem_only refuses the system pages.
      yield* drm_gpusvm_range_unmap_pages(svm.gpusvm, r, {});
      expect(
        yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, { ...mixed, devmem_only: true }),
      ).toBe(-EFAULT);
      expect(m.drm.dev.mapped).toBe(0);
      // The caller's contract: evict and retry.
      expect(yield* drm_gpusvm_range_evict(svm.gpusvm, r)).toBe(0);
      expect(mm_pte_kind(m.mm, B)).toBe(PTE_PRESENT);
      expect(
        yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, { device_private_page_owner: owner }),
      ).toBe(0);
      expect(m.drm.dev.mapped).toBe(32);
    });
  });

  it('system pages before device pages: -EOPNOTSUPP even with allow_mixed, nothing leaks', () => {
    const m = machine();
    run(m, function* () {
      const { svm, r, vram } = yield* setup(m);
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B + 16, B + 32, m.mm, 0)).toBe(0);
      expect(mm_pte_kind(m.mm, B + 16)).toBe(PTE_DEVICE_PRIVATE);
      const mixed = { device_private_page_owner: vram.owner, allow_mixed: true };
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, mixed)).toBe(-EOPNOTSUPP);
      expect(m.drm.dev.mapped).toBe(0); // the 16 system pages mapped first were unmapped
    });
  });

  it('with the pre-fix error path (sim_err_unmap_unfixed) those 16 mappings leak', () => {
    const m = machine();
    run(m, function* () {
      const { svm, r, vram } = yield* setup(m);
      svm.gpusvm.sim_err_unmap_unfixed = true;
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B + 16, B + 32, m.mm, 0)).toBe(0);
      const mixed = { device_private_page_owner: vram.owner, allow_mixed: true };
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, mixed)).toBe(-EOPNOTSUPP);
      expect(m.drm.dev.mapped).toBe(16);
    });
  });

  it('finding: with the C error path (sim_err_unmap_dpagemap_unfixed) the device maps leak', () => {
    // drm_gpusvm_get_pages' err_unmap device-unmaps through svm_pages->dpagemap, which is
    // set only on success: the walk's own device_map calls are never undone. Harmless for
    // Xe's own VRAM (device_unmap does nothing there); a P2P mapping of a peer's VRAM
    // (dma_map_resource in the newest Xe) leaks. The explorer found it with two GPUs
    // (scenarios/races/peer-migration-vs-cpu.yaml, select-device-private).
    const m = machine();
    run(m, function* () {
      const { svm, r, vram } = yield* setup(m);
      svm.gpusvm.sim_err_unmap_dpagemap_unfixed = true;
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 16, m.mm, 0)).toBe(0);
      const ctx = { device_private_page_owner: vram.owner };
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, ctx)).toBe(-EOPNOTSUPP);
      expect(vram.device_mapped).toBe(16);
      vram.device_mapped = 0;
    });
  });

  it('finding: device pages the CPU made read-only are still mapped for a writable bind', () => {
    // hmm_range_fault reports the owner's device-private pages as they are, without the
    // write fault HMM_PFN_REQ_WRITE asks for (mm/hmm.c hmm_vma_handle_pte), and drm_gpusvm
    // keeps no per-page write bit: a get_pages without read_only succeeds over a range
    // partly mprotect'ed read-only when those pages are in VRAM, while the same range in
    // system memory gives -EPERM.
    const m = machine();
    run(m, function* () {
      const { svm, r, vram } = yield* setup(m);
      const ctx = { device_private_page_owner: vram.owner };
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 32, m.mm, 0)).toBe(0);
      expect(yield* do_mprotect(m.mm, B + 8, 8, PROT_READ)).toBe(0);
      expect(mm_pte_writable(m.mm, B + 9)).toBe(false);
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, ctx)).toBe(0);
      expect(r.pages.flags.has_devmem_pages).toBe(true);
      // The same in system memory:
      expect(yield* drm_gpusvm_range_evict(svm.gpusvm, r)).toBe(0);
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, ctx)).toBe(-EPERM);
    });
  });
});

/**
 * VRAM as drm_pagemap device memory (src/amdgpu/svm/devmem.ts): system -> VRAM -> system
 * keeps data, a CPU fault brings back the allocation window, VRAM exhaustion evicts once
 * and otherwise fails, another GPU's VRAM pages bounce through system memory, device_map
 * refuses a foreign GPU, and the mm's exit returns all VRAM. With the peer selection
 * (`select-device-private`) the GPUs share one owner, pages move device to device and
 * device_map gives a peer a P2P address.
 */
import { describe, expect, it } from 'vitest';
import { ENOSPC, Sim, type Co } from '../../../src/sim/index.js';
import { DMA_MAPPING_ERROR } from '../../../src/dma/mapping.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MmSystem,
  PROT_READ,
  PROT_WRITE,
  PTE_DEVICE_PRIVATE,
  PTE_PRESENT,
  PhysMem,
  cpu_read,
  cpu_read_range,
  cpu_write_range,
  do_mmap,
  mm_alloc,
  mm_pte_kind,
  mm_pte_pfn,
  mmput,
  type MmStruct,
} from '../../../src/mm/index.js';
import {
  AmdgpuSystem,
  amdgpu_vram_mgr_alloc,
  amdgpu_vram_mgr_free,
  type amdgpu_device,
} from '../../../src/amdgpu/index.js';
import {
  AMDGPU_INTERCONNECT_P2P,
  AMDGPU_INTERCONNECT_VRAM,
  amdgpu_svm_devmem_fini,
  amdgpu_svm_devmem_init,
  amdgpu_svm_devmem_leaks,
  amdgpu_svm_migrate_to_ram,
  amdgpu_svm_migrate_to_vram,
  type amdgpu_svm_vram,
} from '../../../src/amdgpu/svm/devmem.js';

const B = 0x10000;
const f = (i: number) => 0x1000 + i;

interface W {
  sim: Sim;
  sys: MmSystem;
  mm: MmStruct;
  gpus: amdgpu_device[];
  vrams: amdgpu_svm_vram[];
}

function world(ngpus = 1, vram_pages = 64, peer = false): W {
  const sim = new Sim({ trace: false });
  const phys = new PhysMem();
  const sys = new MmSystem({ ram_pages: 1 << 14, phys });
  const gsys = new AmdgpuSystem(
    phys,
    Array.from({ length: ngpus }, () => ({ vram_pages })),
  );
  const mm = mm_alloc(sys, { name: 'proc' });
  const gpus = [...gsys.devices];
  const vrams = gpus.map((g) => amdgpu_svm_devmem_init(g, sys, undefined, peer));
  return { sim, sys, mm, gpus, vrams };
}

function run<T>(w: W, body: () => Co<T>): T {
  const t = w.sim.spawn('main', body);
  w.sim.run();
  if (!t.done) throw new Error('main did not finish');
  return t.result as T;
}

/** Anonymous RW memory of n pages at B, filled with f(i). */
function* setup(w: W, n: number): Co {
  const r = yield* do_mmap(w.mm, {
    npages: n,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
    addr: B,
  });
  expect(r).toBe(B);
  expect(yield* cpu_write_range(w.mm, B, n, f)).toBe(0);
}

function* values(w: W, start: number, n: number): Co<number[]> {
  const out = new Uint32Array(n);
  expect(yield* cpu_read_range(w.mm, start, n, out)).toBe(0);
  return [...out];
}

const expected = (start: number, n: number) => Array.from({ length: n }, (_, i) => f(start + i));

describe('amdgpu SVM device memory (drm_pagemap over VRAM)', () => {
  it('system -> VRAM -> system keeps data; a CPU read faults it back', () => {
    const w = world();
    const [g0] = w.gpus as [amdgpu_device];
    const c = w.sim.counters;
    run(w, function* () {
      yield* setup(w, 64);
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B, 32, 0)).toBe(0);
      expect(g0.vram.used).toBe(32);
      expect(c.get('migrated_pages_to_vram')).toBe(32);
      expect(mm_pte_kind(w.mm, B + 3)).toBe(PTE_DEVICE_PRIVATE);
      expect(w.sys.phys.read(mm_pte_pfn(w.mm, B + 3))).toBe(f(3));
      expect(mm_pte_kind(w.mm, B + 40)).toBe(PTE_PRESENT);
      // Already there: no new allocation.
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B, 32, 0)).toBe(0);
      expect(w.vrams[0]?.allocations.length).toBe(1);

      expect(yield* values(w, B, 64)).toEqual(expected(0, 64));
      expect(c.get('migrated_pages_to_ram')).toBe(32);
      expect(mm_pte_kind(w.mm, B + 3)).toBe(PTE_PRESENT);
      expect(g0.vram.used).toBe(0);
      expect(amdgpu_svm_devmem_leaks(w.sys)).toEqual([]);
    });
    expect(c.get('vram_pages_freed@gpu0')).toBe(32);
  });

  it('a CPU fault brings back its allocation window only; migrate_to_ram evicts the rest', () => {
    const w = world();
    const [g0] = w.gpus as [amdgpu_device];
    run(w, function* () {
      yield* setup(w, 32);
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B, 16, 0)).toBe(0);
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B + 16, 16, 0)).toBe(0);
      expect(g0.vram.used).toBe(32);
      expect(yield* cpu_read(w.mm, B + 5)).toBe(f(5));
      for (let i = 0; i < 16; i++) expect(mm_pte_kind(w.mm, B + i)).toBe(PTE_PRESENT);
      for (let i = 16; i < 32; i++) expect(mm_pte_kind(w.mm, B + i)).toBe(PTE_DEVICE_PRIVATE);
      expect(g0.vram.used).toBe(16);
      expect(w.vrams[0]?.allocations.length).toBe(1);

      expect(yield* amdgpu_svm_migrate_to_ram(g0, w.mm, B + 20, 1)).toBe(0);
      expect(g0.vram.used).toBe(0);
      expect(mm_pte_kind(w.mm, B + 31)).toBe(PTE_PRESENT);
      expect(yield* values(w, B, 32)).toEqual(expected(0, 32));
      expect(amdgpu_svm_devmem_leaks(w.sys)).toEqual([]);
    });
  });

  it('VRAM exhaustion: the next migration evicts the oldest allocation once and succeeds', () => {
    const w = world(1, 64);
    const [g0] = w.gpus as [amdgpu_device];
    const c = w.sim.counters;
    run(w, function* () {
      yield* setup(w, 192);
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B, 48, 0)).toBe(0);
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B + 64, 48, 0)).toBe(0);
      expect(c.get('svm_vram_evictions')).toBe(1);
      expect(c.get('pagemap_populate_mm_calls')).toBe(3);
      expect(mm_pte_kind(w.mm, B)).toBe(PTE_PRESENT);
      expect(mm_pte_kind(w.mm, B + 64)).toBe(PTE_DEVICE_PRIVATE);
      expect(g0.vram.used).toBe(48);
      // Larger than the whole VRAM: fails at once, nothing evicted.
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B + 112, 80, 0)).toBe(-ENOSPC);
      expect(c.get('svm_vram_evictions')).toBe(1);
      expect(mm_pte_kind(w.mm, B + 64)).toBe(PTE_DEVICE_PRIVATE);
      // Overlapping own VRAM pages in part: -EBUSY (own pages are not collected), the
      // overlapping allocation is evicted once, and the retry finds VRAM too small.
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B + 32, 80, 0)).toBe(-ENOSPC);
      expect(c.get('svm_vram_evictions')).toBe(2);
      expect(g0.vram.used).toBe(0);
      expect(yield* values(w, B, 192)).toEqual(expected(0, 192));
    });
  });

  it('VRAM held by others: one eviction, one retry, then failure; nothing to evict fails at once', () => {
    const w = world(1, 64);
    const [g0] = w.gpus as [amdgpu_device];
    const c = w.sim.counters;
    run(w, function* () {
      yield* setup(w, 128);
      const bo: number[] = []; // a non-SVM VRAM BO of 40 pages
      expect(amdgpu_vram_mgr_alloc(g0.vram, 40, bo)).toBe(0);
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B, 16, 0)).toBe(0);
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B + 32, 32, 0)).toBe(-ENOSPC);
      expect(c.get('svm_vram_evictions')).toBe(1);
      expect(c.get('pagemap_populate_mm_calls')).toBe(3);
      expect(g0.vram.used).toBe(40);
      for (const i of [0, 15, 32, 63]) expect(mm_pte_kind(w.mm, B + i)).toBe(PTE_PRESENT);
      // No SVM allocation left to evict: a single attempt.
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B + 64, 32, 0)).toBe(-ENOSPC);
      expect(c.get('svm_vram_evictions')).toBe(1);
      expect(c.get('pagemap_populate_mm_calls')).toBe(4);
      expect(yield* values(w, B, 128)).toEqual(expected(0, 128));
      amdgpu_vram_mgr_free(g0.vram, bo);
      expect(amdgpu_svm_devmem_leaks(w.sys)).toEqual([]);
    });
  });

  it("two GPUs: GPU1's VRAM pages move to GPU0 through system memory", () => {
    const w = world(2);
    const [g0, g1] = w.gpus as [amdgpu_device, amdgpu_device];
    const c = w.sim.counters;
    run(w, function* () {
      yield* setup(w, 32);
      expect(yield* amdgpu_svm_migrate_to_vram(g1, w.mm, B, 32, 0)).toBe(0);
      expect(g1.vram.used).toBe(32);
      // Device-private pages of another owner are not selected: -EBUSY, evict, retry.
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B, 32, 0)).toBe(0);
      expect(c.get('svm_vram_evictions@gpu1')).toBe(1);
      expect(c.get('pagemap_populate_mm_calls@gpu0')).toBe(2);
      expect(c.get('migrated_pages_to_ram')).toBe(32);
      expect(c.get('migrated_pages_to_vram')).toBe(64);
      expect(g1.vram.used).toBe(0);
      expect(g0.vram.used).toBe(32);
      const pfn = mm_pte_pfn(w.mm, B + 7);
      expect(g0.vram.region.contains(pfn)).toBe(true);
      expect(w.sys.phys.read(pfn)).toBe(f(7));
      expect(yield* values(w, B, 32)).toEqual(expected(0, 32));
    });
  });

  it('device_map: own GPU gets the VRAM address, a foreign GPU a mapping error', () => {
    const w = world(2);
    const [g0] = w.gpus as [amdgpu_device, amdgpu_device];
    const [v0, v1] = w.vrams as [amdgpu_svm_vram, amdgpu_svm_vram];
    run(w, function* () {
      yield* setup(w, 16);
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B, 16, 0)).toBe(0);
      const pfn = mm_pte_pfn(w.mm, B + 2);
      const dp = v0.dpagemap;
      const own = dp.ops.device_map(dp, v0.drm.dev, pfn, 0, 'DMA_BIDIRECTIONAL');
      expect(own.addr).toBe(pfn);
      expect(own.proto).toBe(AMDGPU_INTERCONNECT_VRAM);
      expect(v0.device_mapped).toBe(1);
      dp.ops.device_unmap?.(dp, v0.drm.dev, own);
      expect(v0.device_mapped).toBe(0);
      const foreign = dp.ops.device_map(dp, v1.drm.dev, pfn, 0, 'DMA_BIDIRECTIONAL');
      expect(foreign.addr).toBe(DMA_MAPPING_ERROR);
      expect(v0.device_mapped).toBe(0);
    });
  });

  it('peer selection: one owner, device-to-device moves, P2P device_map', () => {
    const w = world(2, 64, true);
    const [g0, g1] = w.gpus as [amdgpu_device, amdgpu_device];
    const [v0, v1] = w.vrams as [amdgpu_svm_vram, amdgpu_svm_vram];
    const c = w.sim.counters;
    expect(v0.pgmap.owner).toBe(v1.pgmap.owner);
    expect(v0.pgmap.owner).not.toBe(g0);
    expect(v0.mdetails).toEqual({ select_device_private: true, source_peer_migrates: true });
    run(w, function* () {
      yield* setup(w, 32);
      expect(yield* amdgpu_svm_migrate_to_vram(g1, w.mm, B, 32, 0)).toBe(0);
      // gpu1's pages are selected and copied by gpu1 into gpu0's VRAM: no eviction.
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B, 32, 0)).toBe(0);
      expect(c.get('svm_vram_evictions')).toBe(0);
      expect(c.get('migrated_pages_to_ram')).toBe(0);
      expect(c.get('migrated_pages_to_vram')).toBe(32);
      expect(c.get('migrated_pages_dev_to_dev')).toBe(32);
      expect(g1.vram.used).toBe(0);
      expect(g0.vram.used).toBe(32);
      expect(v0.device_mapped + v1.device_mapped).toBe(0); // the copy's P2P maps are gone
      const pfn = mm_pte_pfn(w.mm, B + 5);
      expect(mm_pte_kind(w.mm, B + 5)).toBe(PTE_DEVICE_PRIVATE);
      expect(g0.vram.region.contains(pfn)).toBe(true);
      expect(w.sys.phys.read(pfn)).toBe(f(5));
      const dp = v0.dpagemap;
      const p2p = dp.ops.device_map(dp, v1.drm.dev, pfn, 0, 'DMA_BIDIRECTIONAL');
      expect(p2p.addr).toBe(pfn);
      expect(p2p.proto).toBe(AMDGPU_INTERCONNECT_P2P);
      expect(v0.device_mapped).toBe(1);
      dp.ops.device_unmap?.(dp, v1.drm.dev, p2p);
      expect(v0.device_mapped).toBe(0);
      expect(yield* values(w, B, 32)).toEqual(expected(0, 32));
    });
  });

  it('peer selection: a device outside the group still gets a mapping error', () => {
    const w = world(1, 64, true);
    const [g0] = w.gpus as [amdgpu_device];
    const [v0] = w.vrams as [amdgpu_svm_vram];
    const outsider = world(1).vrams[0] as amdgpu_svm_vram;
    run(w, function* () {
      yield* setup(w, 4);
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B, 4, 0)).toBe(0);
      const dp = v0.dpagemap;
      const pfn = mm_pte_pfn(w.mm, B);
      const r = dp.ops.device_map(dp, outsider.drm.dev, pfn, 0, 'DMA_BIDIRECTIONAL');
      expect(r.addr).toBe(DMA_MAPPING_ERROR);
      expect(v0.device_mapped).toBe(0);
      yield* mmput(w.mm);
    });
  });

  it('no leak after the mm exits: all VRAM returns and the pagemaps can go', () => {
    const w = world(2);
    const [g0, g1] = w.gpus as [amdgpu_device, amdgpu_device];
    const c = w.sim.counters;
    run(w, function* () {
      yield* setup(w, 64);
      expect(yield* amdgpu_svm_migrate_to_vram(g0, w.mm, B, 16, 0)).toBe(0);
      expect(yield* amdgpu_svm_migrate_to_vram(g1, w.mm, B + 32, 32, 0)).toBe(0);
      expect(amdgpu_svm_devmem_leaks(w.sys).length).toBe(4);
      yield* mmput(w.mm);
      expect(amdgpu_svm_devmem_leaks(w.sys)).toEqual([]);
      expect(g0.vram.used + g1.vram.used).toBe(0);
    });
    expect(c.get('vram_pages_freed')).toBe(c.get('vram_pages_allocated'));
    for (const g of w.gpus) amdgpu_svm_devmem_fini(w.sys, g);
    expect(w.sys.pagemaps.size).toBe(0);
  });
});

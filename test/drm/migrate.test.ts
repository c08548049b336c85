/**
 * drm_pagemap migration (spec drm-gpusvm.md §6): system -> VRAM -> system round trips keep
 * the data, through populate_mm + migrate_to_devmem, a CPU fault (migrate_to_ram of the
 * allocation window) and eviction; the timeslice keeps pages in VRAM against CPU faults.
 */
import { describe, expect, it } from 'vitest';
import { EBUSY, completion_done, join, sleep, type Co } from '../../src/sim/index.js';
import {
  PTE_DEVICE_PRIVATE,
  PTE_PRESENT,
  PTE_SWAP,
  cpu_read,
  cpu_read_range,
  cpu_write_range,
  mm_pte_kind,
  mm_pte_pfn,
  mmap_read_lock,
  mmap_read_unlock,
  reclaim,
} from '../../src/mm/index.js';
import {
  DRM_INTERCONNECT_DRIVER,
  IS_ERR,
  drm_gpusvm_range_find_or_insert,
  drm_gpusvm_range_get_pages,
  drm_pagemap_evict_to_ram,
  drm_pagemap_migrate_to_devmem,
  drm_pagemap_devmem_init,
  drm_pagemap_populate_mm,
  type drm_gpusvm_range,
} from '../../src/drm/index.js';
import { SZ_2M, locked, machine, mmap, run, svm_init, type Machine } from './fixture.js';
import { TestDevmem, TestVram } from './devmem.js';
import { RefDriver } from './refdrv.js';

const B = 0x10000;
const N = 64;

function* values(m: Machine, start: number, n: number): Co<number[]> {
  const out = new Uint32Array(n);
  expect(yield* cpu_read_range(m.mm, start, n, out)).toBe(0);
  return [...out];
}

const f = (i: number) => 0x1000 + i;

describe('drm_pagemap migration', () => {
  it('system -> VRAM -> system keeps data; get_pages maps the device pages in place', () => {
    const m = machine();
    run(m, function* () {
      const svm = svm_init(m);
      const vram = new TestVram(m, 1024);
      const c = m.sim.counters;
      yield* mmap(m.mm, N, { addr: B });
      expect(yield* cpu_write_range(m.mm, B, N, f)).toBe(0);
      const ctx = { devmem_possible: true, device_private_page_owner: vram.owner };
      const r = (yield* locked(svm, () =>
        drm_gpusvm_range_find_or_insert(svm.gpusvm, B, 0, 2 ** 36, ctx),
      )) as drm_gpusvm_range;
      expect(IS_ERR(r)).toBe(false);
      expect(r.pages.flags.migrate_devmem).toBe(true);

      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 16, m.mm, 0)).toBe(0);
      expect(c.get('migrated_pages_to_vram')).toBe(16);
      expect(vram.region.used).toBe(16);
      expect(mm_pte_kind(m.mm, B + 3)).toBe(PTE_DEVICE_PRIVATE);
      expect(m.sys.phys.read(mm_pte_pfn(m.mm, B + 3))).toBe(f(3));
      expect(m.drm.dev.mapped).toBe(0); // the migration's DMA mappings are gone

      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, ctx)).toBe(0);
      expect(r.pages.flags.has_devmem_pages).toBe(true);
      expect(r.pages.dpagemap).toBe(vram.dpagemap);
      const a = r.pages.dma_addr?.[3];
      expect(a?.proto).toBe(DRM_INTERCONNECT_DRIVER);
      expect(m.sys.phys.read(a?.addr ?? -1)).toBe(f(3));
      expect(vram.device_mapped).toBe(16);

      // CPU fault on a device page: the whole allocation (16 pages) comes back.
      expect(yield* cpu_read(m.mm, B + 5)).toBe(f(5));
      expect(c.get('migrated_pages_to_ram')).toBe(16);
      expect(mm_pte_kind(m.mm, B + 15)).toBe(PTE_PRESENT);
      expect(r.pages.flags.has_devmem_pages).toBe(false); // MIGRATE invalidated the range
      expect(vram.device_mapped).toBe(0);
      expect(vram.region.used).toBe(0);
      expect(vram.released).toBe(1);
      expect(completion_done((vram.allocations[0] as TestDevmem).detached)).toBe(true);
      expect(yield* values(m, B, N)).toEqual(Array.from({ length: N }, (_, i) => f(i)));
      expect(c.get('pagemap_migrations_to_devmem')).toBe(1);
      expect(c.get('pagemap_migrations_to_ram')).toBe(1);
    });
  });

  it('a CPU fault migrates only the allocation window of the faulting page', () => {
    const m = machine();
    run(m, function* () {
      const vram = new TestVram(m, 1024);
      yield* mmap(m.mm, N, { addr: B });
      expect(yield* cpu_write_range(m.mm, B, N, f)).toBe(0);
      // Two allocations of 16 pages side by side.
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 16, m.mm, 0)).toBe(0);
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B + 16, B + 32, m.mm, 0)).toBe(0);
      expect(vram.region.used).toBe(32);
      expect(yield* cpu_read(m.mm, B + 20)).toBe(f(20));
      expect(mm_pte_kind(m.mm, B + 3)).toBe(PTE_DEVICE_PRIVATE); // other allocation stays
      expect(mm_pte_kind(m.mm, B + 31)).toBe(PTE_PRESENT);
      expect(vram.region.used).toBe(16);
      expect(vram.released).toBe(1);
    });
  });

  it('drm_pagemap_evict_to_ram moves the allocation back without a CPU fault', () => {
    const m = machine();
    run(m, function* () {
      const vram = new TestVram(m, 1024);
      yield* mmap(m.mm, N, { addr: B });
      expect(yield* cpu_write_range(m.mm, B, N, f)).toBe(0);
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 32, m.mm, 5)).toBe(0);
      // Eviction does not wait for the timeslice.
      const devmem = vram.allocations[0] as TestDevmem;
      expect(yield* drm_pagemap_evict_to_ram(devmem)).toBe(0);
      expect(completion_done(devmem.detached)).toBe(true);
      expect(vram.region.used).toBe(0);
      expect(m.sim.counters.get('migrated_pages_to_ram')).toBe(32);
      expect(yield* values(m, B, N)).toEqual(Array.from({ length: N }, (_, i) => f(i)));
    });
  });

  it('migration is all or nothing: a swapped-out page gives -EBUSY and moves nothing', () => {
    const m = machine();
    run(m, function* () {
      const vram = new TestVram(m, 1024);
      yield* mmap(m.mm, N, { addr: B });
      expect(yield* cpu_write_range(m.mm, B, N, f)).toBe(0);
      expect(yield* reclaim(m.mm, B + 7, 1)).toBe(1);
      expect(mm_pte_kind(m.mm, B + 7)).toBe(PTE_SWAP);
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 16, m.mm, 0)).toBe(-EBUSY);
      expect(vram.region.used).toBe(0);
      expect(vram.released).toBe(1); // the allocation's reference was consumed
      expect(mm_pte_kind(m.mm, B + 3)).toBe(PTE_PRESENT);
      expect(yield* values(m, B, N)).toEqual(Array.from({ length: N }, (_, i) => f(i)));
    });
  });

  it('pages already in the pagemap: no migration (0) without device-private selection too', () => {
    const m = machine();
    run(m, function* () {
      const vram = new TestVram(m, 1024);
      yield* mmap(m.mm, N, { addr: B });
      expect(yield* cpu_write_range(m.mm, B, N, f)).toBe(0);
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 16, m.mm, 0)).toBe(0);
      // v6.18 selection (system + coherent only): device pages are not collected: -EBUSY.
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 16, m.mm, 0)).toBe(-EBUSY);
      // Newer selection: all 16 are own pages, "Migration wasn't necessary".
      vram.mdetails = { select_device_private: true };
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 16, m.mm, 0)).toBe(0);
      // Half own, half system: fragmentation -EBUSY unless can_migrate_same_pagemap.
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B + 8, B + 24, m.mm, 0)).toBe(-EBUSY);
      expect(vram.region.used).toBe(16);
      expect(yield* values(m, B, N)).toEqual(Array.from({ length: N }, (_, i) => f(i)));
      expect(vram.region.used).toBe(0);
    });
  });

  it('migrate_to_devmem argument errors release the allocation', () => {
    const m = machine();
    run(m, function* () {
      const vram = new TestVram(m, 1024);
      yield* mmap(m.mm, N, { addr: B });
      const cases: [number, number, number][] = [
        [B + N, B + N + 4, -2], // -ENOENT: no vma
        [B + N - 4, B + N + 4, -22], // -EINVAL: not inside the vma
      ];
      yield* mmap_read_lock(m.mm);
      for (const [s, e, want] of cases) {
        const d = new TestDevmem();
        drm_pagemap_devmem_init(d, m.drm.dev, m.mm, vram.devmem_ops, vram.dpagemap, e - s, null);
        expect(yield* drm_pagemap_migrate_to_devmem(d, m.mm, s, e, {})).toBe(want);
      }
      // Missing copy ops: -EOPNOTSUPP before anything else (and no release, as in the C).
      const d = new TestDevmem();
      drm_pagemap_devmem_init(d, m.drm.dev, m.mm, {}, vram.dpagemap, 4, null);
      expect(yield* drm_pagemap_migrate_to_devmem(d, m.mm, B, B + 4, {})).toBe(-95);
      mmap_read_unlock(m.mm);
      expect(vram.released).toBe(2);
      // A file mapping is not anonymous: -EBUSY. VRAM exhausted: the driver's -ENOMEM.
      const file = m.sys.file_open('f');
      file.f_mapping.size = 16;
      const fa = yield* mmap(m.mm, 16, { file, flags: 0x01 /* MAP_SHARED */ });
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, fa, fa + 16, m.mm, 0)).toBe(-EBUSY);
      vram.fail_alloc = true;
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 4, m.mm, 0)).toBe(-12);
    });
  });

  it('a CPU fault during the GPU-held timeslice waits for its end; GPU keeps its mapping', () => {
    const m = machine();
    run(m, function* () {
      const vram = new TestVram(m, 4096);
      const drv = new RefDriver(m, {
        chunks: [SZ_2M, 16, 1],
        notifier_size: 1 << 17,
        vram,
        timeslice_ms: 1,
      });
      yield* mmap(m.mm, N, { addr: B });
      expect(yield* cpu_write_range(m.mm, B, N, f)).toBe(0);
      expect(yield* drv.gpu_read(B + 2)).toBe(f(2)); // migrates [B, B+16) with a 1 ms slice
      const devmem = vram.allocations[0] as TestDevmem;
      const until = devmem.timeslice_expiration;
      expect(until).toBeGreaterThan(m.sim.now());
      const faults = drv.stats.faults;
      let cpuDoneAt = 0;
      const cpu = m.sim.spawn('cpu', function* () {
        expect(yield* cpu_read(m.mm, B + 3)).toBe(f(3));
        cpuDoneAt = m.sim.now();
      });
      const gpu = m.sim.spawn('gpu', function* () {
        // While the slice lasts the GPU keeps reading through its mapping, without faults.
        while (m.sim.now() < until - 100_000) {
          for (let i = 0; i < 16; i++) expect(yield* drv.gpu_read(B + i)).toBe(f(i));
          yield* sleep(50_000);
        }
      });
      yield* join(gpu);
      expect(drv.stats.faults).toBe(faults);
      yield* join(cpu);
      expect(cpuDoneAt).toBeGreaterThanOrEqual(until);
      expect(m.sim.counters.get('pagemap_timeslice_refusals')).toBeGreaterThan(0);
      expect(mm_pte_kind(m.mm, B + 3)).toBe(PTE_PRESENT);
      expect(drv.pt.size).toBe(0); // the migration back invalidated the GPU mapping
      expect(yield* drv.gpu_read(B + 3)).toBe(f(3)); // refault migrates again
      expect(yield* values(m, B, N)).toEqual(Array.from({ length: N }, (_, i) => f(i)));
      yield* drv.fini();
    });
  });
});

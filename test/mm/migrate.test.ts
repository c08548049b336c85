/** migrate_vma_* and migrate_device_* (mm/migrate_device.c) beyond the hmm-tests cases. */
import { describe, expect, it } from 'vitest';
import { EINVAL, ENOENT, join, type Co } from '../../src/sim/index.js';
import {
  DevPagemap,
  MAP_PRIVATE,
  MAP_SHARED,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  PROT_READ,
  PROT_WRITE,
  PTE_DEVICE_PRIVATE,
  PTE_PRESENT,
  cpu_read,
  cpu_write_range,
  do_mmap,
  dup_mm,
  folio_trylock,
  folio_unlock,
  get_page,
  memremap_pages,
  migrate_pfn,
  migrate_pfn_to_page,
  migrate_vma_finalize,
  migrate_vma_pages,
  migrate_vma_setup,
  mm_pte_kind,
  mm_pte_pfn,
  mmap_read_lock,
  mmap_read_unlock,
  mmput,
  put_page,
  vma_lookup,
  type MmStruct,
} from '../../src/mm/index.js';
import {
  DmirrorDevice,
  dmirror_migrate_to_device,
  dmirror_open,
  dmirror_release_devmem,
} from './dmirror.js';
import { buffer } from './hmm-fixture.js';
import { mmap_anon, run, world } from './helpers.js';
import { events, recorder } from './notifier-recorder.js';

/** migrate_vma_setup of [start, start + n) with mmap_lock held; returns args (lock still held). */
function* setup(
  mm: MmStruct,
  start: number,
  n: number,
  owner: object,
  flags: number,
): Co<MigrateVma> {
  yield* mmap_read_lock(mm);
  const vma = vma_lookup(mm, start);
  if (!vma) throw new Error('no vma');
  const args = new MigrateVma({ vma, start, end: start + n, pgmap_owner: owner, flags });
  expect(yield* migrate_vma_setup(args)).toBe(0);
  return args;
}

describe('migrate_vma', () => {
  it('setup rejects bad ranges and special vmas with -EINVAL', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 4);
      const io = yield* do_mmap(mm, { npages: 1, prot: PROT_READ, flags: MAP_SHARED, io: true });
      const mixed = yield* do_mmap(mm, {
        npages: 1,
        prot: PROT_READ,
        flags: MAP_PRIVATE,
        mixedmap: true,
      });
      yield* mmap_read_lock(mm);
      const vma = vma_lookup(mm, a);
      if (!vma) throw new Error('no vma');
      const mk = (start: number, end: number, v = vma) =>
        new MigrateVma({ vma: v, start, end, flags: MIGRATE_VMA_SELECT_SYSTEM });
      expect(yield* migrate_vma_setup(mk(a, a))).toBe(-EINVAL);
      expect(yield* migrate_vma_setup(mk(a - 1, a + 1))).toBe(-EINVAL);
      expect(yield* migrate_vma_setup(mk(a + 2, a + 5))).toBe(-EINVAL);
      const small = new MigrateVma({
        vma,
        start: a,
        end: a + 4,
        flags: 1,
        src: new Float64Array(2),
      });
      expect(yield* migrate_vma_setup(small)).toBe(-EINVAL);
      for (const s of [io, mixed]) {
        const v = vma_lookup(mm, s);
        if (v) expect(yield* migrate_vma_setup(mk(s, s + 1, v))).toBe(-EINVAL);
      }
      mmap_read_unlock(mm);
    });
  });

  it('collects what the flags select: holes and zero pages, present pages, locked pages skipped', () => {
    const { sim, sys, mm } = world();
    const owner = {};
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 4);
      expect(yield* cpu_read(mm, a + 1)).toBe(0); // zero page
      expect(yield* cpu_write_range(mm, a + 2, 2, 9)).toBe(0);
      const locked = mm_pte_pfn(mm, a + 3);
      folio_trylock(sys, locked); // someone else is migrating it
      const args = yield* setup(mm, a, 4, owner, MIGRATE_VMA_SELECT_SYSTEM);
      const src = [...args.src];
      expect(src[0]).toBe(MIGRATE_PFN_MIGRATE); // hole: populate
      expect(src[1]).toBe(MIGRATE_PFN_MIGRATE); // zero page: no frame to copy
      expect(migrate_pfn_to_page(src[2] as number)).toBe(mm_pte_pfn(mm, a + 2));
      expect(
        (src[2] as number) & (MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE | MIGRATE_PFN_WRITE),
      ).toBe(11);
      expect(src[3]).toBe(0);
      expect([args.npages, args.cpages]).toEqual([4, 3]);
      migrate_vma_finalize(args); // nothing allocated: everything is restored
      mmap_read_unlock(mm);
      folio_unlock(sys, locked);
      expect(mm_pte_kind(mm, a + 2)).toBe(PTE_PRESENT);
      expect(yield* cpu_read(mm, a + 2)).toBe(9);
      const dev_only = yield* setup(mm, a, 4, owner, MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
      expect([...dev_only.src].map((x) => (x ? 1 : 0))).toEqual([1, 0, 0, 0]); // only the hole
      migrate_vma_finalize(dev_only);
      mmap_read_unlock(mm);
    });
  });

  it('a pinned page (an extra reference) is restored and not migrated', () => {
    const { sim, sys, mm } = world();
    const dev = new DmirrorDevice(sys, 'dev', 8);
    run(sim, function* () {
      const d = yield* dmirror_open(dev, mm);
      const a = yield* mmap_anon(mm, 2);
      expect(yield* cpu_write_range(mm, a, 2, 5)).toBe(0);
      const pinned = mm_pte_pfn(mm, a);
      get_page(sys, pinned); // get_user_pages
      const b = buffer(a, 2);
      expect(yield* dmirror_migrate_to_device(d, b)).toBe(-ENOENT); // page 0 stayed
      expect(mm_pte_pfn(mm, a)).toBe(pinned);
      expect(mm_pte_kind(mm, a + 1)).toBe(PTE_DEVICE_PRIVATE);
      put_page(sys, pinned);
    });
  });

  it('a page shared after fork migrates in both mms; the child gets CLEAR, the parent MIGRATE', () => {
    const { sim, sys, mm } = world();
    const dev = new DmirrorDevice(sys, 'dev', 8);
    run(sim, function* () {
      const d = yield* dmirror_open(dev, mm);
      const a = yield* mmap_anon(mm, 1);
      expect(yield* cpu_write_range(mm, a, 1, 77)).toBe(0);
      const child = yield* dup_mm(mm, 'child');
      const rp = yield* recorder(mm);
      const rc = yield* recorder(child);
      const b = buffer(a, 1);
      expect(yield* dmirror_migrate_to_device(d, b)).toBe(0);
      expect(b.mirror[0]).toBe(77);
      expect(events(rp)).toEqual([['MIGRATE', a, a + 1]]);
      expect(events(rc)).toEqual([['CLEAR', a, a + 1]]);
      expect(rc.seen[0]?.held).toEqual([
        'mmap_lock:read', // the parent's, held by the migrating task
        'anon_vma->rwsem:read',
        'mmu_notifier_invalidate_range_start:write',
      ]);
      expect(mm_pte_kind(child, a)).toBe(PTE_DEVICE_PRIVATE);
      expect(mm_pte_pfn(child, a)).toBe(mm_pte_pfn(mm, a));
      const t = sim.spawn('child', function* () {
        expect(yield* cpu_read(child, a)).toBe(77); // back to RAM for both
      });
      yield* join(t);
      expect(mm_pte_kind(mm, a)).toBe(PTE_PRESENT);
      expect(dev.region.used).toBe(0);
      yield* mmput(child);
    });
  });

  it('migrate_device_range eviction finds every mapping of the device frames', () => {
    const { sim, sys, mm } = world();
    const dev = new DmirrorDevice(sys, 'dev', 8);
    run(sim, function* () {
      const d = yield* dmirror_open(dev, mm);
      const a = yield* mmap_anon(mm, 3);
      expect(yield* cpu_write_range(mm, a, 3, (i) => i + 1)).toBe(0);
      expect(yield* dmirror_migrate_to_device(d, buffer(a, 3))).toBe(0);
      const child = yield* dup_mm(mm, 'child');
      const rc = yield* recorder(child);
      expect(yield* dmirror_release_devmem(dev)).toBe(0);
      expect(events(rc)).toEqual([
        ['CLEAR', a, a + 1],
        ['CLEAR', a + 1, a + 2],
        ['CLEAR', a + 2, a + 3],
      ]);
      expect(dev.region.used).toBe(0);
      for (const m of [mm, child]) {
        expect(mm_pte_kind(m, a + 1)).toBe(PTE_PRESENT);
        expect(yield* cpu_read(m, a + 1)).toBe(2);
      }
      expect(mm_pte_pfn(child, a + 1)).toBe(mm_pte_pfn(mm, a + 1)); // still shared, COW
      yield* mmput(child);
    });
    expect(sim.counters.get('migrated_pages_to_ram')).toBe(3);
  });

  it('a driver that fills only some destinations migrates only those', () => {
    const { sim, sys, mm } = world();
    const dev = new DmirrorDevice(sys, 'dev', 8);
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 2, { prot: PROT_READ | PROT_WRITE });
      expect(yield* cpu_write_range(mm, a, 2, 3)).toBe(0);
      const args = yield* setup(mm, a, 2, dev, MIGRATE_VMA_SELECT_SYSTEM);
      const dpage = dev.alloc_page();
      sys.phys.write(dpage, 3);
      args.dst[1] = migrate_pfn(dpage);
      yield* migrate_vma_pages(args);
      migrate_vma_finalize(args);
      mmap_read_unlock(mm);
      expect(mm_pte_kind(mm, a)).toBe(PTE_PRESENT);
      expect(mm_pte_kind(mm, a + 1)).toBe(PTE_DEVICE_PRIVATE);
      expect(mm_pte_pfn(mm, a + 1)).toBe(dpage);
      expect(sys.ram.used).toBe(1);
    });
    expect(sim.counters.get('migrated_pages_to_vram')).toBe(1);
  });
  it('DEVICE_COHERENT memory: present ptes the CPU uses in place; migrated back on request', () => {
    const { sim, sys, mm } = world();
    const owner = { name: 'coherent-gpu' };
    const pgmap = new DevPagemap(
      'MEMORY_DEVICE_COHERENT',
      {
        *migrate_to_ram() {
          return 0;
        },
      },
      owner,
    );
    const hbm = memremap_pages(sys, pgmap, 16);
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 2);
      expect(yield* cpu_write_range(mm, a, 2, (i) => 50 + i)).toBe(0);
      const to = yield* setup(mm, a, 2, owner, MIGRATE_VMA_SELECT_SYSTEM);
      for (let i = 0; i < 2; i++) {
        const d = sys.phys.alloc(hbm, sys.phys.read(migrate_pfn_to_page(to.src[i] as number)));
        to.dst[i] = migrate_pfn(d);
      }
      yield* migrate_vma_pages(to);
      migrate_vma_finalize(to);
      mmap_read_unlock(mm);
      expect(mm_pte_kind(mm, a)).toBe(PTE_PRESENT);
      expect(sys.phys.regionOf(mm_pte_pfn(mm, a))).toBe(hbm);
      const faults = sim.counters.get('cpu_faults');
      expect(yield* cpu_read(mm, a + 1)).toBe(51); // coherent: no fault
      expect(sim.counters.get('cpu_faults')).toBe(faults);
      const back = yield* setup(mm, a, 2, owner, MIGRATE_VMA_SELECT_DEVICE_COHERENT);
      expect(back.cpages).toBe(2);
      for (let i = 0; i < 2; i++) {
        const spage = migrate_pfn_to_page(back.src[i] as number);
        back.dst[i] = migrate_pfn(sys.phys.alloc(sys.ram, sys.phys.read(spage)));
      }
      yield* migrate_vma_pages(back);
      migrate_vma_finalize(back);
      mmap_read_unlock(mm);
      expect(sys.phys.regionOf(mm_pte_pfn(mm, a))).toBe(sys.ram);
      expect(hbm.used).toBe(0);
      expect(yield* cpu_read(mm, a)).toBe(50);
    });
    expect(sim.counters.get('migrated_pages_to_vram')).toBe(2);
    expect(sim.counters.get('migrated_pages_to_ram')).toBe(2);
  });
});

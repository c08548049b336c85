/**
 * Which mmu notifier event each operation sends (shared/spec/clarifications.md §4), over
 * which range, in which task, under which locks.
 */
import { describe, expect, it } from 'vitest';
import { join, type Co } from '../../src/sim/index.js';
import {
  DevPagemap,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MIGRATE_VMA_SELECT_SYSTEM,
  MREMAP_DONTUNMAP,
  MREMAP_MAYMOVE,
  MigrateVma,
  PROT_READ,
  PROT_WRITE,
  PTE_DEVICE_PRIVATE,
  PTE_PRESENT,
  PTE_SWAP,
  ULONG_MAX_PAGES,
  VM_FAULT_SIGBUS,
  cpu_read,
  cpu_write,
  cpu_write_range,
  do_madvise,
  do_mmap,
  do_mprotect,
  do_mremap,
  do_munmap,
  dup_mm,
  file_extend,
  memremap_pages,
  migrate_pages,
  migrate_pfn,
  migrate_vma_finalize,
  migrate_vma_pages,
  migrate_vma_setup,
  mm_pte_kind,
  mm_pte_pfn,
  mm_pte_writable,
  mmap_read_lock,
  mmap_read_unlock,
  mmget,
  mmput,
  reclaim,
  vma_lookup,
  type MmStruct,
} from '../../src/mm/index.js';
import { mmap_anon, run, world } from './helpers.js';
import { UNDER_MMAP, events, recorder } from './notifier-recorder.js';

function* touch(mm: MmStruct, start: number, n: number, base = 1): Co {
  expect(yield* cpu_write_range(mm, start, n, (i) => base + i)).toBe(0);
}

describe('mmu notifier events', () => {
  it('munmap: UNMAP over the request, mmap_lock held for read (downgraded)', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const r = yield* recorder(mm);
      const a = yield* mmap_anon(mm, 8);
      yield* touch(mm, a, 4);
      expect(yield* do_munmap(mm, a + 2, 4)).toBe(0);
      expect(r.seen).toEqual([
        expect.objectContaining({ event: 'UNMAP', start: a + 2, end: a + 6, task: 'main' }),
      ]);
      expect(r.seen[0]?.held).toEqual(UNDER_MMAP('read'));
      expect(yield* do_munmap(mm, a + 2, 4)).toBe(0); // nothing mapped there now
      expect(r.seen).toHaveLength(1);
    });
  });

  it('MAP_FIXED over a mapping: UNMAP of the replaced range, mmap_lock held for write', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const r = yield* recorder(mm);
      const a = yield* mmap_anon(mm, 8);
      const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
      expect(yield* do_mmap(mm, { addr: a + 2, npages: 2, prot: PROT_READ, flags })).toBe(a + 2);
      expect(events(r)).toEqual([['UNMAP', a + 2, a + 4]]);
      expect(r.seen[0]?.held).toEqual(UNDER_MMAP('write'));
    });
  });

  it('mprotect: PROTECTION_VMA where page tables exist, per 1 GiB block, mmap_lock write', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const r = yield* recorder(mm);
      const a = yield* mmap_anon(mm, 8);
      expect(yield* do_mprotect(mm, a, 8, PROT_READ)).toBe(0);
      expect(r.seen).toEqual([]); // never touched: every pmd is none
      expect(yield* cpu_read(mm, a + 3)).toBe(0);
      expect(yield* do_mprotect(mm, a, 8, PROT_READ | PROT_WRITE)).toBe(0);
      expect(events(r)).toEqual([['PROTECTION_VMA', a, a + 8]]);
      expect(r.seen[0]?.held).toEqual(UNDER_MMAP('write'));
      // A range across a 1 GiB boundary B, touched on both sides: one event per block.
      const B = 2 ** 18 * 40;
      const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
      const prot = PROT_READ | PROT_WRITE;
      expect(yield* do_mmap(mm, { addr: B - 4, npages: 8, prot, flags })).toBe(B - 4);
      yield* touch(mm, B - 4, 1);
      yield* touch(mm, B + 3, 1);
      r.seen.length = 0;
      expect(yield* do_mprotect(mm, B - 4, 8, PROT_READ)).toBe(0);
      expect(events(r)).toEqual([
        ['PROTECTION_VMA', B - 4, B],
        ['PROTECTION_VMA', B, B + 4],
      ]);
      expect(mm_pte_writable(mm, B - 4)).toBe(false);
    });
  });

  it('mremap: move sends UNMAP of the old range twice; DONTUNMAP once; shrink once, read-locked', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const r = yield* recorder(mm);
      const a = yield* mmap_anon(mm, 8);
      yield* touch(mm, a, 8);
      const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
      yield* do_mmap(mm, { addr: a + 8, npages: 1, prot: PROT_READ, flags }); // blocks growth
      r.seen.length = 0;
      const n = yield* do_mremap(mm, a, 8, 16, MREMAP_MAYMOVE);
      expect(n).not.toBe(a);
      expect(events(r)).toEqual([
        ['UNMAP', a, a + 8],
        ['UNMAP', a, a + 8],
      ]);
      for (const s of r.seen) expect(s.held).toEqual(UNDER_MMAP('write'));
      expect(yield* cpu_read(mm, n + 7)).toBe(8);

      r.seen.length = 0;
      const m = yield* do_mremap(mm, n, 8, 8, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
      expect(events(r)).toEqual([['UNMAP', n, n + 8]]);
      expect(vma_lookup(mm, n)).toBeDefined(); // the old vma stays, empty
      expect(yield* cpu_read(mm, n)).toBe(0);
      expect(yield* cpu_read(mm, m)).toBe(1);

      r.seen.length = 0;
      expect(yield* do_mremap(mm, m, 8, 4, 0)).toBe(m);
      expect(events(r)).toEqual([['UNMAP', m + 4, m + 8]]);
      expect(r.seen[0]?.held).toEqual(UNDER_MMAP('read'));

      r.seen.length = 0;
      expect(yield* do_mremap(mm, m, 4, 6, 0)).toBe(m); // grows in place: no event
      expect(r.seen).toEqual([]);
    });
  });

  it('madvise(MADV_DONTNEED): CLEAR per vma part, mmap_lock held for read', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const r = yield* recorder(mm);
      const a = yield* mmap_anon(mm, 8);
      yield* touch(mm, a, 8);
      expect(yield* do_mprotect(mm, a + 4, 4, PROT_READ)).toBe(0);
      r.seen.length = 0;
      expect(yield* do_madvise(mm, a + 2, 4, MADV_DONTNEED)).toBe(0);
      expect(events(r)).toEqual([
        ['CLEAR', a + 2, a + 4],
        ['CLEAR', a + 4, a + 6],
      ]);
      for (const s of r.seen) expect(s.held).toEqual(UNDER_MMAP('read'));
      expect(yield* cpu_read(mm, a + 1)).toBe(2);
      expect(yield* cpu_read(mm, a + 2)).toBe(0);
      expect(yield* cpu_read(mm, a + 6)).toBe(7);
    });
  });

  it('fork: PROTECTION_PAGE over each private vma holding anonymous pages, parent mmap_lock write', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const r = yield* recorder(mm);
      const A = yield* mmap_anon(mm, 4);
      yield* touch(mm, A, 4);
      // Never touched: no anon_vma, not copied (PROT_READ so that it does not merge with A).
      const B = yield* mmap_anon(mm, 4, { prot: PROT_READ });
      expect(B).toBe(A - 4);
      const C = yield* mmap_anon(mm, 4, { flags: MAP_SHARED | MAP_ANONYMOUS });
      yield* touch(mm, C, 4);
      r.seen.length = 0;
      const child = yield* dup_mm(mm, 'child');
      expect(events(r)).toEqual([['PROTECTION_PAGE', A, A + 4]]);
      expect(r.seen[0]?.held).toEqual(UNDER_MMAP('write'));
      expect(mm_pte_writable(mm, A)).toBe(false);
      expect(mm_pte_writable(child, A)).toBe(false);
      expect(mm_pte_pfn(child, A)).toBe(mm_pte_pfn(mm, A));
      expect(mm_pte_writable(mm, C)).toBe(true); // shared: untouched by fork
      yield* mmput(child);
    });
  });

  it('COW write: CLEAR of the one page in the faulting task; no event for a fresh or exclusive page', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const r = yield* recorder(mm);
      const A = yield* mmap_anon(mm, 4);
      yield* touch(mm, A, 4); // pte_none -> new page: no event
      expect(r.seen).toEqual([]);
      const child = yield* dup_mm(mm, 'child');
      r.seen.length = 0;
      expect(yield* cpu_write(mm, A, 100)).toBe(0); // shared after fork: copy
      expect(events(r)).toEqual([['CLEAR', A, A + 1]]);
      expect(r.seen[0]).toMatchObject({ task: 'main', held: UNDER_MMAP('read') });
      const t = sim.spawn('child', function* () {
        expect(yield* cpu_write(child, A + 1, 200)).toBe(0); // the child copies page 1
      });
      yield* join(t);
      r.seen.length = 0;
      expect(yield* cpu_write(mm, A + 1, 300)).toBe(0); // exclusive again: reused
      expect(r.seen).toEqual([]);
      expect(yield* cpu_read(child, A)).toBe(1);
      expect(yield* cpu_read(child, A + 1)).toBe(200);
      expect(yield* cpu_read(mm, A + 1)).toBe(300);
      const Z = yield* mmap_anon(mm, 1);
      expect(yield* cpu_read(mm, Z)).toBe(0); // zero page
      expect(yield* cpu_write(mm, Z, 5)).toBe(0); // copy of the zero page
      expect(events(r)).toEqual([['CLEAR', Z, Z + 1]]);
      yield* mmput(child);
    });
  });

  it('reclaim: CLEAR per mapping in the reclaiming task, under fs_reclaim and the rmap lock', () => {
    const { sim, sys, mm } = world();
    run(sim, function* () {
      const r = yield* recorder(mm);
      const a = yield* mmap_anon(mm, 3);
      yield* touch(mm, a, 3, 10);
      const file = sys.file_open('f');
      file_extend(file, 1);
      const f = yield* do_mmap(mm, {
        npages: 1,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_SHARED,
        file,
      });
      expect(yield* cpu_write(mm, f, 77)).toBe(0);
      r.seen.length = 0;
      const k = sim.spawn('kswapd0', function* () {
        expect(yield* reclaim(mm, a, 3)).toBe(3);
        expect(yield* reclaim(mm, f, 1)).toBe(1);
      });
      yield* join(k);
      expect(events(r)).toEqual([
        ['CLEAR', a, a + 1],
        ['CLEAR', a + 1, a + 2],
        ['CLEAR', a + 2, a + 3],
        ['CLEAR', f, f + 1],
      ]);
      const anon_held = ['fs_reclaim:write', 'anon_vma->rwsem:read'];
      const file_held = ['fs_reclaim:write', 'mapping->i_mmap_rwsem:read'];
      const map = 'mmu_notifier_invalidate_range_start:write';
      expect(r.seen[0]).toMatchObject({ task: 'kswapd0', held: [...anon_held, map] });
      expect(r.seen[3]).toMatchObject({ task: 'kswapd0', held: [...file_held, map] });
      expect(mm_pte_kind(mm, a)).toBe(PTE_SWAP);
      expect(sys.pagecache.size).toBe(0);
      expect(yield* cpu_read(mm, a + 2)).toBe(12); // swapped back in
      expect(mm_pte_kind(mm, a + 2)).toBe(PTE_PRESENT);
      expect(yield* cpu_read(mm, f)).toBe(77); // read back from the file
    });
  });

  it('migrate_pages (NUMA / compaction): CLEAR per mapping, rmap lock, values kept, frames moved', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const r = yield* recorder(mm);
      const a = yield* mmap_anon(mm, 2);
      yield* touch(mm, a, 2, 40);
      const before = [mm_pte_pfn(mm, a), mm_pte_pfn(mm, a + 1)];
      r.seen.length = 0;
      const k = sim.spawn('kcompactd0', function* () {
        expect(yield* migrate_pages(mm, a, 2)).toBe(2);
      });
      yield* join(k);
      expect(events(r)).toEqual([
        ['CLEAR', a, a + 1],
        ['CLEAR', a + 1, a + 2],
      ]);
      expect(r.seen[1]).toMatchObject({
        task: 'kcompactd0',
        held: ['anon_vma->rwsem:read', 'mmu_notifier_invalidate_range_start:write'],
      });
      expect(mm_pte_pfn(mm, a)).not.toBe(before[0]);
      expect(mm_pte_pfn(mm, a + 1)).not.toBe(before[1]);
      expect(mm_pte_writable(mm, a)).toBe(true);
      expect(yield* cpu_read(mm, a + 1)).toBe(41);
    });
  });

  it('migrate_vma: MIGRATE with the owner over the range, and again where holes are populated', () => {
    const { sim, sys, mm } = world();
    const owner = { name: 'gpu0' };
    const pgmap = new DevPagemap(
      'MEMORY_DEVICE_PRIVATE',
      {
        *migrate_to_ram() {
          return VM_FAULT_SIGBUS;
        },
      },
      owner,
    );
    const vram = memremap_pages(sys, pgmap, 64);
    run(sim, function* () {
      const r = yield* recorder(mm);
      const a = yield* mmap_anon(mm, 4);
      yield* touch(mm, a, 2, 5);
      r.seen.length = 0;
      yield* mmap_read_lock(mm);
      const vma = vma_lookup(mm, a);
      if (!vma) throw new Error('no vma');
      const args = new MigrateVma({
        vma,
        start: a,
        end: a + 4,
        pgmap_owner: owner,
        flags: MIGRATE_VMA_SELECT_SYSTEM,
      });
      expect(yield* migrate_vma_setup(args)).toBe(0);
      expect([args.npages, args.cpages]).toEqual([4, 4]);
      for (let i = 0; i < 4; i++) {
        const d = sys.phys.alloc(vram, i < 2 ? 5 + i : 0);
        args.dst[i] = migrate_pfn(d);
      }
      yield* migrate_vma_pages(args);
      migrate_vma_finalize(args);
      mmap_read_unlock(mm);
      expect(events(r)).toEqual([
        ['MIGRATE', a, a + 4],
        ['MIGRATE', a + 2, a + 4],
      ]);
      for (const s of r.seen) expect(s).toMatchObject({ owner, held: UNDER_MMAP('read') });
      for (let i = 0; i < 4; i++) expect(mm_pte_kind(mm, a + i)).toBe(PTE_DEVICE_PRIVATE);
      expect(vram.used).toBe(4);
    });
    expect(sim.counters.get('migrated_pages_to_vram')).toBe(4);
  });

  it('exit: RELEASE then UNMAP over everything, run by the task that drops the last user', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const r = yield* recorder(mm);
      const a = yield* mmap_anon(mm, 2);
      yield* touch(mm, a, 2);
      mmget(mm); // a GPU worker holds the mm
      const w = sim.spawn('gpu-worker', function* () {
        yield* mmput(mm);
      });
      r.seen.length = 0;
      yield* mmput(mm); // the process exits first: not the last user
      expect(r.seen).toEqual([]);
      yield* join(w);
      expect(events(r)).toEqual([
        ['RELEASE', 0, ULONG_MAX_PAGES],
        ['UNMAP', 0, ULONG_MAX_PAGES],
      ]);
      expect(r.seen[0]).toMatchObject({ task: 'gpu-worker', held: [] });
      expect(r.seen[1]).toMatchObject({ task: 'gpu-worker', held: UNDER_MMAP('read') });
      expect(mm.exited).toBe(true);
      expect(mm.map_count).toBe(0);
      expect(mm.sys.ram.used).toBe(0);
    });
  });
});

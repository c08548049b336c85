/**
 * Port of hmm-tests.c (shared/spec/test-suites.md §3), migration cases: device-private
 * memory, CPU faults back, RELEASE, shared memory, mixed ranges, snapshots, remap, fork.
 * Each asserts what the selftest asserts; "derived" checks add what the model shows about
 * where the pages are.
 */
import { describe, expect, it } from 'vitest';
import { EINVAL, ENOENT, join } from '../../src/sim/index.js';
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  PTE_DEVICE_PRIVATE,
  PTE_PRESENT,
  cpu_read,
  cpu_write,
  do_madvise,
  do_mmap,
  do_mprotect,
  do_mremap,
  do_munmap,
  dup_mm,
  file_extend,
  mm_pte_kind,
  mmput,
  MADV_NOHUGEPAGE,
} from '../../src/mm/index.js';
import {
  PROT_DEV_PRIVATE_LOCAL,
  PROT_ERROR,
  PROT_NONE as DPROT_NONE,
  PROT_READ as DPROT_READ,
  PROT_WRITE as DPROT_WRITE,
  PROT_ZERO,
  dmirror_migrate_to_device,
  dmirror_migrate_to_system,
  dmirror_open,
  dmirror_read,
  dmirror_release_devmem,
  dmirror_snapshot,
  dmirror_write,
} from './dmirror.js';
import {
  HMM_BUFFER_PAGES as N,
  PMD_PAGES,
  buffer,
  check,
  expect_pages,
  hmm_fixture,
  init,
} from './hmm-fixture.js';
import { mmap_anon, run } from './helpers.js';

describe('hmm-tests: migration', () => {
  it('migrate: anonymous memory moves to device-private memory', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* mmap_anon(mm, N);
      yield* init(mm, ptr, N, (i) => i);
      const b = buffer(ptr, N);
      expect(yield* dmirror_migrate_to_device(d, b)).toBe(0);
      expect(b.cpages).toBe(N);
      expect_pages(b.mirror, (i) => i);
      // derived: every page is a device-private entry now
      expect(mm_pte_kind(mm, ptr)).toBe(PTE_DEVICE_PRIVATE);
      expect(mm_pte_kind(mm, ptr + N - 1)).toBe(PTE_DEVICE_PRIVATE);
      expect(dev0.region.used).toBe(N);
    });
    expect(sim.counters.get('migrated_pages_to_vram')).toBe(N);
  });

  it('migrate_file_private: written private file pages (anonymous copies) migrate', () => {
    const { sim, sys, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const file = sys.file_open('tmpfile');
      file_extend(file, N);
      const ptr = yield* do_mmap(mm, {
        npages: N,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE,
        file,
      });
      yield* init(mm, ptr, N, (i) => i);
      const b = buffer(ptr, N);
      expect(yield* dmirror_migrate_to_device(d, b)).toBe(0);
      expect(b.cpages).toBe(N);
      expect_pages(b.mirror, (i) => i);
    });
  });

  it('migrate_fault: half faulted back by the CPU, then the mixed range migrates again', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* mmap_anon(mm, N);
      yield* init(mm, ptr, N, (i) => i);
      const b = buffer(ptr, N);
      expect(yield* dmirror_migrate_to_device(d, b)).toBe(0);
      expect(b.cpages).toBe(N);
      expect_pages(b.mirror, (i) => i);
      yield* check(mm, ptr, N / 2, (i) => i);
      expect(mm_pte_kind(mm, ptr)).toBe(PTE_PRESENT); // derived
      expect(mm_pte_kind(mm, ptr + N / 2)).toBe(PTE_DEVICE_PRIVATE);
      const b2 = buffer(ptr, N);
      expect(yield* dmirror_migrate_to_device(d, b2)).toBe(0);
      expect(b2.cpages).toBe(N);
      expect_pages(b2.mirror, (i) => i);
    });
    expect(sim.counters.get('migrated_pages_to_ram')).toBe(N / 2);
    expect(sim.counters.get('migrated_pages_to_vram')).toBe(N + N / 2);
  });

  it('migrate_release: RELEASE evicts every device page; the data survives', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* mmap_anon(mm, N);
      yield* init(mm, ptr, N, (i) => i);
      const b = buffer(ptr, N);
      expect(yield* dmirror_migrate_to_device(d, b)).toBe(0);
      expect(b.cpages).toBe(N);
      expect(yield* dmirror_release_devmem(dev0)).toBe(0);
      expect(dev0.region.used).toBe(0); // derived
      expect(mm_pte_kind(mm, ptr + N - 1)).toBe(PTE_PRESENT);
      yield* check(mm, ptr, N / 2, (i) => i);
    });
  });

  it('migrate_shared: shared anonymous memory does not migrate (-ENOENT)', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* mmap_anon(mm, N, { flags: MAP_SHARED | MAP_ANONYMOUS });
      expect(yield* dmirror_migrate_to_device(d, buffer(ptr, N))).toBe(-ENOENT);
    });
  });

  it('migrate_mixed: protected, holey, zero, read-only and device-owned pages', () => {
    const { sim, mm, dev0, dev1 } = hmm_fixture();
    run(sim, function* () {
      const d0 = yield* dmirror_open(dev0, mm);
      const d1 = yield* dmirror_open(dev1, mm);
      const p = yield* mmap_anon(mm, 6, { prot: PROT_NONE });
      expect(yield* dmirror_migrate_to_device(d1, buffer(p, 6))).toBe(-EINVAL);
      expect(yield* do_munmap(mm, p + 1, 1)).toBe(0);
      expect(yield* dmirror_migrate_to_device(d1, buffer(p, 3))).toBe(-EINVAL);
      expect(yield* do_mprotect(mm, p + 2, 1, PROT_READ)).toBe(0);
      const val = (yield* cpu_read(mm, p + 2)) + 3;
      expect(val).toBe(3);
      expect(yield* do_mprotect(mm, p + 3, 1, PROT_READ | PROT_WRITE)).toBe(0);
      expect(yield* cpu_write(mm, p + 3, val)).toBe(0);
      expect(yield* do_mprotect(mm, p + 3, 1, PROT_READ)).toBe(0);
      expect(yield* do_mprotect(mm, p + 4, 2, PROT_READ | PROT_WRITE)).toBe(0);
      expect(yield* cpu_write(mm, p + 4, val)).toBe(0);
      expect(yield* cpu_write(mm, p + 5, val)).toBe(0);
      const b = buffer(p + 2, 4);
      expect(yield* dmirror_migrate_to_device(d1, b)).toBe(0);
      expect(b.cpages).toBe(4);
      expect(yield* dmirror_migrate_to_device(d0, buffer(p + 5, 1))).toBe(-ENOENT);
    });
  });

  it('migrate_multiple: ten rounds to the device and back by CPU faults', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      for (let c = 0; c < 10; c++) {
        const ptr = yield* mmap_anon(mm, N);
        yield* init(mm, ptr, N, (i) => i);
        const b = buffer(ptr, N);
        expect(yield* dmirror_migrate_to_device(d, b)).toBe(0);
        expect(b.cpages).toBe(N);
        expect_pages(b.mirror, (i) => i);
        yield* check(mm, ptr, N, (i) => i);
        expect(yield* do_munmap(mm, ptr, N)).toBe(0);
      }
      expect(dev0.region.used).toBe(0); // derived: all device pages came back
    });
    expect(sim.counters.get('migrated_pages_to_ram')).toBe(10 * N);
  });

  it('MIGRATE_TO_SYS: explicit migration back (the coherent variant of migrate_multiple)', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* mmap_anon(mm, N);
      yield* init(mm, ptr, N, (i) => i);
      expect(yield* dmirror_migrate_to_device(d, buffer(ptr, N))).toBe(0);
      const b = buffer(ptr, N);
      expect(yield* dmirror_migrate_to_system(d, b)).toBe(0);
      expect(b.cpages).toBe(N);
      expect(dev0.region.used).toBe(0);
      yield* check(mm, ptr, N, (i) => i);
    });
  });

  it('snapshot: protection of each kind of page seen by device 0 without faulting', () => {
    const { sim, mm, dev0, dev1 } = hmm_fixture();
    run(sim, function* () {
      const d0 = yield* dmirror_open(dev0, mm);
      const d1 = yield* dmirror_open(dev1, mm);
      const p = yield* mmap_anon(mm, 7, { prot: PROT_NONE });
      expect(yield* do_munmap(mm, p + 1, 1)).toBe(0);
      expect(yield* do_mprotect(mm, p + 2, 1, PROT_READ)).toBe(0);
      expect((yield* cpu_read(mm, p + 2)) + 3).toBe(3);
      expect(yield* do_mprotect(mm, p + 3, 1, PROT_READ | PROT_WRITE)).toBe(0);
      expect(yield* cpu_write(mm, p + 3, 3)).toBe(0);
      expect(yield* do_mprotect(mm, p + 3, 1, PROT_READ)).toBe(0);
      expect(yield* do_mprotect(mm, p + 4, 3, PROT_READ | PROT_WRITE)).toBe(0);
      expect(yield* cpu_write(mm, p + 4, 3)).toBe(0);
      const b5 = buffer(p + 5, 1);
      expect(yield* dmirror_migrate_to_device(d0, b5)).toBe(0);
      expect(b5.cpages).toBe(1);
      const b6 = buffer(p + 6, 1);
      expect(yield* dmirror_migrate_to_device(d1, b6)).toBe(0);
      expect(b6.cpages).toBe(1);
      const b = buffer(p, 7);
      const m = new Uint8Array(7);
      expect(yield* dmirror_snapshot(d0, b, m)).toBe(0);
      expect(b.cpages).toBe(7);
      expect([...m]).toEqual([
        PROT_ERROR,
        PROT_ERROR,
        PROT_ZERO | DPROT_READ,
        DPROT_READ,
        DPROT_WRITE,
        PROT_DEV_PRIVATE_LOCAL | DPROT_WRITE,
        DPROT_NONE,
      ]);
    });
  });

  it('double_map: two devices read; device 0 reads pages that live on device 1', () => {
    const { sim, mm, dev0, dev1 } = hmm_fixture();
    run(sim, function* () {
      const d0 = yield* dmirror_open(dev0, mm);
      const d1 = yield* dmirror_open(dev1, mm);
      const ptr = yield* mmap_anon(mm, 6);
      yield* init(mm, ptr, 6, (i) => i);
      expect(yield* do_mprotect(mm, ptr, 6, PROT_READ)).toBe(0);
      for (const d of [d0, d1]) {
        const b = buffer(ptr, 6);
        expect(yield* dmirror_read(d, b)).toBe(0);
        expect([b.cpages, b.faults]).toEqual([6, 1]);
        expect_pages(b.mirror, (i) => i);
      }
      const m = buffer(ptr, 6);
      expect(yield* dmirror_migrate_to_device(d1, m)).toBe(0);
      expect(m.cpages).toBe(6);
      const b = buffer(ptr, 6);
      expect(yield* dmirror_read(d0, b)).toBe(0);
      expect([b.cpages, b.faults]).toEqual([6, 1]);
      expect_pages(b.mirror, (i) => i);
      expect(dev1.region.used).toBe(0); // derived: device 0's fault brought them back
    });
  });

  it('anon_write_child (migrate): the child sees and COW-writes pages that were on the device', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* mmap_anon(mm, N);
      yield* init(mm, ptr, N, (i) => i);
      const mb = buffer(ptr, N);
      expect(yield* dmirror_migrate_to_device(d, mb)).toBe(0);
      expect(mb.cpages).toBe(N);
      const child = yield* dup_mm(mm, 'child');
      const t = sim.spawn('child', function* () {
        yield* check(child, ptr, N, (i) => i);
        const cd = yield* dmirror_open(dev0, child);
        const b = buffer(ptr, N);
        for (let i = 0; i < N; i++) b.mirror[i] = -i >>> 0;
        expect(yield* dmirror_write(cd, b)).toBe(0);
        expect([b.cpages, b.faults]).toEqual([N, 1]);
        yield* check(child, ptr, N, (i) => -i >>> 0); // derived: the write landed
        yield* mmput(child);
      });
      yield* join(t);
      yield* check(mm, ptr, N, (i) => i);
    });
  });

  it('hmm_cow_in_device: a parent write to COW device pages brings them back and copies', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* mmap_anon(mm, 4);
      yield* init(mm, ptr, 4, (i) => i);
      const mb = buffer(ptr, 4);
      expect(yield* dmirror_migrate_to_device(d, mb)).toBe(0);
      expect(mb.cpages).toBe(4);
      const child = yield* dup_mm(mm, 'child'); // the child spins until killed
      yield* init(mm, ptr, 4, (i) => i); // COW faults in the parent
      yield* mmput(child); // SIGKILL
      const b = buffer(ptr, 4);
      const m = new Uint8Array(4);
      expect(yield* dmirror_snapshot(d, b, m)).toBe(0);
      expect(b.cpages).toBe(4);
      expect([...m]).toEqual([DPROT_WRITE, DPROT_WRITE, DPROT_WRITE, DPROT_WRITE]);
      expect(dev0.region.used).toBe(0); // derived
    });
  });

  it('migrate_partial_unmap_fault: unmap part of a migrated block, fault the rest back', () => {
    const size = PMD_PAGES;
    for (const off of [0, size / 4, size / 2]) {
      const { sim, mm, dev0 } = hmm_fixture();
      run(sim, function* () {
        const d = yield* dmirror_open(dev0, mm);
        const old = yield* mmap_anon(mm, 2 * size);
        const map = Math.ceil(old / size) * size;
        expect(yield* do_madvise(mm, map, size, MADV_NOHUGEPAGE)).toBe(0);
        yield* init(mm, map, size, (i) => i);
        const b = buffer(map, size);
        expect(yield* dmirror_migrate_to_device(d, b)).toBe(0);
        expect(b.cpages).toBe(size);
        expect_pages(b.mirror, (i) => i);
        expect(yield* do_munmap(mm, map + off, size / 2)).toBe(0);
        expect(dev0.region.used).toBe(size / 2); // derived: unmapped device pages are freed
        for (let i = 0; i < size; i++) {
          if (i >= off && i < off + size / 2) continue;
          expect(yield* cpu_read(mm, map + i)).toBe(i);
        }
      });
    }
  });

  it('migrate_remap_fault: mremap (fixed, with and without DONTUNMAP) before or after migrating', () => {
    const size = PMD_PAGES;
    for (const before of [false, true])
      for (const dontunmap of [false, true])
        for (const off of [0, size / 4, size / 2]) {
          const { sim, mm, dev0 } = hmm_fixture();
          run(sim, function* () {
            const d = yield* dmirror_open(dev0, mm);
            const flags = MREMAP_MAYMOVE | MREMAP_FIXED | (dontunmap ? MREMAP_DONTUNMAP : 0);
            const old = yield* mmap_anon(mm, 8 * size);
            const map = Math.ceil(old / size) * size;
            expect(yield* do_munmap(mm, map + size, 2 * size)).toBe(0);
            yield* init(mm, map, size, (i) => i);
            let ptr = map;
            const target = map + size + off;
            if (before) ptr = yield* do_mremap(mm, map, size, size, flags, target);
            expect(ptr).toBe(before ? target : map);
            const b = buffer(ptr, size);
            expect(yield* dmirror_migrate_to_device(d, b)).toBe(0);
            expect(b.cpages).toBe(size);
            expect_pages(b.mirror, (i) => i);
            if (!before) ptr = yield* do_mremap(mm, map, size, size, flags, target);
            expect(ptr).toBe(target);
            yield* check(mm, ptr, size, (i) => i);
            expect(yield* do_munmap(mm, ptr, size)).toBe(0);
          });
        }
  });

  it('migrating a shared file mapping gives -ENOENT and leaves the page cache in place', () => {
    const { sim, sys, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const file = sys.file_open('f');
      file_extend(file, 8);
      const ptr = yield* do_mmap(mm, {
        npages: 8,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_SHARED,
        file,
      });
      yield* init(mm, ptr, 8, (i) => i + 100);
      expect(yield* dmirror_migrate_to_device(d, buffer(ptr, 8))).toBe(-ENOENT);
      expect(mm_pte_kind(mm, ptr)).toBe(PTE_PRESENT);
      yield* check(mm, ptr, 8, (i) => i + 100);
      expect(dev0.region.used).toBe(0);
    });
  });
});

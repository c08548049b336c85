/**
 * Port of hmm-tests.c (shared/spec/test-suites.md §3), mirroring cases: each asserts what
 * the selftest asserts (return values, cpages, faults, data), on the model with the
 * dmirror test driver.
 */
import { describe, expect, it } from 'vitest';
import { EFAULT, EPERM, Rng, join, sleep } from '../../src/sim/index.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  PTE_PRESENT,
  cpu_read,
  do_mmap,
  do_mprotect,
  do_munmap,
  dup_mm,
  file_extend,
  file_pread,
  file_pwrite,
  mm_pte_kind,
  mm_pte_pfn,
  mmput,
} from '../../src/mm/index.js';
import {
  PROT_ERROR,
  PROT_READ as DPROT_READ,
  dmirror_close,
  dmirror_open,
  dmirror_read,
  dmirror_snapshot,
  dmirror_write,
} from './dmirror.js';
import {
  HMM_BUFFER_PAGES as N,
  buffer,
  check,
  expect_pages,
  hmm_fixture,
  init,
  neg,
} from './hmm-fixture.js';
import { mmap_anon, run } from './helpers.js';

describe('hmm-tests: mirroring', () => {
  it('open_close: open and close a mirror', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      expect(mm.notifier_subscriptions?.itree).toEqual([d.notifier]);
      yield* dmirror_close(d);
      expect(mm.notifier_subscriptions?.itree).toEqual([]);
    });
  });

  it('anon_read: device reads private anonymous memory (pte_none, zero page, data)', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* mmap_anon(mm, N);
      yield* init(mm, ptr + 2, N - 2, (i) => i + 2);
      expect(yield* do_mprotect(mm, ptr, N, PROT_READ)).toBe(0);
      expect(yield* cpu_read(mm, ptr + 1)).toBe(0);
      expect(mm_pte_pfn(mm, ptr + 1)).toBe(0); // the shared zero page
      const b = buffer(ptr, N);
      expect(yield* dmirror_read(d, b)).toBe(0);
      expect([b.cpages, b.faults]).toEqual([N, 1]);
      expect_pages(b.mirror, (i) => (i < 2 ? 0 : i));
    });
  });

  it('anon_read_prot: reading PROT_NONE memory fails with -EFAULT, nothing is read', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* mmap_anon(mm, N);
      yield* init(mm, ptr, N, (i) => i);
      const b = buffer(ptr, N);
      for (let i = 0; i < N; i++) b.mirror[i] = neg(i);
      expect(yield* do_mprotect(mm, ptr, N, PROT_NONE)).toBe(0);
      expect(yield* dmirror_read(d, b)).toBe(-EFAULT);
      expect(yield* do_mprotect(mm, ptr, N, PROT_READ)).toBe(0);
      yield* check(mm, ptr, N, (i) => i);
      expect_pages(b.mirror, neg);
    });
  });

  it('anon_write: device writes private anonymous memory', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* mmap_anon(mm, N);
      const b = buffer(ptr, N);
      for (let i = 0; i < N; i++) b.mirror[i] = i;
      expect(yield* dmirror_write(d, b)).toBe(0);
      expect([b.cpages, b.faults]).toEqual([N, 1]);
      yield* check(mm, ptr, N, (i) => i);
    });
  });

  it('anon_write_prot: writing PROT_READ memory fails with -EPERM until mprotect allows it', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* mmap_anon(mm, N, { prot: PROT_READ });
      const one = buffer(ptr, 1);
      expect(yield* dmirror_read(d, one)).toBe(0);
      expect([one.cpages, one.faults]).toEqual([1, 1]);
      const b = buffer(ptr, N);
      for (let i = 0; i < N; i++) b.mirror[i] = i;
      expect(yield* dmirror_write(d, b)).toBe(-EPERM);
      yield* check(mm, ptr, N, () => 0);
      expect(yield* do_mprotect(mm, ptr, N, PROT_READ | PROT_WRITE)).toBe(0);
      expect(yield* dmirror_write(d, b)).toBe(0);
      expect([b.cpages, b.faults]).toEqual([N, 1]);
      yield* check(mm, ptr, N, (i) => i);
    });
  });

  it('anon_write_child: a device write in the child is copy-on-write; the parent keeps its data', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const ptr = yield* mmap_anon(mm, N);
      yield* init(mm, ptr, N, (i) => i);
      const child = yield* dup_mm(mm, 'child');
      const t = sim.spawn('child', function* () {
        yield* check(child, ptr, N, (i) => i); // sees the parent's values
        const cd = yield* dmirror_open(dev0, child);
        const b = buffer(ptr, N);
        for (let i = 0; i < N; i++) b.mirror[i] = neg(i);
        expect(yield* dmirror_write(cd, b)).toBe(0);
        expect([b.cpages, b.faults]).toEqual([N, 1]);
        yield* check(child, ptr, N, neg);
        yield* dmirror_close(cd);
        yield* mmput(child); // _exit(0)
      });
      yield* join(t);
      yield* check(mm, ptr, N, (i) => i);
    });
  });

  it('anon_write_child_shared: a device write in the child shows in the parent', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const ptr = yield* mmap_anon(mm, N, { flags: MAP_SHARED | MAP_ANONYMOUS });
      yield* init(mm, ptr, N, (i) => i);
      const child = yield* dup_mm(mm, 'child');
      const t = sim.spawn('child', function* () {
        yield* check(child, ptr, N, (i) => i);
        const cd = yield* dmirror_open(dev0, child);
        const b = buffer(ptr, N);
        for (let i = 0; i < N; i++) b.mirror[i] = neg(i);
        expect(yield* dmirror_write(cd, b)).toBe(0);
        expect([b.cpages, b.faults]).toEqual([N, 1]);
        yield* check(child, ptr, N, neg);
        yield* dmirror_close(cd);
        yield* mmput(child);
      });
      yield* join(t);
      yield* check(mm, ptr, N, neg);
      expect(yield* do_munmap(mm, ptr, N)).toBe(0);
      expect(mm.sys.ram.used).toBe(0); // derived: the shmem object went with its last mapping
    });
  });

  it('anon_read_multiple: ten rounds of read', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      for (let c = 0; c < 10; c++) {
        const ptr = yield* mmap_anon(mm, N);
        yield* init(mm, ptr, N, (i) => i + c);
        const b = buffer(ptr, N);
        expect(yield* dmirror_read(d, b)).toBe(0);
        expect([b.cpages, b.faults]).toEqual([N, 1]);
        expect_pages(b.mirror, (i) => i + c);
        expect(yield* do_munmap(mm, ptr, N)).toBe(0);
      }
    });
  });

  it('anon_teardown: reads racing an unmap of the upper half succeed with correct data or fail cleanly', () => {
    // SIM: the selftest sleeps up to 32 us; with the model's costs a read of 1024 pages
    // takes about 40 us of virtual time, so the delay is drawn from [0, 64 us) to see both
    // outcomes of the race.
    const outcomes = new Set<number>();
    for (const seed of [1, 2, 3, 4]) {
      const { sim, mm, dev0 } = hmm_fixture({ policy: 'random', seed });
      const rng = new Rng(seed, 'anon_teardown');
      run(sim, function* () {
        const d = yield* dmirror_open(dev0, mm);
        for (let c = 0; c < 10; c++) {
          const ptr = yield* mmap_anon(mm, N);
          yield* init(mm, ptr, N, (i) => i + c);
          const delay = rng.below(64_000);
          const unmapper = sim.spawn('unmap_buffer', function* () {
            yield* sleep(delay);
            yield* do_munmap(mm, ptr + N / 2, N / 2);
          });
          const b = buffer(ptr, N);
          const rc = yield* dmirror_read(d, b);
          outcomes.add(rc);
          if (rc === 0) {
            expect([b.cpages, b.faults]).toEqual([N, 1]);
            expect_pages(b.mirror, (i) => i + c);
          } else {
            expect(rc).toBe(-EFAULT);
          }
          yield* join(unmapper);
          // Whatever the outcome, nothing of the unmapped half stays mirrored.
          for (const vpn of d.pt.keys()) expect(vpn < ptr + N / 2 || vpn >= ptr + N).toBe(true);
          yield* do_munmap(mm, ptr, N);
        }
      });
    }
    expect([...outcomes].sort()).toEqual([-EFAULT, 0].sort());
  });

  it('file_read: device reads a shared read-only file mapping', () => {
    const { sim, sys, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const file = sys.file_open('tmpfile');
      expect(file_pwrite(sys, file, 0, N, (i) => i)).toBe(N);
      const ptr = yield* do_mmap(mm, { npages: N, prot: PROT_READ, flags: MAP_SHARED, file });
      const b = buffer(ptr, N);
      expect(yield* dmirror_read(d, b)).toBe(0);
      expect([b.cpages, b.faults]).toEqual([N, 1]);
      expect_pages(b.mirror, (i) => i);
    });
  });

  it('file_write: device writes a shared file mapping; the file has the data', () => {
    const { sim, sys, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const file = sys.file_open('tmpfile');
      expect(file_extend(file, N)).toBe(0); // ftruncate
      const ptr = yield* do_mmap(mm, {
        npages: N,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_SHARED,
        file,
      });
      const b = buffer(ptr, N);
      for (let i = 0; i < N; i++) b.mirror[i] = i;
      expect(yield* dmirror_write(d, b)).toBe(0);
      expect([b.cpages, b.faults]).toEqual([N, 1]);
      yield* check(mm, ptr, N, (i) => i);
      const out = new Uint32Array(N);
      expect(file_pread(sys, file, 0, N, out)).toBe(N);
      expect_pages(out, (i) => i);
    });
  });

  it('mixedmap: snapshot of a device-file mapping with driver-inserted pages is PROT_READ', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* do_mmap(mm, {
        npages: 1,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE,
        mixedmap: true,
      });
      expect(mm_pte_kind(mm, ptr)).toBe(PTE_PRESENT);
      const b = buffer(ptr, 1);
      const m = new Uint8Array(1);
      expect(yield* dmirror_snapshot(d, b, m)).toBe(0);
      expect(b.cpages).toBe(1);
      expect(m[0]).toBe(DPROT_READ);
    });
  });

  it('pfnmap: a VM_IO | VM_PFNMAP mapping cannot be mirrored (-EFAULT) and snapshots as ERROR', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* do_mmap(mm, {
        npages: 2,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_SHARED,
        io: true,
      });
      expect(yield* cpu_read(mm, ptr)).toBe(0); // the CPU can use it
      expect(yield* dmirror_read(d, buffer(ptr, 2))).toBe(-EFAULT);
      const m = new Uint8Array(2);
      expect(yield* dmirror_snapshot(d, buffer(ptr, 2), m)).toBe(0);
      expect([...m]).toEqual([PROT_ERROR, PROT_ERROR]);
    });
  });

  it('device reads of a hole fail with -EFAULT', () => {
    const { sim, mm, dev0 } = hmm_fixture();
    run(sim, function* () {
      const d = yield* dmirror_open(dev0, mm);
      const ptr = yield* mmap_anon(mm, 4);
      expect(yield* do_munmap(mm, ptr + 1, 1)).toBe(0);
      const b = buffer(ptr, 4);
      expect(yield* dmirror_read(d, b)).toBe(-EFAULT);
      const fixed = { addr: ptr + 1, npages: 1, prot: PROT_READ };
      const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
      expect(yield* do_mmap(mm, { ...fixed, flags })).toBe(ptr + 1);
      expect(yield* dmirror_read(d, buffer(ptr, 4))).toBe(0);
    });
  });
});

/** mmap / munmap / mprotect / mremap / madvise: vma layout, Linux errors, syscall validation. */
import { describe, expect, it } from 'vitest';
import { EEXIST, EFAULT, EINVAL, ENOMEM, EPERM } from '../../src/sim/index.js';
import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  PTE_PRESENT,
  SIGSEGV,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  cpu_read,
  cpu_write,
  do_madvise,
  do_mmap,
  do_mprotect,
  do_mremap,
  do_munmap,
  mm_alloc,
  mm_pte_kind,
  sys_madvise,
  sys_mmap,
  sys_mprotect,
  sys_mremap,
  sys_munmap,
  vma_lookup,
  type MmStruct,
} from '../../src/mm/index.js';
import { mmap_anon, run, world } from './helpers.js';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

function layout(mm: MmStruct): [number, number, number][] {
  return mm.mmap.map((v) => [v.vm_start, v.vm_end, v.vm_flags & (VM_READ | VM_WRITE | VM_SHARED)]);
}

describe('mmap placement and flags', () => {
  it('places top-down below mmap_base, honours hints, alignment and fixed addresses', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 16);
      expect(a).toBe(mm.mmap_base - 16);
      const b = yield* do_mmap(mm, { npages: 4, prot: PROT_READ, flags: ANON });
      expect(b).toBe(a - 4);
      const h = yield* do_mmap(mm, { addr: 0x10000, npages: 4, prot: RW, flags: ANON });
      expect(h).toBe(0x10000);
      const taken = yield* do_mmap(mm, { addr: 0x10000, npages: 4, prot: RW, flags: ANON });
      expect(taken).not.toBe(0x10000); // a hint is only a hint
      const al = yield* do_mmap(mm, { npages: 3, prot: RW, flags: ANON, align: 512 });
      expect(al % 512).toBe(0);
      const f = yield* do_mmap(mm, { addr: 0x20000, npages: 2, prot: RW, flags: ANON | MAP_FIXED });
      expect(f).toBe(0x20000);
      const nr = { addr: 0x20001, npages: 2, prot: RW, flags: ANON | MAP_FIXED_NOREPLACE };
      expect(yield* do_mmap(mm, nr)).toBe(-EEXIST);
      expect(yield* do_mmap(mm, { ...nr, addr: 4 })).toBe(-EPERM); // below mmap_min_addr
      expect(yield* do_mmap(mm, { npages: 0, prot: RW, flags: ANON })).toBe(-EINVAL);
      expect(yield* do_mmap(mm, { npages: 1, prot: RW, flags: MAP_ANONYMOUS })).toBe(-EINVAL);
    });
  });

  it('merges compatible neighbours and fills a freed hole top-down', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 4);
      const b = yield* mmap_anon(mm, 4);
      expect(b).toBe(a - 4);
      expect(layout(mm)).toEqual([[b, a + 4, VM_READ | VM_WRITE]]);
      yield* do_munmap(mm, a, 2);
      expect(layout(mm)).toEqual([
        [b, a, VM_READ | VM_WRITE],
        [a + 2, a + 4, VM_READ | VM_WRITE],
      ]);
      const c = yield* mmap_anon(mm, 2);
      expect(c).toBe(a);
      expect(layout(mm)).toEqual([[b, a + 4, VM_READ | VM_WRITE]]);
    });
  });

  it('MAP_POPULATE faults every page in (write faults for private writable mappings)', () => {
    const { sim, sys, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 64, { flags: ANON | MAP_POPULATE });
      for (let i = 0; i < 64; i++) expect(mm_pte_kind(mm, a + i)).toBe(PTE_PRESENT);
      expect(sys.ram.used).toBe(64);
    });
    expect(sim.counters.get('cpu_faults')).toBe(64);
  });

  it('respects the user VA limit: 47 bits, or 56 with 5-level paging when asked for', () => {
    const { sim, sys, mm } = world();
    const mm56 = mm_alloc(sys, { va_bits: 56 });
    run(sim, function* () {
      const high = 2 ** 40;
      const flags = ANON | MAP_FIXED;
      expect(yield* do_mmap(mm, { addr: high, npages: 1, prot: RW, flags })).toBe(-ENOMEM);
      expect(yield* do_mmap(mm56, { addr: high, npages: 1, prot: RW, flags })).toBe(high);
      const low = yield* do_mmap(mm56, { npages: 1, prot: RW, flags: ANON });
      expect(low).toBeLessThan(2 ** 35); // below DEFAULT_MAP_WINDOW without a hint
      const hinted = yield* do_mmap(mm56, { addr: 2 ** 41, npages: 1, prot: RW, flags: ANON });
      expect(hinted).toBe(2 ** 41);
      expect(yield* cpu_write(mm56, high, 9)).toBe(0);
      expect(yield* cpu_read(mm56, high)).toBe(9);
    });
  });
});

describe('munmap, mprotect, madvise', () => {
  it('munmap splits a vma; accesses to the hole are SIGSEGV', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 8);
      expect(yield* cpu_write(mm, a + 3, 7)).toBe(0);
      expect(yield* do_munmap(mm, a + 2, 3)).toBe(0);
      expect(layout(mm)).toEqual([
        [a, a + 2, VM_READ | VM_WRITE],
        [a + 5, a + 8, VM_READ | VM_WRITE],
      ]);
      expect(yield* cpu_read(mm, a + 3)).toBe(-SIGSEGV);
      expect(yield* cpu_read(mm, a + 5)).toBe(0);
      expect(mm.sys.ram.used).toBe(0);
    });
  });

  it('mprotect splits and merges back; PROT_NONE and read-only give SIGSEGV', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 8);
      expect(yield* cpu_write(mm, a + 2, 5)).toBe(0);
      expect(yield* do_mprotect(mm, a + 2, 2, PROT_READ)).toBe(0);
      expect(layout(mm)).toEqual([
        [a, a + 2, VM_READ | VM_WRITE],
        [a + 2, a + 4, VM_READ],
        [a + 4, a + 8, VM_READ | VM_WRITE],
      ]);
      expect(yield* cpu_write(mm, a + 2, 6)).toBe(-SIGSEGV);
      expect(yield* cpu_read(mm, a + 2)).toBe(5);
      expect(yield* do_mprotect(mm, a + 2, 2, PROT_NONE)).toBe(0);
      expect(yield* cpu_read(mm, a + 2)).toBe(-SIGSEGV);
      expect(yield* do_mprotect(mm, a + 2, 2, RW)).toBe(0);
      expect(layout(mm)).toEqual([[a, a + 8, VM_READ | VM_WRITE]]);
      expect(yield* cpu_write(mm, a + 2, 6)).toBe(0); // write fault upgrades the pte
      expect(yield* cpu_read(mm, a + 2)).toBe(6);
    });
  });

  it('mprotect over a hole changes what precedes it and returns -ENOMEM; bad prot is -EINVAL', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 8);
      yield* do_munmap(mm, a + 4, 2);
      expect(yield* do_mprotect(mm, a, 8, PROT_READ)).toBe(-ENOMEM);
      expect((vma_lookup(mm, a)?.vm_flags ?? -1) & VM_WRITE).toBe(0);
      expect((vma_lookup(mm, a + 6)?.vm_flags ?? 0) & VM_WRITE).toBe(VM_WRITE);
      expect(yield* do_mprotect(mm, a, 1, 0x40)).toBe(-EINVAL);
      expect(yield* do_mprotect(mm, a - 100, 1, PROT_READ)).toBe(-ENOMEM);
      expect(yield* do_mprotect(mm, a, 0, 0x40)).toBe(-EINVAL);
    });
  });

  it('madvise: DONTNEED drops pages; holes give -ENOMEM; pfnmap -EINVAL; hints are no-ops', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 8);
      expect(yield* cpu_write(mm, a, 3)).toBe(0);
      expect(yield* do_madvise(mm, a, 8, MADV_HUGEPAGE)).toBe(0);
      expect(yield* cpu_read(mm, a)).toBe(3);
      yield* do_munmap(mm, a + 4, 1);
      expect(yield* do_madvise(mm, a, 8, MADV_DONTNEED)).toBe(-ENOMEM);
      expect(yield* cpu_read(mm, a)).toBe(0);
      expect(yield* do_madvise(mm, a, 1, 99)).toBe(-EINVAL);
      const io = yield* do_mmap(mm, { npages: 1, prot: RW, flags: MAP_SHARED, io: true });
      expect(yield* do_madvise(mm, io, 1, MADV_DONTNEED)).toBe(-EINVAL);
    });
  });
});

describe('mremap', () => {
  it('grows in place, moves when blocked, shrinks, and keeps the data', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 4);
      expect(yield* cpu_write(mm, a + 3, 33)).toBe(0);
      const flags = ANON | MAP_FIXED;
      expect(yield* do_mmap(mm, { addr: a + 4, npages: 1, prot: PROT_READ, flags })).toBe(a + 4);
      expect(yield* do_mremap(mm, a, 4, 6, 0)).toBe(-ENOMEM); // blocked, may not move
      const n = yield* do_mremap(mm, a, 4, 6, MREMAP_MAYMOVE);
      expect(n).not.toBe(a);
      expect(yield* cpu_read(mm, n + 3)).toBe(33);
      expect(yield* cpu_read(mm, a)).toBe(-SIGSEGV);
      expect(yield* do_mremap(mm, n, 6, 2, 0)).toBe(n);
      expect(vma_lookup(mm, n + 2)).toBeUndefined();
      const g = yield* do_mremap(mm, n, 2, 3, 0);
      expect(g).toBe(n);
      expect(vma_lookup(mm, n + 2)?.vm_end).toBe(n + 3);
    });
  });

  it('returns Linux errors for bad flags, spans and overlaps', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 4);
      expect(yield* do_mremap(mm, a, 4, 4, 0x80)).toBe(-EINVAL);
      expect(yield* do_mremap(mm, a, 4, 4, MREMAP_FIXED, a + 100)).toBe(-EINVAL);
      expect(yield* do_mremap(mm, a, 4, 8, MREMAP_MAYMOVE | MREMAP_DONTUNMAP)).toBe(-EINVAL);
      expect(yield* do_mremap(mm, a, 8, 12, MREMAP_MAYMOVE)).toBe(-EFAULT); // beyond the vma
      expect(yield* do_mremap(mm, a, 8, 8, MREMAP_MAYMOVE)).toBe(a); // same size: a no-op
      expect(yield* do_mremap(mm, a - 50, 1, 2, MREMAP_MAYMOVE)).toBe(-EFAULT); // no vma
      expect(yield* do_mremap(mm, a - 50, 2, 1, 0)).toBe(-EFAULT);
      const fixed = MREMAP_MAYMOVE | MREMAP_FIXED;
      expect(yield* do_mremap(mm, a, 4, 4, fixed, a + 2)).toBe(-EINVAL); // overlap
      expect(yield* do_mremap(mm, a, 4, 4, fixed, a + 0x1000)).toBe(a + 0x1000);
    });
  });
});

describe('syscalls: byte arguments', () => {
  it('validate alignment and lengths as Linux does', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const p = yield* sys_mmap(mm, 0n, 5000n, RW, ANON, null, 0n);
      expect(p % 4096n).toBe(0n);
      expect(vma_lookup(mm, Number(p / 4096n))?.vm_end).toBe(Number(p / 4096n) + 2);
      expect(yield* sys_mmap(mm, 0n, 0n, RW, ANON, null, 0n)).toBe(BigInt(-EINVAL));
      expect(yield* sys_mmap(mm, 4097n, 4096n, RW, ANON | MAP_FIXED, null, 0n)).toBe(
        BigInt(-EINVAL),
      );
      expect(yield* sys_mmap(mm, 0n, 4096n, RW, ANON, null, 100n)).toBe(BigInt(-EINVAL));
      expect(yield* sys_munmap(mm, p + 1n, 4096n)).toBe(-EINVAL);
      expect(yield* sys_munmap(mm, p, 0n)).toBe(-EINVAL);
      expect(yield* sys_mprotect(mm, p + 1n, 4096n, PROT_READ)).toBe(-EINVAL);
      expect(yield* sys_mprotect(mm, p, 0n, 0x40)).toBe(0);
      expect(yield* sys_madvise(mm, p + 1n, 4096n, MADV_DONTNEED)).toBe(-EINVAL);
      expect(yield* sys_madvise(mm, p, 0n, MADV_DONTNEED)).toBe(0);
      expect(yield* sys_mremap(mm, p + 1n, 4096n, 8192n, MREMAP_MAYMOVE)).toBe(BigInt(-EINVAL));
      const q = yield* sys_mremap(mm, p, 5000n, 3n * 4096n, MREMAP_MAYMOVE);
      expect(q > 0n).toBe(true);
      expect(yield* sys_munmap(mm, q, 3n * 4096n)).toBe(0);
      expect(mm.map_count).toBe(0);
      expect(yield* sys_mprotect(mm, 0n, 4096n, PROT_READ)).toBe(-ENOMEM);
    });
  });
});

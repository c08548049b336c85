/** CPU page faults: zero page, COW after fork, page cache, swap, OOM, device-private pages. */
import { describe, expect, it } from 'vitest';
import type { Trap } from '../../src/sim/index.js';
import { join } from '../../src/sim/index.js';
import {
  FAULT_FLAG_WRITE,
  MAP_PRIVATE,
  MAP_SHARED,
  MmSystem,
  PROT_READ,
  PROT_WRITE,
  PTE_DEVICE_PRIVATE,
  PTE_PFN_NONE,
  PTE_PFN_SWAPPED,
  PTE_PRESENT,
  PTE_SWAP,
  SIGBUS,
  SIGKILL,
  cpu_read,
  cpu_read_range,
  cpu_write,
  cpu_write_range,
  do_mmap,
  dup_mm,
  file_extend,
  file_pread,
  file_pwrite,
  handle_mm_fault,
  mm_alloc,
  mm_pte_kind,
  mm_pte_pfn,
  mm_pte_writable,
  mmput,
  reclaim,
  vma_lookup,
} from '../../src/mm/index.js';
import { DmirrorDevice, dmirror_migrate_to_device, dmirror_open } from './dmirror.js';
import { buffer } from './hmm-fixture.js';
import { mmap_anon, run, world } from './helpers.js';

const RW = PROT_READ | PROT_WRITE;

describe('anonymous faults', () => {
  it('a read maps the zero page read-only; a write allocates; values are kept', () => {
    const { sim, sys, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 4);
      expect(mm_pte_pfn(mm, a)).toBe(PTE_PFN_NONE);
      expect(yield* cpu_read(mm, a)).toBe(0);
      expect([mm_pte_pfn(mm, a), mm_pte_writable(mm, a)]).toEqual([0, false]);
      expect(sys.ram.used).toBe(0);
      expect(yield* cpu_write(mm, a, 0xdeadbeef)).toBe(0);
      expect(mm_pte_pfn(mm, a)).toBeGreaterThan(0);
      expect(mm_pte_writable(mm, a)).toBe(true);
      expect(yield* cpu_read(mm, a)).toBe(0xdeadbeef);
      expect(sys.ram.used).toBe(1);
    });
    expect(sim.counters.get('cpu_faults')).toBe(2);
  });

  it('fork shares pages copy-on-write; each side sees only its own writes', () => {
    const { sim, sys, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 4);
      expect(yield* cpu_write_range(mm, a, 4, (i) => 10 + i)).toBe(0);
      const child = yield* dup_mm(mm, 'child');
      expect(sys.ram.used).toBe(4); // shared
      const t = sim.spawn('child', function* () {
        expect(yield* cpu_write(child, a, 99)).toBe(0);
        const out = new Uint32Array(4);
        expect(yield* cpu_read_range(child, a, 4, out)).toBe(0);
        expect([...out]).toEqual([99, 11, 12, 13]);
      });
      yield* join(t);
      expect(sys.ram.used).toBe(5);
      const out = new Uint32Array(4);
      expect(yield* cpu_read_range(mm, a, 4, out)).toBe(0);
      expect([...out]).toEqual([10, 11, 12, 13]);
      yield* mmput(child);
      expect(sys.ram.used).toBe(4);
      expect(yield* cpu_write(mm, a + 1, 1)).toBe(0); // exclusive again: reused in place
      expect(sys.ram.used).toBe(4);
    });
    expect(sim.counters.get('cow_faults')).toBe(1);
  });
});

describe('file-backed faults', () => {
  it('private mappings copy on write and leave the file alone; shared ones write through', () => {
    const { sim, sys, mm } = world();
    const file = sys.file_open('data');
    file_pwrite(sys, file, 0, 4, (i) => 100 + i);
    run(sim, function* () {
      const p = yield* do_mmap(mm, { npages: 4, prot: RW, flags: MAP_PRIVATE, file });
      const s = yield* do_mmap(mm, { npages: 4, prot: RW, flags: MAP_SHARED, file });
      expect(yield* cpu_read(mm, p + 1)).toBe(101);
      expect(mm_pte_pfn(mm, p + 1)).toBe(file.f_mapping.i_pages.get(1));
      expect(yield* cpu_write(mm, p + 1, 1)).toBe(0);
      expect(mm_pte_pfn(mm, p + 1)).not.toBe(file.f_mapping.i_pages.get(1));
      expect(yield* cpu_write(mm, s + 2, 2)).toBe(0);
      expect(mm_pte_pfn(mm, s + 2)).toBe(file.f_mapping.i_pages.get(2));
      file_pwrite(sys, file, 3, 1, 7); // pwrite shows through the shared mapping
      expect(yield* cpu_read(mm, s + 3)).toBe(7);
      const out = new Uint32Array(4);
      expect(file_pread(sys, file, 0, 4, out)).toBe(4);
      expect([...out]).toEqual([100, 101, 2, 7]);
    });
  });

  it('an access beyond the end of the file is SIGBUS', () => {
    const { sim, sys, mm } = world();
    const file = sys.file_open('short');
    file_extend(file, 1);
    run(sim, function* () {
      const p = yield* do_mmap(mm, { npages: 4, prot: RW, flags: MAP_SHARED, file });
      expect(yield* cpu_write(mm, p, 1)).toBe(0);
      expect(yield* cpu_read(mm, p + 1)).toBe(-SIGBUS);
    });
  });
});

describe('swap, memory exhaustion, locking', () => {
  it('reclaimed pages come back with their contents, also when forked while swapped', () => {
    const { sim, sys, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 8);
      expect(yield* cpu_write_range(mm, a, 8, (i) => 1000 + i)).toBe(0);
      expect(yield* reclaim(mm, a, 8)).toBe(8);
      expect(mm_pte_kind(mm, a + 5)).toBe(PTE_SWAP);
      expect(mm_pte_pfn(mm, a + 5)).toBe(PTE_PFN_SWAPPED);
      expect(sys.ram.used).toBe(0);
      expect(sys.swap.used).toBe(8);
      const child = yield* dup_mm(mm, 'child');
      expect(yield* cpu_read(child, a + 5)).toBe(1005);
      expect(yield* cpu_write(mm, a + 5, 1)).toBe(0);
      expect(yield* cpu_read(child, a + 5)).toBe(1005);
      expect(yield* cpu_read(mm, a + 5)).toBe(1);
      yield* mmput(child);
      expect(sys.swap.used).toBe(7);
    });
    expect(sim.counters.get('pages_swapped_out')).toBe(8);
  });

  it('an allocation failure kills the faulting task (VM_FAULT_OOM -> SIGKILL)', () => {
    const { sim } = world();
    const sys = new MmSystem({ ram_pages: 2 });
    const mm = mm_alloc(sys);
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 4);
      const info = { vpn: -1 };
      expect(yield* cpu_write_range(mm, a, 4, (i) => i + 1, info)).toBe(-SIGKILL);
      expect(info.vpn).toBe(a + 2);
      expect(yield* cpu_read(mm, a + 1)).toBe(2); // the pages before it were written
      expect(yield* cpu_write(mm, a + 2, 1)).toBe(-SIGKILL);
      expect(yield* cpu_read(mm, a + 2)).toBe(0); // the zero page needs no frame
    });
  });

  it('handle_mm_fault requires mmap_lock (lockdep_assert_held)', () => {
    const { sim, mm } = world();
    let err: unknown;
    try {
      run(sim, function* () {
        const a = yield* mmap_anon(mm, 1);
        const vma = vma_lookup(mm, a);
        if (vma) yield* handle_mm_fault(vma, a, FAULT_FLAG_WRITE);
      });
    } catch (e) {
      err = e;
    }
    expect((err as Trap).kind).toBe('bug');
    expect((err as Trap).message).toContain('lockdep_assert_held(mmap_lock)');
  });
});

describe('device-private pages', () => {
  it("a CPU fault on a device-private entry calls its pagemap's migrate_to_ram", () => {
    const { sim, sys, mm } = world();
    const dev = new DmirrorDevice(sys, 'dev', 64);
    run(sim, function* () {
      const d = yield* dmirror_open(dev, mm);
      const a = yield* mmap_anon(mm, 4);
      expect(yield* cpu_write_range(mm, a, 4, (i) => 7 * i)).toBe(0);
      expect(yield* dmirror_migrate_to_device(d, buffer(a, 4))).toBe(0);
      expect(mm_pte_kind(mm, a + 2)).toBe(PTE_DEVICE_PRIVATE);
      expect(sys.phys.regionOf(mm_pte_pfn(mm, a + 2))).toBe(dev.region);
      expect(yield* cpu_read(mm, a + 2)).toBe(14);
      expect(mm_pte_kind(mm, a + 2)).toBe(PTE_PRESENT);
      expect(sys.phys.regionOf(mm_pte_pfn(mm, a + 2))).toBe(sys.ram);
      expect(mm_pte_kind(mm, a + 3)).toBe(PTE_DEVICE_PRIVATE); // one page per fault
      expect(dev.region.used).toBe(3);
      expect(yield* cpu_write(mm, a + 3, 5)).toBe(0);
      expect(yield* cpu_read(mm, a + 3)).toBe(5);
    });
    expect(sim.counters.get('migrated_pages_to_ram')).toBe(2);
  });
});

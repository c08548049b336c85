/** hmm_range_fault (mm/hmm.c): per-page results, faulting, errors, retry, lock rule. */
import { describe, expect, it } from 'vitest';
import type { Trap } from '../../src/sim/index.js';
import { EBUSY, EFAULT, EPERM, getSim, sleep, type Co } from '../../src/sim/index.js';
import {
  HMM_PFN_DEVICE_PRIVATE,
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  HmmRange,
  MAP_FIXED,
  MAP_SHARED,
  MmuIntervalNotifier,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  PTE_PRESENT,
  cpu_read,
  cpu_write,
  cpu_write_range,
  do_mmap,
  do_mprotect,
  do_munmap,
  folio_trylock,
  folio_unlock,
  hmm_pfn_make,
  hmm_pfn_to_pfn,
  hmm_range_fault,
  mm_pte_kind,
  mm_pte_pfn,
  mmap_read_lock,
  mmap_read_unlock,
  mmu_interval_notifier_insert,
  mmu_interval_read_begin,
  mmu_interval_set_seq,
  reclaim,
  remove_migration_ptes,
  set_migration_entry,
  type MmStruct,
} from '../../src/mm/index.js';
import { DmirrorDevice, dmirror_migrate_to_device, dmirror_open } from './dmirror.js';
import { buffer } from './hmm-fixture.js';
import { mmap_anon, run, world } from './helpers.js';

const RW = PROT_READ | PROT_WRITE;

function* notifier(mm: MmStruct): Co<MmuIntervalNotifier> {
  const mni = new MmuIntervalNotifier('hmm-test');
  yield* mmu_interval_notifier_insert(mni, mm, 0, 2 ** 40, {
    *invalidate(n, _r, seq) {
      mmu_interval_set_seq(n, seq);
      return true;
    },
  });
  return mni;
}

/** One hmm_range_fault call with mmap_lock held and a fresh sequence. */
function* fault(
  mm: MmStruct,
  mni: MmuIntervalNotifier,
  start: number,
  n: number,
  default_flags: number,
  owner: object | null = null,
  pfns?: Float64Array,
): Co<{ ret: number; pfns: Float64Array }> {
  const range = new HmmRange({
    notifier: mni,
    start,
    end: start + n,
    default_flags,
    dev_private_owner: owner,
    ...(pfns ? { hmm_pfns: pfns, pfn_flags_mask: HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE } : {}),
  });
  range.notifier_seq = yield* mmu_interval_read_begin(mni);
  yield* mmap_read_lock(mm);
  const ret = yield* hmm_range_fault(range);
  mmap_read_unlock(mm);
  return { ret, pfns: range.hmm_pfns };
}

/** The driver loop: begin again while hmm_range_fault says -EBUSY. */
function* fault_retry(
  mm: MmStruct,
  mni: MmuIntervalNotifier,
  start: number,
  n: number,
  default_flags: number,
  owner: object | null = null,
  pfns?: Float64Array,
): Co<{ ret: number; pfns: Float64Array }> {
  for (let tries = 0; ; tries++) {
    const r = yield* fault(mm, mni, start, n, default_flags, owner, pfns);
    if (r.ret !== -EBUSY || tries > 10) return r;
  }
}

const flags = (e: number): number => e & 0xff;

describe('hmm_range_fault', () => {
  it('snapshots every kind of entry without faulting (default_flags 0)', () => {
    const { sim, sys, mm } = world();
    const dev0 = new DmirrorDevice(sys, 'dev0', 16);
    const dev1 = new DmirrorDevice(sys, 'dev1', 16);
    run(sim, function* () {
      const mni = yield* notifier(mm);
      const p = yield* mmap_anon(mm, 9);
      expect(yield* cpu_read(mm, p + 1)).toBe(0); // zero page
      expect(yield* cpu_write_range(mm, p + 2, 3, 5)).toBe(0);
      yield* reclaim(mm, p + 4, 1); // swapped
      const d0 = yield* dmirror_open(dev0, mm);
      const d1 = yield* dmirror_open(dev1, mm);
      expect(yield* dmirror_migrate_to_device(d0, buffer(p + 5, 1))).toBe(0);
      expect(yield* dmirror_migrate_to_device(d1, buffer(p + 6, 1))).toBe(0);
      expect(yield* do_mprotect(mm, p + 7, 1, PROT_NONE)).toBe(0);
      yield* do_munmap(mm, p + 8, 1); // hole
      const io = { addr: p + 9, npages: 1, prot: RW, flags: MAP_SHARED | MAP_FIXED, io: true };
      expect(yield* do_mmap(mm, io)).toBe(p + 9);
      const { ret, pfns } = yield* fault(mm, mni, p, 11, 0, dev0);
      expect(ret).toBe(0);
      expect([...pfns].map(flags)).toEqual([
        0, // pte_none
        HMM_PFN_VALID, // zero page, read-only
        HMM_PFN_VALID | HMM_PFN_WRITE,
        HMM_PFN_VALID | HMM_PFN_WRITE,
        0, // swapped out
        HMM_PFN_VALID | HMM_PFN_WRITE | HMM_PFN_DEVICE_PRIVATE, // own device page, in place
        0, // another owner's device page
        HMM_PFN_ERROR, // PROT_NONE vma
        HMM_PFN_ERROR, // no vma
        HMM_PFN_ERROR, // VM_IO | VM_PFNMAP
        HMM_PFN_ERROR, // past the last vma
      ]);
      expect(hmm_pfn_to_pfn(pfns[1] as number)).toBe(0);
      expect(hmm_pfn_to_pfn(pfns[2] as number)).toBe(mm_pte_pfn(mm, p + 2));
      expect(sys.phys.regionOf(hmm_pfn_to_pfn(pfns[5] as number))).toBe(dev0.region);
    });
  });

  it('faults pages in on request, migrating foreign device pages to RAM', () => {
    const { sim, sys, mm } = world();
    const dev = new DmirrorDevice(sys, 'dev', 16);
    run(sim, function* () {
      const mni = yield* notifier(mm);
      const p = yield* mmap_anon(mm, 4);
      expect(yield* cpu_write_range(mm, p + 1, 3, (i) => i + 1)).toBe(0);
      yield* reclaim(mm, p + 2, 1);
      const d = yield* dmirror_open(dev, mm);
      expect(yield* dmirror_migrate_to_device(d, buffer(p + 3, 1))).toBe(0);
      const r = yield* fault_retry(mm, mni, p, 4, HMM_PFN_REQ_FAULT);
      expect(r.ret).toBe(0);
      expect([...r.pfns].map(flags)).toEqual([
        HMM_PFN_VALID,
        HMM_PFN_VALID | HMM_PFN_WRITE,
        HMM_PFN_VALID | HMM_PFN_WRITE,
        HMM_PFN_VALID | HMM_PFN_WRITE,
      ]);
      expect(mm_pte_kind(mm, p + 3)).toBe(PTE_PRESENT);
      expect(sys.phys.read(hmm_pfn_to_pfn(r.pfns[3] as number))).toBe(3);
      const w = yield* fault_retry(mm, mni, p, 1, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
      expect(w.ret).toBe(0);
      expect(flags(w.pfns[0] as number)).toBe(HMM_PFN_VALID | HMM_PFN_WRITE);
      expect(hmm_pfn_to_pfn(w.pfns[0] as number)).not.toBe(0);
    });
  });

  it('per-page requests through pfn_flags_mask: faults from the first such page to the block end', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const mni = yield* notifier(mm);
      const p = yield* mmap_anon(mm, 8);
      const req = () => {
        const a = new Float64Array(3);
        a[1] = hmm_pfn_make(0, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
        return a;
      };
      // No page table yet (pmd_none): Linux faults the whole hole once one page asks.
      const r = yield* fault_retry(mm, mni, p, 3, 0, null, req());
      expect(r.ret).toBe(0);
      expect([...r.pfns].map(flags)).toEqual([3, 3, 3].map(() => HMM_PFN_VALID | HMM_PFN_WRITE));
      // With a page table, pages before the first request stay untouched.
      const r2 = yield* fault_retry(mm, mni, p + 4, 3, 0, null, req());
      expect(r2.ret).toBe(0);
      expect([...r2.pfns].map(flags)).toEqual([
        0,
        HMM_PFN_VALID | HMM_PFN_WRITE,
        HMM_PFN_VALID | HMM_PFN_WRITE,
      ]);
      expect(mm_pte_kind(mm, p + 4)).toBe(0);
    });
  });

  it('returns -EPERM for write to a read-only vma, -EFAULT for holes and unreadable vmas', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const mni = yield* notifier(mm);
      const ro = yield* mmap_anon(mm, 1, { prot: PROT_READ });
      expect((yield* fault(mm, mni, ro, 1, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE)).ret).toBe(
        -EPERM,
      );
      expect((yield* fault(mm, mni, ro, 1, HMM_PFN_REQ_FAULT)).ret).toBe(0);
      const none = yield* mmap_anon(mm, 1, { prot: PROT_NONE });
      expect((yield* fault(mm, mni, none, 1, HMM_PFN_REQ_FAULT)).ret).toBe(-EFAULT);
      expect((yield* fault(mm, mni, none - 10, 1, HMM_PFN_REQ_FAULT)).ret).toBe(-EFAULT);
    });
  });

  it('returns -EBUSY when the sequence moved, including by its own COW fault', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const mni = yield* notifier(mm);
      const p = yield* mmap_anon(mm, 2);
      expect(yield* cpu_read(mm, p)).toBe(0);
      const range = new HmmRange({
        notifier: mni,
        start: p,
        end: p + 2,
        default_flags: HMM_PFN_REQ_FAULT,
      });
      range.notifier_seq = yield* mmu_interval_read_begin(mni);
      yield* do_munmap(mm, p + 1, 1);
      yield* mmap_read_lock(mm);
      expect(yield* hmm_range_fault(range)).toBe(-EBUSY);
      mmap_read_unlock(mm);
      yield* mmap_anon(mm, 1, { addr: p + 1 });
      // The write fault replaces the zero page: CLEAR moves the sequence under the walk.
      const w = yield* fault(mm, mni, p, 1, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
      expect(w.ret).toBe(-EBUSY);
      const again = yield* fault(mm, mni, p, 1, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
      expect(again.ret).toBe(0);
    });
    expect(sim.counters.get('hmm_range_fault_calls')).toBe(3);
    expect(sim.counters.get('hmm_range_fault_pages')).toBe(4);
  });

  it('waits for a page under migration (migration entry) and then walks again', () => {
    const { sim, sys, mm } = world();
    run(sim, function* () {
      const mni = yield* notifier(mm);
      const p = yield* mmap_anon(mm, 1);
      expect(yield* cpu_write(mm, p, 42)).toBe(0);
      const pfn = mm_pte_pfn(mm, p);
      folio_trylock(sys, pfn);
      sys.phys.get_page(pfn); // the migration's reference
      set_migration_entry(mm, p, true);
      const peek = yield* fault(mm, mni, p, 1, 0);
      expect(flags(peek.pfns[0] as number)).toBe(0);
      sim.spawn('migration', function* () {
        yield* sleep(5_000);
        remove_migration_ptes(sys, pfn, pfn);
        folio_unlock(sys, pfn);
        sys.phys.put_page(pfn);
      });
      const t0 = getSim().now();
      const r = yield* fault(mm, mni, p, 1, HMM_PFN_REQ_FAULT);
      expect(r.ret).toBe(0);
      expect(getSim().now() - t0).toBeGreaterThanOrEqual(5_000);
      expect(hmm_pfn_to_pfn(r.pfns[0] as number)).toBe(pfn);
    });
  });

  it('requires mmap_lock', () => {
    const { sim, mm } = world();
    let err: unknown;
    try {
      run(sim, function* () {
        const mni = yield* notifier(mm);
        const p = yield* mmap_anon(mm, 1);
        yield* hmm_range_fault(new HmmRange({ notifier: mni, start: p, end: p + 1 }));
      });
    } catch (e) {
      err = e;
    }
    expect((err as Trap).kind).toBe('bug');
  });
});

/**
 * A mirror reader racing invalidations under the explorer policies: the collision-retry
 * protocol (read_begin, hmm_range_fault, driver lock, read_retry) never commits a stale
 * translation, under random and PCT schedules with several seeds; a reader that skips
 * read_retry is caught.
 */
import { describe, expect, it } from 'vitest';
import {
  EBUSY,
  join,
  mutex_lock,
  mutex_unlock,
  type Co,
  type PolicyName,
} from '../../src/sim/index.js';
import {
  HMM_PFN_REQ_FAULT,
  HmmRange,
  MADV_DONTNEED,
  cpu_write_range,
  do_madvise,
  hmm_pfn_to_pfn,
  hmm_range_fault,
  migrate_pages,
  mm_pte_pfn,
  mmap_read_lock,
  mmap_read_unlock,
  mmu_interval_read_begin,
  mmu_interval_read_retry,
  reclaim,
} from '../../src/mm/index.js';
import { DmirrorDevice, dmirror_open, type Dmirror } from './dmirror.js';
import { mmap_anon, run, world } from './helpers.js';

interface Stats {
  busy: number;
  retry: number;
  commits: number;
  /** Entries that did not match the CPU page table when committed. */
  stale: number;
}

/** dmirror_range_fault, optionally without the read_retry check (the bug). */
function* mirror_range(d: Dmirror, start: number, end: number, buggy: boolean, st: Stats): Co {
  const range = new HmmRange({
    notifier: d.notifier,
    start,
    end,
    default_flags: HMM_PFN_REQ_FAULT,
    dev_private_owner: d.mdevice,
  });
  for (;;) {
    range.notifier_seq = yield* mmu_interval_read_begin(d.notifier);
    yield* mmap_read_lock(d.mm);
    const ret = yield* hmm_range_fault(range);
    mmap_read_unlock(d.mm);
    if (ret === -EBUSY) {
      st.busy++;
      continue;
    }
    expect(ret).toBe(0);
    yield* mutex_lock(d.mutex);
    if (!buggy && mmu_interval_read_retry(d.notifier, range.notifier_seq)) {
      mutex_unlock(d.mutex);
      st.retry++;
      continue;
    }
    for (let i = 0; i < end - start; i++) {
      const pfn = hmm_pfn_to_pfn(range.hmm_pfns[i] as number);
      d.pt.set(start + i, { pfn, write: false });
      if (pfn !== mm_pte_pfn(d.mm, start + i)) st.stale++;
    }
    st.commits++;
    mutex_unlock(d.mutex);
    return;
  }
}

function race(policy: PolicyName, seed: number, buggy: boolean): Stats {
  // PCT's k (steps) is about the number of scheduling decisions of one run.
  const { sim, sys, mm } = world({ policy, seed, steps: 100, depth: 3, trace: false });
  const dev = new DmirrorDevice(sys, 'dev', 64);
  const st: Stats = { busy: 0, retry: 0, commits: 0, stale: 0 };
  run(sim, function* () {
    const d = yield* dmirror_open(dev, mm);
    const a = yield* mmap_anon(mm, 16);
    expect(yield* cpu_write_range(mm, a, 16, (i) => i)).toBe(0);
    const reader = sim.spawn('gpu-fault', function* () {
      for (let round = 0; round < 3; round++) yield* mirror_range(d, a, a + 16, buggy, st);
    });
    const writer = sim.spawn('kernel', function* () {
      yield* migrate_pages(mm, a, 16);
      yield* do_madvise(mm, a + 8, 8, MADV_DONTNEED);
      yield* reclaim(mm, a, 4);
    });
    yield* join(reader);
    yield* join(writer);
    // The mirror never keeps a translation the CPU no longer has.
    for (const [vpn, e] of d.pt) if (e.pfn !== mm_pte_pfn(mm, vpn)) st.stale++;
  });
  return st;
}

describe('reader racing invalidations', () => {
  for (const policy of ['random', 'pct'] as const) {
    it(`${policy}: read_begin/read_retry never commits a stale translation (8 seeds)`, () => {
      let raced = 0;
      for (let seed = 1; seed <= 8; seed++) {
        const st = race(policy, seed, false);
        expect(st.stale).toBe(0);
        expect(st.commits).toBe(3);
        raced += st.busy + st.retry;
      }
      expect(raced).toBeGreaterThan(0); // the schedules did interleave the two
    });
  }

  for (const policy of ['random', 'pct'] as const) {
    it(`${policy}: a reader that skips mmu_interval_read_retry is caught by some seed`, () => {
      let caught = 0;
      for (let seed = 1; seed <= 16; seed++) if (race(policy, seed, true).stale > 0) caught++;
      expect(caught).toBeGreaterThan(0);
    });
  }
});

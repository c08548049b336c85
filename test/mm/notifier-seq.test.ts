/**
 * mmu interval notifier sequence numbers and their collision-retry protocol
 * (mm/mmu_notifier.c): read_begin / read_retry / check_retry / set_seq, deferred insert and
 * remove, non-blockable invalidations, and the lockdep priming.
 */
import { describe, expect, it } from 'vitest';
import {
  EAGAIN,
  Mutex,
  Trap,
  getSim,
  join,
  mutex_lock,
  mutex_unlock,
  sleep,
  type Co,
} from '../../src/sim/index.js';
import {
  MMU_NOTIFY_CLEAR,
  MmuIntervalNotifier,
  alloc_page,
  do_munmap,
  mmu_interval_check_retry,
  mmu_interval_notifier_insert,
  mmu_interval_notifier_remove,
  mmu_interval_read_begin,
  mmu_interval_read_retry,
  mmu_interval_set_seq,
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start_nonblock,
  mmu_notifier_range_blockable,
  mmu_notifier_range_init,
  put_page,
  type MmuIntervalNotifierOps,
} from '../../src/mm/index.js';
import { mmap_anon, run, world } from './helpers.js';

/**
 * A notifier whose callback takes `ns` of virtual time (it sleeps), after set_seq, or before
 * it when `late_seq`.
 */
function slow_ops(ns: number, log: string[], late_seq = false): MmuIntervalNotifierOps {
  return {
    *invalidate(mni, range, cur_seq): Co<boolean> {
      log.push(`cb ${mni.name} start`);
      if (!late_seq) mmu_interval_set_seq(mni, cur_seq);
      if (ns > 0 && mmu_notifier_range_blockable(range)) yield* sleep(ns);
      if (late_seq) mmu_interval_set_seq(mni, cur_seq);
      log.push(`cb ${mni.name} end`);
      return true;
    },
  };
}

describe('mmu interval notifier sequence', () => {
  it('read_begin / read_retry / check_retry follow Linux: odd notifier seqs, even idle mm seq', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 4);
      const mni = new MmuIntervalNotifier('n');
      expect(yield* mmu_interval_notifier_insert(mni, mm, a, 4, slow_ops(0, []))).toBe(0);
      const subs = mm.notifier_subscriptions;
      expect(subs?.invalidate_seq).toBe(2);
      expect(mni.invalidate_seq).toBe(1);
      const seq = yield* mmu_interval_read_begin(mni);
      expect(seq).toBe(1);
      expect(mmu_interval_read_retry(mni, seq)).toBe(false);
      expect(yield* do_munmap(mm, a + 10, 1)).toBe(0); // outside: nothing mapped, no event
      expect(mmu_interval_read_retry(mni, seq)).toBe(false);
      const b = yield* mmap_anon(mm, 1, { addr: a + 4 });
      expect(yield* do_munmap(mm, b, 1)).toBe(0); // outside the interval: seq unchanged
      expect(mmu_interval_read_retry(mni, seq)).toBe(false);
      expect(yield* do_munmap(mm, a, 1)).toBe(0); // inside
      expect(mmu_interval_read_retry(mni, seq)).toBe(true);
      expect(mmu_interval_check_retry(mni, seq)).toBe(true);
      expect(mni.invalidate_seq).toBe(3);
      expect(subs?.invalidate_seq).toBe(4);
      const seq2 = yield* mmu_interval_read_begin(mni);
      expect(seq2).toBe(3);
      expect(mmu_interval_read_retry(mni, seq2)).toBe(false);
    });
  });

  it('read_begin sleeps while an invalidation that set its seq runs', () => {
    const { sim, mm } = world();
    const log: string[] = [];
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 4);
      const mni = new MmuIntervalNotifier('n');
      yield* mmu_interval_notifier_insert(mni, mm, a, 4, slow_ops(10_000, log));
      const u = sim.spawn('munmap', function* () {
        yield* do_munmap(mm, a, 4);
      });
      yield* sleep(1_000); // the callback has set the seq and sleeps
      expect(mm.notifier_subscriptions?.invalidate_seq).toBe(3); // odd: invalidating
      const seq = yield* mmu_interval_read_begin(mni);
      log.push(`read_begin ${seq} at ${getSim().now()}`);
      yield* join(u);
    });
    expect(log[0]).toBe('cb n start');
    expect(log[1]).toBe('cb n end');
    expect(log[2]).toMatch(/^read_begin 3 at 1\d{4}$/);
  });

  it('read_begin before the callback sets the seq returns at once; read_retry catches it', () => {
    const { sim, mm } = world();
    const log: string[] = [];
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 4);
      const mni = new MmuIntervalNotifier('n');
      yield* mmu_interval_notifier_insert(mni, mm, a, 4, slow_ops(10_000, log, true));
      const u = sim.spawn('munmap', function* () {
        yield* do_munmap(mm, a, 4);
      });
      yield* sleep(1_000); // the callback sleeps before set_seq
      const t0 = getSim().now();
      const seq = yield* mmu_interval_read_begin(mni);
      expect(seq).toBe(1);
      expect(getSim().now()).toBe(t0);
      expect(mmu_interval_read_retry(mni, seq)).toBe(false);
      yield* join(u);
      expect(mmu_interval_read_retry(mni, seq)).toBe(true);
    });
  });

  it('insert and remove during an invalidation are deferred to its end', () => {
    const { sim, mm } = world();
    const log: string[] = [];
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 4);
      const slow = new MmuIntervalNotifier('slow');
      yield* mmu_interval_notifier_insert(slow, mm, a, 4, slow_ops(10_000, log));
      const other = new MmuIntervalNotifier('other');
      yield* mmu_interval_notifier_insert(other, mm, a, 4, slow_ops(0, log));
      const u = sim.spawn('munmap', function* () {
        yield* do_munmap(mm, a, 4);
      });
      yield* sleep(1_000);
      const subs = mm.notifier_subscriptions;
      const late = new MmuIntervalNotifier('late');
      expect(yield* mmu_interval_notifier_insert(late, mm, a, 4, slow_ops(0, log))).toBe(0);
      expect(subs?.deferred_list).toEqual([late]);
      expect(subs?.itree.includes(late)).toBe(false);
      expect(late.invalidate_seq).toBe(subs?.invalidate_seq); // read_begin would wait
      const t0 = getSim().now();
      yield* mmu_interval_notifier_remove(other); // waits for the invalidation to end
      expect(getSim().now()).toBeGreaterThanOrEqual(t0 + 9_000);
      expect(subs?.itree).toEqual([slow, late]);
      expect(subs?.invalidate_seq).toBe(4);
      yield* join(u);
    });
    // `late` got no callback for the invalidation that was running when it was inserted.
    expect(log).toEqual(['cb slow start', 'cb slow end', 'cb other start', 'cb other end']);
  });

  it('non-blockable invalidation: a refusing callback gives -EAGAIN; sleeping in one traps', () => {
    const { sim, mm } = world();
    run(sim, function* () {
      const a = yield* mmap_anon(mm, 4);
      const mni = new MmuIntervalNotifier('nb');
      yield* mmu_interval_notifier_insert(mni, mm, a, 4, {
        *invalidate(_n, range) {
          return mmu_notifier_range_blockable(range);
        },
      });
      const range = mmu_notifier_range_init(MMU_NOTIFY_CLEAR, 0, mm, a, a + 1);
      expect(yield* mmu_notifier_invalidate_range_start_nonblock(range)).toBe(-EAGAIN);
      expect(mm.notifier_subscriptions?.active_invalidate_ranges).toBe(0);
      expect(mm.notifier_subscriptions?.invalidate_seq).toBe(4);
    });
    const w = world();
    expect(() =>
      run(w.sim, function* () {
        const a = yield* mmap_anon(w.mm, 4);
        yield* mmu_interval_notifier_insert(new MmuIntervalNotifier('s'), w.mm, a, 4, {
          *invalidate() {
            yield* sleep(10);
            return true;
          },
        });
        const range = mmu_notifier_range_init(MMU_NOTIFY_CLEAR, 0, w.mm, a, a + 1);
        yield* mmu_notifier_invalidate_range_start_nonblock(range);
        yield* mmu_notifier_invalidate_range_end(range);
      }),
    ).toThrow(expect.objectContaining({ kind: 'sleep-in-atomic' }) as unknown);
  });

  it('lockdep: a callback lock held across an allocation is reported as reclaim-lock', () => {
    const { sim, sys, mm } = world();
    const driver_lock = new Mutex('driver->notifier_lock');
    let err: unknown;
    try {
      run(sim, function* () {
        const a = yield* mmap_anon(mm, 4);
        yield* mmu_interval_notifier_insert(new MmuIntervalNotifier('d'), mm, a, 4, {
          *invalidate(mni, _range, cur_seq) {
            yield* mutex_lock(driver_lock);
            mmu_interval_set_seq(mni, cur_seq);
            mutex_unlock(driver_lock);
            return true;
          },
        });
        yield* do_munmap(mm, a, 1); // records MMU_NOTIFIER_MAP -> driver lock
        yield* mutex_lock(driver_lock);
        put_page(sys, alloc_page(sys, 'GFP_KERNEL')); // driver lock -> fs_reclaim: a cycle
        mutex_unlock(driver_lock);
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Trap);
    expect((err as Trap).kind).toBe('reclaim-lock');
    expect((err as Trap).details.cycle).toEqual([
      'driver->notifier_lock',
      'fs_reclaim',
      'mmu_notifier_invalidate_range_start',
      'driver->notifier_lock',
    ]);
  });
});

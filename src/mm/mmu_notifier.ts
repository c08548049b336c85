/**
 * MMU notifiers (mm/mmu_notifier.c, include/linux/mmu_notifier.h): interval notifiers with
 * their collision-retry sequence, and the classic whole-mm notifier.
 *
 * Sequence numbers behave as in Linux: subscriptions.invalidate_seq is even when idle and
 * made odd while an invalidation of a subscribed range runs; every interval notifier's seq
 * is odd; mmu_interval_read_begin sleeps while an invalidation of its notifier is running;
 * the invalidate callback stores cur_seq with mmu_interval_set_seq, so a reader that began
 * before sees mmu_interval_read_retry() true. Inserts and removes during an invalidation
 * are deferred to its end (mn_itree_inv_end).
 *
 * Locking: a blockable invalidation holds the lockdep map
 * mmu_notifier_invalidate_range_start (MMU_NOTIFIER_MAP) around the callbacks; read_begin
 * and remove touch it; the first registration primes fs_reclaim -> MMU_NOTIFIER_MAP, so a
 * driver lock taken in a callback must never be held across a GFP_KERNEL allocation.
 */
import { EINVAL, EOVERFLOW } from '../sim/errno.js';
import { MMU_NOTIFIER_MAP } from '../sim/lockdep.js';
import { might_lock, might_sleep } from '../sim/locks.js';
import {
  fs_reclaim_acquire,
  fs_reclaim_release,
  lock_map_acquire,
  lock_map_release,
  might_alloc,
} from '../sim/reclaim.js';
import { getSim } from '../sim/scheduler.js';
import { co_return, type Co } from '../sim/task.js';
import { BUG_ON, WARN_ON } from '../sim/trap.js';
import { wait_event } from '../sim/wait.js';
import {
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  MMU_NOTIFY_RELEASE,
  ULONG_MAX_PAGES,
  mmu_notify_event_name,
  type MmuNotifierEvent,
} from './consts.js';
import {
  mmap_assert_write_locked,
  mmap_write_lock,
  mmap_write_unlock,
  mmdrop,
  mmgrab,
} from './mm_struct.js';
import {
  MmuNotifierRange,
  MmuNotifierSubscriptions,
  type MmStruct,
  type MmuIntervalNotifier,
  type MmuIntervalNotifierOps,
  type MmuNotifier,
  type VmAreaStruct,
} from './mm_types.js';
import {
  __mmu_notifier_invalidate_range_start,
  call_invalidate,
  itree_insert,
  itree_remove,
  mm_has_notifiers,
  mmu_notifier_range_blockable,
  mn_itree_inv_end,
  mn_itree_inv_start_range,
  mn_itree_is_invalidating,
  subscriptions,
} from './mmu_notifier_itree.js';

export { mm_has_notifiers, mmu_notifier_range_blockable };

/** mmu_notifier_range_init. */
export function mmu_notifier_range_init(
  event: MmuNotifierEvent,
  flags: number,
  mm: MmStruct,
  start: number,
  end: number,
  vma: VmAreaStruct | null = null,
): MmuNotifierRange {
  return new MmuNotifierRange(mm, start, end, event, flags, null, vma);
}

/** mmu_notifier_range_init_owner: MIGRATE events carry the migrating driver. */
export function mmu_notifier_range_init_owner(
  event: MmuNotifierEvent,
  flags: number,
  mm: MmStruct,
  start: number,
  end: number,
  owner: object | null,
): MmuNotifierRange {
  return new MmuNotifierRange(mm, start, end, event, flags, owner, null);
}

function trace_range(range: MmuNotifierRange): void {
  const sim = getSim();
  sim.counters.add('mmu_invalidations', 1);
  sim.trace.emit('mm.notifier', {
    mm: range.mm.id,
    event: mmu_notify_event_name(range.event),
    start: range.start,
    end: range.end,
    owner: range.owner !== null,
    blockable: mmu_notifier_range_blockable(range),
  });
}

/** mmu_notifier_invalidate_range_start: before a page-table change; may sleep. */
export function* mmu_notifier_invalidate_range_start(range: MmuNotifierRange): Co {
  might_sleep('mmu_notifier_invalidate_range_start');
  lock_map_acquire(MMU_NOTIFIER_MAP);
  const sim = getSim();
  const t0 = sim.now();
  try {
    if (mm_has_notifiers(range.mm)) {
      range.flags |= MMU_NOTIFIER_RANGE_BLOCKABLE;
      trace_range(range);
      yield* __mmu_notifier_invalidate_range_start(range);
    }
  } finally {
    lock_map_release(MMU_NOTIFIER_MAP);
    // Virtual time spent in the invalidation callbacks (the caller holds its mm locks).
    // (trace_range counts the invalidation itself, mmu_invalidations.)
    sim.counters.add('notifier_ns', sim.now() - t0);
  }
}

/** mmu_notifier_invalidate_range_start_nonblock: callbacks may refuse with -EAGAIN. */
export function* mmu_notifier_invalidate_range_start_nonblock(range: MmuNotifierRange): Co<number> {
  let ret = 0;
  lock_map_acquire(MMU_NOTIFIER_MAP);
  try {
    if (mm_has_notifiers(range.mm)) {
      range.flags &= ~MMU_NOTIFIER_RANGE_BLOCKABLE;
      trace_range(range);
      ret = yield* __mmu_notifier_invalidate_range_start(range);
    }
  } finally {
    lock_map_release(MMU_NOTIFIER_MAP);
  }
  return ret;
}

/** mmu_notifier_invalidate_range_end: after the page-table change. */
export function* mmu_notifier_invalidate_range_end(range: MmuNotifierRange): Co {
  lock_map_acquire(MMU_NOTIFIER_MAP);
  try {
    const subs = range.mm.notifier_subscriptions;
    if (subs) {
      if (subs.has_itree) mn_itree_inv_end(subs);
      for (const mn of [...subs.list]) {
        if (mn.ops.invalidate_range_end) yield* mn.ops.invalidate_range_end(mn, range);
      }
    }
  } finally {
    lock_map_release(MMU_NOTIFIER_MAP);
  }
}

/**
 * __mmu_notifier_release (exit_mmap): RELEASE over the whole address space to every
 * interval notifier (mn_itree_release), then ->release of the classic notifiers, which are
 * unhooked.
 */
export function* mmu_notifier_release(mm: MmStruct): Co {
  const subs = mm.notifier_subscriptions;
  if (!subs) return;
  if (subs.has_itree) {
    const range = mmu_notifier_range_init(
      MMU_NOTIFY_RELEASE,
      MMU_NOTIFIER_RANGE_BLOCKABLE,
      mm,
      0,
      ULONG_MAX_PAGES,
    );
    trace_range(range);
    const { subs: hit, seq } = mn_itree_inv_start_range(subs, range);
    for (const mni of hit) {
      const ret = yield* call_invalidate(mni, range, seq);
      WARN_ON(!ret, 'release invalidate returned false');
    }
    mn_itree_inv_end(subs);
  }
  for (const mn of [...subs.list]) {
    getSim().account('notifier_callbacks', 1, 'notifier_callback');
    if (mn.ops.release) yield* mn.ops.release(mn, mm);
  }
  subs.list.length = 0;
}

// ---- registration -----------------------------------------------------------------------

/** __mmu_notifier_register: caller holds mmap_lock for write; mn null = itree mode. */
export function __mmu_notifier_register(mn: MmuNotifier | null, mm: MmStruct): number {
  mmap_assert_write_locked(mm);
  BUG_ON(mm.mm_users <= 0, 'mm_users <= 0');
  // Prime lockdep: reclaim may run invalidations.
  fs_reclaim_acquire('GFP_KERNEL');
  lock_map_acquire(MMU_NOTIFIER_MAP);
  lock_map_release(MMU_NOTIFIER_MAP);
  fs_reclaim_release('GFP_KERNEL');
  if (!mm.notifier_subscriptions) {
    might_alloc('GFP_KERNEL');
    mm.notifier_subscriptions = new MmuNotifierSubscriptions();
  }
  const subs = mm.notifier_subscriptions;
  if (mn) {
    mmgrab(mm);
    mn.mm = mm;
    mn.users = 1;
    subs.list.push(mn);
  } else {
    subs.has_itree = true;
  }
  return 0;
}

/** mmu_notifier_register: takes mmap_lock for write. */
export function* mmu_notifier_register(mn: MmuNotifier | null, mm: MmStruct): Co<number> {
  yield* mmap_write_lock(mm);
  const ret = __mmu_notifier_register(mn, mm);
  mmap_write_unlock(mm);
  return ret;
}

/** mmu_notifier_unregister: ->release if the mm has not released it yet, then unhook. */
export function* mmu_notifier_unregister(mn: MmuNotifier, mm: MmStruct): Co {
  const subs = mm.notifier_subscriptions;
  const i = subs ? subs.list.indexOf(mn) : -1;
  if (subs && i >= 0) {
    if (mn.ops.release) yield* mn.ops.release(mn, mm);
    subs.list.splice(subs.list.indexOf(mn), 1);
  }
  mmdrop(mm);
}

function __mmu_interval_notifier_insert(
  mni: MmuIntervalNotifier,
  mm: MmStruct,
  subs: MmuNotifierSubscriptions,
  start: number,
  length: number,
  ops: MmuIntervalNotifierOps,
): number {
  mni.mm = mm;
  mni.ops = ops;
  mni.in_tree = false;
  mni.start = start;
  if (length <= 0 || start + length > ULONG_MAX_PAGES) return -EOVERFLOW;
  mni.end = start + length;
  if (WARN_ON(mm.mm_users <= 0, 'interval notifier insert without mmget')) return -EINVAL;
  mmgrab(mm);
  if (subs.active_invalidate_ranges > 0) {
    if (mn_itree_is_invalidating(subs)) {
      subs.deferred_list.push(mni);
      mni.deferred = true;
    } else {
      subs.invalidate_seq++; // seq |= 1
      itree_insert(subs, mni);
    }
    mni.invalidate_seq = subs.invalidate_seq;
  } else {
    WARN_ON(mn_itree_is_invalidating(subs), 'invalidating with no active range');
    mni.invalidate_seq = subs.invalidate_seq - 1;
    itree_insert(subs, mni);
  }
  return 0;
}

/**
 * mmu_interval_notifier_insert: watch [start, start + length) of mm. The caller must not
 * hold mmap_lock (the first insert registers with it held for write).
 */
export function* mmu_interval_notifier_insert(
  mni: MmuIntervalNotifier,
  mm: MmStruct,
  start: number,
  length: number,
  ops: MmuIntervalNotifierOps,
): Co<number> {
  might_lock(mm.mmap_lock);
  const subs = mm.notifier_subscriptions;
  if (!subs || !subs.has_itree) {
    const ret = yield* mmu_notifier_register(null, mm);
    if (ret) return ret;
  }
  return __mmu_interval_notifier_insert(mni, mm, subscriptions(mm), start, length, ops);
}

/** mmu_interval_notifier_insert_locked: the caller holds mmap_lock for write. */
export function mmu_interval_notifier_insert_locked(
  mni: MmuIntervalNotifier,
  mm: MmStruct,
  start: number,
  length: number,
  ops: MmuIntervalNotifierOps,
): number {
  mmap_assert_write_locked(mm);
  const subs = mm.notifier_subscriptions;
  if (!subs || !subs.has_itree) {
    const ret = __mmu_notifier_register(null, mm);
    if (ret) return ret;
  }
  return __mmu_interval_notifier_insert(mni, mm, subscriptions(mm), start, length, ops);
}

/**
 * mmu_interval_notifier_remove: once it returns no callback runs or will run. May sleep
 * until a running invalidation ends, so the caller must not hold locks the callbacks take.
 */
export function* mmu_interval_notifier_remove(mni: MmuIntervalNotifier): Co {
  const mm = mni.mm as MmStruct;
  const subs = subscriptions(mm);
  let seq = 0;
  might_sleep('mmu_interval_notifier_remove');
  if (mn_itree_is_invalidating(subs)) {
    if (!mni.in_tree) {
      const i = subs.deferred_list.indexOf(mni);
      if (i >= 0) subs.deferred_list.splice(i, 1);
      mni.deferred = false;
    } else {
      subs.deferred_list.push(mni);
      mni.deferred = true;
      seq = subs.invalidate_seq;
    }
  } else {
    WARN_ON(!mni.in_tree, 'removing an interval notifier that is not inserted');
    itree_remove(subs, mni);
  }
  lock_map_acquire(MMU_NOTIFIER_MAP);
  lock_map_release(MMU_NOTIFIER_MAP);
  if (seq) yield* wait_event(subs.wq, () => subs.invalidate_seq !== seq);
  mmdrop(mm);
}

/**
 * mmu_interval_read_begin: start a read-side section; sleeps while an invalidation of this
 * notifier runs. Pass the result to mmu_interval_read_retry under the driver lock.
 */
export function mmu_interval_read_begin(mni: MmuIntervalNotifier): Co<number> {
  const subs = subscriptions(mni.mm as MmStruct);
  const seq = mni.invalidate_seq;
  const is_invalidating = seq === subs.invalidate_seq;
  lock_map_acquire(MMU_NOTIFIER_MAP);
  lock_map_release(MMU_NOTIFIER_MAP);
  return is_invalidating ? mmu_interval_read_begin_wait(subs, seq) : co_return(seq);
}

/** mmu_interval_read_begin's wait for the running invalidation to end. */
function* mmu_interval_read_begin_wait(subs: MmuNotifierSubscriptions, seq: number): Co<number> {
  yield* wait_event(subs.wq, () => subs.invalidate_seq !== seq);
  return seq;
}

/** mmu_interval_read_retry: true when an invalidation began after read_begin (driver lock held). */
export function mmu_interval_read_retry(mni: MmuIntervalNotifier, seq: number): boolean {
  return mni.invalidate_seq !== seq;
}

/** mmu_interval_check_retry: the same test without the lock, as an early exit. */
export function mmu_interval_check_retry(mni: MmuIntervalNotifier, seq: number): boolean {
  return mni.invalidate_seq !== seq;
}

/** mmu_interval_set_seq: called by the invalidate callback under the driver lock. */
export function mmu_interval_set_seq(mni: MmuIntervalNotifier, cur_seq: number): void {
  mni.invalidate_seq = cur_seq;
}

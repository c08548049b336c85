/**
 * The machinery behind mmu_notifier.ts (mm/mmu_notifier.c): the interval tree of one mm,
 * the begin/end of an invalidation (mn_itree_inv_start_range / mn_itree_inv_end, with the
 * deferred inserts and removes), and the calls into the callbacks. Internal to src/mm: other
 * layers use mmu_notifier.ts.
 */
import { EAGAIN } from '../sim/errno.js';
import { current, getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import { WARN_ON, trap } from '../sim/trap.js';
import { wake_up_all } from '../sim/wait.js';
import { MMU_NOTIFIER_RANGE_BLOCKABLE } from './consts.js';
import type {
  MmStruct,
  MmuIntervalNotifier,
  MmuIntervalNotifierOps,
  MmuNotifierRange,
  MmuNotifierSubscriptions,
} from './mm_types.js';

/** mm->notifier_subscriptions of an mm that has them. */
export function subscriptions(mm: MmStruct): MmuNotifierSubscriptions {
  const s = mm.notifier_subscriptions;
  if (!s) return trap('bug', `${mm.name} has no mmu notifier subscriptions`);
  return s;
}

export function mm_has_notifiers(mm: MmStruct): boolean {
  return mm.notifier_subscriptions !== null;
}

export function mmu_notifier_range_blockable(range: MmuNotifierRange): boolean {
  return (range.flags & MMU_NOTIFIER_RANGE_BLOCKABLE) !== 0;
}

// ---- the interval tree (also used by mmu_interval.ts) -------------------------------------

export function itree_insert(subs: MmuNotifierSubscriptions, mni: MmuIntervalNotifier): void {
  const t = subs.itree;
  let i = t.length;
  while (i > 0 && (t[i - 1] as MmuIntervalNotifier).start > mni.start) i--;
  t.splice(i, 0, mni);
  mni.in_tree = true;
}

export function itree_remove(subs: MmuNotifierSubscriptions, mni: MmuIntervalNotifier): void {
  const i = subs.itree.indexOf(mni);
  if (i >= 0) subs.itree.splice(i, 1);
  mni.in_tree = false;
}

export function mn_itree_is_invalidating(subs: MmuNotifierSubscriptions): boolean {
  return subs.invalidate_seq % 2 === 1;
}

/** mn_itree_inv_start_range: the overlapping notifiers (the tree is frozen while odd). */
export function mn_itree_inv_start_range(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
): { subs: MmuIntervalNotifier[]; seq: number } {
  subs.active_invalidate_ranges++;
  const hit = subs.itree.filter((n) => n.start < range.end && range.start < n.end);
  if (hit.length > 0 && !mn_itree_is_invalidating(subs)) subs.invalidate_seq++;
  return { subs: hit, seq: subs.invalidate_seq };
}

/** mn_itree_inv_end: the last invalidation makes the seq even and applies deferred edits. */
export function mn_itree_inv_end(subs: MmuNotifierSubscriptions): void {
  if (--subs.active_invalidate_ranges > 0 || !mn_itree_is_invalidating(subs)) return;
  subs.invalidate_seq++;
  for (const mni of subs.deferred_list.splice(0)) {
    mni.deferred = false;
    if (!mni.in_tree) itree_insert(subs, mni);
    else itree_remove(subs, mni);
  }
  wake_up_all(subs.wq);
}

export function* call_invalidate(
  mni: MmuIntervalNotifier,
  range: MmuNotifierRange,
  seq: number,
): Co<boolean> {
  getSim().account('notifier_callbacks', 1, 'notifier_callback');
  const ops = mni.ops as MmuIntervalNotifierOps;
  if (mmu_notifier_range_blockable(range)) return yield* ops.invalidate(mni, range, seq);
  // non_block_start(): the callback must not sleep.
  const t = current();
  t.atomicDepth++;
  try {
    return yield* ops.invalidate(mni, range, seq);
  } finally {
    t.atomicDepth--;
  }
}

export function* mn_itree_invalidate(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
): Co<number> {
  const { subs: hit, seq } = mn_itree_inv_start_range(subs, range);
  for (const mni of hit) {
    const ret = yield* call_invalidate(mni, range, seq);
    if (!ret) {
      if (WARN_ON(mmu_notifier_range_blockable(range), 'blockable invalidate returned false'))
        continue;
      mn_itree_inv_end(subs);
      return -EAGAIN;
    }
  }
  return 0;
}

export function* mn_hlist_invalidate_range_start(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
): Co<number> {
  let ret = 0;
  for (const mn of [...subs.list]) {
    if (!mn.ops.invalidate_range_start) continue;
    getSim().account('notifier_callbacks', 1, 'notifier_callback');
    const r = yield* mn.ops.invalidate_range_start(mn, range);
    if (r) {
      WARN_ON(mmu_notifier_range_blockable(range) || r !== -EAGAIN, 'invalidate_range_start');
      ret = r;
    }
  }
  return ret;
}

export function* __mmu_notifier_invalidate_range_start(range: MmuNotifierRange): Co<number> {
  const subs = subscriptions(range.mm);
  if (subs.has_itree) {
    const ret = yield* mn_itree_invalidate(subs, range);
    if (ret) return ret;
  }
  if (subs.list.length > 0) return yield* mn_hlist_invalidate_range_start(subs, range);
  return 0;
}

/**
 * Interval trees of drm_gpusvm (include/linux/interval_tree.h as drm_gpusvm uses it: the
 * notifier tree of a gpusvm and the range tree of a notifier, each with a list in the same
 * order).
 *
 * SIM: one array sorted by start stands for both the rb tree and the list. The intervals of
 * one tree never overlap (notifiers are fixed aligned windows; chunk selection keeps ranges
 * apart), so `last` increases with `start` and the first interval overlapping a query is
 * found by bisection: O(log n + k) per walk, as the rb tree gives.
 */
import { WARN_ON } from '../sim/trap.js';

/** struct interval_tree_node: [start, last], inclusive, in pages. */
export interface interval_tree_node {
  start: number;
  last: number;
}

export interface itree_item {
  readonly itree: interval_tree_node;
}

/** Index of the first item whose interval ends at or after `start` (a.length if none). */
export function itree_lower_bound(a: readonly itree_item[], start: number): number {
  let hi = a.length;
  // Past the last interval (ranges created in address order): no search.
  if (hi === 0 || (a[hi - 1] as itree_item).itree.last < start) return hi;
  let lo = 0;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as itree_item).itree.last >= start) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** interval_tree_iter_first: the first item overlapping [start, last], or undefined. */
export function interval_tree_iter_first<T extends itree_item>(
  a: readonly T[],
  start: number,
  last: number,
): T | undefined {
  const item = a[itree_lower_bound(a, start)];
  return item && item.itree.start <= last ? item : undefined;
}

/** interval_tree_insert + list_add after rb_prev: keep the array sorted. */
export function interval_tree_insert<T extends itree_item>(a: T[], item: T): void {
  const i = itree_lower_bound(a, item.itree.start);
  const next = a[i];
  // SIM: an overlap would break the bisection; drm_gpusvm never creates one.
  WARN_ON(next !== undefined && next.itree.start <= item.itree.last, 'overlapping interval');
  if (i === a.length) a.push(item);
  else a.splice(i, 0, item);
}

/** interval_tree_remove + list_del. */
export function interval_tree_remove<T extends itree_item>(a: T[], item: T): void {
  const i = itree_lower_bound(a, item.itree.start);
  if (a[i] === item) a.splice(i, 1);
  else WARN_ON(true, 'removing an interval that is not in the tree');
}

/** The items overlapping [start, end) in order, from a snapshot (the _safe iterators). */
export function itree_overlapping<T extends itree_item>(
  a: readonly T[],
  start: number,
  end: number,
): T[] {
  const out: T[] = [];
  for (let i = itree_lower_bound(a, start); i < a.length; i++) {
    const item = a[i] as T;
    if (item.itree.start >= end) break;
    out.push(item);
  }
  return out;
}

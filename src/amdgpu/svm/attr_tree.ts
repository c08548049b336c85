/**
 * The SVM attribute tree (RFC amdgpu_svm_attr.c, V1 patch 04, V3 patch 04;
 * shared/spec/rfc-series.md §2.1, §2.6): struct amdgpu_svm_attr_tree, node allocation from
 * the kmem_cache (with failslab injection), the interval-tree primitives, and the lookups the
 * range layer and the fault path use. Overview, locking rules and limits: attr.ts.
 */
import { getSim } from '../../sim/scheduler.js';
import { Mutex, lockdep_assert_held, mutex_lock, mutex_unlock } from '../../sim/locks.js';
import { might_alloc } from '../../sim/reclaim.js';
import type { Co } from '../../sim/task.js';
import { BUG_ON, trap } from '../../sim/trap.js';
import {
  AMDGPU_SVM_ULONG_MAX,
  attr_set_default,
  type amdgpu_svm_attr_range,
  type amdgpu_svm_attr_svm,
  type amdgpu_svm_attr_variant,
  type amdgpu_svm_attrs,
} from './attr_types.js';

/** struct amdgpu_svm_attr_tree (patch 03). */
export class amdgpu_svm_attr_tree {
  /**
   * attr_tree->lock: protects `tree`: membership and every node's it_node and attrs. SET, GET
   * and clear take it alone; the V3 fault path takes it under svm_lock (svm_lock -> lock).
   */
  readonly lock = new Mutex('&attr_tree->lock');
  /**
   * SIM: the rb_root_cached interval tree and the sorted range_list are one array sorted by
   * start page; nodes never overlap, so a binary search finds any page in O(log n).
   * attr_tree->lock.
   */
  readonly tree: amdgpu_svm_attr_range[] = [];

  constructor(
    readonly svm: amdgpu_svm_attr_svm,
    /** SIM: the RFC version whose attribute code runs (see amdgpu_svm_attr_variant). */
    readonly variant: amdgpu_svm_attr_variant,
  ) {}

  /** attr_tree->range_list: the nodes in address order (the same array as `tree`). */
  get range_list(): readonly amdgpu_svm_attr_range[] {
    return this.tree;
  }
}

/**
 * amdgpu_svm_attr_range_cache (patch 04), the kmem_cache nodes come from. SIM: `should_fail`
 * is the failslab fault injection: when it returns true the allocation fails (-ENOMEM paths).
 */
export interface amdgpu_svm_attr_kmem_cache {
  readonly name: string;
  should_fail: ((start_page: number, last_page: number) => boolean) | null;
}
export const amdgpu_svm_attr_range_cache: amdgpu_svm_attr_kmem_cache = {
  name: 'amdgpu_svm_attr_range_cache',
  should_fail: null,
};

/** Live attribute nodes (allocated minus freed), over every tree of the simulation. */
export const ATTR_NODES_COUNTER = 'attr_nodes';

// ---- nodes ------------------------------------------------------------------------------

export function amdgpu_svm_attr_start_page(range: amdgpu_svm_attr_range): number {
  return range.it_node.start;
}
export function amdgpu_svm_attr_last_page(range: amdgpu_svm_attr_range): number {
  return range.it_node.last;
}

/** attr_set_interval (patch 04): only on a node that is not in the tree. */
export function attr_set_interval(range: amdgpu_svm_attr_range, start: number, last: number): void {
  range.it_node.start = start;
  range.it_node.last = last;
}

/**
 * attr_alloc_range (V1 patch 04) / amdgpu_svm_attr_range_alloc (V3 patch 04):
 * kmem_cache_zalloc(GFP_KERNEL), null on failure.
 */
export function amdgpu_svm_attr_range_alloc(
  start_page: number,
  last_page: number,
  attrs: amdgpu_svm_attrs,
): amdgpu_svm_attr_range | null {
  might_alloc('GFP_KERNEL');
  if (amdgpu_svm_attr_range_cache.should_fail?.(start_page, last_page)) return null;
  getSim().counters.add(ATTR_NODES_COUNTER, 1);
  return { it_node: { start: start_page, last: last_page }, attrs: { ...attrs }, freed: false };
}
export const attr_alloc_range = amdgpu_svm_attr_range_alloc;

/** kmem_cache_free(amdgpu_svm_attr_range_cache, range). */
export function attr_range_free(range: amdgpu_svm_attr_range): void {
  if (range.freed)
    trap(
      'use-after-free',
      `attr range [${range.it_node.start}, ${range.it_node.last}] freed twice`,
    );
  range.freed = true;
  getSim().counters.add(ATTR_NODES_COUNTER, -1);
}

// ---- the interval tree ------------------------------------------------------------------

/** Index of the first node whose last page is >= page (nodes are sorted and disjoint). */
export function attr_lower_bound(nodes: readonly amdgpu_svm_attr_range[], page: number): number {
  let lo = 0;
  let hi = nodes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((nodes[mid] as amdgpu_svm_attr_range).it_node.last < page) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** interval_tree_iter_first(&tree, start, last): the lowest node overlapping, or null. */
export function attr_iter_first_locked(
  attr_tree: amdgpu_svm_attr_tree,
  start: number,
  last: number,
): amdgpu_svm_attr_range | null {
  const n = attr_tree.tree[attr_lower_bound(attr_tree.tree, start)];
  return n && n.it_node.start <= last ? n : null;
}

/** Every node overlapping [start, last], in order (the interval_tree_iter_next walk). */
export function attr_overlapping_locked(
  attr_tree: amdgpu_svm_attr_tree,
  start: number,
  last: number,
): amdgpu_svm_attr_range[] {
  const nodes = attr_tree.tree;
  const out: amdgpu_svm_attr_range[] = [];
  for (let i = attr_lower_bound(nodes, start); i < nodes.length; i++) {
    const n = nodes[i] as amdgpu_svm_attr_range;
    if (n.it_node.start > last) break;
    out.push(n);
  }
  return out;
}

/**
 * attr_insert_range_locked (V1 patch 04) / amdgpu_svm_attr_range_insert_locked (V3 patch 04).
 * SIM: interval_tree_insert would accept an overlapping node; every RFC caller guarantees none,
 * and the sorted array cannot hold one, so an overlap traps `bug`.
 */
export function amdgpu_svm_attr_range_insert_locked(
  attr_tree: amdgpu_svm_attr_tree,
  range: amdgpu_svm_attr_range,
): void {
  lockdep_assert_held(attr_tree.lock);
  const { start, last } = range.it_node;
  if (range.freed) trap('use-after-free', `insert of freed attr range [${start}, ${last}]`);
  BUG_ON(start > last, `attr range start ${start} > last ${last}`);
  const nodes = attr_tree.tree;
  const i = attr_lower_bound(nodes, start);
  const next = nodes[i];
  if (next && next.it_node.start <= last) {
    trap(
      'bug',
      `attr range [${start}, ${last}] overlaps [${next.it_node.start}, ${next.it_node.last}]`,
    );
  }
  nodes.splice(i, 0, range);
}
export const attr_insert_range_locked = amdgpu_svm_attr_range_insert_locked;

/** attr_remove_range_locked (patch 04): unlink, and free when asked. */
export function attr_remove_range_locked(
  attr_tree: amdgpu_svm_attr_tree,
  range: amdgpu_svm_attr_range,
  free_range: boolean,
): void {
  lockdep_assert_held(attr_tree.lock);
  const nodes = attr_tree.tree;
  const i = attr_lower_bound(nodes, range.it_node.start);
  if (nodes[i] !== range) {
    trap('bug', `attr range [${range.it_node.start}, ${range.it_node.last}] is not in the tree`);
  }
  nodes.splice(i, 1);
  if (free_range) attr_range_free(range);
}

/** amdgpu_svm_attr_find_locked (V3 patch 04): the node containing `page`, or null. */
export function amdgpu_svm_attr_find_locked(
  attr_tree: amdgpu_svm_attr_tree,
  page: number,
): amdgpu_svm_attr_range | null {
  lockdep_assert_held(attr_tree.lock);
  return attr_iter_first_locked(attr_tree, page, page);
}

/** Result of amdgpu_svm_attr_get_bounds_locked: the C out-parameters plus the return value. */
export interface amdgpu_svm_attr_bounds {
  range: amdgpu_svm_attr_range | null;
  start_page: number;
  last_page: number;
}

/**
 * amdgpu_svm_attr_get_bounds_locked (V3 patch 04): the node containing `page` and its bounds,
 * or null and the bounds of the hole around it: previous node's last+1 (or 0) to next node's
 * start-1 (or ULONG_MAX).
 */
export function amdgpu_svm_attr_get_bounds_locked(
  attr_tree: amdgpu_svm_attr_tree,
  page: number,
): amdgpu_svm_attr_bounds {
  lockdep_assert_held(attr_tree.lock);
  const nodes = attr_tree.tree;
  const i = attr_lower_bound(nodes, page);
  const next = nodes[i];
  if (next && next.it_node.start <= page) {
    return { range: next, start_page: next.it_node.start, last_page: next.it_node.last };
  }
  const prev = nodes[i - 1];
  return {
    range: null,
    start_page: prev ? prev.it_node.last + 1 : 0,
    last_page: next ? next.it_node.start - 1 : AMDGPU_SVM_ULONG_MAX,
  };
}

/**
 * amdgpu_svm_attr_lookup_page_locked (V1 patch 04): the attributes at `page` (the defaults in
 * a hole) and the last page they hold to (the node's last, or the page before the next node,
 * or ULONG_MAX).
 */
export function amdgpu_svm_attr_lookup_page_locked(
  attr_tree: amdgpu_svm_attr_tree,
  page: number,
): { attrs: amdgpu_svm_attrs; range_last: number } {
  const b = amdgpu_svm_attr_get_bounds_locked(attr_tree, page);
  if (b.range) return { attrs: { ...b.range.attrs }, range_last: b.last_page };
  return { attrs: attr_set_default(attr_tree.svm), range_last: b.last_page };
}

/** amdgpu_svm_attr_tree_create (patch 04). SIM: kzalloc does not fail. */
export function amdgpu_svm_attr_tree_create(
  svm: amdgpu_svm_attr_svm,
  variant: amdgpu_svm_attr_variant,
): amdgpu_svm_attr_tree {
  return new amdgpu_svm_attr_tree(svm, variant);
}

/** amdgpu_svm_attr_tree_destroy (patch 04): free every node under the mutex. */
export function* amdgpu_svm_attr_tree_destroy(attr_tree: amdgpu_svm_attr_tree | null): Co {
  if (!attr_tree) return;
  yield* mutex_lock(attr_tree.lock);
  for (const range of attr_tree.tree.splice(0)) attr_range_free(range);
  mutex_unlock(attr_tree.lock);
}

/**
 * amdgpu_svm_attr_clear_pages (V1 and V3 patch 05; shared/spec/rfc-series.md §2.4): drop the
 * attributes of unmapped pages. Called by the V1 GC worker's unmap processing and by the V3
 * garbage collector for every UNMAP-queued range.
 */
import { EINVAL, ENOMEM } from '../../sim/errno.js';
import { mutex_lock, mutex_unlock } from '../../sim/locks.js';
import { getSim } from '../../sim/scheduler.js';
import type { Co } from '../../sim/task.js';
import {
  amdgpu_svm_attr_range_alloc,
  amdgpu_svm_attr_range_insert_locked,
  attr_overlapping_locked,
  attr_remove_range_locked,
  attr_set_interval,
  type amdgpu_svm_attr_tree,
} from './attr_tree.js';
import type { amdgpu_svm_attr_range } from './attr_types.js';

/**
 * Clear [start, last] from one overlapping node: split it around the range (allocating the
 * tail, -ENOMEM when that fails), trim its head or tail, or remove and free it.
 */
function attr_clear_one_locked(
  attr_tree: amdgpu_svm_attr_tree,
  range: amdgpu_svm_attr_range,
  start_page: number,
  last_page: number,
): number {
  const { start: range_start, last: range_last } = range.it_node;
  if (range_start < start_page && range_last > last_page) {
    const tail = amdgpu_svm_attr_range_alloc(last_page + 1, range_last, range.attrs);
    if (!tail) return -ENOMEM;
    attr_remove_range_locked(attr_tree, range, false);
    attr_set_interval(range, range_start, start_page - 1);
    amdgpu_svm_attr_range_insert_locked(attr_tree, range);
    amdgpu_svm_attr_range_insert_locked(attr_tree, tail);
  } else if (range_start < start_page) {
    attr_remove_range_locked(attr_tree, range, false);
    attr_set_interval(range, range_start, start_page - 1);
    amdgpu_svm_attr_range_insert_locked(attr_tree, range);
  } else if (range_last > last_page) {
    attr_remove_range_locked(attr_tree, range, false);
    attr_set_interval(range, last_page + 1, range_last);
    amdgpu_svm_attr_range_insert_locked(attr_tree, range);
  } else {
    attr_remove_range_locked(attr_tree, range, true);
  }
  return 0;
}

/**
 * amdgpu_svm_attr_clear_pages (patch 05): -EINVAL when start > last. Under the tree mutex,
 * every node overlapping [start, last] loses those pages. An allocation failure stops the
 * walk with -ENOMEM; the nodes before it stay cleared (the RFC's `break`).
 */
export function* amdgpu_svm_attr_clear_pages(
  attr_tree: amdgpu_svm_attr_tree,
  start_page: number,
  last_page: number,
): Co<number> {
  if (start_page > last_page) return -EINVAL;
  let r = 0;
  yield* mutex_lock(attr_tree.lock);
  // SIM: the overlapping nodes are collected first; the RFC takes each `next` before
  // changing the current node, and a change never moves a node into [start, last].
  for (const range of attr_overlapping_locked(attr_tree, start_page, last_page)) {
    r = attr_clear_one_locked(attr_tree, range, start_page, last_page);
    if (r) break;
  }
  mutex_unlock(attr_tree.lock);
  getSim().trace.emit('svm.attr.clear', {
    gpu: attr_tree.svm.adev.name,
    start: start_page,
    last: last_page,
    ret: r,
  });
  return r;
}

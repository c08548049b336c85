/**
 * GET_ATTR in the attribute layer (V1 patch 04, V3 patch 05; shared/spec/rfc-series.md §2.5):
 * walk the queried pages including holes (a hole counts as the default attributes), merge,
 * and write the answers into the caller's attribute array.
 */
import { EINVAL } from '../../sim/errno.js';
import { mutex_lock, mutex_unlock } from '../../sim/locks.js';
import { getSim } from '../../sim/scheduler.js';
import type { Co } from '../../sim/task.js';
import { attr_overlapping_locked, type amdgpu_svm_attr_tree } from './attr_tree.js';
import {
  AMDGPU_SVM_ACCESS_ENABLE,
  AMDGPU_SVM_ACCESS_IN_PLACE,
  AMDGPU_SVM_ACCESS_NONE,
  LOC_UNDEFINED_I32,
  attr_set_default,
  type amdgpu_svm_attr_access,
  type amdgpu_svm_attrs,
} from './attr_types.js';
import { AMDGPU_SVM_ATTR, type drm_amdgpu_svm_attribute } from './uapi.js';

const A = AMDGPU_SVM_ATTR;

/** struct attr_get_ctx (patch 04/05): the merge of every segment seen so far. */
export interface attr_get_ctx {
  preferred_loc: number;
  prefetch_loc: number;
  access: amdgpu_svm_attr_access;
  granularity: number;
  flags_and: number;
  flags_or: number;
  has_range: boolean;
}

export function attr_get_ctx_init(): attr_get_ctx {
  return {
    preferred_loc: 0,
    prefetch_loc: 0,
    access: AMDGPU_SVM_ACCESS_NONE,
    granularity: 0,
    flags_and: 0,
    flags_or: 0,
    has_range: false,
  };
}

/**
 * attr_get_ctx_add (patch 04/05): the first segment sets everything; after it a differing
 * location becomes UNDEFINED, granularity keeps the minimum, differing access becomes NONE,
 * and flags accumulate as AND and OR.
 */
export function attr_get_ctx_add(ctx: attr_get_ctx, attrs: amdgpu_svm_attrs): void {
  if (!ctx.has_range) {
    ctx.preferred_loc = attrs.preferred_loc;
    ctx.prefetch_loc = attrs.prefetch_loc;
    ctx.granularity = attrs.granularity;
    ctx.access = attrs.access;
    ctx.flags_and = attrs.flags;
    ctx.flags_or = attrs.flags;
    ctx.has_range = true;
    return;
  }
  if (ctx.preferred_loc !== attrs.preferred_loc) ctx.preferred_loc = LOC_UNDEFINED_I32;
  if (ctx.prefetch_loc !== attrs.prefetch_loc) ctx.prefetch_loc = LOC_UNDEFINED_I32;
  if (attrs.granularity < ctx.granularity) ctx.granularity = attrs.granularity;
  if (ctx.access !== attrs.access) ctx.access = AMDGPU_SVM_ACCESS_NONE;
  ctx.flags_and = (ctx.flags_and & attrs.flags) >>> 0;
  ctx.flags_or = (ctx.flags_or | attrs.flags) >>> 0;
}

/**
 * attr_get_ctx_to_result (patch 04/05): fill each query in place. An ACCESS query is answered
 * in its `type` (ACCESS, ACCESS_IN_PLACE or NO_ACCESS, as KFD does); SET_FLAGS gets the AND of
 * the flags, CLR_FLAGS the complement of their OR, GRANULARITY the minimum. Any other type
 * (ACCESS_IN_PLACE and NO_ACCESS included) is -EINVAL, after the slots before it were written.
 */
export function attr_get_ctx_to_result(
  ctx: attr_get_ctx,
  attrs: drm_amdgpu_svm_attribute[],
): number {
  for (const attr of attrs) {
    switch (attr.type) {
      case A.PREFERRED_LOC:
        attr.value = ctx.preferred_loc >>> 0;
        break;
      case A.PREFETCH_LOC:
        attr.value = ctx.prefetch_loc >>> 0;
        break;
      case A.ACCESS:
        if (ctx.access === AMDGPU_SVM_ACCESS_ENABLE) attr.type = A.ACCESS;
        else if (ctx.access === AMDGPU_SVM_ACCESS_IN_PLACE) attr.type = A.ACCESS_IN_PLACE;
        else attr.type = A.NO_ACCESS;
        break;
      case A.SET_FLAGS:
        attr.value = ctx.flags_and >>> 0;
        break;
      case A.CLR_FLAGS:
        attr.value = ~ctx.flags_or >>> 0;
        break;
      case A.GRANULARITY:
        attr.value = ctx.granularity >>> 0;
        break;
      default:
        return -EINVAL;
    }
  }
  return 0;
}

/**
 * Merge every segment of [start, last] into a fresh ctx: each node, and the defaults once for
 * each hole between, before or after them. SIM: the same segments, in the same order, as the
 * RFC's cursor loop over interval_tree_iter_next.
 */
function attr_get_walk_locked(
  attr_tree: amdgpu_svm_attr_tree,
  start: number,
  last: number,
  default_attrs: amdgpu_svm_attrs,
): attr_get_ctx {
  const ctx = attr_get_ctx_init();
  let cursor = start;
  for (const range of attr_overlapping_locked(attr_tree, start, last)) {
    if (range.it_node.start > cursor) attr_get_ctx_add(ctx, default_attrs);
    attr_get_ctx_add(ctx, range.attrs);
    cursor = range.it_node.last + 1;
  }
  if (cursor <= last) attr_get_ctx_add(ctx, default_attrs);
  if (!ctx.has_range) attr_get_ctx_add(ctx, default_attrs);
  return ctx;
}

/**
 * amdgpu_svm_attr_get (V1 patch 04, V3 patch 05): answer the queries in `attrs` (written in
 * place) for pages [start_page, last_page] under the tree mutex. With no node in the range V1
 * answers the defaults and V3 returns -EINVAL. SIM: takes the ioctl's inclusive page range
 * instead of bytes.
 */
export function* amdgpu_svm_attr_get(
  attr_tree: amdgpu_svm_attr_tree,
  start_page: number,
  last_page: number,
  attrs: drm_amdgpu_svm_attribute[],
): Co<number> {
  yield* mutex_lock(attr_tree.lock);
  const default_attrs = attr_set_default(attr_tree.svm);
  let r: number;
  if (
    attr_tree.variant === 'v3' &&
    attr_overlapping_locked(attr_tree, start_page, last_page).length === 0
  ) {
    r = -EINVAL;
  } else {
    const ctx = attr_get_walk_locked(attr_tree, start_page, last_page, default_attrs);
    r = attr_get_ctx_to_result(ctx, attrs);
  }
  mutex_unlock(attr_tree.lock);
  getSim().trace.emit('svm.attr.get', {
    gpu: attr_tree.svm.adev.name,
    start: start_page,
    last: last_page,
    nattr: attrs.length,
    ret: r,
  });
  return r;
}

/**
 * SET_ATTR in the attribute layer (V1 patch 05, V3 patch 05; shared/spec/rfc-series.md §2.3):
 * set_hole / set_existing (head and tail split, allocated before the tree changes), the
 * set_range segment loop that hands each change to the range layer under svm_lock, and the
 * entry point with its -EAGAIN retry loop. Validation and triggers: attr_apply.ts.
 */
import { EAGAIN, EINVAL, ENOMEM } from '../../sim/errno.js';
import {
  cond_resched,
  down_write,
  lockdep_assert_held,
  mutex_lock,
  mutex_unlock,
  up_write,
} from '../../sim/locks.js';
import { getSim } from '../../sim/scheduler.js';
import type { Co } from '../../sim/task.js';
import { trap } from '../../sim/trap.js';
import {
  amdgpu_svm_attr_apply,
  amdgpu_svm_attr_set_validate,
  attr_change_ctx_trigger,
  attr_has_access,
} from './attr_apply.js';
import {
  amdgpu_svm_attr_find_locked,
  amdgpu_svm_attr_range_alloc,
  amdgpu_svm_attr_range_insert_locked,
  attr_iter_first_locked,
  attr_range_free,
  attr_remove_range_locked,
  attr_set_interval,
  type amdgpu_svm_attr_tree,
} from './attr_tree.js';
import {
  AMDGPU_SVM_ACCESS_NONE,
  AMDGPU_SVM_ATTR_TRIGGER_ACCESS_CHANGE,
  AMDGPU_SVM_ATTR_TRIGGER_ATTR_ONLY,
  AMDGPU_SVM_ATTR_TRIGGER_RANGE_SPLIT,
  AMDGPU_SVM_ULONG_MAX,
  attr_equal,
  attr_set_default,
  type amdgpu_svm_attr_range,
  type amdgpu_svm_attr_svm,
  type amdgpu_svm_attrs,
} from './attr_types.js';
import type { drm_amdgpu_svm_attribute } from './uapi.js';

/**
 * struct attr_set_ctx (patch 05): what one segment of a SET changed, handed to the range layer
 * (amdgpu_svm_range_apply_attr_change). V1 carries start, last, trigger, prev and new attrs.
 * V3 carries trigger, prev attrs and the node (attr_range), which the range layer reads under
 * svm_lock without the tree mutex, so it may have changed or been freed since (as in the RFC).
 * SIM: the model fills every field in both variants: in V3 start/last/new_attrs are the node's
 * at set time (the whole node, also when the XNACK-off re-trigger hits part of it); in V1
 * attr_range is the node too (null when V1 created none).
 */
export interface amdgpu_svm_attr_change {
  start: number;
  last: number;
  trigger: number;
  prev_attrs: amdgpu_svm_attrs;
  new_attrs: amdgpu_svm_attrs;
  attr_range: amdgpu_svm_attr_range | null;
}

/** What the caller of amdgpu_svm_attr_set provides (the layers written around this one). */
export interface amdgpu_svm_attr_set_ops {
  /**
   * The mm half of amdgpu_svm_attr_validate_range_vma, after its start > last and ULONG_MAX
   * checks: no mm -> -EFAULT; under mmap_read_lock every page in a VMA, else -EFAULT; a
   * VM_IO|VM_PFNMAP|VM_MIXEDMAP VMA -> -EFAULT (V1) or -EOPNOTSUPP (V3, amdgpu_svm_check_vma).
   */
  validate_range(start_page: number, last_page: number): Co<number>;
  /** Before a retry: amdgpu_svm_range_flush (V1) / amdgpu_svm_gc_flush (V3). */
  flush(): Co;
  /**
   * amdgpu_svm_range_apply_attr_change: called for each segment whose trigger is neither 0 nor
   * ATTR_ONLY, with svm_lock held for write and the tree mutex not held. -EAGAIN makes SET
   * retry after the other segments; any other error ends SET with it.
   */
  apply(change: Readonly<amdgpu_svm_attr_change>): Co<number>;
}

/**
 * SIM: the RFC's SET retry loop has no bound; past this many retries the model traps
 * `livelock` (DESIGN.md Traps), so an endless retry is a finding instead of a hang.
 */
export const AMDGPU_SVM_ATTR_SET_MAX_RETRIES = 1000;

/** attr_same_attrs (patch 05): applying the request leaves the node's attributes unchanged. */
function attr_same_attrs(
  range: amdgpu_svm_attr_range,
  attrs: readonly Readonly<drm_amdgpu_svm_attribute>[],
): boolean {
  const target = { ...range.attrs };
  amdgpu_svm_attr_apply(target, attrs);
  return attr_equal(range.attrs, target);
}

/** amdgpu_svm_attr_change_ctx_set (patch 05); see amdgpu_svm_attr_change for the variants. */
function attr_change_ctx_set(
  attr_tree: amdgpu_svm_attr_tree,
  change: amdgpu_svm_attr_change,
  range: amdgpu_svm_attr_range,
  start: number,
  last: number,
  trigger: number,
  prev_attrs: amdgpu_svm_attrs,
): void {
  const v1 = attr_tree.variant === 'v1';
  change.start = v1 ? start : range.it_node.start;
  change.last = v1 ? last : range.it_node.last;
  change.trigger = trigger;
  change.prev_attrs = { ...prev_attrs };
  change.new_attrs = { ...range.attrs };
  change.attr_range = range;
}

/** `struct attr_set_ctx change = { 0 }`: trigger 0 means nothing for the range layer. */
function attr_change_init(): amdgpu_svm_attr_change {
  const zero: amdgpu_svm_attrs = {
    preferred_loc: 0,
    prefetch_loc: 0,
    flags: 0,
    granularity: 0,
    access: AMDGPU_SVM_ACCESS_NONE,
  };
  return {
    start: 0,
    last: 0,
    trigger: 0,
    prev_attrs: zero,
    new_attrs: { ...zero },
    attr_range: null,
  };
}

// ---- the tree walk ----------------------------------------------------------------------

/**
 * amdgpu_svm_attr_set_hole (patch 05): a node for a hole with defaults plus the request. V1
 * creates none when that equals the defaults ("no action if default attr"); V3 always does.
 */
function amdgpu_svm_attr_set_hole(
  attr_tree: amdgpu_svm_attr_tree,
  default_attrs: amdgpu_svm_attrs,
  start: number,
  last: number,
  attrs: readonly Readonly<drm_amdgpu_svm_attribute>[],
  change: amdgpu_svm_attr_change,
): number {
  lockdep_assert_held(attr_tree.lock);
  if (start > last) return 0;
  const new_attrs = { ...default_attrs };
  amdgpu_svm_attr_apply(new_attrs, attrs);
  if (attr_tree.variant === 'v1' && attr_equal(default_attrs, new_attrs)) return 0;

  const range = amdgpu_svm_attr_range_alloc(start, last, new_attrs);
  if (!range) return -ENOMEM;
  amdgpu_svm_attr_range_insert_locked(attr_tree, range);
  const trigger = attr_change_ctx_trigger(attr_tree.variant, default_attrs, new_attrs);
  attr_change_ctx_set(attr_tree, change, range, start, last, trigger, default_attrs);
  return 0;
}

/**
 * amdgpu_svm_attr_set_existing (patch 05): apply the request to [start, last] of `range`.
 * Unchanged: nothing, except that with XNACK off a request granting access re-triggers
 * ACCESS_CHANGE with old == new (the attribute layer keeps no GPU-mapped state; KFD does the
 * same). Whole node: update in place. Otherwise split: head and tail are allocated before the
 * tree changes (-ENOMEM leaves it as it was), the node itself becomes the middle. V3 adds
 * RANGE_SPLIT when a head or tail was made.
 */
function amdgpu_svm_attr_set_existing(
  attr_tree: amdgpu_svm_attr_tree,
  range: amdgpu_svm_attr_range,
  start: number,
  last: number,
  attrs: readonly Readonly<drm_amdgpu_svm_attribute>[],
  change: amdgpu_svm_attr_change,
): number {
  const { start: range_start, last: range_last } = range.it_node;
  lockdep_assert_held(attr_tree.lock);
  const old_attrs = { ...range.attrs };
  const force_trigger = !attr_tree.svm.xnack_enabled && attr_has_access(attrs);
  if (attr_same_attrs(range, attrs)) {
    if (!force_trigger) return 0;
    const t = AMDGPU_SVM_ATTR_TRIGGER_ACCESS_CHANGE;
    attr_change_ctx_set(attr_tree, change, range, start, last, t, old_attrs);
    return 0;
  }
  const new_attrs = { ...old_attrs };
  amdgpu_svm_attr_apply(new_attrs, attrs);
  let trigger = attr_change_ctx_trigger(attr_tree.variant, old_attrs, new_attrs);

  if (start === range_start && last === range_last) {
    range.attrs = new_attrs;
    attr_change_ctx_set(attr_tree, change, range, start, last, trigger, old_attrs);
    return 0;
  }
  let left: amdgpu_svm_attr_range | null = null;
  let right: amdgpu_svm_attr_range | null = null;
  if (start > range_start) {
    left = amdgpu_svm_attr_range_alloc(range_start, start - 1, old_attrs);
    if (!left) return -ENOMEM;
  }
  if (last < range_last) {
    right = amdgpu_svm_attr_range_alloc(last + 1, range_last, old_attrs);
    if (!right) {
      if (left) attr_range_free(left);
      return -ENOMEM;
    }
  }
  attr_remove_range_locked(attr_tree, range, false);
  if (left) amdgpu_svm_attr_range_insert_locked(attr_tree, left);
  attr_set_interval(range, start, last);
  range.attrs = new_attrs;
  amdgpu_svm_attr_range_insert_locked(attr_tree, range);
  if (right) amdgpu_svm_attr_range_insert_locked(attr_tree, right);
  if (attr_tree.variant === 'v3' && (left || right)) trigger |= AMDGPU_SVM_ATTR_TRIGGER_RANGE_SPLIT;
  attr_change_ctx_set(attr_tree, change, range, start, last, trigger, old_attrs);
  return 0;
}

/** amdgpu_svm_attr_apply_change (patch 05): hand a segment's change to the range layer. */
function* amdgpu_svm_attr_apply_change(
  svm: amdgpu_svm_attr_svm,
  change: amdgpu_svm_attr_change,
  ops: amdgpu_svm_attr_set_ops,
): Co<number> {
  lockdep_assert_held(svm.svm_lock, 'write');
  if (change.trigger) {
    const { start, last, trigger } = change;
    getSim().trace.emit('svm.attr.change', { gpu: svm.adev.name, start, last, trigger });
  }
  if (!change.trigger || change.trigger === AMDGPU_SVM_ATTR_TRIGGER_ATTR_ONLY) return 0;
  return yield* ops.apply(change);
}

/** One segment of set_range under the tree mutex: [cursor, seg_last] and its change. */
function attr_set_segment_locked(
  attr_tree: amdgpu_svm_attr_tree,
  default_attrs: amdgpu_svm_attrs,
  cursor: number,
  last: number,
  attrs: readonly Readonly<drm_amdgpu_svm_attribute>[],
  change: amdgpu_svm_attr_change,
): { ret: number; seg_last: number } {
  const range = amdgpu_svm_attr_find_locked(attr_tree, cursor);
  if (range) {
    const seg_last = Math.min(last, range.it_node.last);
    const ret = amdgpu_svm_attr_set_existing(attr_tree, range, cursor, seg_last, attrs, change);
    return { ret, seg_last };
  }
  let seg_last = last;
  if (cursor !== AMDGPU_SVM_ULONG_MAX) {
    const next = attr_iter_first_locked(attr_tree, cursor + 1, AMDGPU_SVM_ULONG_MAX);
    if (next) seg_last = Math.min(last, next.it_node.start - 1);
  }
  const ret = amdgpu_svm_attr_set_hole(attr_tree, default_attrs, cursor, seg_last, attrs, change);
  return { ret, seg_last };
}

/**
 * amdgpu_svm_attr_set_range (patch 05): per segment, the tree mutex around set_existing or
 * set_hole, then svm_lock for write around the range layer's apply. -EAGAIN from apply is
 * remembered and the walk goes on; -ENOMEM or another apply error ends it at once (the
 * segments before stay changed).
 */
function* amdgpu_svm_attr_set_range(
  attr_tree: amdgpu_svm_attr_tree,
  default_attrs: amdgpu_svm_attrs,
  start: number,
  last: number,
  attrs: readonly Readonly<drm_amdgpu_svm_attribute>[],
  ops: amdgpu_svm_attr_set_ops,
): Co<number> {
  const svm = attr_tree.svm;
  let cursor = start;
  let need_retry = false;
  while (cursor <= last) {
    const change = attr_change_init();
    yield* mutex_lock(attr_tree.lock);
    const seg = attr_set_segment_locked(attr_tree, default_attrs, cursor, last, attrs, change);
    mutex_unlock(attr_tree.lock);
    if (seg.ret) return seg.ret;

    yield* down_write(svm.svm_lock);
    let ret = yield* amdgpu_svm_attr_apply_change(svm, change, ops);
    up_write(svm.svm_lock);
    if (ret === -EAGAIN) {
      need_retry = true;
      ret = 0;
    }
    if (ret) return ret;
    if (seg.seg_last === AMDGPU_SVM_ULONG_MAX || seg.seg_last === last) break;
    cursor = seg.seg_last + 1;
  }
  return need_retry ? -EAGAIN : 0;
}

/**
 * The pure half of amdgpu_svm_attr_validate_range_vma (patch 05); the mm half is
 * ops.validate_range.
 */
function* amdgpu_svm_attr_validate_range_vma(
  start_page: number,
  last_page: number,
  ops: amdgpu_svm_attr_set_ops,
): Co<number> {
  if (start_page > last_page) return -EINVAL;
  if (last_page === AMDGPU_SVM_ULONG_MAX) return -EINVAL;
  return yield* ops.validate_range(start_page, last_page);
}

/**
 * amdgpu_svm_attr_set (patch 05): validate every attribute, then the range, then run set_range
 * until it stops asking for a retry; before each retry flush the workers and cond_resched
 * (V1's "POC/WA": the ioctl cannot hold mmap_lock across drm_gpusvm's find_or_insert).
 * SIM: takes the inclusive page range the ioctl computes (start >> PAGE_SHIFT,
 * (start + size - 1) >> PAGE_SHIFT) instead of bytes. Returns 0 or -errno.
 */
export function* amdgpu_svm_attr_set(
  attr_tree: amdgpu_svm_attr_tree,
  start_page: number,
  last_page: number,
  attrs: readonly Readonly<drm_amdgpu_svm_attribute>[],
  ops: amdgpu_svm_attr_set_ops,
): Co<number> {
  const svm = attr_tree.svm;
  const gpu = svm.adev.name;
  const done = (ret: number, retries: number): number => {
    const ev = { gpu, start: start_page, last: last_page, nattr: attrs.length, ret, retries };
    getSim().trace.emit('svm.attr.set', ev);
    return ret;
  };
  for (const attr of attrs) {
    const r = amdgpu_svm_attr_set_validate(attr_tree.variant, attr);
    if (r) return done(r, 0);
  }
  const r = yield* amdgpu_svm_attr_validate_range_vma(start_page, last_page, ops);
  if (r) return done(r, 0);
  const default_attrs = attr_set_default(svm);

  for (let retries = 0; ; retries++) {
    const ret = yield* amdgpu_svm_attr_set_range(
      attr_tree,
      default_attrs,
      start_page,
      last_page,
      attrs,
      ops,
    );
    if (ret !== -EAGAIN) return done(ret, retries);
    if (retries >= AMDGPU_SVM_ATTR_SET_MAX_RETRIES) {
      trap('livelock', `${gpu}: SET_ATTR [${start_page}, ${last_page}] retried ${retries} times`);
    }
    getSim().trace.emit('svm.attr.retry', { gpu, start: start_page, last: last_page, retries });
    getSim().counters.add('attr_set_retries', 1, gpu);
    yield* ops.flush();
    yield* cond_resched();
  }
}

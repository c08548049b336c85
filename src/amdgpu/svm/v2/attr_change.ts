/**
 * The V2-design reaction to an attribute change (RFC V3 patch 09
 * `amdgpu_svm_range_apply_attr_change`; shared/spec/rfc-series.md §2.2): with XNACK on,
 * SET_ATTR maps only for PREFETCH, and a write that split an attribute node (RANGE_SPLIT)
 * invalidates the node's interval, removing the ranges that cross its new bounds. Granting
 * access maps nothing (the fault handler does), losing it unmaps nothing (as KFD), and
 * changing PTE-relevant flags on a node that was not split does not touch existing PTEs.
 */
import type { Co } from '../../../sim/task.js';
import { lockdep_assert_held } from '../../../sim/locks.js';
import type { amdgpu_svm } from '../amdgpu_svm.js';
import { range_has_access } from '../amdgpu_svm_range.js';
import type { amdgpu_svm_attr_change } from '../attr_set.js';
import {
  AMDGPU_SVM_ATTR_TRIGGER_ACCESS_CHANGE,
  AMDGPU_SVM_ATTR_TRIGGER_MAPPING_FLAG_CHANGE,
  AMDGPU_SVM_ATTR_TRIGGER_PREFETCH,
  AMDGPU_SVM_ATTR_TRIGGER_PTE_FLAG_CHANGE,
  AMDGPU_SVM_ATTR_TRIGGER_RANGE_SPLIT,
} from '../attr_types.js';
import { AMDGPU_SVM_FLAGS } from '../uapi.js';
import { amdgpu_svm_range_invalidate_interval } from './notifier.js';
import { amdgpu_svm_range_map_attr_range } from './range.js';
import { XNACK_OFF, attr_range_live } from './work_types.js';

/** Whether the change asks for a mapping (the update_mapping decision of the RFC). */
function attr_change_needs_mapping(
  svm: amdgpu_svm,
  trigger: number,
  old_access: boolean,
  new_access: boolean,
  new_flags: number,
): boolean {
  let update_mapping = false;
  if (trigger & AMDGPU_SVM_ATTR_TRIGGER_ACCESS_CHANGE) {
    if (!new_access && old_access) {
      // Do nothing, align with kfd svm. Left undone in the RFC: unmap ranges that lost access
    } else if (new_access) {
      if (XNACK_OFF(svm) || new_flags & AMDGPU_SVM_FLAGS.GPU_ALWAYS_MAPPED) update_mapping = true;
    }
  }
  const flag_change =
    AMDGPU_SVM_ATTR_TRIGGER_PTE_FLAG_CHANGE | AMDGPU_SVM_ATTR_TRIGGER_MAPPING_FLAG_CHANGE;
  // only do mapping update when xnack off
  if (trigger & flag_change && new_access && XNACK_OFF(svm)) update_mapping = true;
  // only do prefetch when xnack on
  if (trigger & AMDGPU_SVM_ATTR_TRIGGER_PREFETCH) update_mapping = true;
  return update_mapping;
}

/**
 * amdgpu_svm_range_apply_attr_change (V3 patch 09): decide whether to map; with XNACK on and
 * RANGE_SPLIT, invalidate the node's interval first; then map the node (map_attr_range) if
 * asked. svm_lock held for write. `change.attr_range` is the live node, read without the tree
 * mutex as in the RFC.
 */
export function* amdgpu_svm_range_apply_attr_change(
  svm: amdgpu_svm,
  change: Readonly<amdgpu_svm_attr_change>,
): Co<number> {
  const attr_range = change.attr_range;
  lockdep_assert_held(svm.svm_lock, 'write');
  if (!attr_range) return 0;
  attr_range_live(attr_range, 'amdgpu_svm_range_apply_attr_change');
  const trigger = change.trigger;
  const new_attrs = attr_range.attrs;
  const start_page = attr_range.it_node.start;
  const last_page = attr_range.it_node.last;
  const old_access = range_has_access(change.prev_attrs.access);
  const new_access = range_has_access(new_attrs.access);
  const update_mapping = attr_change_needs_mapping(
    svm,
    trigger,
    old_access,
    new_access,
    new_attrs.flags,
  );
  if (!XNACK_OFF(svm) && trigger & AMDGPU_SVM_ATTR_TRIGGER_RANGE_SPLIT) {
    const ret = yield* amdgpu_svm_range_invalidate_interval(svm, start_page, last_page);
    if (ret) return ret;
  }
  if (!update_mapping) return 0;
  return yield* amdgpu_svm_range_map_attr_range(svm, attr_range);
}

/**
 * drm_gpusvm notifiers (drivers/gpu/drm/drm_gpusvm.c; spec drm-gpusvm.md §1.2, §4.1): the
 * core invalidate callback, allocation of the fixed aligned notifier windows, and their
 * place in the gpusvm tree.
 */
import { might_alloc } from '../sim/reclaim.js';
import { down_write, up_write } from '../sim/locks.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import { WARN_ON } from '../sim/trap.js';
import { mmu_notify_event_name } from '../mm/consts.js';
import type { MmuIntervalNotifierOps } from '../mm/mm_types.js';
import { mmu_interval_set_seq, mmu_notifier_range_blockable } from '../mm/mmu_notifier.js';
import {
  drm_gpusvm_notifier,
  drm_gpusvm_notifier_end,
  drm_gpusvm_notifier_start,
  type drm_gpusvm,
  type drm_gpusvm_mmu_interval_notifier,
  type drm_gpusvm_ops,
} from './drm_gpusvm_types.js';
import { interval_tree_insert, interval_tree_remove } from './itree.js';
import './events.js';

/**
 * drm_gpusvm.c drm_gpusvm_notifier_invalidate (≈L321) as drm_gpusvm_notifier_ops: under
 * notifier_lock for write, publish cur_seq (so concurrent read_retry fails) and call the
 * driver's invalidate. Refuses non-blockable ranges. The core ignores the event type.
 */
export const drm_gpusvm_notifier_ops: MmuIntervalNotifierOps = {
  *invalidate(mni, mmu_range, cur_seq): Co<boolean> {
    const notifier = (mni as drm_gpusvm_mmu_interval_notifier).container;
    const gpusvm = notifier.gpusvm;
    if (!mmu_notifier_range_blockable(mmu_range)) return false;
    yield* down_write(gpusvm.notifier_lock);
    mmu_interval_set_seq(mni, cur_seq);
    const sim = getSim();
    sim.counters.add('gpusvm_invalidations', 1, gpusvm.drm.name); // cost: notifier_callback
    sim.trace.emit('drm.gpusvm_invalidate', {
      gpusvm: gpusvm.name,
      start: mmu_range.start,
      end: mmu_range.end,
      event: mmu_notify_event_name(mmu_range.event),
    });
    yield* (gpusvm.ops as drm_gpusvm_ops).invalidate(gpusvm, notifier, mmu_range);
    up_write(gpusvm.notifier_lock);
    return true;
  },
};

/**
 * drm_gpusvm.c drm_gpusvm_notifier_alloc (≈L510): the window
 * [ALIGN_DOWN(fault_addr, size), ALIGN(fault_addr + 1, size)). null = -ENOMEM.
 */
export function drm_gpusvm_notifier_alloc(
  gpusvm: drm_gpusvm,
  fault_addr: number,
): drm_gpusvm_notifier | null {
  might_alloc('GFP_KERNEL');
  const ops = gpusvm.ops as drm_gpusvm_ops;
  const notifier = ops.notifier_alloc ? ops.notifier_alloc() : new drm_gpusvm_notifier();
  if (!notifier) return null;
  const size = gpusvm.notifier_size;
  notifier.gpusvm = gpusvm;
  notifier.itree.start = Math.floor(fault_addr / size) * size;
  notifier.itree.last = Math.ceil((fault_addr + 1) / size) * size - 1;
  return notifier;
}

/** drm_gpusvm.c drm_gpusvm_notifier_free. */
export function drm_gpusvm_notifier_free(gpusvm: drm_gpusvm, notifier: drm_gpusvm_notifier): void {
  WARN_ON(notifier.root.length !== 0, 'freeing a notifier that still has ranges');
  gpusvm.ops?.notifier_free?.(notifier);
}

/** drm_gpusvm.c drm_gpusvm_notifier_insert: into the gpusvm tree and list. */
export function drm_gpusvm_notifier_insert(
  gpusvm: drm_gpusvm,
  notifier: drm_gpusvm_notifier,
): void {
  interval_tree_insert(gpusvm.root, notifier);
  const sim = getSim();
  sim.account('gpusvm_notifiers_created', 1, 'gpusvm_notifier_created', gpusvm.drm.name);
  sim.trace.emit('drm.gpusvm_notifier_insert', {
    gpusvm: gpusvm.name,
    start: drm_gpusvm_notifier_start(notifier),
    end: drm_gpusvm_notifier_end(notifier),
  });
}

/** drm_gpusvm.c drm_gpusvm_notifier_remove: from the gpusvm tree and list. */
export function drm_gpusvm_notifier_remove(
  gpusvm: drm_gpusvm,
  notifier: drm_gpusvm_notifier,
): void {
  interval_tree_remove(gpusvm.root, notifier);
  const sim = getSim();
  sim.account('gpusvm_notifiers_removed', 1, 'gpusvm_notifier_removed', gpusvm.drm.name);
  sim.trace.emit('drm.gpusvm_notifier_remove', {
    gpusvm: gpusvm.name,
    start: drm_gpusvm_notifier_start(notifier),
    end: drm_gpusvm_notifier_end(notifier),
  });
}

/**
 * drm_gpusvm instance lifetime, whole-instance queries and range eviction
 * (drivers/gpu/drm/drm_gpusvm.c drm_gpusvm_init ≈L357-440, drm_gpusvm_fini,
 * drm_gpusvm_has_mapping, drm_gpusvm_range_evict ≈L1693; spec drm-gpusvm.md §1.1, §3, §4.4).
 */
import { EBUSY, EFAULT, EINVAL, ETIME } from '../sim/errno.js';
import { might_lock } from '../sim/locks.js';
import { fs_reclaim_acquire, fs_reclaim_release, might_alloc } from '../sim/reclaim.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import { WARN_ON } from '../sim/trap.js';
import { HMM_PFN_REQ_FAULT, HMM_RANGE_DEFAULT_TIMEOUT } from '../mm/consts.js';
import { mmput } from '../mm/fork.js';
import { HmmRange, hmm_range_fault } from '../mm/hmm.js';
import {
  mmap_read_lock,
  mmap_read_unlock,
  mmdrop,
  mmget_not_zero,
  mmgrab,
} from '../mm/mm_struct.js';
import type { MmStruct } from '../mm/mm_types.js';
import { mmu_interval_notifier_remove, mmu_interval_read_begin } from '../mm/mmu_notifier.js';
import type { drm_device } from './drm_pagemap_types.js';
import { drm_gpusvm_range_remove } from './drm_gpusvm_range.js';
import {
  LONG_MAX,
  drm_gpusvm_range_end,
  drm_gpusvm_range_start,
  drm_gpusvm_for_each_notifier,
  drm_gpusvm_for_each_notifier_safe,
  drm_gpusvm_for_each_range,
  drm_gpusvm_for_each_range_safe,
  type drm_gpusvm,
  type drm_gpusvm_ops,
  type drm_gpusvm_range,
} from './drm_gpusvm_types.js';
import './events.js';

function is_pow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * drm_gpusvm.c drm_gpusvm_init. Full mode (mm given) needs ops.invalidate and at least one
 * chunk size; simple mode (mm null: only the drm_gpusvm_pages API) needs no ops, chunks,
 * window or notifier size. Sizes are in pages; chunk sizes should be powers of two in
 * descending order ending with 1 (SZ_4K). notifier_lock is primed for lockdep as taken
 * under reclaim (fs_reclaim -> notifier_lock), so an allocation that may reclaim under it
 * is reported. Must run in a task (lockdep). 0 or -EINVAL.
 * SIM: a notifier size or chunk size that is not a power of two is -EINVAL (the C trusts
 * the driver and its ALIGN macros would misbehave).
 */
export function drm_gpusvm_init(
  gpusvm: drm_gpusvm,
  name: string,
  drm: drm_device,
  mm: MmStruct | null,
  mm_start: number,
  mm_range: number,
  notifier_size: number,
  ops: drm_gpusvm_ops | null,
  chunk_sizes: readonly number[],
  num_chunks: number,
): number {
  if (mm) {
    if (!ops?.invalidate || !num_chunks) return -EINVAL;
    if (!is_pow2(notifier_size) || !chunk_sizes.slice(0, num_chunks).every(is_pow2)) return -EINVAL;
    mmgrab(mm);
  } else if (ops || num_chunks || mm_range || notifier_size) {
    return -EINVAL;
  }
  gpusvm.name = name;
  gpusvm.drm = drm;
  gpusvm.mm = mm;
  gpusvm.mm_start = mm_start;
  gpusvm.mm_range = mm_range;
  gpusvm.notifier_size = notifier_size;
  gpusvm.ops = ops;
  gpusvm.chunk_sizes = chunk_sizes.slice(0, num_chunks);
  gpusvm.num_chunks = num_chunks;
  gpusvm.root.length = 0;
  fs_reclaim_acquire('GFP_KERNEL');
  might_lock(gpusvm.notifier_lock);
  fs_reclaim_release('GFP_KERNEL');
  gpusvm.lock_dep_map = null;
  return 0;
}

/**
 * drm_gpusvm.c drm_gpusvm_fini: for each notifier, remove the mmu interval notifier first
 * (so no invalidation races the teardown), then every range; drop the mm. Range removal
 * asserts the driver lock, so the driver calls this with it held.
 */
export function* drm_gpusvm_fini(gpusvm: drm_gpusvm): Co {
  for (const notifier of drm_gpusvm_for_each_notifier_safe(gpusvm, 0, LONG_MAX)) {
    yield* mmu_interval_notifier_remove(notifier.notifier);
    notifier.flags.removed = true;
    for (const range of drm_gpusvm_for_each_range_safe(notifier, 0, LONG_MAX))
      yield* drm_gpusvm_range_remove(gpusvm, range);
  }
  if (gpusvm.mm) mmdrop(gpusvm.mm);
  WARN_ON(gpusvm.root.length !== 0, 'drm_gpusvm_fini: notifiers left');
}

/** drm_gpusvm.c drm_gpusvm_has_mapping: does any range overlap [start, end)? */
export function drm_gpusvm_has_mapping(gpusvm: drm_gpusvm, start: number, end: number): boolean {
  for (const notifier of drm_gpusvm_for_each_notifier(gpusvm, start, end)) {
    for (const _range of drm_gpusvm_for_each_range(notifier, start, end)) return true;
  }
  return false;
}

/**
 * drm_gpusvm.c drm_gpusvm_range_evict (≈L1693): hmm_range_fault with no device-private
 * owner, so every device page of the range migrates to RAM. Leaves the DMA state alone.
 * 0, -EFAULT (mm gone, hmm failure), -ETIME (timeout after read_begin), -EBUSY.
 */
export function* drm_gpusvm_range_evict(gpusvm: drm_gpusvm, range: drm_gpusvm_range): Co<number> {
  const sim = getSim();
  const mm = gpusvm.mm as MmStruct;
  const start = drm_gpusvm_range_start(range);
  const end = drm_gpusvm_range_end(range);
  const hmm_range = new HmmRange({
    notifier: range.notifier.notifier,
    start,
    end,
    default_flags: HMM_PFN_REQ_FAULT,
    dev_private_owner: null,
  });
  const timeout = sim.now() + HMM_RANGE_DEFAULT_TIMEOUT;
  let err = 0;
  if (!mmget_not_zero(mm)) return -EFAULT;
  sim.counters.add('gpusvm_range_evictions', 1, gpusvm.drm.name);
  might_alloc('GFP_KERNEL'); // pfns
  while (!(sim.now() > timeout)) {
    hmm_range.notifier_seq = yield* mmu_interval_read_begin(hmm_range.notifier);
    if (sim.now() > timeout) {
      err = -ETIME;
      break;
    }
    yield* mmap_read_lock(mm);
    err = yield* hmm_range_fault(hmm_range);
    mmap_read_unlock(mm);
    if (err !== -EBUSY) break;
  }
  yield* mmput(mm);
  sim.trace.emit('drm.gpusvm_evict', { gpusvm: gpusvm.name, start, end, ret: err });
  return err;
}

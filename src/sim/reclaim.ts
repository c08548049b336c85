/**
 * Memory-allocation context for lockdep (mm/page_alloc.c fs_reclaim_acquire,
 * include/linux/sched/mm.h memalloc_noreclaim_save). An allocation that may enter direct
 * reclaim (GFP_KERNEL) takes the fs_reclaim pseudo-lock for lockdep: doing so while holding a
 * lock that an MMU notifier takes (reclaim calls the notifiers) closes a cycle that lockdep
 * reports as `reclaim-lock`. GFP_NOWAIT / GFP_ATOMIC allocations, and any allocation inside
 * memalloc_noreclaim_save / memalloc_nofs_save, do not.
 */
import { FS_RECLAIM, type LockMap } from './lockdep.js';
import { might_sleep } from './locks.js';
import { current, getSim } from './scheduler.js';

export type Gfp = 'GFP_KERNEL' | 'GFP_NOFS' | 'GFP_NOIO' | 'GFP_NOWAIT' | 'GFP_ATOMIC';

function entersFsReclaim(gfp: Gfp): boolean {
  return gfp === 'GFP_KERNEL';
}

function mayBlock(gfp: Gfp): boolean {
  return gfp === 'GFP_KERNEL' || gfp === 'GFP_NOFS' || gfp === 'GFP_NOIO';
}

/** might_alloc(gfp): the lockdep and might_sleep checks every allocation makes. */
export function might_alloc(gfp: Gfp = 'GFP_KERNEL'): void {
  const sim = getSim();
  const t = sim.current;
  if (!t) return;
  if (mayBlock(gfp)) might_sleep(`allocation with ${gfp}`);
  if (entersFsReclaim(gfp) && t.noreclaim === 0) sim.lockdep.touch(t, FS_RECLAIM);
}

/** fs_reclaim_acquire(gfp): enter the reclaim context (used to prime lock orders). */
export function fs_reclaim_acquire(gfp: Gfp = 'GFP_KERNEL'): void {
  const t = current();
  if (entersFsReclaim(gfp) && t.noreclaim === 0) {
    const ld = getSim().lockdep;
    ld.acquire(t, FS_RECLAIM, ld.classId(FS_RECLAIM.lockdepName), 'write');
  }
}

export function fs_reclaim_release(gfp: Gfp = 'GFP_KERNEL'): void {
  const t = current();
  if (entersFsReclaim(gfp) && t.noreclaim === 0) getSim().lockdep.release(t, FS_RECLAIM);
}

/** memalloc_noreclaim_save(): allocations until the restore do not enter reclaim. */
export function memalloc_noreclaim_save(): number {
  const t = current();
  return t.noreclaim++;
}

export function memalloc_noreclaim_restore(saved: number): void {
  current().noreclaim = saved;
}

/** memalloc_nofs_save(): as noreclaim for lockdep's purposes (no fs_reclaim). */
export const memalloc_nofs_save = memalloc_noreclaim_save;
export const memalloc_nofs_restore = memalloc_noreclaim_restore;

/** lock_map_acquire(map): hold a lockdep map (mmu notifier, workqueue, fs_reclaim). */
export function lock_map_acquire(map: LockMap): void {
  const t = current();
  const ld = getSim().lockdep;
  ld.acquire(t, map, ld.classId(map.lockdepName), 'write');
}

export function lock_map_release(map: LockMap): void {
  getSim().lockdep.release(current(), map);
}

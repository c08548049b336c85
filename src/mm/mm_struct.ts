/**
 * mm_struct lifetime and mmap_lock helpers (include/linux/sched/mm.h, mmap_lock.h,
 * kernel/fork.c mm_alloc). mmput, which may run exit_mmap, is in exit.ts.
 */
import {
  down_read,
  down_write,
  downgrade_write,
  lockdep_assert_held,
  up_read,
  up_write,
} from '../sim/locks.js';
import type { Co } from '../sim/task.js';
import { trap } from '../sim/trap.js';
import { MmStruct, type MmOptions, type MmSystem } from './mm_types.js';

/** kernel/fork.c mm_alloc: a new, empty address space with mm_users = mm_count = 1. */
export function mm_alloc(sys: MmSystem, opts: MmOptions = {}): MmStruct {
  return new MmStruct(sys, opts);
}

/** include/linux/sched/mm.h mmget. */
export function mmget(mm: MmStruct): void {
  if (mm.mm_users <= 0) trap('use-after-free', `mmget on ${mm.name} after its last mmput`);
  mm.mm_users++;
}

/** include/linux/sched/mm.h mmget_not_zero: false once the address space is being torn down. */
export function mmget_not_zero(mm: MmStruct): boolean {
  if (mm.mm_users <= 0) return false;
  mm.mm_users++;
  return true;
}

/** include/linux/sched/mm.h mmgrab: keep the struct (not the address space) alive. */
export function mmgrab(mm: MmStruct): void {
  if (mm.mm_count <= 0) trap('use-after-free', `mmgrab on freed ${mm.name}`);
  mm.mm_count++;
}

/** include/linux/sched/mm.h mmdrop. */
export function mmdrop(mm: MmStruct): void {
  if (mm.mm_count <= 0) trap('use-after-free', `mmdrop on freed ${mm.name}`);
  mm.mm_count--;
}

/** include/linux/mmap_lock.h mmap_read_lock. */
export function mmap_read_lock(mm: MmStruct): Co {
  return down_read(mm.mmap_lock);
}

export function mmap_read_unlock(mm: MmStruct): void {
  up_read(mm.mmap_lock);
}

/** include/linux/mmap_lock.h mmap_write_lock. */
export function mmap_write_lock(mm: MmStruct): Co {
  return down_write(mm.mmap_lock);
}

export function mmap_write_unlock(mm: MmStruct): void {
  up_write(mm.mmap_lock);
}

export function mmap_write_downgrade(mm: MmStruct): void {
  downgrade_write(mm.mmap_lock);
}

/** mmap_assert_locked: held for read or write. */
export function mmap_assert_locked(mm: MmStruct): void {
  lockdep_assert_held(mm.mmap_lock);
}

export function mmap_assert_write_locked(mm: MmStruct): void {
  lockdep_assert_held(mm.mmap_lock, 'write');
}

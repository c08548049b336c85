/**
 * mremap (mm/mremap.c): shrink, grow in place, move (MREMAP_MAYMOVE, MREMAP_FIXED) and
 * MREMAP_DONTUNMAP. Page numbers; syscalls.ts validates byte arguments.
 *
 * Events: moving sends MMU_NOTIFY_UNMAP for the old range from move_page_tables, and again
 * when the old range is unmapped (not with DONTUNMAP); a MREMAP_FIXED target that was
 * mapped is unmapped first (UNMAP); shrinking unmaps the tail (UNMAP, after downgrading
 * mmap_lock to read, as do_vmi_munmap does for mremap's shrink).
 */
import { EFAULT, EINVAL, ENOMEM } from '../sim/errno.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import {
  MMU_NOTIFY_UNMAP,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  VM_DONTEXPAND,
  VM_PFNMAP,
} from './consts.js';
import { do_vmi_munmap } from './mmap.js';
import { mmap_read_unlock, mmap_write_lock, mmap_write_unlock } from './mm_struct.js';
import { VmAreaStruct, type MmStruct } from './mm_types.js';
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
  mmu_notifier_range_init,
} from './mmu_notifier.js';
import { move_pte } from './pte.js';
import { get_unmapped_area, range_is_free, vma_link, vma_lookup, vma_try_merge } from './vma.js';

interface MremapArgs {
  addr: number;
  old_len: number;
  new_len: number;
  flags: number;
  new_addr: number;
}

/**
 * The mremap syscall (lengths in pages): returns the (new) start page or -errno. Takes
 * mmap_lock for write.
 */
export function* do_mremap(
  mm: MmStruct,
  addr: number,
  old_len: number,
  new_len: number,
  flags: number,
  new_addr = 0,
): Co<number> {
  getSim().account('mm_mremaps', 1, 'mm_syscall');
  if (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) return -EINVAL;
  if (flags & MREMAP_FIXED && !(flags & MREMAP_MAYMOVE)) return -EINVAL;
  if (flags & MREMAP_DONTUNMAP && (!(flags & MREMAP_MAYMOVE) || old_len !== new_len))
    return -EINVAL;
  // SIM: old_len == 0 (duplicating a shared mapping) is not modelled.
  if (new_len <= 0 || old_len <= 0) return -EINVAL;
  yield* mmap_write_lock(mm);
  const a: MremapArgs = { addr, old_len, new_len, flags, new_addr };
  let downgraded = false;
  let ret: number;
  if (!vma_lookup(mm, addr)) {
    ret = -EFAULT;
  } else if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
    ret = yield* mremap_to(mm, a);
  } else if (old_len >= new_len) {
    // Always allow a shrinking remap (old_len == new_len is a no-op).
    if (old_len > new_len)
      downgraded = (yield* do_vmi_munmap(mm, addr + new_len, addr + old_len, true)) === 1;
    ret = addr;
  } else {
    ret = yield* mremap_grow(mm, a);
  }
  if (downgraded) mmap_read_unlock(mm);
  else mmap_write_unlock(mm);
  if (ret >= 0) {
    getSim().trace.emit('mm.mremap', {
      mm: mm.id,
      old: addr,
      old_npages: old_len,
      new: ret,
      new_npages: new_len,
    });
  }
  return ret;
}

/** mm/mremap.c vma_to_resize: the vma holding [addr, addr + old_len), or -errno. */
function vma_to_resize(mm: MmStruct, a: MremapArgs): VmAreaStruct | number {
  const vma = vma_lookup(mm, a.addr);
  if (!vma) return -EFAULT;
  if (a.old_len > vma.vm_end - a.addr) return -EFAULT;
  if (a.flags & MREMAP_DONTUNMAP && vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP)) return -EINVAL;
  if (a.new_len === a.old_len) return vma;
  if (vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP)) return -EFAULT;
  return vma;
}

/** mm/mremap.c mremap_to: MREMAP_FIXED and/or MREMAP_DONTUNMAP. */
function* mremap_to(mm: MmStruct, a: MremapArgs): Co<number> {
  if (a.flags & MREMAP_FIXED) {
    if (a.new_addr + a.new_len > mm.task_size || a.new_addr < mm.mmap_min_addr) return -EINVAL;
    if (a.addr + a.old_len > a.new_addr && a.new_addr + a.new_len > a.addr) return -EINVAL;
    yield* do_vmi_munmap(mm, a.new_addr, a.new_addr + a.new_len, false);
  }
  if (a.old_len > a.new_len) {
    yield* do_vmi_munmap(mm, a.addr + a.new_len, a.addr + a.old_len, false);
    a.old_len = a.new_len;
  }
  const vma = vma_to_resize(mm, a);
  if (typeof vma === 'number') return vma;
  let target = a.new_addr;
  if (!(a.flags & MREMAP_FIXED)) {
    target = get_unmapped_area(mm, a.new_len, 0);
    if (target < 0) return target;
  }
  return yield* move_vma(mm, vma, a, target);
}

/** Grow: in place when the following space is free, else move (MREMAP_MAYMOVE). */
function* mremap_grow(mm: MmStruct, a: MremapArgs): Co<number> {
  const vma = vma_to_resize(mm, a);
  if (typeof vma === 'number') return vma;
  const delta = a.new_len - a.old_len;
  if (
    a.addr + a.old_len === vma.vm_end &&
    vma.vm_end + delta <= mm.task_size &&
    range_is_free(mm, vma.vm_end, vma.vm_end + delta)
  ) {
    vma.vm_end += delta; // vma_expand
    vma_try_merge(mm, vma);
    return a.addr;
  }
  if (!(a.flags & MREMAP_MAYMOVE)) return -ENOMEM;
  const target = get_unmapped_area(mm, a.new_len, 0);
  if (target < 0) return target;
  return yield* move_vma(mm, vma, a, target);
}

/**
 * mm/mremap.c move_vma: a new vma at `target` (copy_vma), the ptes moved under
 * MMU_NOTIFY_UNMAP of the old range (move_page_tables), then the old range unmapped unless
 * MREMAP_DONTUNMAP (which leaves the old vma in place, empty).
 */
function* move_vma(mm: MmStruct, vma: VmAreaStruct, a: MremapArgs, target: number): Co<number> {
  const nv = new VmAreaStruct(
    mm,
    target,
    target + a.new_len,
    vma.vm_flags,
    vma.vm_pgoff + (a.addr - vma.vm_start),
    vma.vm_file,
  );
  nv.anon_vma = vma.anon_vma;
  nv.kind = vma.kind;
  vma_link(mm, nv);
  yield* move_page_tables(mm, a.addr, target, a.old_len);
  if (!(a.flags & MREMAP_DONTUNMAP)) yield* do_vmi_munmap(mm, a.addr, a.addr + a.old_len, false);
  vma_try_merge(mm, nv);
  return target;
}

/** mm/mremap.c move_page_tables: MMU_NOTIFY_UNMAP over the old range, entries moved. */
function* move_page_tables(mm: MmStruct, from: number, to: number, len: number): Co {
  const range = mmu_notifier_range_init(MMU_NOTIFY_UNMAP, 0, mm, from, from + len);
  yield* mmu_notifier_invalidate_range_start(range);
  const moved: number[] = [];
  mm.pgt.for_each(from, from + len, (vpn) => moved.push(vpn));
  for (const vpn of moved) move_pte(mm, vpn, to + (vpn - from));
  if (moved.length > 0) getSim().account('ptes_moved', moved.length, 'pte_op');
  mm.pgt.free_empty(from, from + len);
  yield* mmu_notifier_invalidate_range_end(range);
}

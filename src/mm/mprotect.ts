/**
 * mprotect (mm/mprotect.c) and madvise (mm/madvise.c). Page numbers; syscalls.ts validates
 * byte arguments.
 */
import { EACCES, EINVAL, ENOMEM } from '../sim/errno.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MMU_NOTIFY_PROTECTION_VMA,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  PTRS_PER_PMD_PAGES,
  PTRS_PER_PTE,
  VM_ACCESS_FLAGS,
  VM_HUGETLB,
  VM_LOCKED,
  VM_PFNMAP,
  VM_WRITE,
} from './consts.js';
import { zap_page_range_single } from './memory.js';
import {
  mmap_read_lock,
  mmap_read_unlock,
  mmap_write_lock,
  mmap_write_unlock,
} from './mm_struct.js';
import type { MmStruct, VmAreaStruct } from './mm_types.js';
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
  mmu_notifier_range_init,
} from './mmu_notifier.js';
import { PTE_SWAP, PTE_KIND_MASK, PTE_WRITE } from './pgtable.js';
import { find_vma, split_at, vma_lookup, vma_try_merge } from './vma.js';

/** The mprotect syscall on pages [start, start + npages). */
export function* do_mprotect(
  mm: MmStruct,
  start: number,
  npages: number,
  prot: number,
): Co<number> {
  getSim().account('mm_mprotects', 1, 'mm_syscall');
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) return -EINVAL;
  if (npages === 0) return 0;
  yield* mmap_write_lock(mm);
  const ret = yield* mprotect_locked(mm, start, start + npages, prot);
  mmap_write_unlock(mm);
  getSim().trace.emit('mm.mprotect', { mm: mm.id, start, npages, prot, ret });
  return ret;
}

/** mm/mprotect.c do_mprotect_pkey's vma loop: -ENOMEM at a hole, after changing what precedes. */
function* mprotect_locked(mm: MmStruct, start: number, end: number, prot: number): Co<number> {
  let nstart = start;
  for (;;) {
    const vma = find_vma(mm, nstart);
    if (!vma || vma.vm_start > nstart) return -ENOMEM;
    const newflags = (vma.vm_flags & ~VM_ACCESS_FLAGS) | prot;
    // Each VM_MAY* bit sits 4 bits above the bit it allows.
    if (newflags & ~(newflags >> 4) & VM_ACCESS_FLAGS) return -EACCES;
    const tmp = Math.min(end, vma.vm_end);
    yield* mprotect_fixup(mm, vma, nstart, tmp, newflags);
    nstart = tmp;
    if (nstart >= end) return 0;
  }
}

/** mm/mprotect.c mprotect_fixup: split, set the flags, change_protection, merge. */
function* mprotect_fixup(
  mm: MmStruct,
  vma: VmAreaStruct,
  start: number,
  end: number,
  newflags: number,
): Co {
  if (newflags === vma.vm_flags) return;
  split_at(mm, start);
  split_at(mm, end);
  const v = vma_lookup(mm, start) as VmAreaStruct;
  v.vm_flags = newflags;
  yield* change_protection(v, start, end);
  vma_try_merge(mm, v);
}

/**
 * mm/mprotect.c change_protection: per 1 GiB block that has a page table (change_pmd_range
 * starts the notifier at the first non-none pmd), one MMU_NOTIFY_PROTECTION_VMA from there
 * to the block end. Losing VM_WRITE write-protects every entry; gaining it changes none
 * (SIM: the next write fault makes the pte writable; Linux may do so at once for
 * exclusive anonymous pages).
 */
function* change_protection(vma: VmAreaStruct, start: number, end: number): Co {
  const mm = vma.vm_mm;
  const wrprotect = !(vma.vm_flags & VM_WRITE);
  let n = 0;
  for (let s = start; s < end;) {
    const e = Math.min(end, (Math.floor(s / PTRS_PER_PMD_PAGES) + 1) * PTRS_PER_PMD_PAGES);
    const leaves = mm.pgt.leaves_in(s, e);
    const first = leaves[0];
    if (first) {
      const from = Math.max(s, first.index * PTRS_PER_PTE);
      const range = mmu_notifier_range_init(MMU_NOTIFY_PROTECTION_VMA, 0, mm, from, e, vma);
      yield* mmu_notifier_invalidate_range_start(range);
      if (wrprotect) {
        mm.pgt.for_each(from, e, (vpn, d) => {
          if ((d & PTE_KIND_MASK) !== PTE_SWAP && d & PTE_WRITE) {
            mm.pgt.set_flags(vpn, 0, PTE_WRITE);
            n++;
          }
        });
      }
      yield* mmu_notifier_invalidate_range_end(range);
    }
    s = e;
  }
  if (n > 0) getSim().account('ptes_protected', n, 'pte_op');
}

const MADV_KNOWN = [
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
];

/**
 * The madvise syscall on pages [start, start + npages). MADV_DONTNEED zaps each vma's part
 * under MMU_NOTIFY_CLEAR with mmap_lock held for read; the hints (NORMAL, RANDOM,
 * SEQUENTIAL, WILLNEED, HUGEPAGE, NOHUGEPAGE) are accepted and change nothing (SIM: no THP);
 * other advice is -EINVAL. Holes give -ENOMEM after the rest is done.
 */
export function* do_madvise(
  mm: MmStruct,
  start: number,
  npages: number,
  advice: number,
): Co<number> {
  getSim().account('mm_madvises', 1, 'mm_syscall');
  if (!MADV_KNOWN.includes(advice)) return -EINVAL;
  if (npages === 0) return 0;
  const end = start + npages;
  const write = advice !== MADV_DONTNEED && advice !== MADV_WILLNEED;
  if (write) yield* mmap_write_lock(mm);
  else yield* mmap_read_lock(mm);
  let ret = 0;
  let unmapped_error = 0;
  let cur = start;
  while (cur < end) {
    const vma = find_vma(mm, cur);
    if (!vma || vma.vm_start >= end) {
      unmapped_error = -ENOMEM;
      break;
    }
    if (vma.vm_start > cur) {
      unmapped_error = -ENOMEM;
      cur = vma.vm_start;
    }
    const tmp = Math.min(vma.vm_end, end);
    if (advice === MADV_DONTNEED) {
      if (vma.vm_flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB)) {
        ret = -EINVAL;
        break;
      }
      yield* zap_page_range_single(vma, cur, tmp);
    }
    cur = tmp;
  }
  if (write) mmap_write_unlock(mm);
  else mmap_read_unlock(mm);
  ret = ret || unmapped_error;
  getSim().trace.emit('mm.madvise', { mm: mm.id, start, npages, advice, ret });
  return ret;
}

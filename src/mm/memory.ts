/**
 * Range operations on page tables (mm/memory.c): unmap_vmas and zap_page_range_single with
 * their mmu notifier events, and copy_page_range for fork.
 */
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_PROTECTION_PAGE,
  MMU_NOTIFY_UNMAP,
  VM_MIXEDMAP,
  VM_PFNMAP,
} from './consts.js';
import type { MmStruct, VmAreaStruct } from './mm_types.js';
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
  mmu_notifier_range_init,
} from './mmu_notifier.js';
import { get_page, is_zero_pfn } from './page.js';
import {
  PTE_DEVICE_PRIVATE,
  PTE_KIND_MASK,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_WRITE,
} from './pgtable.js';
import { set_pte_get_page, zap_pte_range } from './pte.js';
import { is_cow_mapping } from './vma.js';

/**
 * mm/memory.c unmap_vmas: one MMU_NOTIFY_UNMAP over [start, end), then every entry of the
 * given vmas inside it is zapped. Used by munmap (vms_clear_ptes), mremap and exit.
 */
export function* unmap_vmas(
  mm: MmStruct,
  vmas: readonly VmAreaStruct[],
  start: number,
  end: number,
): Co {
  const range = mmu_notifier_range_init(MMU_NOTIFY_UNMAP, 0, mm, start, end);
  yield* mmu_notifier_invalidate_range_start(range);
  for (const vma of vmas) {
    zap_pte_range(mm, Math.max(start, vma.vm_start), Math.min(end, vma.vm_end));
  }
  yield* mmu_notifier_invalidate_range_end(range);
}

/** mm/memory.c zap_page_range_single: MMU_NOTIFY_CLEAR over [start, end) of one vma. */
export function* zap_page_range_single(vma: VmAreaStruct, start: number, end: number): Co {
  const mm = vma.vm_mm;
  const range = mmu_notifier_range_init(MMU_NOTIFY_CLEAR, 0, mm, start, end, vma);
  yield* mmu_notifier_invalidate_range_start(range);
  zap_pte_range(mm, start, end);
  yield* mmu_notifier_invalidate_range_end(range);
}

/**
 * mm/memory.c vma_needs_copy: fork copies ptes only where a fault could not rebuild them:
 * pfn/mixed maps and vmas holding anonymous pages.
 */
export function vma_needs_copy(src: VmAreaStruct): boolean {
  if (src.vm_flags & (VM_PFNMAP | VM_MIXEDMAP)) return true;
  return src.anon_vma !== null;
}

/**
 * mm/memory.c copy_page_range: fork's copy of one vma. For a COW mapping the parent's range
 * is invalidated with MMU_NOTIFY_PROTECTION_PAGE and its writable private entries become
 * read-only in both mms (copy_present_pte / copy_nonpresent_pte).
 */
export function* copy_page_range(dst_vma: VmAreaStruct, src_vma: VmAreaStruct): Co {
  const src = src_vma.vm_mm;
  const dst = dst_vma.vm_mm;
  const is_cow = is_cow_mapping(src_vma.vm_flags);
  const range = mmu_notifier_range_init(
    MMU_NOTIFY_PROTECTION_PAGE,
    0,
    src,
    src_vma.vm_start,
    src_vma.vm_end,
    src_vma,
  );
  if (is_cow) yield* mmu_notifier_invalidate_range_start(range);
  let n = 0;
  src.pgt.for_each(src_vma.vm_start, src_vma.vm_end, (vpn, d, pfn) => {
    copy_one_pte(src, dst, vpn, d, pfn, is_cow);
    n++;
  });
  if (n > 0) getSim().account('ptes_copied', n, 'pte_op');
  if (is_cow) yield* mmu_notifier_invalidate_range_end(range);
}

function copy_one_pte(
  src: MmStruct,
  dst: MmStruct,
  vpn: number,
  d: number,
  pfn: number,
  is_cow: boolean,
): void {
  const kind = d & PTE_KIND_MASK;
  let write = (d & PTE_WRITE) !== 0;
  if (is_cow && write && kind !== PTE_SWAP && !(d & PTE_SPECIAL)) {
    src.pgt.set_flags(vpn, 0, PTE_WRITE); // ptep_set_wrprotect / make_readable_*_entry
    write = false;
  }
  const desc = write ? d : d & ~PTE_WRITE;
  switch (kind) {
    case PTE_PRESENT:
      if (d & PTE_SPECIAL) {
        get_page(dst.sys, pfn);
        dst.pgt.set(vpn, desc, pfn);
      } else if (is_zero_pfn(pfn)) {
        dst.pgt.set(vpn, desc, pfn);
      } else {
        set_pte_get_page(dst, vpn, pfn, write);
      }
      break;
    case PTE_SWAP:
      dst.sys.swap.dup(pfn);
      dst.pgt.set(vpn, d, pfn);
      break;
    case PTE_DEVICE_PRIVATE:
      get_page(dst.sys, pfn);
      dst.sys.rmap.add(pfn, dst.id, vpn);
      dst.pgt.set(vpn, desc, pfn);
      break;
    case PTE_MIGRATION:
      dst.sys.rmap.add(pfn, dst.id, vpn);
      dst.pgt.set(vpn, desc, pfn);
      break;
    default:
      break;
  }
}

/**
 * src/mm: the Linux memory-management model the GPU driver runs on.
 *
 * Overview
 * - MmSystem (mm_types.ts) is the machine: a frame store (phys.ts) with system RAM and the
 *   device regions the GPU layer adds, swap (swap.ts), a reverse map (rmap.ts), page locks,
 *   the page cache and device pagemaps. MmStruct is one address space: mmap_lock, a vma
 *   tree (vma.ts), a page table of typed-array leaves (pgtable.ts), mmu notifier
 *   subscriptions. Addresses are page numbers; syscalls.ts takes byte addresses (bigint).
 * - Operations, as generators taking the mm: do_mmap / do_munmap / mm_populate (mmap.ts),
 *   do_mprotect / do_madvise (mprotect.ts), do_mremap (mremap.ts), dup_mm / mmput /
 *   exit_mmap (fork.ts), reclaim / migrate_pages (vmscan.ts), handle_mm_fault (fault.ts),
 *   cpu_read / cpu_write and their range forms (access.ts).
 * - For device drivers: mmu interval notifiers (mmu_notifier.ts), hmm_range_fault (hmm.ts),
 *   migrate_vma_* and migrate_device_* (migrate_device.ts), dev_pagemap with
 *   migrate_to_ram (mm_types.ts DevPagemap, page.ts memremap_pages).
 * - For the oracle: mm_pte_pfn / mm_pte_kind / mm_pte_writable (access.ts), O(1).
 *
 * Which mmu notifier event each operation sends (shared/spec/clarifications.md §4), in the
 * task that performs it, with the locks Linux holds there (MMU_NOTIFIER_MAP is held around
 * every blockable invalidation's callbacks):
 * - munmap: UNMAP over the request, mmap_lock held for read (downgraded after the vmas are
 *   detached); MAP_FIXED over a mapping: UNMAP, mmap_lock for write.
 * - mremap move: UNMAP of the old range twice (move_page_tables, then the unmap of the old
 *   range unless MREMAP_DONTUNMAP), mmap_lock for write; shrink: UNMAP of the tail, read.
 * - mprotect: PROTECTION_VMA per 1 GiB block with page tables, mmap_lock for write.
 * - madvise(MADV_DONTNEED): CLEAR per vma part, mmap_lock for read.
 * - fork: PROTECTION_PAGE over each COW vma with anonymous pages, parent's mmap_lock write.
 * - COW write fault: CLEAR of the one page, mmap_lock for read.
 * - reclaim: CLEAR per mapping of each page, under fs_reclaim and anon_vma->rwsem (read)
 *   (i_mmap_rwsem for page-cache pages), no mmap_lock.
 * - migrate_pages (NUMA/compaction): CLEAR per mapping, rmap lock, no mmap_lock.
 * - migrate_vma: MIGRATE with pgmap_owner over the range (setup, and pages when holes are
 *   populated), caller's mmap_lock read; mappings in other mms: CLEAR each.
 * - exit: RELEASE over everything to each interval notifier (no mmap_lock), then one UNMAP
 *   over everything with mmap_lock for read; run by the last mmput, wherever it happens.
 *
 * Locking rules
 * - mmap_lock protects the vma tree and vma fields (write to change, read to look up);
 *   faults, hmm_range_fault and migrate_vma_setup need it at least for read (asserted).
 * - Page table entries change atomically; every change that removes or downgrades a
 *   translation is bracketed by mmu_notifier_invalidate_range_start/end, and code that
 *   slept in a notifier re-checks the entry afterwards (pte_same).
 * - A frame being migrated or reclaimed is locked (folio lock); faults and hmm walks that
 *   meet its migration entry wait for the unlock.
 * - Page allocation calls might_alloc(GFP_KERNEL): allocating under a lock that a notifier
 *   callback takes is reported by lockdep (`reclaim-lock`).
 *
 * Known limits (SIM)
 * - No THP or hugetlb: every mapping is 4 KiB (hmm order is always 0).
 * - No swap cache: a swap-in gives the faulting mm a private copy (swap.ts).
 * - Shared file mappings are tmpfs-like (no write-notify); files cannot shrink.
 * - No per-vma locks, no userfaultfd, no mlock, no KSM, no device-exclusive entries.
 * - Page allocation never enters reclaim: exhausted RAM is -ENOMEM (VM_FAULT_OOM).
 * - mprotect gaining write leaves ptes read-only (the next write fault upgrades them).
 * - The vma tree is a sorted array; vma merging covers the common cases only.
 */
import './events.js';

export * from './access.js';
export * from './consts.js';
export * from './fault.js';
export * from './filemap.js';
export * from './fork.js';
export * from './hmm.js';
export * from './memory.js';
export * from './migrate_device.js';
export * from './mm_struct.js';
export * from './mm_types.js';
export * from './mmap.js';
export * from './mmu_notifier.js';
export * from './mprotect.js';
export * from './mremap.js';
export * from './page.js';
export * from './pgtable.js';
export * from './phys.js';
export * from './pte.js';
export * from './rmap.js';
export * from './rmap_walk.js';
export * from './swap.js';
export * from './syscalls.js';
export * from './vma.js';
export * from './vmscan.js';

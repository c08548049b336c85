/**
 * Constants of the mm model, with the values Linux uses where a value is visible (flag bits
 * of include/linux/mm.h, include/uapi/asm-generic/mman-common.h, include/linux/hmm.h,
 * include/linux/migrate.h, include/linux/mmu_notifier.h).
 *
 * Addresses inside the model are page numbers ("vpn" for a virtual page, "pfn" for a
 * frame). Byte addresses exist only in syscalls.ts, as bigint.
 */

/** Pages per PTE table (one PMD entry covers 512 pages = 2 MiB). */
export const PTRS_PER_PTE = 512;
/** Pages per PMD table (one PUD entry covers 1 GiB). */
export const PTRS_PER_PMD_PAGES = 512 * 512;

/** ULONG_MAX + 1 in pages: the end of "the whole address space" ranges (exit, test_hmm). */
export const ULONG_MAX_PAGES = 2 ** 52;

// ---- vm_flags (include/linux/mm.h) ---------------------------------------------------
export const VM_NONE = 0;
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
export const VM_GROWSDOWN = 0x100;
export const VM_PFNMAP = 0x400;
export const VM_LOCKED = 0x2000;
export const VM_IO = 0x4000;
export const VM_DONTCOPY = 0x20000;
export const VM_DONTEXPAND = 0x40000;
export const VM_HUGETLB = 0x400000;
export const VM_MIXEDMAP = 0x10000000;
/** VM_SPECIAL: mappings that migration and merging leave alone. */
export const VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;

// ---- mmap / mprotect / mremap / madvise UAPI -----------------------------------------
export const PROT_NONE = 0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;

export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;
export const MAP_FIXED_NOREPLACE = 0x100000;

export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
export const MREMAP_DONTUNMAP = 4;

export const MADV_NORMAL = 0;
export const MADV_RANDOM = 1;
export const MADV_SEQUENTIAL = 2;
export const MADV_WILLNEED = 3;
export const MADV_DONTNEED = 4;
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;

// ---- page faults (include/linux/mm_types.h) ------------------------------------------
export const FAULT_FLAG_WRITE = 0x1;
export const FAULT_FLAG_REMOTE = 0x80;

export const VM_FAULT_OOM = 0x1;
export const VM_FAULT_SIGBUS = 0x2;
export const VM_FAULT_MAJOR = 0x4;
export const VM_FAULT_HWPOISON = 0x10;
export const VM_FAULT_SIGSEGV = 0x40;
export const VM_FAULT_NOPAGE = 0x100;
export const VM_FAULT_RETRY = 0x400;
export const VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON;

// ---- signals, as results of CPU accesses (access.ts) --------------------------------
export const SIGBUS = 7;
export const SIGKILL = 9;
export const SIGSEGV = 11;

// ---- mmu notifier events (include/linux/mmu_notifier.h) -------------------------------
export const MMU_NOTIFY_UNMAP = 0;
export const MMU_NOTIFY_CLEAR = 1;
export const MMU_NOTIFY_PROTECTION_VMA = 2;
export const MMU_NOTIFY_PROTECTION_PAGE = 3;
export const MMU_NOTIFY_SOFT_DIRTY = 4;
export const MMU_NOTIFY_RELEASE = 5;
export const MMU_NOTIFY_MIGRATE = 6;
export const MMU_NOTIFY_EXCLUSIVE = 7;
export type MmuNotifierEvent = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

export const MMU_NOTIFY_EVENT_NAMES = [
  'UNMAP',
  'CLEAR',
  'PROTECTION_VMA',
  'PROTECTION_PAGE',
  'SOFT_DIRTY',
  'RELEASE',
  'MIGRATE',
  'EXCLUSIVE',
] as const;

export function mmu_notify_event_name(e: MmuNotifierEvent): string {
  return MMU_NOTIFY_EVENT_NAMES[e];
}

/** mmu_notifier_range.flags */
export const MMU_NOTIFIER_RANGE_BLOCKABLE = 1;

// ---- hmm pfns (include/linux/hmm.h) ---------------------------------------------------
/*
 * SIM: Linux keeps the flags in the top bits of an unsigned long. JS numbers hold 53 bits
 * and bitwise operators work on 32, so an hmm pfn here is `pfn * 256 + flags`: the flags
 * live in the low 8 bits, where `x & HMM_PFN_VALID` works unchanged (ToInt32 keeps the low
 * bits). Build values with hmm_pfn_make and read the pfn with hmm_pfn_to_pfn.
 */
export const HMM_PFN_FLAGS_SHIFT = 8;
const HMM_PFN_MUL = 1 << HMM_PFN_FLAGS_SHIFT;
export const HMM_PFN_VALID = 0x01;
export const HMM_PFN_WRITE = 0x02;
export const HMM_PFN_ERROR = 0x04;
/**
 * SIM: set on a device-private page returned in place; Linux callers test
 * is_device_private_page(hmm_pfn_to_page(pfn)) instead, which the model also offers.
 */
export const HMM_PFN_DEVICE_PRIVATE = 0x08;
/** Input and output flag carried through the walk (hmm_dma_map_pfn). */
export const HMM_PFN_DMA_MAPPED = 0x10;
export const HMM_PFN_INOUT_FLAGS = HMM_PFN_DMA_MAPPED;
export const HMM_PFN_REQ_FAULT = HMM_PFN_VALID;
export const HMM_PFN_REQ_WRITE = HMM_PFN_WRITE;
export const HMM_PFN_FLAGS_MASK = HMM_PFN_MUL - 1;
/** HMM_RANGE_DEFAULT_TIMEOUT, 1000 ms, in ns. */
export const HMM_RANGE_DEFAULT_TIMEOUT = 1_000_000_000;

export function hmm_pfn_make(pfn: number, flags: number): number {
  return pfn * HMM_PFN_MUL + (flags & HMM_PFN_FLAGS_MASK);
}

/** hmm_pfn_to_page / hmm_pfn_to_phys: the frame number of an hmm pfn. */
export function hmm_pfn_to_pfn(hmm_pfn: number): number {
  return (hmm_pfn - (hmm_pfn & HMM_PFN_FLAGS_MASK)) / HMM_PFN_MUL;
}

/** hmm_pfn_to_map_order: SIM: no huge mappings, always 0. */
export function hmm_pfn_to_map_order(_hmm_pfn: number): number {
  return 0;
}

// ---- migrate pfns (include/linux/migrate.h) -------------------------------------------
/* SIM: as Linux, `pfn << MIGRATE_PFN_SHIFT | flags`, written as a multiplication. */
export const MIGRATE_PFN_VALID = 1 << 0;
export const MIGRATE_PFN_MIGRATE = 1 << 1;
export const MIGRATE_PFN_WRITE = 1 << 3;
export const MIGRATE_PFN_SHIFT = 6;
const MIGRATE_PFN_MUL = 1 << MIGRATE_PFN_SHIFT;
const MIGRATE_PFN_FLAGS = MIGRATE_PFN_MUL - 1;

export function migrate_pfn(pfn: number): number {
  return pfn * MIGRATE_PFN_MUL + MIGRATE_PFN_VALID;
}

/** migrate_pfn_to_page: the frame, or -1 for NULL. */
export function migrate_pfn_to_page(mpfn: number): number {
  if (!(mpfn & MIGRATE_PFN_VALID)) return -1;
  return (mpfn - (mpfn & MIGRATE_PFN_FLAGS)) / MIGRATE_PFN_MUL;
}

/** `mpfn | flag` for values beyond 32 bits. */
export function mpfn_set(mpfn: number, flag: number): number {
  return mpfn & flag ? mpfn : mpfn + flag;
}

/** `mpfn & ~flag` for values beyond 32 bits. */
export function mpfn_clear(mpfn: number, flag: number): number {
  return mpfn - (mpfn & flag);
}

export const MIGRATE_VMA_SELECT_SYSTEM = 1 << 0;
export const MIGRATE_VMA_SELECT_DEVICE_PRIVATE = 1 << 1;
export const MIGRATE_VMA_SELECT_DEVICE_COHERENT = 1 << 2;

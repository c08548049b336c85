/**
 * The mm structures (include/linux/mm_types.h, mmu_notifier.h, memremap.h, fs.h), kept in
 * one module as Linux keeps them in one header, so that the function modules form a DAG.
 * Functions live in the modules named after their kernel files.
 */
import { RwSemaphore } from '../sim/locks.js';
import type { Co } from '../sim/task.js';
import { WaitQueue } from '../sim/wait.js';
import type { MmuNotifierEvent } from './consts.js';
import { PageTable } from './pgtable.js';
import { PhysMem, type PhysRegion } from './phys.js';
import { Rmap } from './rmap.js';
import { SwapDevice } from './swap.js';

// ---- files and the page cache (include/linux/fs.h) ------------------------------------

/** struct address_space: a file's page cache plus, SIM, its backing store. */
export class AddressSpace {
  /** Page-cache pages: file page index -> frame. */
  readonly i_pages = new Map<number, number>();
  /**
   * SIM: the file's contents on disk (or, for shmem, in swap) for pages not in the page
   * cache; a missing index reads 0.
   */
  readonly store = new Map<number, number>();
  constructor(
    readonly host: string,
    /** i_size in pages. */
    public size: number,
    /** shmem / tmpfs object (shared anonymous memory). */
    readonly shmem: boolean,
  ) {}
}

/** struct file (only what mappings need). */
export class File {
  readonly f_mapping: AddressSpace;
  constructor(
    readonly name: string,
    size = 0,
    shmem = false,
  ) {
    this.f_mapping = new AddressSpace(name, size, shmem);
  }
}

// ---- device memory (include/linux/memremap.h) ------------------------------------------

/** struct vm_fault, as migrate_to_ram sees it. */
export interface VmFault {
  readonly vma: VmAreaStruct;
  /** Faulting page number. */
  readonly address: number;
  /** The device-private frame the entry refers to. */
  readonly page: number;
  readonly flags: number;
}

/** struct dev_pagemap_ops. */
export interface DevPagemapOps {
  /** CPU fault on a device-private entry: move the data back; returns a vm_fault_t. */
  migrate_to_ram(vmf: VmFault): Co<number>;
  /** The last reference to a device frame went away (folio_free). */
  page_free?(pfn: number): void;
}

export type MemoryType = 'MEMORY_DEVICE_PRIVATE' | 'MEMORY_DEVICE_COHERENT';

/** struct dev_pagemap: device memory whose struct pages the mm knows. */
export class DevPagemap {
  /** The frames (memremap_pages). */
  region: PhysRegion | null = null;
  constructor(
    readonly type: MemoryType,
    readonly ops: DevPagemapOps,
    /** pgmap->owner: compared with hmm_range.dev_private_owner and migrate_vma.pgmap_owner. */
    readonly owner: object,
    readonly name = 'dev_pagemap',
  ) {}
}

// ---- mmu notifiers (include/linux/mmu_notifier.h) --------------------------------------

/** struct mmu_notifier_range. start/end are page numbers, end exclusive. */
export class MmuNotifierRange {
  constructor(
    readonly mm: MmStruct,
    readonly start: number,
    readonly end: number,
    readonly event: MmuNotifierEvent,
    /** MMU_NOTIFIER_RANGE_BLOCKABLE is set by invalidate_range_start, cleared by _nonblock. */
    public flags: number,
    /** The migrating driver (mmu_notifier_range_init_owner), else null. */
    readonly owner: object | null = null,
    readonly vma: VmAreaStruct | null = null,
  ) {}
}

/** struct mmu_interval_notifier_ops. */
export interface MmuIntervalNotifierOps {
  /**
   * Called in the task that changes the page tables, before it changes them. Must call
   * mmu_interval_set_seq(mni, cur_seq) under the driver lock; may return false only when
   * the range is not blockable.
   */
  invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, cur_seq: number): Co<boolean>;
}

/** struct mmu_interval_notifier. [start, end) in pages. */
export class MmuIntervalNotifier {
  mm: MmStruct | null = null;
  ops: MmuIntervalNotifierOps | null = null;
  start = 0;
  end = 0;
  invalidate_seq = 0;
  /** In subscriptions.itree (!RB_EMPTY_NODE). */
  in_tree = false;
  /** On subscriptions.deferred_list. */
  deferred = false;
  constructor(readonly name = 'mmu_interval_notifier') {}
}

/** struct mmu_notifier_ops (the classic, whole-mm subscription). */
export interface MmuNotifierOps {
  release?(mn: MmuNotifier, mm: MmStruct): Co;
  invalidate_range_start?(mn: MmuNotifier, range: MmuNotifierRange): Co<number>;
  invalidate_range_end?(mn: MmuNotifier, range: MmuNotifierRange): Co;
}

/** struct mmu_notifier. */
export class MmuNotifier {
  mm: MmStruct | null = null;
  users = 0;
  constructor(
    readonly ops: MmuNotifierOps,
    readonly name = 'mmu_notifier',
  ) {}
}

/** struct mmu_notifier_subscriptions (mm/mmu_notifier.c). */
export class MmuNotifierSubscriptions {
  readonly list: MmuNotifier[] = [];
  has_itree = false;
  /** Even when idle, odd while an invalidation of a subscribed range runs. */
  invalidate_seq = 2;
  active_invalidate_ranges = 0;
  /** The interval tree, SIM: an array sorted by start. */
  readonly itree: MmuIntervalNotifier[] = [];
  readonly wq = new WaitQueue('mmu_notifier_subscriptions.wq');
  readonly deferred_list: MmuIntervalNotifier[] = [];
}

// ---- vmas and the mm ------------------------------------------------------------------

/** struct anon_vma, reduced to its identity: vmas that share one may merge. */
export class AnonVma {
  constructor(readonly root: AnonVma | null = null) {}
}

/** SIM: the scenario's tag for the process's initial heap or stack. */
export type VmaKind = 'heap' | 'stack' | null;

/** struct vm_area_struct. vm_start/vm_end are page numbers, end exclusive. */
export class VmAreaStruct {
  anon_vma: AnonVma | null = null;
  kind: VmaKind = null;
  constructor(
    public vm_mm: MmStruct,
    public vm_start: number,
    public vm_end: number,
    public vm_flags: number,
    /** File page index of vm_start; for anonymous vmas, vm_start at creation (Linux). */
    public vm_pgoff: number,
    public vm_file: File | null,
  ) {}
}

/** MmStruct creation options. */
export interface MmOptions {
  /** 47 (4-level paging, default) or 56 (5-level). */
  va_bits?: number;
  name?: string;
}

/**
 * struct mm_struct. Locking:
 *  - mmap_lock (rw_semaphore) protects `mmap` (the vma tree) and vma fields; faults and
 *    hmm_range_fault hold it for read, mmap/mprotect/mremap/fork for write, munmap for write
 *    then read once the vmas are detached (mmap_write_downgrade), madvise(DONTNEED) for read.
 *  - Page table entries change atomically (SIM: one task runs at a time and the model never
 *    yields with a pte half-updated); every change that removes or downgrades a translation
 *    is bracketed by mmu notifier invalidate_range_start/end.
 */
export class MmStruct {
  readonly id: number;
  readonly mmap_lock = new RwSemaphore('mmap_lock');
  mm_users = 1;
  mm_count = 1;
  /** The vma tree, SIM: an array sorted by vm_start. */
  readonly mmap: VmAreaStruct[] = [];
  readonly pgt = new PageTable();
  /** TASK_SIZE in pages (highest user page + 1). */
  readonly task_size: number;
  /** DEFAULT_MAP_WINDOW in pages: mmap stays below it unless asked for a higher address. */
  readonly map_window: number;
  /** mm->mmap_base in pages (SIM: no randomisation). */
  readonly mmap_base: number;
  /** mmap_min_addr (64 KiB) in pages. */
  readonly mmap_min_addr = 16;
  notifier_subscriptions: MmuNotifierSubscriptions | null = null;
  /** exit_mmap has run (MMF_OOM_SKIP-like: the address space is gone). */
  exited = false;
  readonly name: string;
  readonly va_bits: number;

  constructor(
    readonly sys: MmSystem,
    opts: MmOptions = {},
  ) {
    const va_bits = opts.va_bits ?? 47;
    if (va_bits !== 47 && va_bits !== 56) throw new RangeError(`va_bits must be 47 or 56`);
    this.va_bits = va_bits;
    this.task_size = 2 ** (va_bits - 12) - 1;
    this.map_window = 2 ** 35 - 1;
    this.mmap_base = this.map_window - 32768; // 128 MiB stack gap
    this.id = sys.register_mm(this);
    this.name = opts.name ?? `mm${this.id}`;
  }

  get map_count(): number {
    return this.mmap.length;
  }
}

/** MmSystem creation options. */
export interface MmSystemOptions {
  /** System RAM in pages. */
  ram_pages: number;
  /** Share a frame store with other layers (VRAM regions). */
  phys?: PhysMem;
  /** Swap slots (default: as many as RAM pages). */
  swap_pages?: number;
}

/**
 * SIM: the machine-wide mm state Linux keeps in globals: the frame store and its RAM
 * region, swap, the reverse map, page locks, the page cache index, device pagemaps and the
 * rmap locks. One per simulated machine.
 */
export class MmSystem {
  readonly phys: PhysMem;
  readonly ram: PhysRegion;
  readonly swap: SwapDevice;
  readonly rmap = new Rmap();
  readonly mms: (MmStruct | undefined)[] = [];
  readonly files = new Map<string, File>();
  /** Locked frames (folio_lock). */
  readonly page_locked = new Set<number>();
  /** Woken when a frame is unlocked (folio_wait_bit / migration_entry_wait). */
  readonly page_wait = new WaitQueue('page_waitqueue');
  /** Page-cache frames: frame -> (mapping, index). Frames not in it are anonymous. */
  readonly pagecache = new Map<number, { mapping: AddressSpace; index: number }>();
  readonly pagemaps = new Map<PhysRegion, DevPagemap>();
  /** anon_vma->rwsem, held for read by rmap walks of anonymous pages (one class). */
  readonly anon_vma_rwsem = new RwSemaphore('anon_vma->rwsem');
  /** mapping->i_mmap_rwsem, held for read by rmap walks of page-cache pages. */
  readonly i_mmap_rwsem = new RwSemaphore('mapping->i_mmap_rwsem');

  constructor(opts: MmSystemOptions) {
    this.phys = opts.phys ?? new PhysMem();
    this.ram = this.phys.addRegion('ram', opts.ram_pages, 'system');
    this.swap = new SwapDevice(opts.swap_pages ?? opts.ram_pages);
  }

  register_mm(mm: MmStruct): number {
    this.mms.push(mm);
    return this.mms.length - 1;
  }

  mm_by_id(id: number): MmStruct {
    const mm = this.mms[id];
    if (!mm) throw new Error(`no mm ${id}`);
    return mm;
  }

  /** Open (creating empty on first use) the named file. */
  file_open(name: string): File {
    let f = this.files.get(name);
    if (!f) {
      f = new File(name);
      this.files.set(name, f);
    }
    return f;
  }
}

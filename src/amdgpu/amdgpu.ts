/**
 * The GPU's structures (amdgpu.h, amdgpu_vm.h, amdgpu_gmc.h, amdgpu_ih.h), with their fields
 * and lock rules. Functions that work on them live in the other modules of this folder; this
 * one holds data only, so every module can import it without cycles.
 */
import type { PhysMem } from '../mm/phys.js';
import { Mutex, SpinLock } from '../sim/locks.js';
import type { Co, Task } from '../sim/task.js';
import { WaitQueue } from '../sim/wait.js';
import { dma_fence_get_stub, type dma_fence } from './fence.js';
import type { AmdgpuIpInfo } from './ip.js';
import { PteStore, type PteChunk } from './pagetable.js';
import { amdgpu_vram_mgr } from './vram.js';

declare module '../sim/trace.js' {
  interface TraceEventMap {
    'amdgpu.vm_update': {
      gpu: string;
      pasid: number;
      start: number;
      npages: number;
      flags: number;
      unlocked: boolean;
      flush: boolean;
    };
    'amdgpu.update_pdes': { gpu: string; pasid: number; pdes: number };
    'amdgpu.tlb_flush': { gpu: string; pasid: number; flush_type: number };
    'amdgpu.gpu_fault': {
      gpu: string;
      pasid: number;
      page: number;
      write: boolean;
      outcome: 'retry' | 'vm-fault' | 'timeout';
      reason: string;
    };
    'amdgpu.ih': { gpu: string; pasid: number; page: number; action: IhAction };
    'amdgpu.vm': { gpu: string; pasid: number; action: 'init' | 'make_compute' | 'fini' };
  }
}

/** What the interrupt handler did with a retry-fault entry. */
export type IhAction = 'overflow' | 'filtered' | 'handled' | 'unhandled';

/** The job timeout of the scenario format (10 s of virtual time), in ns. */
export const AMDGPU_JOB_TIMEOUT_NS = 10_000_000_000;

// ---- hooks for the layers above (SVM driver, scenario runner, oracle) ---------------------

/**
 * The SVM driver's entry points in amdgpu (RFC patch 12). The driver under study registers
 * them once per system; missing ones are skipped.
 */
export interface AmdgpuSvmOps {
  /** amdgpu_vm_make_compute -> amdgpu_svm_init(adev, vm): 0 or -errno (propagated). */
  init?: (adev: amdgpu_device, vm: amdgpu_vm) => Co<number>;
  /** amdgpu_vm_fini -> amdgpu_svm_close + amdgpu_svm_fini, when vm.svm is set. */
  fini?: (adev: amdgpu_device, vm: amdgpu_vm) => Co<void>;
  /**
   * amdgpu_vm_handle_fault -> amdgpu_svm_handle_fault(adev, pasid, page, ts, write_fault) for a
   * compute VM whose vm.svm is set: 0 = handled. `addr` is a page number (the V3 convention).
   */
  handle_fault?: (
    adev: amdgpu_device,
    pasid: number,
    addr: number,
    ts: number,
    write_fault: boolean,
  ) => Co<number>;
  /**
   * amdgpu_vm_handle_fault -> svm_range_restore_pages (KFD SVM, the `kfd` baseline design) for a
   * compute VM without vm.svm: 0 = handled.
   */
  restore_pages?: (
    adev: amdgpu_device,
    pasid: number,
    vmid: number,
    node_id: number,
    addr: number,
    ts: number,
    write_fault: boolean,
  ) => Co<number>;
}

/** How an engine reached a frame: a cached translation or a page-table walk. */
export type GpuAccessVia = 'tlb' | 'pte';

/**
 * Called on every GPU access that found a translation, before the frame is read or written:
 * the oracle checks that `pfn` is the frame the CPU page table maps at `page` (and may trap).
 */
export type GpuAccessObserver = (
  adev: amdgpu_device,
  vm: amdgpu_vm,
  page: number,
  pfn: number,
  via: GpuAccessVia,
  write: boolean,
) => void;

/** Why an access ended unrecoverably. */
export type GpuFaultReason = 'not-present' | 'permission' | 'noretry' | 'job-timeout';

/** An unrecoverable GPU fault (a VM fault event, or a retried fault that hit the job timeout). */
export interface VmFaultRecord {
  readonly gpu: string;
  readonly gpu_id: number;
  readonly pasid: number;
  readonly page: number;
  readonly write: boolean;
  readonly kind: 'vm-fault' | 'timeout';
  readonly reason: GpuFaultReason;
  readonly queue_id: number;
  /** Virtual time in ns. */
  readonly time: number;
}

export type VmFaultObserver = (f: VmFaultRecord) => void;

/** SIM: the hook lists shared by every device of a system. */
export class AmdgpuHooks {
  svm_ops: AmdgpuSvmOps = {};
  readonly access: GpuAccessObserver[] = [];
  readonly fatal: VmFaultObserver[] = [];
}

// ---- buffer objects and VMs ---------------------------------------------------------------

/**
 * struct amdgpu_bo (amdgpu_object.h), reduced to its reservation. SIM: only VM root page
 * directories are BOs in the model. All reservations share one lockdep class, as in Linux;
 * the subclass is the GPU index (no ww_mutex acquire contexts: lock several PDs in GPU order).
 */
export class amdgpu_bo {
  /** tbo.base.resv, the dma_resv ww_mutex: "the page-directory lock" for a root PD. */
  readonly resv: Mutex;
  constructor(subclass: number) {
    this.resv = new Mutex('reservation_ww_class_mutex', subclass);
  }
}

/** struct amdgpu_vm (amdgpu_vm.h): one per render-node file, so one per (process, GPU). */
export class amdgpu_vm {
  /** vm->root: the root page directory; its reservation guards `pt` for locked updates. */
  readonly root: { readonly bo: amdgpu_bo };
  /** Set once by amdgpu_vm_init; 0 after amdgpu_vm_fini. */
  pasid = 0;
  /** amdgpu_vm_make_compute done (a KFD compute VM). */
  is_compute_context = false;
  /**
   * vm->use_cpu_for_update: compute VMs on GPUs whose VRAM is CPU-visible update page tables
   * with the CPU (amdgpu_vm_make_compute, AMDGPU_VM_USE_CPU_FOR_COMPUTE). SIM: always true, so
   * PTE writes land at once and update fences are signaled stubs.
   */
  use_cpu_for_update = true;
  /**
   * vm->eviction_lock: taken (with memalloc_noreclaim) around every page-table update,
   * including the unlocked ones of MMU notifiers. Protects `evicting`.
   */
  readonly eviction_lock = new Mutex('&vm->eviction_lock');
  /** The PD is being evicted (amdgpu_vm_evictable): updates fail with -EBUSY. eviction_lock. */
  evicting = false;
  saved_flags = 0;
  /**
   * The page tables: leaf entries per 4 KiB page. Written under eviction_lock, and also under
   * root.bo.resv except by `unlocked` updates (which only clear existing entries).
   */
  readonly pt = new PteStore();
  /** PTBs allocated since the last amdgpu_vm_update_pdes: vm->relocated. root.bo.resv. */
  readonly relocated = new Set<PteChunk>();
  /** vm->tlb_seq: bumped by every update that asks for a TLB flush. */
  tlb_seq = 0;
  /** vm->kfd_last_flushed_seq: tlb_seq at the last amdgpu_vm_flush_compute_tlb. */
  kfd_last_flushed_seq = 0;
  /** vm->last_update: fence of the last page-table update. */
  last_update: dma_fence = dma_fence_get_stub();
  /**
   * RFC patch 12: struct amdgpu_svm *svm, set by the SVM layer (amdgpu_svm_init) and read
   * under adev.vm_manager.xa_lock by the fault path. Typed loosely: amdgpu cannot import the
   * layer above it.
   */
  svm: object | null = null;
  /** amdgpu_vm_fini has run. */
  dead = false;

  constructor(readonly adev: amdgpu_device) {
    this.root = { bo: new amdgpu_bo(adev.index) };
  }
}

/** The render-node file (struct amdgpu_fpriv, amdgpu_kms.c): one per process per GPU. */
export class amdgpu_fpriv {
  constructor(
    readonly adev: amdgpu_device,
    /** The opening process's mm (opaque here). */
    readonly mm: object,
    readonly vm: amdgpu_vm,
  ) {}
}

// ---- GMC fault filter, IH ring, TLB -------------------------------------------------------

export const AMDGPU_GMC_FAULT_RING_ORDER = 8;
export const AMDGPU_GMC_FAULT_RING_SIZE = 1 << AMDGPU_GMC_FAULT_RING_ORDER;
export const AMDGPU_GMC_FAULT_HASH_ORDER = 8;
export const AMDGPU_GMC_FAULT_HASH_SIZE = 1 << AMDGPU_GMC_FAULT_HASH_ORDER;
/** amdgpu_gmc.h AMDGPU_GMC_FAULT_TIMEOUT, in IH timestamp ticks (50 us at 100 MHz). */
export const AMDGPU_GMC_FAULT_TIMEOUT = 5000;

/**
 * struct amdgpu_gmc (amdgpu_gmc.h), the fault-filter part: a ring of recent retry faults
 * chained per hash bucket. Only the interrupt-handler task touches it (interrupt context in
 * Linux), plus amdgpu_gmc_filter_faults_remove from the fault handler it calls.
 */
export class amdgpu_gmc {
  /** The amdgpu.noretry setting for this device (module parameter, default per IP). */
  noretry: boolean;
  /** fault_ring[i].key: the page (-1: empty or removed) and PASID of the fault. */
  readonly fault_key_page = new Float64Array(AMDGPU_GMC_FAULT_RING_SIZE).fill(-1);
  readonly fault_key_pasid = new Uint32Array(AMDGPU_GMC_FAULT_RING_SIZE);
  /** fault_ring[i].timestamp (IH ticks; 0 = never used). */
  readonly fault_timestamp = new Float64Array(AMDGPU_GMC_FAULT_RING_SIZE);
  /** fault_ring[i].next: the previous entry of the same hash bucket. */
  readonly fault_next = new Uint16Array(AMDGPU_GMC_FAULT_RING_SIZE);
  /** fault_hash[h].idx: the newest ring entry of bucket h. */
  readonly fault_hash_idx = new Uint16Array(AMDGPU_GMC_FAULT_HASH_SIZE);
  /** The ring slot the next fault takes (wraps at the ring size, as the C bitfield does). */
  last_fault = 0;

  constructor(noretry: boolean) {
    this.noretry = noretry;
  }
}

/** Entries of the soft IH ring (amdgpu_ih.h IH_SW_RING_SIZE 8 KiB / 32-byte entries). */
export const AMDGPU_IH_RING_ENTRIES = 256;

/**
 * struct amdgpu_ih_ring (amdgpu_ih.h), holding decoded retry-fault entries. SIM: one ring
 * stands for ih, ih1 and ih_soft (the hardware's delegation of retry faults to a second ring
 * is not modelled). Engines write (wptr), the interrupt-handler task reads (rptr); both are
 * running counts, the slot is count % ring_size.
 */
export class amdgpu_ih_ring {
  readonly ring_size = AMDGPU_IH_RING_ENTRIES;
  readonly pasid = new Uint32Array(AMDGPU_IH_RING_ENTRIES);
  readonly addr = new Float64Array(AMDGPU_IH_RING_ENTRIES);
  readonly timestamp = new Float64Array(AMDGPU_IH_RING_ENTRIES);
  readonly write_fault = new Uint8Array(AMDGPU_IH_RING_ENTRIES);
  readonly vmid = new Uint8Array(AMDGPU_IH_RING_ENTRIES);
  wptr = 0;
  rptr = 0;
  /** ih->processed_timestamp: timestamp of the last entry the handler processed. */
  processed_timestamp = 0;
  /** Timestamp of the last entry written (what a checkpoint reads at the write pointer). */
  wptr_timestamp = 0;
  /** The interrupt-handler task, spawned on the first entry. */
  handler: Task | null = null;
  /** The handler sleeps (idle) while the ring is empty. */
  handler_sleeping = false;
  /** Woken each time the handler finishes an entry (engines waiting for their fault). */
  readonly processed = new WaitQueue('ih processed');
}

/**
 * The GPU's translation cache (UTCL2), per PASID: entries filled by page-table walks and kept
 * until a flush for that PASID (amdgpu_gmc_flush_gpu_tlb_pasid), whatever the page table
 * says meanwhile. SIM: unbounded (no capacity evictions), so a missing flush always shows;
 * one TLB per GPU (XCC instances share it).
 */
export class amdgpu_tlb {
  readonly vms = new Map<number, PteStore>();
}

// ---- the device ---------------------------------------------------------------------------

/** struct amdgpu_device (amdgpu.h), with the KFD node state the model needs (kfd_node). */
export class amdgpu_device {
  readonly gmc: amdgpu_gmc;
  /**
   * vm_manager.pasids: PASID -> VM (an xarray). Updated under xa_lock; the fault path reads it
   * under xa_lock and takes what it needs (vm.svm, is_compute_context) before unlocking.
   */
  readonly vm_manager: { readonly pasids: Map<number, amdgpu_vm>; readonly xa_lock: SpinLock };
  readonly irq: { readonly ih: amdgpu_ih_ring };
  readonly tlb = new amdgpu_tlb();
  /**
   * kfd_node->dqm (device_queue_manager): lock_hidden serialises queue creation, eviction and
   * restore on this GPU; dqm_lock also enters memalloc_noreclaim (it is taken in reclaim).
   */
  readonly dqm: { readonly lock_hidden: Mutex; saved_flags: number };
  /** adev->gfx.xcc_mask. */
  readonly xcc_mask: number;
  /** Render-node files by opening mm (SIM: one per process). */
  readonly files = new Map<object, amdgpu_fpriv>();
  /** VM fault events (kfd_signal_vm_fault_event) and job timeouts, in order. */
  readonly vm_faults: VmFaultRecord[] = [];
  /** The GPU's VRAM: a device-private frame region owned by this device. */
  readonly vram: amdgpu_vram_mgr;

  constructor(
    /** Position in the system: gpu<index>. */
    readonly index: number,
    readonly name: string,
    /** KFD topology gpu_id: 0x1000 + index (SCENARIO-FORMAT.md). */
    readonly gpu_id: number,
    readonly ip: AmdgpuIpInfo,
    readonly phys: PhysMem,
    readonly hooks: AmdgpuHooks,
    noretry: boolean,
    vram_pages: number,
  ) {
    this.gmc = new amdgpu_gmc(noretry);
    this.vram = new amdgpu_vram_mgr(phys, name, vram_pages, this);
    this.vm_manager = { pasids: new Map(), xa_lock: new SpinLock('&xa->xa_lock') };
    this.irq = { ih: new amdgpu_ih_ring() };
    this.dqm = { lock_hidden: new Mutex('&dqm->lock_hidden'), saved_flags: 0 };
    this.xcc_mask = (1 << ip.num_xcc) - 1;
  }

  toString(): string {
    return this.name;
  }
}

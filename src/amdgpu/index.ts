/**
 * src/amdgpu: the GPU the SVM driver runs on (not the driver: that is src/amdgpu/svm).
 *
 * Overview
 * - Devices (device.ts, ip.ts): an AmdgpuSystem holds the GPUs gpu0..gpuN-1 built from
 *   presets (gfx943 MI300X, gfx906 MI60, gfx1100 W7900), each with its GC IP version, XNACK
 *   capability and noretry default, gpu_id 0x1000 + N, and VRAM (vram.ts): a device-private
 *   region of the shared frame store, allocated page by page for drm_pagemap.
 * - Render nodes and VMs (device.ts, vm.ts, pasid.ts): a process opens one file per GPU
 *   (amdgpu_driver_open_kms); the file's amdgpu_vm gets a PASID (cyclic, from 1) published in
 *   the device's PASID xarray. KFD makes it a compute VM (amdgpu_vm_make_compute), which calls
 *   the SVM driver's init hook (RFC patch 12).
 * - Page tables (vm_pt.ts, pagetable.ts, pte.ts): a frame number and a flag word per 4 KiB
 *   page in 512-entry PTBs (typed arrays). amdgpu_vm_update_range maps or clears, optionally
 *   flushing the TLB; new PTBs are reachable once amdgpu_vm_update_pdes wrote their PDE.
 *   pte.ts has the PTE bits and the MTYPE table of the SVM mapping flags per IP version.
 * - TLB (amdgpu.ts amdgpu_tlb, gmc.ts): per GPU and PASID, filled by page walks, dropped only
 *   by amdgpu_gmc_flush_gpu_tlb_pasid (amdgpu_vm_update_range's flush,
 *   amdgpu_vm_flush_compute_tlb). A PTE changed without a flush stays visible to engines.
 * - KFD (kfd_priv.ts, kfd_process.ts, kfd_queue.ts): a process per mm with an entry per GPU,
 *   the XNACK mode (switchable only without queues), user queues, and the process-wide
 *   eviction kgd2kfd_quiesce_mm / kgd2kfd_resume_mm (nesting, counted per GPU).
 * - Engines (engine.ts, translate.ts): amdgpu_engine_dispatch runs a kernel (read, write,
 *   atomic add, copy) as a task accessing page by page; it stops at the next access while its
 *   queue is evicted. Faults: XNACK on -> retry fault into the IH ring, replay; otherwise (or
 *   permission, or a no-retry PTE) a VM fault that kills the queue.
 * - Retry faults (ih.ts, irq.ts, gmc.ts, vm_fault.ts): a per-GPU interrupt-handler task
 *   drains the ring, drops duplicates with the GMC fault filter (5000 ticks of a 100 MHz IH
 *   clock = 50 us) and calls amdgpu_vm_handle_fault, which calls the SVM fault handler.
 * - Hooks (AmdgpuHooks, one per system): `svm_ops` (init, fini, handle_fault, restore_pages)
 *   for the driver; `access` and `fatal` observer lists for the oracle and the runner.
 * - Counters (`@gpuN` scoped): pte_writes, pde_writes, tlb_flushes, gpu_faults_retry,
 *   gpu_faults_fatal, gpu_faults_filtered, gpu_faults_unhandled, gpu_job_timeouts,
 *   ih_overflows, queue_quiesce, queue_resume, gpu_access_pages, gpu_tlb_misses,
 *   vram_pages_allocated, vram_pages_freed.
 *
 * Locking rules
 * - vm.root.bo.resv (the page-directory lock, lockdep class reservation_ww_class_mutex,
 *   subclass = GPU index): held for locked amdgpu_vm_update_range and for
 *   amdgpu_vm_update_pdes (asserted). Unlocked updates (MMU notifiers) go without it and only
 *   touch existing PTBs.
 * - vm.eviction_lock: taken by every update (noreclaim inside); PTB allocation drops it to
 *   allocate, so an allocation under the PD lock is seen by lockdep (PD lock -> fs_reclaim).
 * - adev.vm_manager.xa_lock (spinlock): the PASID -> VM lookup and what the fault path reads
 *   under it (vm.svm, is_compute_context).
 * - p.mutex: queue creation and destruction, VM binding (so the SVM init hook), XNACK switch.
 * - adev.dqm.lock_hidden (with noreclaim): a GPU's queue list and eviction count.
 * - The interrupt handler calls the SVM fault handler without locks; engines take none.
 *
 * Known limits
 * - Page tables are updated by the CPU (compute VMs with visible VRAM): no SDMA update jobs,
 *   every update fence is signaled at once. One directory level stands for four.
 * - One IH ring per GPU (ih / ih1 / ih_soft not split); one TLB per GPU for all XCCs; TLB
 *   capacity unbounded; every flush type drops all entries of the PASID.
 * - No TTM, BOs or VRAM eviction (amdgpu_vm_evictable only flags the page tables); no
 *   SR-IOV, APU, XGMI hive or memory-partition modes.
 * - Replays of a retrying access are spaced (50 us doubling to 1 ms) instead of continuous.
 * - A VM fault kills only the faulting queue (Linux evicts all of the process's queues).
 * - gfx906 may switch XNACK on per process (Linux needs amdgpu.noretry=0 at boot).
 * - Pages are 4 KiB everywhere (no fragment / huge PTEs).
 */
export * from './amdgpu.js';
export * from './device.js';
export * from './engine.js';
export * from './fence.js';
export * from './gmc.js';
export * from './ih.js';
export * from './ip.js';
export * from './irq.js';
export * from './kfd_priv.js';
export * from './kfd_process.js';
export * from './kfd_queue.js';
export * from './pagetable.js';
export * from './pasid.js';
export * from './pte.js';
export * from './translate.js';
export * from './vm.js';
export * from './vm_fault.js';
export * from './vm_pt.js';
export * from './vram.js';

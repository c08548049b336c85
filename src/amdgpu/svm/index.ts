/**
 * src/amdgpu/svm: the system under study, amdgpu SVM on drm_gpusvm as the RFC series
 * proposes it (shared/spec/rfc-series.md). Importing this module registers every design's
 * driver that is built (designs.ts); the scenario runner imports it.
 *
 * Overview
 * - uapi.ts: DRM_AMDGPU_GEM_SVM constants, structs and codec. ioctl.ts:
 *   amdgpu_gem_svm_ioctl (validation order of §1.2, copy_from_user / copy_to_user).
 * - amdgpu_svm.ts: struct amdgpu_svm (one per GPU VM: per process and GPU), kref, PASID
 *   lookup, init from amdgpu_vm_make_compute, close and fini; `amdgpu_svm_design` is what a
 *   design plugs in (mapping loop, notifier, workers, fault handler). driver.ts installs a
 *   design on a machine (amdgpu's svm_ops hooks, a drm_device per GPU, teardown checks).
 * - attr*.ts: the attribute layer (patches 03-05), kept apart from the drm_gpusvm ranges.
 * - amdgpu_svm_range.ts: struct amdgpu_svm_range (patch 06) and its predicates;
 *   amdgpu_svm_pte.ts: PTE flags from attributes (patch 07, MTYPE table in ../pte.ts);
 *   amdgpu_svm_gpu.ts: page-directory lock, coalesced range update, notifier PTE clear.
 * - migrate.ts: the `migration: true` option of both designs (v8 VRAM migration) on the
 *   drm_pagemap device memory of devmem.ts.
 * - v1/: the `rfc-v1` design (V1 code of 17 Mar 2026): mapping loop and trigger dispatch,
 *   rebuild after destroy, the three-case notifier, GC and ordered restore workers with KFD
 *   queue quiesce/resume, the V1 fault handler.
 * - Multi-GPU as in the RFC: each GPU's fd has its own amdgpu_svm, attribute tree and
 *   drm_gpusvm over the same mm, so N notifiers, N hmm_range_fault calls, N DMA mappings,
 *   N invalidations and TLB flushes; KFD queue quiesce is process-wide (nesting).
 * - Counters (`@gpuN`): ranges_created / ranges_removed (drm_gpusvm), gc_work_runs,
 *   restore_work_runs, svm_fault_handler_entries (cost fault_handler_entry), svm_ioctls
 *   (cost ioctl_entry), svm_ranges_live (unscoped); queue_quiesce / queue_resume are
 *   amdgpu's. Trace events: events.ts.
 *
 * Locking rules (written at each field too)
 * - svm_lock (rw_semaphore, the drm_gpusvm driver lock): held for write by every range-tree
 *   edit and every mapping pass (SET's apply, GC, restore, fault). Never taken in the
 *   notifier. svm_lock -> attr_tree->lock; svm_lock -> mmap_lock (find_or_insert,
 *   get_pages take it); svm_lock -> PD lock (root reservation) -> notifier_lock (read).
 * - attr_tree->lock: the attribute tree; SET takes it alone, never with svm_lock.
 * - notifier_lock (drm_gpusvm): write in the notifier (under mmap_lock or fs_reclaim);
 *   read around revalidate-and-commit, entered with memalloc_noreclaim_save as the RFC
 *   does so that a page-table allocation there cannot recurse into reclaim.
 * - gc_lock (spinlock): the work lists and every range's queue fields; inside
 *   notifier_lock in the notifier and the restore worker's final check.
 * - The notifier may take: eviction_lock (unlocked PTE clear), the KFD dqm lock (quiesce),
 *   gc_lock. Workers and ioctls flush work only with no lock held.
 *
 * Known limits (SIM)
 * - One design compiled in per machine; `rfc-v1` takes the scenario's XNACK mode where V1
 *   forces it off (v1/index.ts). Switching XNACK with `xnack.set` does not reach existing
 *   instances (svm->xnack_enabled is read at init, as in the RFC).
 * - The RFC's chunk sizes (2M/64K/4K) and 512 MiB notifier size are used: the driver env
 *   does not carry `system.chunk_sizes` / `notifier_size`.
 * - The GPU VA window is 48 bits (2^36 pages); no graphics VMs. VRAM and migration only with
 *   the design option `migration: true` (migrate.ts on devmem.ts; clarifications.md §6).
 * - Fault handler addresses are page numbers; the fault timestamp is unused (V1).
 */
import './v1/index.js';
import './v2/index.js';

export * from './amdgpu_svm.js';
export * from './amdgpu_svm_gpu.js';
export * from './amdgpu_svm_pte.js';
export * from './amdgpu_svm_range.js';
export * from './attr.js';
export * from './designs.js';
export * from './driver.js';
export * from './ioctl.js';
export * from './uapi.js';

/**
 * src/drm: the drm_gpusvm and drm_pagemap frameworks the amdgpu SVM driver is built on
 * (drivers/gpu/drm/drm_gpusvm.c, drm_pagemap.c; spec drm-gpusvm.md).
 *
 * Pinned baseline: the newest drm_gpusvm.c era the spec describes, commit 0542972950ef
 * (v6.19/v7.0-era: struct drm_gpusvm_pages, allow_mixed; drm-gpusvm.md §0), plus the
 * stable fix "drm/gpusvm: Force unmap of all pages in error path" (Brost, 2026-01-30, Cc
 * stable; drm_gpusvm.sim_err_unmap_unfixed puts the flaw back) and a model fix of the same
 * error path's device unmaps (drm_gpusvm.sim_err_unmap_dpagemap_unfixed), and drm_pagemap.c
 * 10dd1eaa (multi-device era). The RFC V1 series (17 Mar 2026) names base commit
 * 7d0a66e4bb90 (rfc-series.md §0), which is the Linux v6.18 release commit; Honglei
 * confirmed in review that he was on v6.18 (rfc-series.md §7.1). v6.18's
 * drm_pagemap_migrate_to_devmem selects no device-private pages: that is the default
 * here, and drm_pagemap_migrate_details.select_device_private gives the newer selection.
 *
 * Overview
 * - drm_gpusvm (one per GPU VM): lazily created notifiers, one per aligned notifier_size
 *   window, each an mmu interval notifier whose core callback takes notifier_lock for write,
 *   publishes the sequence and calls the driver's invalidate; ranges created by fault
 *   address with the chunk selection of drm_gpusvm_range_find_or_insert (largest aligned
 *   chunk inside the CPU vma, the notifier and the caller's bounds, not overlapping a range,
 *   CPU-present up to check_pages_threshold); get_pages (hmm_range_fault retry loop with the
 *   sequence protocol and 1 s timeout, DMA mapping per page under notifier_lock, device pages
 *   through drm_pagemap ops); unmap_pages; range_remove; set_unmapped; evict.
 * - Ranges are never split (DOC: Partial Unmapping of Ranges): an UNMAP that covers part of
 *   a range marks it unmapped + partial_unmap; get_pages then fails -EFAULT and the driver
 *   must remove the whole range (migrating device pages back first) and refault.
 * - drm_pagemap: device memory behind a dev_pagemap whose ops are
 *   drm_pagemap_pagemap_ops_get(); drm_pagemap_migrate_to_devmem (all or nothing),
 *   drm_pagemap_populate_mm, CPU-fault migrate_to_ram of the whole allocation window after
 *   the allocation's timeslice, drm_pagemap_evict_to_ram.
 * - The driver supplies drm_gpusvm_ops.invalidate (and optionally notifier/range alloc and
 *   free), drm_pagemap_ops (device_map, device_unmap, populate_mm, destroy) and
 *   drm_pagemap_devmem_ops (populate_devmem_pfn, copy_to_devmem, copy_to_ram,
 *   devmem_release) over its VRAM manager.
 * - Counters (scoped by the drm device name): ranges_created / ranges_removed,
 *   gpusvm_notifiers_created / _removed, gpusvm_invalidations, gpusvm_ranges_unmapped /
 *   gpusvm_ranges_partial_unmap, gpusvm_get_pages_calls / _retries,
 *   gpusvm_range_evictions, pagemap_populate_mm_calls, pagemap_migrations_to_devmem /
 *   _to_ram, pagemap_evictions, pagemap_timeslice_refusals. dma_map_pages /
 *   dma_unmap_pages are counted by src/dma, notifier_callbacks by the mm's notifier core,
 *   migrated_pages_to_vram / _to_ram by migrate_device.
 *
 * Locking rules (spec §5)
 * - notifier_lock (rw_semaphore, per gpusvm): protects every notifier's range tree and
 *   list, each range's DMA state and notifier_seq. The invalidate callback holds it for
 *   write; range insert, get_pages' mapping step, unmap_pages outside the notifier,
 *   free_pages, range_remove and pages_valid_unlocked take it for read. The driver holds it
 *   for read around drm_gpusvm_range_pages_valid and its commit of GPU PTEs. Primed at
 *   init as taken under reclaim: never allocate (GFP_KERNEL) while holding it.
 * - mmap_lock: taken by the framework itself, only around core-mm calls (vma lookup and
 *   chunk sizing in find_or_insert, each hmm_range_fault, find_vma_start, populate_mm);
 *   never around mmu_interval_notifier_insert. Drivers need not take it.
 * - driver lock (drm_gpusvm_driver_set_lock, once): held exclusively around
 *   find_or_insert and range_remove (and fini), asserted with lockdep. It must never be
 *   taken in the invalidate callback.
 * - migrate_to_ram takes no driver lock; races are handled by retry loops on the fault side.
 *
 * Known limits (SIM)
 * - Addresses and sizes are page numbers; a DMA / device address is the frame number.
 * - Interval trees are sorted arrays (no overlap), list and tree in one.
 * - No compound pages: every mapping has order 0. No drm_gpusvm_scan_mm, no drm_pagemap
 *   cache, shrinker, owner groups or dev_hold; peer migration is modelled but untested.
 * - page->zone_device_data of drm_pagemap pages is a per-machine map in drm_pagemap.ts.
 * - Device frames are freed one by one when their last reference goes (the model's VRAM),
 *   not with their allocation; populate_devmem_pfn reports freed frames as -1 on eviction.
 * - Allocations never fail in the model: the C's -ENOMEM returns are kept but unreachable.
 *   A WARN of the C (a device page without a drm_pagemap, an overlapping interval) traps
 *   `bug`.
 *
 * Kernel behaviours kept as they are (tests show them): get_pages' error path does not
 * device_unmap the device pages it mapped in the failing walk (pages.dpagemap is not set
 * yet); hmm_range_fault reports the owner's device-private pages without the requested
 * write fault and drm_gpusvm keeps no per-page write bit, so a range partly made read-only
 * by the CPU is still mapped for writing while in VRAM; drm_gpusvm_range_evict of a range
 * whose start was unmapped stops at the hole with -EFAULT and moves nothing.
 */
import './events.js';

export * from './drm_gpusvm.js';
export * from './drm_gpusvm_notifier.js';
export * from './drm_gpusvm_pages.js';
export * from './drm_gpusvm_range.js';
export * from './drm_gpusvm_types.js';
export * from './drm_pagemap.js';
export * from './drm_pagemap_migrate.js';
export * from './drm_pagemap_ram.js';
export * from './drm_pagemap_types.js';
export * from './itree.js';

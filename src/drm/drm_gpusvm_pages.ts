/**
 * The DMA state of drm_gpusvm ranges and pages (drivers/gpu/drm/drm_gpusvm.c; spec
 * drm-gpusvm.md §3, §4.3): get_pages with its hmm_range_fault retry loop, unmap_pages, the
 * pages_valid predicate and evict.
 *
 * Locking: the DMA state changes only under notifier_lock (read here, write in the
 * notifier); hmm_range_fault runs under mmap_lock for read taken here; allocations happen
 * with neither notifier_lock nor mmap_lock held.
 */
import { EAGAIN, EBUSY, EFAULT, EOPNOTSUPP } from '../sim/errno.js';
import { kref_assert_live } from '../sim/kref.js';
import { lockdep_assert_held } from '../sim/locks.js';
import { might_alloc } from '../sim/reclaim.js';
import { getSim } from '../sim/scheduler.js';
import { co_return, type Co } from '../sim/task.js';
import { WARN_ON } from '../sim/trap.js';
import { dma_map_page, dma_mapping_error, dma_unmap_page } from '../dma/mapping.js';
import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_RANGE_DEFAULT_TIMEOUT,
  hmm_pfn_to_map_order,
  hmm_pfn_to_pfn,
} from '../mm/consts.js';
import { mmput } from '../mm/fork.js';
import { HmmRange, hmm_range_fault } from '../mm/hmm.js';
import { mmap_read_lock, mmap_read_unlock, mmget_not_zero } from '../mm/mm_struct.js';
import type { DevPagemap, MmStruct, MmSystem, MmuIntervalNotifier } from '../mm/mm_types.js';
import { mmu_interval_read_begin, mmu_interval_read_retry } from '../mm/mmu_notifier.js';
import {
  is_device_coherent_page,
  is_device_private_page,
  is_zone_device_page,
  page_pgmap,
} from '../mm/page.js';
import {
  drm_pagemap_get,
  drm_pagemap_page_to_dpagemap,
  drm_pagemap_page_zdd,
  drm_pagemap_put,
} from './drm_pagemap.js';
import {
  DRM_INTERCONNECT_SYSTEM,
  drm_pagemap_addr_encode,
  type drm_pagemap,
  type drm_pagemap_addr,
  type drm_pagemap_zdd,
} from './drm_pagemap_types.js';
import {
  drm_gpusvm_notifier_lock,
  drm_gpusvm_notifier_unlock,
  drm_gpusvm_pages_flags_read,
  drm_gpusvm_range_end,
  drm_gpusvm_range_start,
  type drm_gpusvm,
  type drm_gpusvm_ctx,
  type drm_gpusvm_pages,
  type drm_gpusvm_pages_flags,
  type drm_gpusvm_range,
} from './drm_gpusvm_types.js';
import './events.js';

/**
 * drm_gpusvm.c __drm_gpusvm_unmap_pages: undo the first `npages` pages of the DMA
 * mapping (dma_unmap_page for system entries, device_unmap for device entries) and clear
 * has_dma_mapping / has_devmem_pages; the dma_addr array is kept. notifier_lock held.
 */
export function __drm_gpusvm_unmap_pages(
  gpusvm: drm_gpusvm,
  svm_pages: drm_gpusvm_pages,
  npages: number,
): void {
  const dpagemap = svm_pages.dpagemap;
  const dev = gpusvm.drm.dev;
  lockdep_assert_held(gpusvm.notifier_lock);
  if (!svm_pages.flags.has_dma_mapping) return;
  const flags = drm_gpusvm_pages_flags_read(svm_pages.flags);
  const dma_addr = svm_pages.dma_addr as drm_pagemap_addr[];
  for (let i = 0, j = 0; i < npages; j++) {
    const addr = dma_addr[j] as drm_pagemap_addr;
    if (addr.proto === DRM_INTERCONNECT_SYSTEM) dma_unmap_page(dev, addr.addr, addr.dir);
    else if (dpagemap?.ops.device_unmap) dpagemap.ops.device_unmap(dpagemap, dev, addr);
    i += 2 ** addr.order;
  }
  getSim().trace.emit('drm.gpusvm_unmap_pages', {
    gpusvm: gpusvm.name,
    npages,
    devmem: flags.has_devmem_pages,
  });
  flags.has_devmem_pages = false;
  flags.has_dma_mapping = false;
  svm_pages.flags = flags; // WRITE_ONCE
  drm_pagemap_put(svm_pages.dpagemap);
  svm_pages.dpagemap = null;
}

/** drm_gpusvm.c __drm_gpusvm_free_pages: free the dma_addr array (notifier_lock held). */
export function __drm_gpusvm_free_pages(gpusvm: drm_gpusvm, svm_pages: drm_gpusvm_pages): void {
  lockdep_assert_held(gpusvm.notifier_lock);
  svm_pages.dma_addr = null;
}

/** drm_gpusvm.c drm_gpusvm_free_pages: unmap and free (the simple drm_gpusvm_pages API). */
export function* drm_gpusvm_free_pages(
  gpusvm: drm_gpusvm,
  svm_pages: drm_gpusvm_pages,
  npages: number,
): Co {
  yield* drm_gpusvm_notifier_lock(gpusvm);
  __drm_gpusvm_unmap_pages(gpusvm, svm_pages, npages);
  __drm_gpusvm_free_pages(gpusvm, svm_pages);
  drm_gpusvm_notifier_unlock(gpusvm);
}

/** drm_gpusvm.c drm_gpusvm_pages_valid (≈L1328): notifier_lock held. */
export function drm_gpusvm_pages_valid(gpusvm: drm_gpusvm, svm_pages: drm_gpusvm_pages): boolean {
  lockdep_assert_held(gpusvm.notifier_lock);
  return svm_pages.flags.has_devmem_pages || svm_pages.flags.has_dma_mapping;
}

/**
 * drm_gpusvm.c drm_gpusvm_range_pages_valid: the check a driver makes under notifier_lock
 * as the last step before committing GPU bindings (notifiers are wider than ranges, so the
 * notifier sequence alone cannot tell).
 */
export function drm_gpusvm_range_pages_valid(gpusvm: drm_gpusvm, range: drm_gpusvm_range): boolean {
  return drm_gpusvm_pages_valid(gpusvm, range.pages);
}

/**
 * drm_gpusvm.c drm_gpusvm_pages_valid_unlocked (≈L1371): takes notifier_lock; stale
 * dma_addr arrays are freed on the way.
 */
export function drm_gpusvm_pages_valid_unlocked(
  gpusvm: drm_gpusvm,
  svm_pages: drm_gpusvm_pages,
): Co<boolean> {
  if (!svm_pages.dma_addr) return co_return(false);
  return drm_gpusvm_pages_valid_locked(gpusvm, svm_pages);
}

/** drm_gpusvm_pages_valid_unlocked past its dma_addr check: the test under notifier_lock. */
function* drm_gpusvm_pages_valid_locked(
  gpusvm: drm_gpusvm,
  svm_pages: drm_gpusvm_pages,
): Co<boolean> {
  yield* drm_gpusvm_notifier_lock(gpusvm);
  const pages_valid = drm_gpusvm_pages_valid(gpusvm, svm_pages);
  if (!pages_valid) __drm_gpusvm_free_pages(gpusvm, svm_pages);
  drm_gpusvm_notifier_unlock(gpusvm);
  return pages_valid;
}

/** SIM: exported form of the static drm_gpusvm_pages_valid_unlocked for a range. */
export function drm_gpusvm_range_pages_valid_unlocked(
  gpusvm: drm_gpusvm,
  range: drm_gpusvm_range,
): Co<boolean> {
  return drm_gpusvm_pages_valid_unlocked(gpusvm, range.pages);
}

/** drm_gpusvm.c drm_gpusvm_hmm_pfn_to_order: largest CPU mapping order inside the range. */
export function drm_gpusvm_hmm_pfn_to_order(
  hmm_pfn: number,
  index: number,
  npages: number,
): number {
  let size = 2 ** hmm_pfn_to_map_order(hmm_pfn);
  size -= hmm_pfn_to_pfn(hmm_pfn) % size;
  index += size;
  if (index > npages) size -= index - npages;
  return Math.floor(Math.log2(size));
}

interface map_result {
  err: number;
  num_dma_mapped: number;
  pagemap: DevPagemap | null;
  dpagemap: drm_pagemap | null;
}

/** The walk of get_pages' map_pages step (notifier_lock held); flags gets has_dma_mapping. */
function drm_gpusvm_map_walk(
  gpusvm: drm_gpusvm,
  svm_pages: drm_gpusvm_pages,
  sys: MmSystem,
  pfns: Float64Array,
  flags: drm_gpusvm_pages_flags,
  ctx: drm_gpusvm_ctx,
): map_result {
  const dev = gpusvm.drm.dev;
  const dma_dir = ctx.read_only ? 'DMA_TO_DEVICE' : 'DMA_BIDIRECTIONAL';
  const dma_addr = svm_pages.dma_addr as drm_pagemap_addr[];
  const npages = pfns.length;
  const r: map_result = { err: 0, num_dma_mapped: 0, pagemap: null, dpagemap: null };
  let zdd: drm_pagemap_zdd | null = null;
  for (let i = 0, j = 0; i < npages; ++j) {
    const page = hmm_pfn_to_pfn(pfns[i] as number);
    const order = drm_gpusvm_hmm_pfn_to_order(pfns[i] as number, i, npages);
    if (is_device_private_page(sys, page) || is_device_coherent_page(sys, page)) {
      const page_zdd = drm_pagemap_page_zdd(sys, page) ?? null;
      if (!ctx.allow_mixed && zdd !== page_zdd && i > 0) return { ...r, err: -EOPNOTSUPP };
      zdd = page_zdd;
      const pgmap = page_pgmap(sys, page) ?? null;
      if (r.pagemap !== pgmap) {
        if (i > 0) return { ...r, err: -EOPNOTSUPP };
        r.pagemap = pgmap;
        r.dpagemap = drm_pagemap_page_to_dpagemap(sys, page);
        // Raced: hmm_range_fault should have migrated this page to system memory.
        if (WARN_ON(!r.dpagemap, 'device page without a drm_pagemap'))
          return { ...r, err: -EAGAIN };
      }
      const dp = r.dpagemap as drm_pagemap;
      const addr = dp.ops.device_map(dp, dev, page, order, dma_dir);
      if (dma_mapping_error(dev, addr.addr)) return { ...r, err: -EFAULT };
      dma_addr[j] = addr;
    } else {
      if (is_zone_device_page(sys, page) || (r.pagemap && !ctx.allow_mixed))
        return { ...r, err: -EOPNOTSUPP };
      if (ctx.devmem_only) return { ...r, err: -EFAULT };
      const addr = dma_map_page(dev, page, dma_dir);
      if (dma_mapping_error(dev, addr)) return { ...r, err: -EFAULT };
      dma_addr[j] = drm_pagemap_addr_encode(addr, DRM_INTERCONNECT_SYSTEM, order, dma_dir);
    }
    i += 2 ** order;
    r.num_dma_mapped = i;
    flags.has_dma_mapping = true;
  }
  return r;
}

/**
 * get_pages' map_pages step: 0, -EAGAIN (retry from the top: the sequence moved, or the
 * walk raced), or an error after err_unmap.
 */
function* drm_gpusvm_get_pages_map(
  gpusvm: drm_gpusvm,
  svm_pages: drm_gpusvm_pages,
  sys: MmSystem,
  notifier: MmuIntervalNotifier,
  hmm_range: HmmRange,
  ctx: drm_gpusvm_ctx,
): Co<number> {
  // All DMA mappings happen under the notifier lock, so a notifier either waits for it
  // or unmaps them: no mapping of a freed page survives.
  for (;;) {
    yield* drm_gpusvm_notifier_lock(gpusvm);
    if (svm_pages.flags.unmapped) {
      drm_gpusvm_notifier_unlock(gpusvm);
      return -EFAULT;
    }
    if (mmu_interval_read_retry(notifier, hmm_range.notifier_seq)) {
      drm_gpusvm_notifier_unlock(gpusvm);
      return -EAGAIN;
    }
    if (svm_pages.dma_addr) break;
    // Unlock and restart mapping to allocate memory.
    drm_gpusvm_notifier_unlock(gpusvm);
    might_alloc('GFP_KERNEL');
    svm_pages.dma_addr = new Array<drm_pagemap_addr>(hmm_range.hmm_pfns.length);
  }
  const flags = drm_gpusvm_pages_flags_read(svm_pages.flags);
  const r = drm_gpusvm_map_walk(gpusvm, svm_pages, sys, hmm_range.hmm_pfns, flags, ctx);
  if (r.err) {
    // err_unmap:
    if (!gpusvm.sim_err_unmap_unfixed)
      svm_pages.flags = { ...svm_pages.flags, has_dma_mapping: true };
    // SIM: the C unmaps the device entries through svm_pages->dpagemap, set only on
    // success, so the entries this walk mapped through r.dpagemap are not device-unmapped
    // (harmless for own VRAM, whose device_unmap does nothing; a leaked P2P mapping for a
    // peer's). The model records the walk's drm_pagemap first, as the has_dma_mapping fix
    // records the walk's flag; sim_err_unmap_dpagemap_unfixed keeps the C.
    if (r.dpagemap && r.dpagemap !== svm_pages.dpagemap && !gpusvm.sim_err_unmap_dpagemap_unfixed) {
      drm_pagemap_get(r.dpagemap);
      drm_pagemap_put(svm_pages.dpagemap);
      svm_pages.dpagemap = r.dpagemap;
    }
    __drm_gpusvm_unmap_pages(gpusvm, svm_pages, r.num_dma_mapped);
    drm_gpusvm_notifier_unlock(gpusvm);
    return r.err;
  }
  if (r.pagemap) {
    flags.has_devmem_pages = true;
    drm_pagemap_get(r.dpagemap);
    drm_pagemap_put(svm_pages.dpagemap);
    svm_pages.dpagemap = r.dpagemap;
  }
  svm_pages.flags = flags; // WRITE_ONCE
  drm_gpusvm_notifier_unlock(gpusvm);
  return 0;
}

/** hmm_range_fault under mmap_lock until it stops returning -EBUSY or time runs out. */
function* drm_gpusvm_hmm_fault_loop(
  mm: MmStruct,
  hmm_range: HmmRange,
  timeout: number,
): Co<number> {
  const sim = getSim();
  for (;;) {
    yield* mmap_read_lock(mm);
    const err = yield* hmm_range_fault(hmm_range);
    mmap_read_unlock(mm);
    if (err !== -EBUSY) return err;
    if (sim.now() > timeout) return err;
    hmm_range.notifier_seq = yield* mmu_interval_read_begin(hmm_range.notifier);
  }
}

/**
 * drm_gpusvm.c drm_gpusvm_get_pages (≈L1393-1625): fault [pages_start, pages_end) in on the
 * CPU and DMA-map it for the GPU. 0, -EBUSY (timeout), -EFAULT (mm gone, range unmapped,
 * hmm failure, devmem_only with a system page, mapping error), -EPERM (write to a
 * read-only vma), -EOPNOTSUPP (mixed pages: evict and retry), -ENOMEM.
 */
export function* drm_gpusvm_get_pages(
  gpusvm: drm_gpusvm,
  svm_pages: drm_gpusvm_pages,
  mm: MmStruct,
  notifier: MmuIntervalNotifier,
  pages_start: number,
  pages_end: number,
  ctx: drm_gpusvm_ctx,
): Co<number> {
  const sim = getSim();
  const scope = gpusvm.drm.name;
  const hmm_range = new HmmRange({
    notifier,
    start: pages_start,
    end: pages_end,
    default_flags: HMM_PFN_REQ_FAULT | (ctx.read_only ? 0 : HMM_PFN_REQ_WRITE),
    dev_private_owner: ctx.device_private_page_owner ?? null,
  });
  const timeout = sim.now() + HMM_RANGE_DEFAULT_TIMEOUT;
  let err = 0;
  sim.account('gpusvm_get_pages_calls', 1, 'gpusvm_get_pages_call', scope);
  for (;;) {
    // retry:
    if (sim.now() > timeout) {
      err = -EBUSY;
      break;
    }
    hmm_range.notifier_seq = yield* mmu_interval_read_begin(notifier);
    if (yield* drm_gpusvm_pages_valid_unlocked(gpusvm, svm_pages)) break; // set_seqno
    might_alloc('GFP_KERNEL'); // pfns
    hmm_range.hmm_pfns = new Float64Array(pages_end - pages_start);
    if (!mmget_not_zero(mm)) {
      err = -EFAULT;
      break;
    }
    err = yield* drm_gpusvm_hmm_fault_loop(mm, hmm_range, timeout);
    yield* mmput(mm);
    if (!err)
      err = yield* drm_gpusvm_get_pages_map(gpusvm, svm_pages, mm.sys, notifier, hmm_range, ctx);
    if (err !== -EAGAIN) break;
    sim.counters.add('gpusvm_get_pages_retries', 1, scope);
  }
  if (!err) svm_pages.notifier_seq = hmm_range.notifier_seq; // set_seqno
  sim.trace.emit('drm.gpusvm_get_pages', {
    gpusvm: gpusvm.name,
    start: pages_start,
    end: pages_end,
    ret: err,
  });
  return err;
}

/** drm_gpusvm.c drm_gpusvm_range_get_pages: get_pages over the range. */
export function drm_gpusvm_range_get_pages(
  gpusvm: drm_gpusvm,
  range: drm_gpusvm_range,
  ctx: drm_gpusvm_ctx,
): Co<number> {
  kref_assert_live(range.refcount, 'drm_gpusvm_range_get_pages');
  return drm_gpusvm_get_pages(
    gpusvm,
    range.pages,
    gpusvm.mm as MmStruct,
    range.notifier.notifier,
    drm_gpusvm_range_start(range),
    drm_gpusvm_range_end(range),
    ctx,
  );
}

/**
 * drm_gpusvm.c drm_gpusvm_unmap_pages (≈L1636): in the notifier (ctx.in_notifier) the
 * caller holds notifier_lock for write; otherwise it is taken for read here.
 */
export function* drm_gpusvm_unmap_pages(
  gpusvm: drm_gpusvm,
  svm_pages: drm_gpusvm_pages,
  npages: number,
  ctx: drm_gpusvm_ctx,
): Co {
  if (ctx.in_notifier) lockdep_assert_held(gpusvm.notifier_lock, 'write');
  else yield* drm_gpusvm_notifier_lock(gpusvm);
  __drm_gpusvm_unmap_pages(gpusvm, svm_pages, npages);
  if (!ctx.in_notifier) drm_gpusvm_notifier_unlock(gpusvm);
}

/**
 * drm_gpusvm.c drm_gpusvm_range_unmap_pages: must be called for every range the driver's
 * invalidate callback sees (IOMMU security model).
 */
export function* drm_gpusvm_range_unmap_pages(
  gpusvm: drm_gpusvm,
  range: drm_gpusvm_range,
  ctx: drm_gpusvm_ctx,
): Co {
  const npages = drm_gpusvm_range_end(range) - drm_gpusvm_range_start(range);
  yield* drm_gpusvm_unmap_pages(gpusvm, range.pages, npages, ctx);
}

/**
 * Migration to device memory (drivers/gpu/drm/drm_pagemap.c drm_pagemap_migrate_to_devmem
 * ≈L520-720 with its batching helpers; spec drm-gpusvm.md §6.3). All or nothing: every page
 * of [start, end) must be collected, else -EBUSY.
 *
 * Page selection: system and device-coherent pages, as in the RFC's v6.18 base, which leaves
 * out MIGRATE_VMA_SELECT_DEVICE_PRIVATE (it hung intermittently), so device-to-device moves
 * bounce through RAM; mdetails.select_device_private adds device-private pages of the same owner
 * as newer kernels do. Called with mmap_lock held (populate_mm).
 */
import { EBUSY, EINVAL, ENOENT, EOPNOTSUPP } from '../sim/errno.js';
import { might_alloc } from '../sim/reclaim.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import { WARN_ON } from '../sim/trap.js';
import type { DmaDevice } from '../dma/mapping.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  migrate_pfn,
  migrate_pfn_to_page,
} from '../mm/consts.js';
import {
  MigrateVma,
  migrate_vma_finalize,
  migrate_vma_pages,
  migrate_vma_setup,
} from '../mm/migrate_device.js';
import { mmap_assert_locked } from '../mm/mm_struct.js';
import type { MmStruct, MmSystem } from '../mm/mm_types.js';
import { is_device_private_page, is_zone_device_page, page_pgmap, put_page } from '../mm/page.js';
import { vma_is_anonymous, vma_lookup } from '../mm/vma.js';
import {
  drm_pagemap_get_devmem_page,
  drm_pagemap_migrate_map_pages,
  drm_pagemap_migrate_unmap_pages,
  drm_pagemap_migration_unlock_put_pages,
  drm_pagemap_page_zdd,
  drm_pagemap_zdd_alloc,
  drm_pagemap_zdd_put,
} from './drm_pagemap.js';
import type {
  drm_pagemap,
  drm_pagemap_addr,
  drm_pagemap_devmem,
  drm_pagemap_devmem_ops,
  drm_pagemap_migrate_details,
} from './drm_pagemap_types.js';
import './events.js';

/** struct migrate_range_loc: where the current batch of one copier starts. */
interface migrate_range_loc {
  start: number;
  device: DmaDevice;
  dpagemap: drm_pagemap | null;
  ops: drm_pagemap_devmem_ops | null;
}

/** drm_pagemap.c drm_pagemap_migrate_remote_to_local: a peer's copy_to_ram into our pages. */
function* drm_pagemap_migrate_remote_to_local(
  sys: MmSystem,
  devmem: drm_pagemap_devmem,
  remote_device: DmaDevice,
  remote_dpagemap: drm_pagemap,
  local_pfns: Float64Array,
  remote_pages: number[],
  npages: number,
  ops: drm_pagemap_devmem_ops,
  mdetails: drm_pagemap_migrate_details,
): Co<number> {
  const addr: (drm_pagemap_addr | undefined)[] = new Array<undefined>(npages);
  const dir = 'DMA_FROM_DEVICE';
  let err = drm_pagemap_migrate_map_pages(
    sys,
    remote_device,
    remote_dpagemap,
    addr,
    local_pfns,
    npages,
    dir,
    mdetails,
  );
  if (!err && ops.copy_to_ram)
    err = yield* ops.copy_to_ram(remote_pages, addr, npages, devmem.pre_migrate_fence);
  drm_pagemap_migrate_unmap_pages(sys, remote_device, addr, local_pfns, npages, dir);
  return err;
}

/** drm_pagemap.c drm_pagemap_migrate_sys_to_dev: copy_to_devmem from DMA-mapped sources. */
function* drm_pagemap_migrate_sys_to_dev(
  sys: MmSystem,
  devmem: drm_pagemap_devmem,
  sys_pfns: Float64Array,
  local_pages: number[],
  npages: number,
  ops: drm_pagemap_devmem_ops,
  mdetails: drm_pagemap_migrate_details,
): Co<number> {
  const addr: (drm_pagemap_addr | undefined)[] = new Array<undefined>(npages);
  const dir = 'DMA_TO_DEVICE';
  let err = drm_pagemap_migrate_map_pages(
    sys,
    devmem.dev,
    devmem.dpagemap,
    addr,
    sys_pfns,
    npages,
    dir,
    mdetails,
  );
  if (!err && ops.copy_to_devmem)
    err = yield* ops.copy_to_devmem(local_pages, addr, npages, devmem.pre_migrate_fence);
  drm_pagemap_migrate_unmap_pages(sys, devmem.dev, addr, sys_pfns, npages, dir);
  return err;
}

/**
 * drm_pagemap.c drm_pagemap_migrate_range: when the copier changes at cur.start, copy the
 * batch [last.start, cur.start) with the previous copier. SIM: batches get their own
 * address arrays (the C slices one buffer).
 */
function* drm_pagemap_migrate_range(
  sys: MmSystem,
  devmem: drm_pagemap_devmem,
  src: Float64Array,
  dst: Float64Array,
  pages: number[],
  last: migrate_range_loc,
  cur: migrate_range_loc,
  mdetails: drm_pagemap_migrate_details,
): Co<number> {
  let ret = 0;
  if (cur.start !== 0) {
    if (cur.start <= last.start) return 0;
    if (cur.dpagemap === last.dpagemap && cur.ops === last.ops) return 0;
    const n = cur.start - last.start;
    const ops = last.ops as drm_pagemap_devmem_ops;
    const batch = pages.slice(last.start, cur.start);
    if (last.dpagemap)
      ret = yield* drm_pagemap_migrate_remote_to_local(
        sys,
        devmem,
        last.device,
        last.dpagemap,
        dst.subarray(last.start, cur.start),
        batch,
        n,
        ops,
        mdetails,
      );
    else
      ret = yield* drm_pagemap_migrate_sys_to_dev(
        sys,
        devmem,
        src.subarray(last.start, cur.start),
        batch,
        n,
        ops,
        mdetails,
      );
  }
  Object.assign(last, cur);
  return ret;
}

/** Pages of [0, npages) already in `devmem`'s pagemap. */
function count_own_pages(sys: MmSystem, src: Float64Array, npages: number, dp: drm_pagemap) {
  let own = 0;
  for (let i = 0; i < npages; i++) {
    const p = migrate_pfn_to_page(src[i] as number);
    if (p >= 0 && is_zone_device_page(sys, p) && page_pgmap(sys, p) === dp.pagemap) own++;
  }
  return own;
}

/**
 * drm_pagemap.c drm_pagemap_migrate_to_devmem (≈L520): migrate [start, end) of mm into
 * `devmem_allocation`. The caller's reference to the allocation is consumed, even on error.
 * 0, -EOPNOTSUPP (ops missing), -ENOENT (no vma), -EINVAL (range not in one vma), -EBUSY
 * (not anonymous, raced, partial collection, fragmentation), or a driver error.
 */
export function* drm_pagemap_migrate_to_devmem(
  devmem_allocation: drm_pagemap_devmem,
  mm: MmStruct,
  start: number,
  end: number,
  mdetails: drm_pagemap_migrate_details,
): Co<number> {
  const ops = devmem_allocation.ops;
  const dpagemap = devmem_allocation.dpagemap;
  const sys = mm.sys;
  const sim = getSim();
  let npages = end - start;
  let own_pages = 0;
  let err: number;
  mmap_assert_locked(mm);
  if (!ops.populate_devmem_pfn || !ops.copy_to_devmem || !ops.copy_to_ram) return -EOPNOTSUPP;
  sim.account('pagemap_migrations_to_devmem', 1, 'pagemap_migrate_call', dpagemap.drm.name);
  const vas = vma_lookup(mm, start);
  if (!vas) err = -ENOENT;
  else if (end > vas.vm_end || start < vas.vm_start) err = -EINVAL;
  else if (!vma_is_anonymous(vas)) err = -EBUSY;
  else err = 0;
  if (err || !vas) {
    // err_out
    devmem_allocation.ops.devmem_release?.(devmem_allocation);
    return trace_ret(dpagemap, start, end, err);
  }
  might_alloc('GFP_KERNEL'); // buf
  const pages: number[] = new Array<number>(npages).fill(-1);
  const zdd = drm_pagemap_zdd_alloc(dpagemap);
  zdd.devmem_allocation = devmem_allocation; // owns the caller's reference
  const flags =
    MIGRATE_VMA_SELECT_SYSTEM |
    MIGRATE_VMA_SELECT_DEVICE_COHERENT |
    (mdetails.select_device_private ? MIGRATE_VMA_SELECT_DEVICE_PRIVATE : 0);
  const migrate = new MigrateVma({
    vma: vas,
    start,
    end,
    pgmap_owner: dpagemap.pagemap.owner,
    flags,
  });
  const cur: migrate_range_loc = { start: 0, device: dpagemap.drm.dev, dpagemap: null, ops };
  const last: migrate_range_loc = { start: 0, device: dpagemap.drm.dev, dpagemap: null, ops };

  err = yield* migrate_vma_setup(migrate);
  if (err) return yield* err_free(err);
  if (!migrate.cpages) return yield* err_free(-EBUSY); // raced or unknown device pages
  if (migrate.cpages !== npages) return yield* err_aborted_migration(-EBUSY); // all or nothing
  own_pages = count_own_pages(sys, migrate.src, npages, dpagemap);
  if (own_pages === npages) return yield* err_aborted_migration(0); // not necessary
  if (own_pages && !mdetails.can_migrate_same_pagemap) return yield* err_aborted_migration(-EBUSY);

  err = yield* ops.populate_devmem_pfn(devmem_allocation, npages, migrate.dst);
  if (err) return yield* err_aborted_migration(err);
  own_pages = 0;
  for (let i = 0; i < npages; ++i) {
    const page = migrate.dst[i] as number;
    const src_page = migrate_pfn_to_page(migrate.src[i] as number);
    cur.start = i;
    if (src_page >= 0 && is_device_private_page(sys, src_page)) {
      const src_zdd = drm_pagemap_page_zdd(sys, src_page);
      if (page_pgmap(sys, src_page) === dpagemap.pagemap && !mdetails.can_migrate_same_pagemap) {
        migrate.dst[i] = 0;
        own_pages++;
        continue;
      }
      if (mdetails.source_peer_migrates && src_zdd?.devmem_allocation) {
        cur.dpagemap = src_zdd.dpagemap;
        cur.ops = src_zdd.devmem_allocation.ops;
        cur.device = cur.dpagemap.drm.dev;
        pages[i] = src_page;
      }
    }
    if (pages[i] === -1) {
      cur.dpagemap = null;
      cur.ops = ops;
      cur.device = dpagemap.drm.dev;
      pages[i] = page;
    }
    migrate.dst[i] = migrate_pfn(page);
    drm_pagemap_get_devmem_page(sys, page, zdd);
    // A change of copier migrates the previous batch now.
    err = yield* migrate_batch();
    if (err) {
      // SIM: the frames after i were never set up; give their references back.
      for (let k = i + 1; k < npages; k++) put_page(sys, migrate.dst[k] as number);
      migrate.dst.fill(0, i + 1, npages);
      npages = i + 1;
      return yield* err_finalize(err);
    }
  }
  cur.start = npages;
  cur.ops = null; // force the last batch
  err = yield* migrate_batch();
  if (err) return yield* err_finalize(err);
  WARN_ON(own_pages !== 0, 'own pages left after migration');
  devmem_allocation.pre_migrate_fence = null;
  // Upon success the allocation keeps its pages for at least the timeslice.
  devmem_allocation.timeslice_expiration = sim.now() + (mdetails.timeslice_ms ?? 0) * 1e6;
  return yield* err_finalize(0);

  /** drm_pagemap_migrate_range over this call's arrays: copy the batch ending at cur. */
  function migrate_batch(): Co<number> {
    return drm_pagemap_migrate_range(
      sys,
      devmem_allocation,
      migrate.src,
      migrate.dst,
      pages,
      last,
      cur,
      mdetails,
    );
  }

  function* err_finalize(e: number): Co<number> {
    if (e) drm_pagemap_migration_unlock_put_pages(sys, npages, migrate.dst);
    return yield* err_aborted_migration(e);
  }

  function* err_aborted_migration(e: number): Co<number> {
    yield* migrate_vma_pages(migrate);
    let migrated_pages = 0;
    for (let i = 0; !e && i < npages; i++)
      if ((migrate.src[i] as number) & MIGRATE_PFN_MIGRATE) migrated_pages++;
    if (!e && migrated_pages < npages - own_pages) e = -EBUSY; // raced while finalizing
    migrate_vma_finalize(migrate);
    return yield* err_free(e);
  }

  function* err_free(e: number): Co<number> {
    drm_pagemap_zdd_put(zdd);
    return trace_ret(dpagemap, start, end, e);
  }
}

function trace_ret(dpagemap: drm_pagemap, start: number, end: number, ret: number): number {
  getSim().trace.emit('drm.pagemap_migrate_to_devmem', { drm: dpagemap.drm.name, start, end, ret });
  return ret;
}

/**
 * drm_pagemap objects and the helpers shared by both migration directions
 * (drivers/gpu/drm/drm_pagemap.c, newest version of spec drm-gpusvm.md §0; §6): the zdd
 * that every device page of one migration points to, drm_pagemap refcounting, device
 * memory allocations, DMA mapping of migration pages, and drm_pagemap_populate_mm.
 *
 * page->zone_device_data: SIM: kept here per machine (a map frame -> zdd) rather than in
 * PhysMem.pagePrivate, because the mm model clears pagePrivate before it calls the
 * pagemap's page_free, where drm_pagemap_folio_free needs the zdd.
 */
import { EFAULT } from '../sim/errno.js';
import { kref_get, kref_init, kref_put } from '../sim/kref.js';
import { might_alloc } from '../sim/reclaim.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import { WARN_ON } from '../sim/trap.js';
import { complete_all, reinit_completion } from '../sim/wait.js';
import {
  DMA_MAPPING_ERROR,
  dma_map_page,
  dma_mapping_error,
  dma_unmap_page,
  type DmaDataDirection,
  type DmaDevice,
} from '../dma/mapping.js';
import { migrate_pfn_to_page } from '../mm/consts.js';
import { mmget_not_zero, mmap_read_lock, mmap_read_unlock } from '../mm/mm_struct.js';
import { mmput } from '../mm/fork.js';
import type { DevPagemap, MmStruct, MmSystem } from '../mm/mm_types.js';
import {
  folio_trylock,
  folio_unlock,
  is_device_private_page,
  is_zone_device_page,
  page_count,
  put_page,
} from '../mm/page.js';
import {
  DRM_INTERCONNECT_SYSTEM,
  NR_PAGES,
  drm_pagemap_addr_encode,
  drm_pagemap_zdd,
  type drm_device,
  type drm_pagemap,
  type drm_pagemap_addr,
  type drm_pagemap_devmem,
  type drm_pagemap_devmem_ops,
  type drm_pagemap_migrate_details,
  type drm_pagemap_ops,
} from './drm_pagemap_types.js';

// ---- page->zone_device_data ----------------------------------------------------------

const zone_device_data = new WeakMap<MmSystem, Map<number, drm_pagemap_zdd>>();

function zdd_map(sys: MmSystem): Map<number, drm_pagemap_zdd> {
  let m = zone_device_data.get(sys);
  if (!m) {
    m = new Map();
    zone_device_data.set(sys, m);
  }
  return m;
}

/** page->zone_device_data of a device frame populated by drm_pagemap, else undefined. */
export function drm_pagemap_page_zdd(sys: MmSystem, page: number): drm_pagemap_zdd | undefined {
  return zone_device_data.get(sys)?.get(page);
}

/** drm_pagemap.c drm_pagemap_folio_free: the frame is free; drop its zdd reference. */
export function drm_pagemap_page_free(sys: MmSystem, page: number): void {
  const m = zone_device_data.get(sys);
  const zdd = m?.get(page);
  if (!m || !zdd) return;
  m.delete(page);
  drm_pagemap_zdd_put(zdd);
}

// ---- drm_pagemap ---------------------------------------------------------------------

/** drm_pagemap.c drm_pagemap_init. SIM: `sys` is where the pages live. */
export function drm_pagemap_init(
  dpagemap: drm_pagemap,
  pagemap: DevPagemap,
  drm: drm_device,
  ops: drm_pagemap_ops,
  sys: MmSystem,
): number {
  kref_init(dpagemap.ref);
  dpagemap.ops = ops;
  dpagemap.pagemap = pagemap;
  dpagemap.drm = drm;
  dpagemap.sys = sys;
  return 0;
}

/** drm_pagemap_get (header): a NULL-tolerant reference. */
export function drm_pagemap_get(dpagemap: drm_pagemap | null): drm_pagemap | null {
  if (dpagemap) kref_get(dpagemap.ref);
  return dpagemap;
}

/**
 * drm_pagemap.c drm_pagemap_put. SIM: release calls ops.destroy directly (no
 * shrinker cache, no deferred dev_hold release).
 */
export function drm_pagemap_put(dpagemap: drm_pagemap | null): void {
  if (!dpagemap) return;
  kref_put(dpagemap.ref, () => dpagemap.ops.destroy?.(dpagemap, false));
}

/** drm_pagemap.c drm_pagemap_devmem_init; size in pages. */
export function drm_pagemap_devmem_init(
  devmem_allocation: drm_pagemap_devmem,
  dev: DmaDevice,
  mm: MmStruct,
  ops: drm_pagemap_devmem_ops,
  dpagemap: drm_pagemap,
  size: number,
  pre_migrate_fence: unknown,
): void {
  reinit_completion(devmem_allocation.detached); // init_completion
  devmem_allocation.dev = dev;
  devmem_allocation.mm = mm;
  devmem_allocation.ops = ops;
  devmem_allocation.dpagemap = dpagemap;
  devmem_allocation.size = size;
  devmem_allocation.pre_migrate_fence = pre_migrate_fence;
}

/**
 * drm_pagemap.c drm_pagemap_page_to_dpagemap. SIM: null for a device page not
 * populated by drm_pagemap (the C dereferences garbage there).
 */
export function drm_pagemap_page_to_dpagemap(sys: MmSystem, page: number): drm_pagemap | null {
  return drm_pagemap_page_zdd(sys, page)?.devmem_allocation?.dpagemap ?? null;
}

// ---- zdd -----------------------------------------------------------------------------

/** drm_pagemap.c drm_pagemap_zdd_alloc. */
export function drm_pagemap_zdd_alloc(dpagemap: drm_pagemap): drm_pagemap_zdd {
  might_alloc('GFP_KERNEL');
  const zdd = new drm_pagemap_zdd(dpagemap);
  drm_pagemap_get(dpagemap);
  return zdd;
}

/** drm_pagemap.c drm_pagemap_zdd_get. */
export function drm_pagemap_zdd_get(zdd: drm_pagemap_zdd): drm_pagemap_zdd {
  kref_get(zdd.refcount);
  return zdd;
}

/** drm_pagemap.c drm_pagemap_zdd_destroy: the allocation is detached and released. */
function drm_pagemap_zdd_destroy(zdd: drm_pagemap_zdd): void {
  const devmem = zdd.devmem_allocation;
  if (devmem) {
    complete_all(devmem.detached);
    devmem.ops.devmem_release?.(devmem);
  }
  drm_pagemap_put(zdd.dpagemap);
}

/** drm_pagemap.c drm_pagemap_zdd_put. */
export function drm_pagemap_zdd_put(zdd: drm_pagemap_zdd): void {
  kref_put(zdd.refcount, () => drm_pagemap_zdd_destroy(zdd));
}

/**
 * drm_pagemap.c drm_pagemap_get_devmem_page: the destination frame takes a zdd reference
 * and is locked (zone_device_page_init). SIM: the frame already holds the reference that
 * populate_devmem_pfn gave it (see drm_pagemap_devmem_ops).
 */
export function drm_pagemap_get_devmem_page(
  sys: MmSystem,
  page: number,
  zdd: drm_pagemap_zdd,
): void {
  WARN_ON(page_count(sys, page) < 1, `device frame ${page} from populate_devmem_pfn is free`);
  WARN_ON(drm_pagemap_page_zdd(sys, page) !== undefined, `device frame ${page} still in use`);
  zdd_map(sys).set(page, drm_pagemap_zdd_get(zdd));
  WARN_ON(!folio_trylock(sys, page), `device frame ${page} locked`);
}

/** drm_pagemap.c drm_pagemap_migration_unlock_put_pages. */
export function drm_pagemap_migration_unlock_put_pages(
  sys: MmSystem,
  npages: number,
  migrate_pfn: Float64Array,
): void {
  for (let i = 0; i < npages; ++i) {
    if (!migrate_pfn[i]) continue;
    const page = migrate_pfn_to_page(migrate_pfn[i] as number);
    folio_unlock(sys, page);
    put_page(sys, page);
    migrate_pfn[i] = 0;
  }
}

// ---- DMA mapping of migration pages ---------------------------------------------------

/**
 * drm_pagemap.c drm_pagemap_migrate_map_pages: DMA-map (system) or device_map
 * (device-private) each page of migrate_pfn for `dev`. 0 or -EFAULT.
 */
export function drm_pagemap_migrate_map_pages(
  sys: MmSystem,
  dev: DmaDevice,
  local_dpagemap: drm_pagemap,
  pagemap_addr: (drm_pagemap_addr | undefined)[],
  migrate_pfn: Float64Array,
  npages: number,
  dir: DmaDataDirection,
  mdetails: drm_pagemap_migrate_details,
): number {
  for (let i = 0; i < npages;) {
    const page = migrate_pfn_to_page(migrate_pfn[i] as number);
    const order = 0; // SIM: no compound pages (folio_order is 0)
    if (page >= 0) {
      if (is_device_private_page(sys, page)) {
        const zdd = drm_pagemap_page_zdd(sys, page);
        const dpagemap = zdd?.dpagemap;
        if (!dpagemap) return -EFAULT; // SIM: a device page drm_pagemap did not populate
        if (dpagemap !== local_dpagemap || mdetails.can_migrate_same_pagemap) {
          const addr = dpagemap.ops.device_map(dpagemap, dev, page, order, dir);
          if (dma_mapping_error(dev, addr.addr)) return -EFAULT;
          pagemap_addr[i] = addr;
        }
      } else {
        const dma_addr = dma_map_page(dev, page, dir);
        if (dma_mapping_error(dev, dma_addr)) return -EFAULT;
        pagemap_addr[i] = drm_pagemap_addr_encode(dma_addr, DRM_INTERCONNECT_SYSTEM, order, dir);
      }
    }
    i += NR_PAGES(order);
  }
  return 0;
}

/** drm_pagemap.c drm_pagemap_migrate_unmap_pages. */
export function drm_pagemap_migrate_unmap_pages(
  sys: MmSystem,
  dev: DmaDevice,
  pagemap_addr: readonly (drm_pagemap_addr | undefined)[],
  migrate_pfn: Float64Array,
  npages: number,
  dir: DmaDataDirection,
): void {
  for (let i = 0; i < npages;) {
    const page = migrate_pfn_to_page(migrate_pfn[i] as number);
    const addr = pagemap_addr[i];
    if (page >= 0 && addr && addr.addr !== DMA_MAPPING_ERROR) {
      if (is_zone_device_page(sys, page)) {
        const dpagemap = drm_pagemap_page_zdd(sys, page)?.dpagemap;
        dpagemap?.ops.device_unmap?.(dpagemap, dev, addr);
      } else {
        dma_unmap_page(dev, addr.addr, dir);
      }
    }
    i += NR_PAGES(addr?.order ?? 0);
  }
}

// ---- populate_mm ---------------------------------------------------------------------

/**
 * drm_pagemap.c drm_pagemap_populate_mm (≈L1290): best-effort population of [start, end)
 * with the pagemap's pages, under mmap_lock for read. 0, -EFAULT (mm gone) or the
 * driver's error (-ENODEV after device removal).
 */
export function* drm_pagemap_populate_mm(
  dpagemap: drm_pagemap,
  start: number,
  end: number,
  mm: MmStruct,
  timeslice_ms: number,
): Co<number> {
  if (!mmget_not_zero(mm)) return -EFAULT;
  getSim().counters.add('pagemap_populate_mm_calls', 1, dpagemap.drm.name);
  yield* mmap_read_lock(mm);
  const err = dpagemap.ops.populate_mm
    ? yield* dpagemap.ops.populate_mm(dpagemap, start, end, mm, timeslice_ms)
    : -EFAULT; // SIM: the C calls the op unconditionally
  mmap_read_unlock(mm);
  yield* mmput(mm);
  return err;
}

/**
 * struct page services: allocation (mm/page_alloc.c), references (include/linux/mm.h
 * get_page/put_page), the folio lock (mm/filemap.c) and ZONE_DEVICE pages
 * (mm/memremap.c memremap_pages, include/linux/memremap.h).
 *
 * Reference rules of the model: an anonymous frame holds one reference per mapping (pte,
 * device-private entry); a page-cache frame holds one for the cache plus one per mapping;
 * the zero page is never counted; transient references are taken by migration and reclaim
 * while they work on a frame. A frame is freed when its count reaches zero; a device frame
 * then reports to its pagemap's page_free.
 */
import { ENOMEM } from '../sim/errno.js';
import { type Gfp, might_alloc } from '../sim/reclaim.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import { trap } from '../sim/trap.js';
import { wait_event, wake_up_all } from '../sim/wait.js';
import type { DevPagemap, MmSystem } from './mm_types.js';
import { PhysMem, type Pfn, type PhysRegion } from './phys.js';

export function is_zero_pfn(pfn: Pfn): boolean {
  return pfn === PhysMem.ZERO_PFN;
}

/** page_pgmap: the dev_pagemap of a device frame. */
export function page_pgmap(sys: MmSystem, pfn: Pfn): DevPagemap | undefined {
  const r = sys.phys.regionOf(pfn);
  return r ? sys.pagemaps.get(r) : undefined;
}

export function is_device_private_page(sys: MmSystem, pfn: Pfn): boolean {
  return sys.phys.kindOf(pfn) === 'device-private';
}

export function is_device_coherent_page(sys: MmSystem, pfn: Pfn): boolean {
  return sys.phys.kindOf(pfn) === 'device-coherent';
}

export function is_zone_device_page(sys: MmSystem, pfn: Pfn): boolean {
  const k = sys.phys.kindOf(pfn);
  return k === 'device-private' || k === 'device-coherent';
}

/** PageAnon: a frame that is not in a page cache (and not the zero page). */
export function page_is_anon(sys: MmSystem, pfn: Pfn): boolean {
  return !sys.pagecache.has(pfn) && !is_zero_pfn(pfn);
}

/**
 * alloc_page(gfp) from system RAM, value 0 (SIM: every page is zeroed); -ENOMEM when RAM is
 * exhausted (SIM: no direct reclaim or OOM killer behind it).
 */
export function alloc_page(sys: MmSystem, gfp: Gfp = 'GFP_KERNEL', value = 0): number {
  might_alloc(gfp);
  const pfn = sys.phys.alloc(sys.ram, value);
  if (pfn < 0) return -ENOMEM;
  getSim().account('pages_allocated', 1, 'page_alloc');
  return pfn;
}

export function get_page(sys: MmSystem, pfn: Pfn): void {
  sys.phys.get_page(pfn);
}

/** put_page: drop a reference; at zero the frame is freed and its pagemap told. */
export function put_page(sys: MmSystem, pfn: Pfn): void {
  const last = sys.phys.page_count(pfn) === 1;
  if (last && sys.pagecache.has(pfn)) trap('bug', `page-cache frame ${pfn} freed while cached`);
  if (last && sys.page_locked.has(pfn)) trap('bug', `locked frame ${pfn} freed`);
  // free_zone_device_folio: the pagemap's page_free still sees page->zone_device_data
  // (drm_pagemap drops its zdd reference there), so it runs before the frame is freed.
  if (last) page_pgmap(sys, pfn)?.ops.page_free?.(pfn);
  sys.phys.put_page(pfn);
}

export function page_count(sys: MmSystem, pfn: Pfn): number {
  return sys.phys.page_count(pfn);
}

/** folio_trylock. */
export function folio_trylock(sys: MmSystem, pfn: Pfn): boolean {
  if (sys.page_locked.has(pfn)) return false;
  sys.page_locked.add(pfn);
  return true;
}

/** folio_lock: sleep until the frame can be locked. */
export function* folio_lock(sys: MmSystem, pfn: Pfn): Co {
  yield* wait_event(sys.page_wait, () => !sys.page_locked.has(pfn));
  sys.page_locked.add(pfn);
}

/** folio_unlock: wakes every waiter (SIM: one wait queue for all frames). */
export function folio_unlock(sys: MmSystem, pfn: Pfn): void {
  if (!sys.page_locked.delete(pfn)) trap('bug', `folio_unlock of unlocked frame ${pfn}`);
  wake_up_all(sys.page_wait);
}

/** folio_wait_locked / migration_entry_wait: sleep until the frame is unlocked. */
export function* folio_wait_unlocked(sys: MmSystem, pfn: Pfn): Co {
  yield* wait_event(sys.page_wait, () => !sys.page_locked.has(pfn));
}

/**
 * mm/memremap.c memremap_pages: give a pagemap `npages` device frames, as a region of the
 * frame store owned by pgmap.owner.
 */
export function memremap_pages(sys: MmSystem, pgmap: DevPagemap, npages: number): PhysRegion {
  const kind = pgmap.type === 'MEMORY_DEVICE_PRIVATE' ? 'device-private' : 'device-coherent';
  const region = sys.phys.addRegion(pgmap.name, npages, kind, pgmap.owner);
  memremap_register(sys, pgmap, region);
  return region;
}

/** SIM: attach a pagemap to a region another layer already added to the frame store. */
export function memremap_register(sys: MmSystem, pgmap: DevPagemap, region: PhysRegion): void {
  if (region.kind === 'system') trap('bug', `pagemap ${pgmap.name} on system RAM`);
  pgmap.region = region;
  sys.pagemaps.set(region, pgmap);
}

/** mm/memremap.c memunmap_pages: every frame must be free by now. */
export function memunmap_pages(sys: MmSystem, pgmap: DevPagemap): void {
  const r = pgmap.region;
  if (!r) return;
  if (r.used > 0) trap('leak', `memunmap_pages(${pgmap.name}) with ${r.used} frames in use`);
  sys.pagemaps.delete(r);
  pgmap.region = null;
}

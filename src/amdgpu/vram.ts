/**
 * VRAM and its page allocator (amdgpu_vram_mgr.c, reduced): each GPU's VRAM is a
 * device-private region of the shared frame store (src/mm/phys.ts) owned by the device, so
 * its frames are the device-private pages drm_pagemap migrates into. Frames are allocated
 * lazily by PhysMem, so a 16 GiB VRAM costs memory only where used.
 *
 * SIM: no buddy allocator, BOs or TTM eviction: VRAM is handed out page by page, all or
 * nothing per request, and a frame returns to the free list when its last reference is put
 * (put_page, as a ZONE_DEVICE page returns through page_free).
 */
import { ENOSPC } from '../sim/errno.js';
import { getSim } from '../sim/scheduler.js';
import type { Pfn, PhysMem, PhysRegion } from '../mm/phys.js';

export class amdgpu_vram_mgr {
  readonly region: PhysRegion;

  constructor(
    readonly phys: PhysMem,
    readonly gpu_name: string,
    npages: number,
    /** The device: the pagemap owner of the region. */
    owner: object,
  ) {
    this.region = phys.addRegion(`vram:${gpu_name}`, npages, 'device-private', owner);
  }

  /** Size in pages. */
  get size(): number {
    return this.region.npages;
  }

  /** Pages allocated now. */
  get used(): number {
    return this.region.used;
  }

  get free(): number {
    return this.region.free;
  }
}

/**
 * Allocate `npages` VRAM frames (refcount 1, value 0) into `out`: 0 or -ENOSPC when the VRAM
 * cannot hold them all (nothing is allocated then). Used by drm_pagemap's populate_devmem_pfn.
 */
export function amdgpu_vram_mgr_alloc(
  mgr: amdgpu_vram_mgr,
  npages: number,
  out: Pfn[] | Uint32Array,
): number {
  if (npages > mgr.free) return -ENOSPC;
  for (let i = 0; i < npages; i++) {
    const pfn = mgr.phys.alloc(mgr.region);
    if (pfn < 0) {
      for (let j = 0; j < i; j++) mgr.phys.put_page(out[j] as number);
      return -ENOSPC;
    }
    out[i] = pfn;
  }
  getSim().counters.add('vram_pages_allocated', npages, mgr.gpu_name);
  return 0;
}

/** Drop the allocation's reference on each frame: the frame is free once nobody holds it. */
export function amdgpu_vram_mgr_free(
  mgr: amdgpu_vram_mgr,
  pfns: readonly Pfn[] | Uint32Array,
): void {
  for (const pfn of pfns) mgr.phys.put_page(pfn);
  getSim().counters.add('vram_pages_freed', pfns.length, mgr.gpu_name);
}

/** Is `pfn` a frame of this VRAM? */
export function amdgpu_vram_mgr_owns(mgr: amdgpu_vram_mgr, pfn: Pfn): boolean {
  return mgr.region.contains(pfn);
}

/**
 * The drm_pagemap structures (include/drm/drm_pagemap.h, plus struct drm_pagemap_zdd of
 * drivers/gpu/drm/drm_pagemap.c), kept apart from the functions as the header is, so that
 * drm_gpusvm and drm_pagemap form a DAG.
 *
 * Sizes and addresses are page numbers. SIM: a DMA or device address is a frame number
 * (src/dma: no IOMMU), so an entry's `addr` is the frame the device reaches.
 */
import { Kref } from '../sim/kref.js';
import type { Co } from '../sim/task.js';
import { Completion } from '../sim/wait.js';
import type { DmaDataDirection, DmaDevice } from '../dma/mapping.js';
import type { DevPagemap, MmStruct, MmSystem } from '../mm/mm_types.js';

/** enum drm_interconnect_protocol: plain DMA mapping of system pages. */
export const DRM_INTERCONNECT_SYSTEM = 0;
/** Device-specific interconnect; Xe: XE_INTERCONNECT_VRAM (its own VRAM). */
export const DRM_INTERCONNECT_DRIVER = 1;

/** NR_PAGES(order). */
export function NR_PAGES(order: number): number {
  return 2 ** order;
}

/** struct drm_pagemap_addr: one DMA (or device) mapping of 2^order pages. */
export interface drm_pagemap_addr {
  readonly addr: number;
  readonly proto: number;
  readonly order: number;
  readonly dir: DmaDataDirection;
}

/** drm_pagemap_addr_encode. */
export function drm_pagemap_addr_encode(
  addr: number,
  proto: number,
  order: number,
  dir: DmaDataDirection,
): drm_pagemap_addr {
  return { addr, proto, order, dir };
}

/**
 * struct drm_device, as far as drm_gpusvm and drm_pagemap use it: a name (the GPU, the
 * `@gpuX` scope of counters) and `dev`, the struct device that DMA-maps.
 */
export interface drm_device {
  readonly name: string;
  readonly dev: DmaDevice;
}

/** struct drm_pagemap_ops. */
export interface drm_pagemap_ops {
  /** Map a device page of this pagemap for `dev`; a DMA_MAPPING_ERROR addr on failure. */
  device_map(
    dpagemap: drm_pagemap,
    dev: DmaDevice,
    page: number,
    order: number,
    dir: DmaDataDirection,
  ): drm_pagemap_addr;
  device_unmap?(dpagemap: drm_pagemap, dev: DmaDevice, addr: drm_pagemap_addr): void;
  /**
   * Best effort: populate [start, end) of mm with device pages (usually by
   * drm_pagemap_migrate_to_devmem). Called with mmap_lock held for read.
   */
  populate_mm?(
    dpagemap: drm_pagemap,
    start: number,
    end: number,
    mm: MmStruct,
    timeslice_ms: number,
  ): Co<number>;
  destroy?(dpagemap: drm_pagemap, is_atomic_or_reclaim: boolean): void;
}

/**
 * struct drm_pagemap: the device memory of one device, behind a dev_pagemap whose ops are
 * drm_pagemap_pagemap_ops_get(). SIM: no cache, shrinker or dev_hold; `sys` is the machine
 * whose frame store holds the pages (Linux reaches struct pages globally).
 */
export class drm_pagemap {
  ops!: drm_pagemap_ops;
  pagemap!: DevPagemap;
  drm!: drm_device;
  sys!: MmSystem;
  readonly ref = new Kref('drm_pagemap');
}

/** struct drm_pagemap_devmem_ops: implemented by the driver over its VRAM manager. */
export interface drm_pagemap_devmem_ops {
  /** The last page of the allocation is gone (zdd destroyed): free the backing store. */
  devmem_release?(devmem_allocation: drm_pagemap_devmem): void;
  /**
   * Fill pfn[0..npages) with the allocation's device frames. SIM contract: on the first
   * call (migration) each frame holds one reference that drm_pagemap consumes (migration
   * hands it to the CPU mapping, failure puts it); on later calls (eviction) a frame that
   * no longer holds this allocation's data is reported as -1.
   */
  populate_devmem_pfn?(
    devmem_allocation: drm_pagemap_devmem,
    npages: number,
    pfn: Float64Array,
  ): Co<number>;
  /** Copy from the DMA addresses (undefined: nothing to copy) into the device pages. */
  copy_to_devmem?(
    pages: readonly number[],
    pagemap_addr: readonly (drm_pagemap_addr | undefined)[],
    npages: number,
    pre_migrate_fence: unknown,
  ): Co<number>;
  /** Copy the device pages (-1: none) to the DMA addresses (undefined: skip). */
  copy_to_ram?(
    pages: readonly number[],
    pagemap_addr: readonly (drm_pagemap_addr | undefined)[],
    npages: number,
    pre_migrate_fence: unknown,
  ): Co<number>;
}

/**
 * struct drm_pagemap_devmem: one device-memory allocation (Xe embeds it in a BO); drivers
 * may extend it. Initialised by drm_pagemap_devmem_init.
 */
export class drm_pagemap_devmem {
  dev!: DmaDevice;
  mm!: MmStruct;
  /** Completed when the last device page of the allocation is freed. */
  readonly detached = new Completion('drm_pagemap_devmem.detached');
  ops!: drm_pagemap_devmem_ops;
  dpagemap!: drm_pagemap;
  /** Size in pages. */
  size = 0;
  /** Virtual ns before which a CPU fault does not migrate the pages back. */
  timeslice_expiration = 0;
  pre_migrate_fence: unknown = null;
}

/** struct drm_pagemap_zdd: page->zone_device_data of every device page of one migration. */
export class drm_pagemap_zdd {
  readonly refcount = new Kref('drm_pagemap_zdd');
  devmem_allocation: drm_pagemap_devmem | null = null;
  constructor(readonly dpagemap: drm_pagemap) {}
}

/** struct drm_pagemap_migrate_details. */
export interface drm_pagemap_migrate_details {
  timeslice_ms?: number;
  can_migrate_same_pagemap?: boolean;
  source_peer_migrates?: boolean;
  /**
   * SIM: also select device-private pages (MIGRATE_VMA_SELECT_DEVICE_PRIVATE), as kernels
   * after the RFC's v6.18 base do. Off: system and device-coherent pages only, as v6.18's
   * drm_pagemap_migrate_to_devmem selects, so device-to-device moves bounce through RAM.
   */
  select_device_private?: boolean;
}

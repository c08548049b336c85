/**
 * Per-device DMA mapping (kernel/dma/mapping.c dma_map_page_attrs / dma_unmap_page_attrs,
 * with the bookkeeping of kernel/dma/debug.c).
 *
 * SIM: identity mapping, no IOMMU: the DMA address of a frame is its pfn. Each device keeps
 * a count of live mappings per frame (typed arrays per 4 Ki-frame chunk), so teardown can
 * list what is still mapped, and an unmap of something never mapped is caught, as
 * CONFIG_DMA_API_DEBUG does. Mapping a free frame traps `use-after-free`; mapping a
 * device-private frame (not addressable by DMA) traps `bug`; a frame freed while still
 * mapped by a device traps `use-after-free` (the driver kept a DMA mapping past the mmu
 * notifier that should have removed it).
 */
import { getSim } from '../sim/scheduler.js';
import { trap } from '../sim/trap.js';
import type { PhysMem } from '../mm/phys.js';

export type DmaDataDirection = 'DMA_BIDIRECTIONAL' | 'DMA_TO_DEVICE' | 'DMA_FROM_DEVICE';

/** DMA_MAPPING_ERROR. */
export const DMA_MAPPING_ERROR = -1;

const CHUNK_SHIFT = 12;
const CHUNK = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK - 1;

/** struct device, as far as DMA mapping goes. */
export class DmaDevice {
  /** Live mappings per frame, per chunk. */
  readonly map_count: (Int32Array | undefined)[] = [];
  /** Live mappings in total. */
  mapped = 0;
  constructor(
    readonly name: string,
    readonly phys: PhysMem,
  ) {
    // A frame freed while a device can still DMA to it: the driver did not unmap it in
    // its mmu notifier before the mm let the page go (an IOMMU use-after-free).
    phys.freeHooks.push((pfn) => {
      if (this.mapped > 0 && dma_mapped_count(this, pfn) > 0)
        trap('use-after-free', `${this.name}: frame ${pfn} freed while still DMA-mapped`);
    });
  }
}

function count_chunk(dev: DmaDevice, pfn: number): Int32Array {
  const idx = Math.floor(pfn / CHUNK);
  let c = dev.map_count[idx];
  if (!c) {
    c = new Int32Array(CHUNK);
    dev.map_count[idx] = c;
  }
  return c;
}

function check_mappable(dev: DmaDevice, pfn: number): void {
  if (dev.phys.page_count(pfn) <= 0)
    trap('use-after-free', `${dev.name}: dma_map_page of free frame ${pfn}`);
  if (dev.phys.kindOf(pfn) === 'device-private')
    trap('bug', `${dev.name}: dma_map_page of device-private frame ${pfn}`);
}

function map_one(dev: DmaDevice, pfn: number): number {
  check_mappable(dev, pfn);
  const c = count_chunk(dev, pfn);
  c[pfn & CHUNK_MASK] = (c[pfn & CHUNK_MASK] as number) + 1;
  dev.mapped++;
  return pfn;
}

function unmap_one(dev: DmaDevice, addr: number): void {
  const c = dev.map_count[Math.floor(addr / CHUNK)];
  const i = addr & CHUNK_MASK;
  if (!c || (c[i] as number) <= 0)
    trap('bug', `${dev.name}: dma_unmap_page of ${addr}, which is not mapped (DMA-API debug)`);
  c[i] = (c[i] as number) - 1;
  dev.mapped--;
}

/** dma_map_page: the DMA address of the frame (its pfn). */
export function dma_map_page(
  dev: DmaDevice,
  pfn: number,
  _dir: DmaDataDirection = 'DMA_BIDIRECTIONAL',
): number {
  const addr = map_one(dev, pfn);
  getSim().account('dma_map_pages', 1, 'dma_map_page', dev.name);
  return addr;
}

/** dma_unmap_page. */
export function dma_unmap_page(
  dev: DmaDevice,
  addr: number,
  _dir: DmaDataDirection = 'DMA_BIDIRECTIONAL',
): void {
  unmap_one(dev, addr);
  getSim().account('dma_unmap_pages', 1, 'dma_unmap_page', dev.name);
}

/** dma_mapping_error. */
export function dma_mapping_error(_dev: DmaDevice, addr: number): boolean {
  return addr === DMA_MAPPING_ERROR;
}

/**
 * Map `n` frames (a loop of dma_map_page, counted and charged once): out[i] receives the
 * DMA address of pfns[i]. Returns n.
 */
export function dma_map_pages(
  dev: DmaDevice,
  pfns: ArrayLike<number>,
  n: number,
  out: { [i: number]: number },
  _dir: DmaDataDirection = 'DMA_BIDIRECTIONAL',
): number {
  for (let i = 0; i < n; i++) out[i] = map_one(dev, pfns[i] as number);
  getSim().account('dma_map_pages', n, 'dma_map_page', dev.name);
  return n;
}

/** Unmap `n` DMA addresses (a loop of dma_unmap_page, counted and charged once). */
export function dma_unmap_pages(
  dev: DmaDevice,
  addrs: ArrayLike<number>,
  n: number,
  _dir: DmaDataDirection = 'DMA_BIDIRECTIONAL',
): void {
  for (let i = 0; i < n; i++) unmap_one(dev, addrs[i] as number);
  getSim().account('dma_unmap_pages', n, 'dma_unmap_page', dev.name);
}

/** Live mappings of one frame on this device. */
export function dma_mapped_count(dev: DmaDevice, pfn: number): number {
  return dev.map_count[Math.floor(pfn / CHUNK)]?.[pfn & CHUNK_MASK] ?? 0;
}

/** Every frame still mapped, with its mapping count, in pfn order. */
export function dma_leaks(dev: DmaDevice): { pfn: number; count: number }[] {
  const out: { pfn: number; count: number }[] = [];
  if (dev.mapped === 0) return out;
  dev.map_count.forEach((c, idx) => {
    if (!c) return;
    for (let i = 0; i < CHUNK; i++) {
      const n = c[i] as number;
      if (n > 0) out.push({ pfn: idx * CHUNK + i, count: n });
    }
  });
  return out;
}

/** Teardown check (debug_dma_assert_idle-like): trap `leak` when anything is still mapped. */
export function dma_debug_check_leaks(dev: DmaDevice): void {
  if (dev.mapped === 0) return;
  const l = dma_leaks(dev);
  const first = l.slice(0, 8).map((x) => `${x.pfn}${x.count > 1 ? `x${x.count}` : ''}`);
  trap('leak', `${dev.name}: ${dev.mapped} DMA mappings left (frames ${first.join(', ')}...)`, {
    device: dev.name,
    mapped: dev.mapped,
  });
}

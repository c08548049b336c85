/**
 * Physical memory (DESIGN.md "Memory"): every frame, in system RAM or in a device's memory,
 * holds one 32-bit value, and every CPU or GPU access reaches a frame through a page table,
 * so a stale translation shows up as the wrong frame. Frames live in one pfn space (as
 * struct pages do, device-private ones included), split into regions: system RAM and, per
 * GPU, its VRAM (device-private, owned by that GPU's pagemap).
 *
 * Frame state is kept in typed arrays allocated lazily per 4 Ki-frame chunk, so 16M frames
 * cost memory only where touched. A frame's refcount follows get_page / put_page; it returns
 * to its region's free list at zero.
 *
 * pfn 0 is the shared zero page (mm/memory.c ZERO_PAGE): always allocated, never written.
 */
import { ENOMEM } from '../sim/errno.js';
import { trap } from '../sim/trap.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export type Pfn = number;

export type RegionKind = 'system' | 'device-private' | 'device-coherent';

const CHUNK_SHIFT = 12;
const CHUNK = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK - 1;

interface Chunk {
  readonly value: Uint32Array;
  readonly ref: Int32Array;
}

export class PhysRegion {
  /** Frames handed out at least once: [base, base + bump). */
  private bump = 0;
  private freeList: Int32Array = new Int32Array(64);
  private freeTop = 0;
  /** Frames allocated now. */
  used = 0;

  constructor(
    readonly name: string,
    readonly base: Pfn,
    readonly npages: number,
    readonly kind: RegionKind,
    /** The device (pagemap owner) of device memory; null for system RAM. */
    readonly owner: object | null,
  ) {}

  contains(pfn: Pfn): boolean {
    return pfn >= this.base && pfn < this.base + this.npages;
  }

  get free(): number {
    return this.npages - this.used;
  }

  /** Next frame to hand out, or -1 when none is left. */
  take(): Pfn {
    if (this.freeTop > 0) return this.freeList[--this.freeTop] as number;
    if (this.bump < this.npages) return this.base + this.bump++;
    return -1;
  }

  giveBack(pfn: Pfn): void {
    if (this.freeTop === this.freeList.length) {
      const bigger = new Int32Array(this.freeList.length * 2);
      bigger.set(this.freeList);
      this.freeList = bigger;
    }
    this.freeList[this.freeTop++] = pfn;
  }
}

export class PhysMem {
  static readonly ZERO_PFN: Pfn = 0;
  readonly regions: PhysRegion[] = [];
  private readonly chunks: (Chunk | undefined)[] = [];
  private nextBase = CHUNK; // chunk 0 holds the zero page only
  /** Region of each 4 Ki-frame chunk, so regionOf is O(1). */
  private readonly chunkRegion: (PhysRegion | undefined)[] = [];
  /** Sparse per-frame private data (page->zone_device_data, page-cache links, ...). */
  readonly pagePrivate = new Map<Pfn, unknown>();
  /** Called with each frame as it is freed (refcount zero): debug checks such as DMA-API's. */
  readonly freeHooks: ((pfn: Pfn) => void)[] = [];

  constructor() {
    this.chunk(0).ref[0] = 1; // the zero page is never freed
  }

  /** Add a region of `npages` frames; its base is chunk aligned. */
  addRegion(
    name: string,
    npages: number,
    kind: RegionKind,
    owner: object | null = null,
  ): PhysRegion {
    const r = new PhysRegion(name, this.nextBase, npages, kind, owner);
    const nchunks = Math.ceil(npages / CHUNK) || 1;
    for (let i = 0; i < nchunks; i++) this.chunkRegion[(this.nextBase >>> CHUNK_SHIFT) + i] = r;
    this.nextBase += nchunks * CHUNK;
    this.regions.push(r);
    return r;
  }

  regionOf(pfn: Pfn): PhysRegion | undefined {
    const r = this.chunkRegion[Math.floor(pfn / CHUNK)];
    return r && r.contains(pfn) ? r : undefined;
  }

  /** The kind of memory a frame belongs to; undefined for the zero page and unknown pfns. */
  kindOf(pfn: Pfn): RegionKind | undefined {
    return this.regionOf(pfn)?.kind;
  }

  isDevicePrivate(pfn: Pfn): boolean {
    return this.regionOf(pfn)?.kind === 'device-private';
  }

  private chunk(idx: number): Chunk {
    let c = this.chunks[idx];
    if (!c) {
      c = { value: new Uint32Array(CHUNK), ref: new Int32Array(CHUNK) };
      this.chunks[idx] = c;
    }
    return c;
  }

  /** Allocate a frame with refcount 1 and the given value; -ENOMEM when the region is full. */
  alloc(region: PhysRegion, value = 0): Pfn {
    const pfn = region.take();
    if (pfn < 0) return -ENOMEM;
    region.used++;
    const c = this.chunk(pfn >>> CHUNK_SHIFT);
    c.ref[pfn & CHUNK_MASK] = 1;
    c.value[pfn & CHUNK_MASK] = value >>> 0;
    return pfn;
  }

  page_count(pfn: Pfn): number {
    return this.chunks[pfn >>> CHUNK_SHIFT]?.ref[pfn & CHUNK_MASK] ?? 0;
  }

  get_page(pfn: Pfn): void {
    const c = this.chunks[pfn >>> CHUNK_SHIFT];
    const i = pfn & CHUNK_MASK;
    if (!c || (c.ref[i] as number) <= 0) trap('use-after-free', `get_page on free frame ${pfn}`);
    c.ref[i] = (c.ref[i] as number) + 1;
  }

  /** put_page: drop a reference; the frame is freed at zero (the zero page never is). */
  put_page(pfn: Pfn): void {
    const c = this.chunks[pfn >>> CHUNK_SHIFT];
    const i = pfn & CHUNK_MASK;
    if (!c || (c.ref[i] as number) <= 0) trap('use-after-free', `put_page on free frame ${pfn}`);
    const left = (c.ref[i] as number) - 1;
    c.ref[i] = left;
    if (left === 0 && pfn !== PhysMem.ZERO_PFN) {
      const r = this.regionOf(pfn);
      if (!r) trap('bug', `frame ${pfn} belongs to no region`);
      r.used--;
      r.giveBack(pfn);
      this.pagePrivate.delete(pfn);
      for (const hook of this.freeHooks) hook(pfn);
    }
  }

  read(pfn: Pfn): number {
    const c = this.chunks[pfn >>> CHUNK_SHIFT];
    const i = pfn & CHUNK_MASK;
    if (!c || (c.ref[i] as number) <= 0) trap('use-after-free', `read of free frame ${pfn}`);
    return c.value[i] as number;
  }

  write(pfn: Pfn, value: number): void {
    if (pfn === PhysMem.ZERO_PFN) trap('bug', 'write to the shared zero page');
    const c = this.chunks[pfn >>> CHUNK_SHIFT];
    const i = pfn & CHUNK_MASK;
    if (!c || (c.ref[i] as number) <= 0) trap('use-after-free', `write to free frame ${pfn}`);
    c.value[i] = value >>> 0;
  }

  /** Copy a frame's value (migration, COW, swap). */
  copy(from: Pfn, to: Pfn): void {
    this.write(to, this.read(from));
  }

  /** Frames in use over all regions (the zero page excluded). */
  get used(): number {
    return this.regions.reduce((n, r) => n + r.used, 0);
  }
}

/**
 * Storage for GPU translations: chunked typed arrays, never one object per page (DESIGN.md
 * "Memory"). A chunk is a page-table block (PTB) of 512 entries covering 2 MiB, as amdgpu's
 * default block size gives (amdgpu_vm_pt.c, AMDGPU_VM_PTB with 9 bits); chunks are created on
 * first write. Both the VM page tables and the per-GPU TLB use it.
 *
 * An entry is a frame number (Uint32) and a flag word (Uint16, pte.ts layout). Flags 0 means
 * "nothing here" (a cleared PTE, a TLB miss).
 */
import { trap } from '../sim/trap.js';

export const AMDGPU_VM_PTB_SHIFT = 9;
export const AMDGPU_VM_PTB_ENTRIES = 1 << AMDGPU_VM_PTB_SHIFT;
const MAX_PFN = 0xffffffff;

/** One PTB: 512 entries. */
export class PteChunk {
  readonly pfn = new Uint32Array(AMDGPU_VM_PTB_ENTRIES);
  readonly flags = new Uint16Array(AMDGPU_VM_PTB_ENTRIES);
  /**
   * The PDE pointing at this PTB has been written (amdgpu_vm_update_pdes). Until then the
   * walker cannot reach the entries. Unused by the TLB.
   */
  pde_valid = false;
  /** The store generation this chunk's entries belong to (older = all empty). */
  gen = 0;
  constructor(readonly index: number) {}
}

/** Chunk index of a page number (page numbers may exceed 2^32: no bit operations). */
export function ptb_index(page: number): number {
  return Math.floor(page / AMDGPU_VM_PTB_ENTRIES);
}

export function ptb_offset(page: number): number {
  return page % AMDGPU_VM_PTB_ENTRIES;
}

export class PteStore {
  private readonly chunks = new Map<number, PteChunk>();
  /**
   * Bumped by invalidate(): chunks of an older generation read as empty and are reset when
   * written again. A TLB flush is then O(1) and allocates nothing.
   */
  private gen = 0;

  /** The chunk covering `page`, if it exists. */
  chunk(page: number): PteChunk | undefined {
    const c = this.chunks.get(ptb_index(page));
    return c && c.gen === this.gen ? c : undefined;
  }

  /** The chunk covering `page`, created if missing; `created` tells the caller. */
  chunkAlloc(page: number): { chunk: PteChunk; created: boolean } {
    const idx = ptb_index(page);
    let c = this.chunks.get(idx);
    if (c && c.gen === this.gen) return { chunk: c, created: false };
    if (c) {
      c.pfn.fill(0);
      c.flags.fill(0);
      c.pde_valid = false;
    } else {
      c = new PteChunk(idx);
      this.chunks.set(idx, c);
    }
    c.gen = this.gen;
    return { chunk: c, created: true };
  }

  /** Flags at `page` (0 when nothing is there). */
  flags(page: number): number {
    const c = this.chunk(page);
    return c ? (c.flags[ptb_offset(page)] as number) : 0;
  }

  pfn(page: number): number {
    const c = this.chunk(page);
    return c ? (c.pfn[ptb_offset(page)] as number) : 0;
  }

  /** Write one entry into an existing chunk. */
  static set(c: PteChunk, page: number, pfn: number, flags: number): void {
    if (pfn < 0 || pfn > MAX_PFN) trap('bug', `PTE frame ${pfn} out of range`);
    const i = ptb_offset(page);
    c.pfn[i] = pfn;
    c.flags[i] = flags;
  }

  /** Drop every entry and its storage (VM teardown). */
  clear(): void {
    this.chunks.clear();
  }

  /** Drop every entry, keeping the storage for reuse (a TLB flush of the whole VM). */
  invalidate(): void {
    this.gen++;
  }

  /** Number of live chunks (page-table BOs, or TLB blocks). */
  get size(): number {
    let n = 0;
    for (const c of this.chunks.values()) if (c.gen === this.gen) n++;
    return n;
  }

  /** Every live chunk, in creation order. */
  *all(): IterableIterator<PteChunk> {
    for (const c of this.chunks.values()) if (c.gen === this.gen) yield c;
  }
}

/**
 * Reverse map: for each frame, the (mm, vpn) places whose page table entry refers to it
 * (mm/rmap.c folio_add_anon_rmap_pte / folio_remove_rmap_pte, rmap_walk).
 *
 * SIM: Linux finds mappings through anon_vma chains and i_mmap trees; the model records them
 * directly. The first mapping of a frame lives in typed arrays allocated per 4 Ki-frame
 * chunk (12 bytes per frame, no object per page); further mappings (after fork, or a page
 * cache page mapped twice) go to a sparse overflow map. Present ptes, device-private entries
 * and migration entries are recorded; swap entries and the zero page are not.
 */
import { trap } from '../sim/trap.js';

const CHUNK_SHIFT = 12;
const CHUNK = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK - 1;

interface RmapChunk {
  /** mm id + 1 of the first mapping; 0 = none. */
  readonly mm: Int32Array;
  readonly vpn: Float64Array;
}

export class Rmap {
  private readonly chunks: (RmapChunk | undefined)[] = [];
  /** Further mappings as flat [mmId, vpn, mmId, vpn, ...] lists. */
  private readonly extra = new Map<number, number[]>();

  private chunk(pfn: number): RmapChunk {
    const idx = Math.floor(pfn / CHUNK);
    let c = this.chunks[idx];
    if (!c) {
      c = { mm: new Int32Array(CHUNK), vpn: new Float64Array(CHUNK) };
      this.chunks[idx] = c;
    }
    return c;
  }

  /** page_add_*_rmap: record that (mm, vpn) maps `pfn`. */
  add(pfn: number, mmId: number, vpn: number): void {
    const c = this.chunk(pfn);
    const i = pfn & CHUNK_MASK;
    if (c.mm[i] === 0) {
      c.mm[i] = mmId + 1;
      c.vpn[i] = vpn;
      return;
    }
    const x = this.extra.get(pfn);
    if (x) x.push(mmId, vpn);
    else this.extra.set(pfn, [mmId, vpn]);
  }

  /** page_remove_rmap: forget (mm, vpn); a `bug` trap when it was not recorded. */
  remove(pfn: number, mmId: number, vpn: number): void {
    const c = this.chunks[Math.floor(pfn / CHUNK)];
    const i = pfn & CHUNK_MASK;
    const x = this.extra.get(pfn);
    if (c && c.mm[i] === mmId + 1 && c.vpn[i] === vpn) {
      if (x && x.length > 0) {
        c.mm[i] = (x[0] as number) + 1;
        c.vpn[i] = x[1] as number;
        x.splice(0, 2);
        if (x.length === 0) this.extra.delete(pfn);
      } else {
        c.mm[i] = 0;
        c.vpn[i] = 0;
      }
      return;
    }
    if (x) {
      for (let k = 0; k < x.length; k += 2) {
        if (x[k] === mmId && x[k + 1] === vpn) {
          x.splice(k, 2);
          if (x.length === 0) this.extra.delete(pfn);
          return;
        }
      }
    }
    trap('bug', `rmap: frame ${pfn} is not mapped by mm ${mmId} at page ${vpn}`);
  }

  /** Change the recorded place of one mapping (mremap moving a pte). */
  move(pfn: number, mmId: number, oldVpn: number, newVpn: number): void {
    this.remove(pfn, mmId, oldVpn);
    this.add(pfn, mmId, newVpn);
  }

  /** Number of recorded mappings (page_mapcount, migration entries included). */
  count(pfn: number): number {
    const c = this.chunks[Math.floor(pfn / CHUNK)];
    if (!c || c.mm[pfn & CHUNK_MASK] === 0) return 0;
    return 1 + (this.extra.get(pfn)?.length ?? 0) / 2;
  }

  /** The recorded mappings as a fresh flat [mmId, vpn, ...] list (safe to mutate the rmap). */
  list(pfn: number): number[] {
    const c = this.chunks[Math.floor(pfn / CHUNK)];
    const i = pfn & CHUNK_MASK;
    if (!c || c.mm[i] === 0) return [];
    const out = [(c.mm[i] as number) - 1, c.vpn[i] as number];
    const x = this.extra.get(pfn);
    if (x) out.push(...x);
    return out;
  }
}

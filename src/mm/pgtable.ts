/**
 * The CPU page table of one mm (arch/x86 4- or 5-level tables, reduced to their leaves).
 *
 * SIM: the upper levels are a Map from the PMD index (vpn / 512) to a leaf: a "PTE table" of
 * 512 entries held in two typed arrays (a 32-bit frame or swap-slot number and an 8-bit
 * descriptor), 5 bytes per page and no JS object per page. A leaf exists from the first
 * entry set in its 2 MiB block until munmap or exit frees the block, as Linux keeps PTE
 * tables until free_pgtables; mprotect looks at leaf existence as Linux looks at pmd_none.
 *
 * Entry kinds (the descriptor's low 3 bits):
 *  - PTE_NONE: pte_none;
 *  - PTE_PRESENT: a present pte mapping `pfn` (PTE_WRITE: writable; PTE_SPECIAL: no struct
 *    page behind it, VM_PFNMAP);
 *  - PTE_SWAP: a swap entry, `pfn` holds the swap slot;
 *  - PTE_DEVICE_PRIVATE: a device-private swap entry for device frame `pfn`
 *    (PTE_WRITE: make_writable_device_private_entry);
 *  - PTE_MIGRATION: a migration entry for frame `pfn` (PTE_WRITE: writable migration entry).
 */
import { PTRS_PER_PTE } from './consts.js';

export const PTE_NONE = 0;
export const PTE_PRESENT = 1;
export const PTE_SWAP = 2;
export const PTE_DEVICE_PRIVATE = 3;
export const PTE_MIGRATION = 4;
export type PteKind = 0 | 1 | 2 | 3 | 4;
export const PTE_KIND_MASK = 0x7;
export const PTE_WRITE = 0x8;
export const PTE_SPECIAL = 0x10;

export class PteLeaf {
  readonly pfn = new Int32Array(PTRS_PER_PTE);
  readonly desc = new Uint8Array(PTRS_PER_PTE);
  /** Entries that are not pte_none. */
  used = 0;
  constructor(readonly index: number) {}
}

export class PageTable {
  private readonly leaves = new Map<number, PteLeaf>();

  get nr_leaves(): number {
    return this.leaves.size;
  }

  /** The leaf covering `vpn`, if that 2 MiB block has one. */
  leaf(vpn: number): PteLeaf | undefined {
    return this.leaves.get(Math.floor(vpn / PTRS_PER_PTE));
  }

  /** pte_alloc: the leaf covering `vpn`, created when missing. */
  leaf_alloc(vpn: number): PteLeaf {
    const idx = Math.floor(vpn / PTRS_PER_PTE);
    let l = this.leaves.get(idx);
    if (!l) {
      l = new PteLeaf(idx);
      this.leaves.set(idx, l);
    }
    return l;
  }

  /** The raw descriptor of `vpn` (0 = pte_none). */
  desc(vpn: number): number {
    const l = this.leaves.get(Math.floor(vpn / PTRS_PER_PTE));
    return l ? (l.desc[vpn % PTRS_PER_PTE] as number) : 0;
  }

  kind(vpn: number): PteKind {
    return (this.desc(vpn) & PTE_KIND_MASK) as PteKind;
  }

  /** Frame (or swap slot) of `vpn`; meaningless for pte_none. */
  pfn(vpn: number): number {
    const l = this.leaves.get(Math.floor(vpn / PTRS_PER_PTE));
    return l ? (l.pfn[vpn % PTRS_PER_PTE] as number) : 0;
  }

  /** set_pte_at: store an entry (kind | flags) for `vpn`. */
  set(vpn: number, desc: number, pfn: number): void {
    const l = this.leaf_alloc(vpn);
    const i = vpn % PTRS_PER_PTE;
    if ((l.desc[i] as number) === 0 && desc !== 0) l.used++;
    else if ((l.desc[i] as number) !== 0 && desc === 0) l.used--;
    l.desc[i] = desc;
    l.pfn[i] = pfn;
  }

  /** pte_clear. The leaf stays (see the header). */
  clear(vpn: number): void {
    const l = this.leaves.get(Math.floor(vpn / PTRS_PER_PTE));
    if (!l) return;
    const i = vpn % PTRS_PER_PTE;
    if ((l.desc[i] as number) !== 0) l.used--;
    l.desc[i] = 0;
    l.pfn[i] = 0;
  }

  /** Change the flag bits of an existing entry, keeping its kind and frame. */
  set_flags(vpn: number, set: number, clear: number): void {
    const l = this.leaves.get(Math.floor(vpn / PTRS_PER_PTE));
    if (!l) return;
    const i = vpn % PTRS_PER_PTE;
    const d = l.desc[i] as number;
    if (d === 0) return;
    l.desc[i] = (d & ~clear) | set;
  }

  /**
   * Leaves overlapping [start, end), in address order. Walks the Map when the range is
   * larger than the table, so whole-address-space walks (exit) stay cheap.
   */
  leaves_in(start: number, end: number): PteLeaf[] {
    const first = Math.floor(start / PTRS_PER_PTE);
    const last = Math.floor((end - 1) / PTRS_PER_PTE);
    const out: PteLeaf[] = [];
    if (end <= start) return out;
    if (last - first + 1 > this.leaves.size) {
      for (const l of this.leaves.values()) if (l.index >= first && l.index <= last) out.push(l);
      out.sort((a, b) => a.index - b.index);
    } else {
      for (let i = first; i <= last; i++) {
        const l = this.leaves.get(i);
        if (l) out.push(l);
      }
    }
    return out;
  }

  /**
   * Visit every entry that is not pte_none in [start, end), in address order. The callback
   * may change or clear the entry it is given, not others.
   */
  for_each(start: number, end: number, fn: (vpn: number, desc: number, pfn: number) => void): void {
    for (const l of this.leaves_in(start, end)) {
      if (l.used === 0) continue;
      const base = l.index * PTRS_PER_PTE;
      const lo = Math.max(start, base) - base;
      const hi = Math.min(end, base + PTRS_PER_PTE) - base;
      for (let i = lo; i < hi; i++) {
        const d = l.desc[i] as number;
        if (d !== 0) fn(base + i, d, l.pfn[i] as number);
      }
    }
  }

  /** True when some entry in [start, end) is not pte_none. */
  populated(start: number, end: number): boolean {
    let any = false;
    for (const l of this.leaves_in(start, end)) {
      if (l.used === 0) continue;
      const base = l.index * PTRS_PER_PTE;
      const lo = Math.max(start, base) - base;
      const hi = Math.min(end, base + PTRS_PER_PTE) - base;
      for (let i = lo; i < hi && !any; i++) any = (l.desc[i] as number) !== 0;
      if (any) return true;
    }
    return false;
  }

  /** free_pgtables: drop the leaves entirely inside [start, end) that hold no entry. */
  free_empty(start: number, end: number): void {
    for (const l of this.leaves_in(start, end)) {
      const base = l.index * PTRS_PER_PTE;
      if (l.used === 0 && base >= start && base + PTRS_PER_PTE <= end) this.leaves.delete(l.index);
    }
  }

  /** Drop every leaf (exit_mmap after the zap). */
  free_all(): void {
    this.leaves.clear();
  }
}

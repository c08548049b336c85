/**
 * The swap device (mm/swapfile.c): slots that keep the value of a swapped-out page, with a
 * swap count (swap_duplicate at fork, swap_free when an entry goes away).
 *
 * SIM: no swap cache. A swap-in gives the faulting mm its own frame with the slot's value,
 * so two mms that share a slot after fork each get a private copy (the data each sees is
 * what Linux gives them; only frame sharing differs). Slot 0 is never handed out.
 */
import { trap } from '../sim/trap.js';

const CHUNK_SHIFT = 12;
const CHUNK = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK - 1;

interface SwapChunk {
  readonly value: Uint32Array;
  readonly count: Int32Array;
}

export class SwapDevice {
  private readonly chunks: (SwapChunk | undefined)[] = [];
  private bump = 1;
  private freeList: number[] = [];
  /** Slots in use. */
  used = 0;

  constructor(readonly nslots: number) {}

  private chunk(slot: number): SwapChunk {
    const idx = Math.floor(slot / CHUNK);
    let c = this.chunks[idx];
    if (!c) {
      c = { value: new Uint32Array(CHUNK), count: new Int32Array(CHUNK) };
      this.chunks[idx] = c;
    }
    return c;
  }

  /** get_swap_page: a slot holding `value` with count `count`, or 0 when swap is full. */
  alloc(value: number, count = 1): number {
    let slot = this.freeList.pop();
    if (slot === undefined) {
      if (this.bump > this.nslots) return 0;
      slot = this.bump++;
    }
    const c = this.chunk(slot);
    c.value[slot & CHUNK_MASK] = value >>> 0;
    c.count[slot & CHUNK_MASK] = count;
    this.used++;
    return slot;
  }

  private live(slot: number): SwapChunk {
    const c = this.chunks[Math.floor(slot / CHUNK)];
    if (!c || (c.count[slot & CHUNK_MASK] as number) <= 0)
      trap('use-after-free', `swap slot ${slot} is free`);
    return c;
  }

  read(slot: number): number {
    return this.live(slot).value[slot & CHUNK_MASK] as number;
  }

  count(slot: number): number {
    const c = this.chunks[Math.floor(slot / CHUNK)];
    return c ? (c.count[slot & CHUNK_MASK] as number) : 0;
  }

  /** swap_duplicate: one more entry refers to the slot. */
  dup(slot: number): void {
    const c = this.live(slot);
    c.count[slot & CHUNK_MASK] = (c.count[slot & CHUNK_MASK] as number) + 1;
  }

  /** swap_free: one entry less; the slot is freed at zero. */
  free(slot: number): void {
    const c = this.live(slot);
    const left = (c.count[slot & CHUNK_MASK] as number) - 1;
    c.count[slot & CHUNK_MASK] = left;
    if (left === 0) {
      this.used--;
      this.freeList.push(slot);
    }
  }
}

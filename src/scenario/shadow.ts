/**
 * The data oracle's shadow memory (DESIGN.md "Oracle" 3): for each process, the last value
 * written at each page by a completed CPU or GPU step, so every later read can be checked,
 * whatever migration, eviction, swap, fork or COW did in between.
 *
 * Concurrent steps make "the last value" ambiguous. Each write step is registered while it
 * runs; when it completes, a page that another write step also completed on meanwhile
 * becomes unknown, and a read skips pages written while it ran or still being written.
 * Pages are kept in typed-array chunks, so a large buffer costs a few bytes per page.
 */

const CHUNK_SHIFT = 12;
const CHUNK = 1 << CHUNK_SHIFT;
const MASK = CHUNK - 1;

/** Page states: never written since it was (re)created (reads as 0), a known value, unknown. */
const FRESH = 0;
const KNOWN = 1;
const UNKNOWN = 2;

interface Chunk {
  readonly value: Uint32Array;
  readonly state: Uint8Array;
  /** Sequence number of the write step that last completed on the page. */
  readonly seq: Uint32Array;
}

export interface Span {
  readonly start: number;
  readonly npages: number;
}

export class ShadowMem {
  private readonly chunks = new Map<number, Chunk>();
  /** Write steps in flight. */
  private readonly active = new Set<Span>();
  private static seqCounter = 0;

  private chunk(vpn: number, create: boolean): Chunk | undefined {
    const k = Math.floor(vpn / CHUNK);
    let c = this.chunks.get(k);
    if (!c && create) {
      c = {
        value: new Uint32Array(CHUNK),
        state: new Uint8Array(CHUNK),
        seq: new Uint32Array(CHUNK),
      };
      this.chunks.set(k, c);
    }
    return c;
  }

  /** A write step over `span` starts; returns its token for {@link endWrite}. */
  beginWrite(span: Span): { span: Span; seq: number } {
    this.active.add(span);
    return { span, seq: ShadowMem.seqCounter };
  }

  /** The write step ends: page i of the span now holds value(i) (for i < done). */
  endWrite(token: { span: Span; seq: number }, done: number, value: (i: number) => number): void {
    this.active.delete(token.span);
    const seq = ++ShadowMem.seqCounter;
    for (let i = 0; i < done; i++) {
      const vpn = token.span.start + i;
      const c = this.chunk(vpn, true) as Chunk;
      const j = vpn & MASK;
      const raced = (c.seq[j] as number) > token.seq || this.inFlight(vpn);
      c.state[j] = raced ? UNKNOWN : KNOWN;
      c.value[j] = value(i) >>> 0;
      c.seq[j] = seq;
    }
  }

  /** Sequence point for a read step starting now. */
  beginRead(): number {
    return ShadowMem.seqCounter;
  }

  /**
   * What page `vpn` must hold for a read that started at `since`: a value, or undefined when
   * it cannot be known (written concurrently, or unknown).
   */
  expected(vpn: number, since: number): number | undefined {
    if (this.inFlight(vpn)) return undefined;
    const c = this.chunk(vpn, false);
    if (!c) return 0;
    const j = vpn & MASK;
    if ((c.seq[j] as number) > since) return undefined;
    const st = c.state[j];
    if (st === FRESH) return 0;
    return st === KNOWN ? c.value[j] : undefined;
  }

  private inFlight(vpn: number): boolean {
    for (const s of this.active) if (vpn >= s.start && vpn < s.start + s.npages) return true;
    return false;
  }

  /** Pages dropped (munmap, MADV_DONTNEED, a new mapping): they read 0 again. */
  clear(start: number, npages: number): void {
    for (let vpn = start; vpn < start + npages;) {
      const c = this.chunk(vpn, false);
      const end = Math.min(start + npages, (Math.floor(vpn / CHUNK) + 1) * CHUNK);
      if (c) {
        c.state.fill(FRESH, vpn & MASK, ((end - 1) & MASK) + 1);
        c.seq.fill(ShadowMem.seqCounter + 1, vpn & MASK, ((end - 1) & MASK) + 1);
      }
      vpn = end;
    }
    ShadowMem.seqCounter++;
  }

  /** Pages whose content the oracle cannot follow (shared or file-backed memory). */
  forget(start: number, npages: number): void {
    for (let i = 0; i < npages; i++) {
      const c = this.chunk(start + i, true) as Chunk;
      c.state[(start + i) & MASK] = UNKNOWN;
    }
  }

  /** mremap: the content of [from, from+n) now lives at [to, to+n). */
  move(from: number, to: number, npages: number): void {
    const vals: number[] = [];
    const states: number[] = [];
    for (let i = 0; i < npages; i++) {
      const c = this.chunk(from + i, false);
      const j = (from + i) & MASK;
      vals.push(c ? (c.value[j] as number) : 0);
      states.push(c ? (c.state[j] as number) : FRESH);
    }
    this.clear(from, npages);
    const seq = ++ShadowMem.seqCounter;
    for (let i = 0; i < npages; i++) {
      const c = this.chunk(to + i, true) as Chunk;
      const j = (to + i) & MASK;
      c.value[j] = vals[i] as number;
      c.state[j] = states[i] as number;
      c.seq[j] = seq;
    }
  }

  /** fork: the child starts with the parent's memory. */
  clone(): ShadowMem {
    const s = new ShadowMem();
    for (const [k, c] of this.chunks) {
      s.chunks.set(k, { value: c.value.slice(), state: c.state.slice(), seq: c.seq.slice() });
    }
    return s;
  }
}

/**
 * Virtual-time timers: a binary min-heap ordered by (deadline, sequence), so timers with the
 * same deadline fire in the order they were armed (deterministic).
 */
export class Timer {
  cancelled = false;
  constructor(
    readonly deadline: number,
    readonly seq: number,
    readonly fire: () => void,
  ) {}
}

function before(a: Timer, b: Timer): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}

export class TimerHeap {
  private readonly heap: Timer[] = [];
  private seq = 0;

  add(deadline: number, fire: () => void): Timer {
    const t = new Timer(deadline, this.seq++, fire);
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as Timer;
      if (!before(t, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = t;
    return t;
  }

  /** The earliest live timer, dropping cancelled ones on the way. */
  peek(): Timer | undefined {
    let top = this.heap[0];
    while (top?.cancelled) {
      this.pop();
      top = this.heap[0];
    }
    return top;
  }

  pop(): Timer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && before(h[r] as Timer, h[l] as Timer) ? r : l;
        if (!before(h[c] as Timer, last)) break;
        h[i] = h[c] as Timer;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  /** Live timers left. */
  get size(): number {
    let n = 0;
    for (const t of this.heap) if (!t.cancelled) n++;
    return n;
  }
}

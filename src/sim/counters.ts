/**
 * Counters (DESIGN.md "Counters and costs"). Every primitive counts itself here; scenarios
 * read them by name, and `name@gpuX` reads one GPU's share.
 */
interface Cell {
  v: number;
}

export class Counters {
  private readonly values = new Map<string, Cell>();
  /** Per name, per scope: the `name@scope` cell (counting is on hot paths). */
  private readonly scoped = new Map<string, Map<string, Cell>>();

  private cell(key: string): Cell {
    let c = this.values.get(key);
    if (!c) {
      c = { v: 0 };
      this.values.set(key, c);
    }
    return c;
  }

  /** Add `n` to `name`, and to `name@scope` when a scope (a GPU name) is given. */
  add(name: string, n = 1, scope?: string): void {
    this.cell(name).v += n;
    if (scope !== undefined) {
      let cells = this.scoped.get(name);
      if (!cells) {
        cells = new Map();
        this.scoped.set(name, cells);
      }
      let c = cells.get(scope);
      if (!c) {
        c = this.cell(`${name}@${scope}`);
        cells.set(scope, c);
      }
      c.v += n;
    }
  }

  get(name: string): number {
    return this.values.get(name)?.v ?? 0;
  }

  /** A copy of every counter, sorted by name. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of [...this.values.keys()].sort()) out[k] = this.values.get(k)?.v ?? 0;
    return out;
  }

  /** Differences `now - before` of every counter that changed. */
  static diff(before: Record<string, number>, now: Record<string, number>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(now)) {
      const d = v - (before[k] ?? 0);
      if (d !== 0) out[k] = d;
    }
    return out;
  }
}

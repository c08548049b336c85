/**
 * Counters (DESIGN.md "Counters and costs"). Every primitive counts itself here; scenarios
 * read them by name, and `name@gpuX` reads one GPU's share.
 */
interface Cell {
  v: number;
}

/** A counter name's cell, and the cell of the scope it was last counted under. */
interface Entry {
  readonly cell: Cell;
  /** Per scope: the `name@scope` cell. */
  scoped: Map<string, Cell> | null;
  lastScope: string | undefined;
  lastScoped: Cell | null;
}

export class Counters {
  private readonly values = new Map<string, Cell>();
  /** Per name counted through add (counting is on hot paths: one lookup per add). */
  private readonly entries = new Map<string, Entry>();

  private cell(key: string): Cell {
    let c = this.values.get(key);
    if (!c) {
      c = { v: 0 };
      this.values.set(key, c);
    }
    return c;
  }

  private entry(name: string): Entry {
    const e: Entry = {
      cell: this.cell(name),
      scoped: null,
      lastScope: undefined,
      lastScoped: null,
    };
    this.entries.set(name, e);
    return e;
  }

  private scopedCell(e: Entry, name: string, scope: string): Cell {
    if (!e.scoped) e.scoped = new Map();
    let c = e.scoped.get(scope);
    if (!c) {
      c = this.cell(`${name}@${scope}`);
      e.scoped.set(scope, c);
    }
    e.lastScope = scope;
    e.lastScoped = c;
    return c;
  }

  /** Add `n` to `name`, and to `name@scope` when a scope (a GPU name) is given. */
  add(name: string, n = 1, scope?: string): void {
    const e = this.entries.get(name) ?? this.entry(name);
    e.cell.v += n;
    if (scope !== undefined) {
      const c = scope === e.lastScope ? (e.lastScoped as Cell) : this.scopedCell(e, name, scope);
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

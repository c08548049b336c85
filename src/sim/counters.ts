/**
 * Counters (DESIGN.md "Counters and costs"). Every primitive counts itself here; scenarios
 * read them by name, and `name@gpuX` reads one GPU's share.
 */
export class Counters {
  private readonly values = new Map<string, number>();

  /** Add `n` to `name`, and to `name@scope` when a scope (a GPU name) is given. */
  add(name: string, n = 1, scope?: string): void {
    this.values.set(name, (this.values.get(name) ?? 0) + n);
    if (scope !== undefined) {
      const key = `${name}@${scope}`;
      this.values.set(key, (this.values.get(key) ?? 0) + n);
    }
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  /** A copy of every counter, sorted by name. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of [...this.values.keys()].sort()) out[k] = this.values.get(k) ?? 0;
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

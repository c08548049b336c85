/**
 * The one trace module (DESIGN.md Conventions 7). Every layer emits typed events through
 * {@link Trace.emit}; a layer declares its kinds by merging into {@link TraceEventMap}:
 *
 *   declare module '../sim/trace.js' {
 *     interface TraceEventMap { 'mm.munmap': { start: number; npages: number } }
 *   }
 *
 * Events carry the virtual time and the running task. The full log is kept only when asked
 * for (`--trace FILE`); a short tail is always kept so that a trap can show what led to it.
 * Field order is insertion order, so the JSON-lines output is byte-identical across runs.
 */

/** Event kinds and their fields. Extended by each layer through declaration merging. */
export interface TraceEventMap {
  'task.spawn': { id: number; name: string };
  'task.exit': { id: number };
  'task.kill': { id: number };
  trap: { trapKind: string; message: string };
  note: { text: string };
}

export type TraceKind = keyof TraceEventMap;

export interface TraceEvent {
  /** Virtual time in ns. */
  t: number;
  /** Name of the task that emitted it ('-' outside any task). */
  task: string;
  kind: string;
  [field: string]: unknown;
}

export class Trace {
  /** Keep every event (for --trace); otherwise only the tail. */
  private readonly keepAll: boolean;
  private readonly all: TraceEvent[] = [];
  private readonly ring: (TraceEvent | undefined)[];
  private ringPos = 0;
  private count = 0;

  constructor(
    opts: { keepAll?: boolean; tail?: number } = {},
    private readonly where: () => { t: number; task: string } = () => ({ t: 0, task: '-' }),
  ) {
    this.keepAll = opts.keepAll ?? false;
    this.ring = new Array<TraceEvent | undefined>(opts.tail ?? 64);
  }

  emit<K extends TraceKind>(kind: K, fields: TraceEventMap[K]): void {
    const { t, task } = this.where();
    const ev: TraceEvent = { t, task, kind, ...fields };
    this.count++;
    if (this.keepAll) this.all.push(ev);
    if (this.ring.length > 0) {
      this.ring[this.ringPos] = ev;
      this.ringPos = (this.ringPos + 1) % this.ring.length;
    }
  }

  /** Number of events emitted so far. */
  get size(): number {
    return this.count;
  }

  /** Every event, in order (empty unless constructed with keepAll). */
  events(): readonly TraceEvent[] {
    return this.all;
  }

  /** The last events, oldest first. */
  tail(): TraceEvent[] {
    const n = this.ring.length;
    const out: TraceEvent[] = [];
    for (let i = 0; i < n; i++) {
      const ev = this.ring[(this.ringPos + i) % n];
      if (ev) out.push(ev);
    }
    return out;
  }

  /** The full log as JSON lines. */
  toJsonLines(): string {
    return this.all.map((e) => JSON.stringify(e)).join('\n') + (this.all.length ? '\n' : '');
  }
}

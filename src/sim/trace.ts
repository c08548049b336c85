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

/** A recorded event before it is shaped for output: [t, task, kind, fields]. */
type Rec = readonly [number, string, string, object];

function shape(r: Rec): TraceEvent {
  return { t: r[0], task: r[1], kind: r[2], ...r[3] };
}

export class Trace {
  /** Keep every event (for --trace); otherwise only the tail. */
  private readonly keepAll: boolean;
  private readonly all: Rec[] = [];
  private readonly ring: (Rec | undefined)[];
  private ringPos = 0;
  private count = 0;

  constructor(
    opts: { keepAll?: boolean; tail?: number } = {},
    /** Virtual time and running task's name of an event emitted now. */
    private readonly now: () => number = () => 0,
    private readonly taskName: () => string = () => '-',
  ) {
    this.keepAll = opts.keepAll ?? false;
    this.ring = new Array<Rec | undefined>(opts.tail ?? 64);
  }

  /**
   * Record an event. The fields object is kept as given (callers pass a fresh literal) and
   * shaped into a TraceEvent only when read: emitting is on hot paths.
   */
  emit<K extends TraceKind>(kind: K, fields: TraceEventMap[K]): void {
    const rec: Rec = [this.now(), this.taskName(), kind, fields];
    this.count++;
    if (this.keepAll) this.all.push(rec);
    if (this.ring.length > 0) {
      this.ring[this.ringPos] = rec;
      this.ringPos = (this.ringPos + 1) % this.ring.length;
    }
  }

  /** Number of events emitted so far. */
  get size(): number {
    return this.count;
  }

  /** Every event, in order (empty unless constructed with keepAll). */
  events(): TraceEvent[] {
    return this.all.map(shape);
  }

  /** The last events, oldest first. */
  tail(): TraceEvent[] {
    const n = this.ring.length;
    const out: TraceEvent[] = [];
    for (let i = 0; i < n; i++) {
      const r = this.ring[(this.ringPos + i) % n];
      if (r) out.push(shape(r));
    }
    return out;
  }

  /** The full log as JSON lines. */
  toJsonLines(): string {
    return this.all.map((r) => JSON.stringify(shape(r))).join('\n') + (this.all.length ? '\n' : '');
  }
}

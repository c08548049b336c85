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

/**
 * Recorded events before they are shaped for output, by column (time, task, kind, fields):
 * emitting allocates nothing but the caller's fields object.
 */
class Columns {
  readonly t: number[] = [];
  readonly task: string[] = [];
  readonly kind: string[] = [];
  readonly fields: object[] = [];

  set(i: number, t: number, task: string, kind: string, fields: object): void {
    this.t[i] = t;
    this.task[i] = task;
    this.kind[i] = kind;
    this.fields[i] = fields;
  }

  shape(i: number): TraceEvent {
    return {
      t: this.t[i] as number,
      task: this.task[i] as string,
      kind: this.kind[i] as string,
      ...this.fields[i],
    };
  }
}

export class Trace {
  /** Keep every event (for --trace); otherwise only the tail. */
  private readonly keepAll: boolean;
  private readonly all = new Columns();
  /** The last `tail` events, a ring from ringPos (oldest) once full. */
  private readonly ring = new Columns();
  private readonly ringSize: number;
  private ringPos = 0;
  private count = 0;

  constructor(
    opts: { keepAll?: boolean; tail?: number } = {},
    /** Virtual time and running task's name of an event emitted now. */
    private readonly now: () => number = () => 0,
    private readonly taskName: () => string = () => '-',
  ) {
    this.keepAll = opts.keepAll ?? false;
    this.ringSize = opts.tail ?? 64;
  }

  /**
   * Record an event. The fields object is kept as given (callers pass a fresh literal) and
   * shaped into a TraceEvent only when read: emitting is on hot paths.
   */
  emit<K extends TraceKind>(kind: K, fields: TraceEventMap[K]): void {
    const t = this.now();
    const task = this.taskName();
    if (this.keepAll) this.all.set(this.count, t, task, kind, fields);
    this.count++;
    if (this.ringSize > 0) {
      this.ring.set(this.ringPos, t, task, kind, fields);
      this.ringPos = this.ringPos + 1 === this.ringSize ? 0 : this.ringPos + 1;
    }
  }

  /** Number of events emitted so far. */
  get size(): number {
    return this.count;
  }

  /** Every event, in order (empty unless constructed with keepAll). */
  events(): TraceEvent[] {
    const out: TraceEvent[] = [];
    for (let i = 0; i < this.all.t.length; i++) out.push(this.all.shape(i));
    return out;
  }

  /** The last events, oldest first. */
  tail(): TraceEvent[] {
    const n = this.ring.t.length;
    const first = n < this.ringSize ? 0 : this.ringPos;
    const out: TraceEvent[] = [];
    for (let i = 0; i < n; i++) out.push(this.ring.shape((first + i) % n));
    return out;
  }

  /** The full log as JSON lines. */
  toJsonLines(): string {
    const lines = this.events().map((e) => JSON.stringify(e));
    return lines.join('\n') + (lines.length ? '\n' : '');
  }
}

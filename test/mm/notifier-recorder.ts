/** An interval notifier that records every invalidation it gets: event, range, task, locks. */
import { current, getSim, type Co } from '../../src/sim/index.js';
import {
  MmuIntervalNotifier,
  ULONG_MAX_PAGES,
  mmu_interval_notifier_insert,
  mmu_interval_set_seq,
  mmu_notifier_range_blockable,
  mmu_notify_event_name,
  type MmStruct,
  type MmuNotifierRange,
} from '../../src/mm/index.js';

export interface Seen {
  event: string;
  start: number;
  end: number;
  task: string;
  /** Locks held by the task in the callback, "class:mode", in acquisition order. */
  held: string[];
  owner: object | null;
  blockable: boolean;
}

export interface Recorder {
  mni: MmuIntervalNotifier;
  seen: Seen[];
}

export function held_locks(): string[] {
  const ld = getSim().lockdep;
  return current().held.map((h) => `${ld.className(h.cls)}:${h.mode}`);
}

export function record(range: MmuNotifierRange, seen: Seen[]): void {
  seen.push({
    event: mmu_notify_event_name(range.event),
    start: range.start,
    end: range.end,
    task: current().name,
    held: held_locks(),
    owner: range.owner,
    blockable: mmu_notifier_range_blockable(range),
  });
}

/** Insert a recorder over [start, end) of mm (default: everything). */
export function* recorder(mm: MmStruct, start = 0, end = ULONG_MAX_PAGES): Co<Recorder> {
  const seen: Seen[] = [];
  const mni = new MmuIntervalNotifier('recorder');
  const ret = yield* mmu_interval_notifier_insert(mni, mm, start, end - start, {
    *invalidate(n, range, cur_seq) {
      record(range, seen);
      mmu_interval_set_seq(n, cur_seq);
      return true;
    },
  });
  if (ret) throw new Error(`recorder insert: ${ret}`);
  return { mni, seen };
}

/** The lock set of a callback under mmap_lock held in `mode`. */
export const UNDER_MMAP = (mode: 'read' | 'write'): string[] => [
  `mmap_lock:${mode}`,
  'mmu_notifier_invalidate_range_start:write',
];

/** Short form of what was seen: [event, start, end]. */
export function events(r: Recorder): [string, number, number][] {
  return r.seen.map((s) => [s.event, s.start, s.end]);
}

/** Test helpers for the mm layer: a machine, an address space, and running code in a task. */
import { Sim, type Co, type SimOptions, type Task } from '../../src/sim/index.js';
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MmSystem,
  PROT_READ,
  PROT_WRITE,
  do_mmap,
  mm_alloc,
  type MmStruct,
  type MmapOptions,
} from '../../src/mm/index.js';

export interface World {
  sim: Sim;
  sys: MmSystem;
  mm: MmStruct;
}

export function world(opts: SimOptions & { ram_pages?: number } = {}): World {
  const sim = new Sim({ trace: true, ...opts });
  const sys = new MmSystem({ ram_pages: opts.ram_pages ?? 65536 });
  const mm = mm_alloc(sys, { name: 'proc' });
  return { sim, sys, mm };
}

/** Run `body` as task 'main' to completion and return its result. */
export function run<T>(sim: Sim, body: () => Co<T>, name = 'main'): T {
  const t: Task<T> = sim.spawn(name, body);
  sim.run();
  if (!t.done) throw new Error(`task ${name} did not finish`);
  return t.result as T;
}

/** Anonymous private read-write mapping of npages; returns its start page. */
export function* mmap_anon(
  mm: MmStruct,
  npages: number,
  extra: Partial<MmapOptions> = {},
): Co<number> {
  const r = yield* do_mmap(mm, {
    npages,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_PRIVATE | MAP_ANONYMOUS,
    ...extra,
  });
  if (r < 0) throw new Error(`mmap failed: ${r}`);
  return r;
}

/** The `mm.notifier` trace events, as [event, start, end, task] tuples. */
export function notifier_events(sim: Sim): [string, number, number, string][] {
  return sim.trace
    .events()
    .filter((e) => e.kind === 'mm.notifier')
    .map((e) => [e.event as string, e.start as number, e.end as number, e.task]);
}

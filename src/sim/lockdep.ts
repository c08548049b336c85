/**
 * lockdep: the kernel's lock validator (kernel/locking/lockdep.c), reduced to what svmsim
 * needs. Locks belong to classes (by name, plus an optional nesting subclass as
 * mutex_lock_nested gives); each task keeps the stack of locks it holds; every acquisition
 * records the order "held class -> new class". A new order that closes a cycle traps
 * `lock-order` even when this schedule did not deadlock, as Linux reports a possible
 * deadlock on the first run that shows both orders. A cycle through the fs_reclaim
 * pseudo-lock traps `reclaim-lock`: an allocation that may enter reclaim was made while
 * holding a lock that reclaim (through an MMU notifier) takes.
 *
 * Like Linux, trylocks add no order of their own (they cannot deadlock) but count as held
 * for later acquisitions. Read and write acquisitions are ordered alike: rw_semaphore readers
 * are not recursive, so a reader can deadlock against a queued writer.
 */
import { array_del } from './array.js';
import type { HeldLock, Task } from './task.js';
import { trap } from './trap.js';

/** A lockdep map without a lock behind it (lock_map_acquire): fs_reclaim, mmu notifier, work. */
export interface LockMap {
  readonly lockdepName: string;
}

export function lockMap(name: string): LockMap {
  return { lockdepName: name };
}

/** The fs_reclaim pseudo-lock (mm/page_alloc.c __fs_reclaim_map). */
export const FS_RECLAIM: LockMap = lockMap('fs_reclaim');
/** mm/mmu_notifier.c __mmu_notifier_invalidate_range_start_map. */
export const MMU_NOTIFIER_MAP: LockMap = lockMap('mmu_notifier_invalidate_range_start');

interface EdgeInfo {
  readonly task: string;
  readonly time: number;
  /** Locks the task held when this order was first seen. */
  readonly held: readonly string[];
}

interface SimLike {
  now(): number;
  readonly current: Task | null;
  /** Called with a lock class's hold-time counter and how long it was held, at every release. */
  held?: (counter: string, ns: number) => void;
}

export class Lockdep {
  enabled = true;
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];
  /** Per class: the counter of its hold time, `lock_held_ns:<class>`. */
  private readonly heldKeys: string[] = [];
  private readonly edges = new Map<number, EdgeInfo>();
  private readonly adj: number[][] = [];
  /** Per class: the classes ordered after it so far, as flags by class id (edges, fast). */
  private readonly after: boolean[][] = [];

  constructor(private readonly sim: SimLike) {}

  classId(name: string, subclass = 0): number {
    const key = subclass ? `${name}/${subclass}` : name;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(key, id);
      this.names.push(key);
      this.heldKeys.push(`lock_held_ns:${key}`);
      this.adj.push([]);
      this.after.push([]);
    }
    return id;
  }

  className(id: number): string {
    return this.names[id] ?? `?${id}`;
  }

  heldNames(t: Task): string[] {
    return t.held.map((h) => this.className(h.cls));
  }

  /** Record that `t` acquires `lock` (before it may block on it, as lock_acquire does). */
  acquire(t: Task, lock: object, cls: number, mode: 'read' | 'write', trylock = false): void {
    if (this.enabled && !trylock) {
      for (const h of t.held) this.addOrder(t, h.cls, cls);
    }
    t.held.push({ cls, lock, mode, since: this.sim.now() });
  }

  /** The lock was actually acquired now (after waiting for it): its hold time starts here. */
  acquired(t: Task, lock: object): void {
    for (let i = t.held.length - 1; i >= 0; i--) {
      const h = t.held[i] as HeldLock;
      if (h.lock === lock) {
        h.since = this.sim.now();
        return;
      }
    }
  }

  /** Drop `lock` from `t`'s held stack (any position, as unlock order is free). */
  release(t: Task, lock: object): void {
    const held = t.held;
    for (let i = held.length - 1; i >= 0; i--) {
      const h = held[i] as HeldLock;
      if (h.lock === lock) {
        array_del(held, i);
        this.sim.held?.(this.heldKeys[h.cls] ?? '', this.sim.now() - h.since);
        return;
      }
    }
    trap('bug', `${t.name} releases ${this.describe(lock)} which it does not hold`);
  }

  /** Change the mode of a held lock (downgrade_write). */
  setMode(t: Task, lock: object, mode: 'read' | 'write'): void {
    const i = t.held.findIndex((h) => h.lock === lock);
    const h = t.held[i];
    if (!h)
      trap('bug', `${t.name} changes the mode of ${this.describe(lock)} which it does not hold`);
    t.held[i] = { cls: h.cls, lock, mode, since: h.since };
  }

  holds(t: Task, lock: object, mode?: 'read' | 'write'): boolean {
    return t.held.some((h) => h.lock === lock && (mode === undefined || h.mode === mode));
  }

  /** lock_map_acquire + lock_map_release: record the order without holding anything. */
  touch(t: Task, map: LockMap): void {
    const cls = this.classId(map.lockdepName);
    this.acquire(t, map, cls, 'write');
    this.release(t, map);
  }

  private describe(lock: object): string {
    const name = (lock as { lockdepName?: unknown }).lockdepName;
    return typeof name === 'string' ? name : 'a lock';
  }

  private addOrder(t: Task, from: number, to: number): void {
    if (from === to) {
      trap(
        'lock-order',
        `possible recursive locking: ${t.name} acquires ${this.className(to)} while holding it`,
        {
          cycle: [this.className(to)],
          held: this.heldNames(t),
        },
      );
    }
    const after = this.after[from] as boolean[];
    if (after[to] === true) return;
    const path = this.path(to, from);
    if (path) this.reportCycle(t, [from, ...path]);
    this.edges.set(from * 0x100000 + to, {
      task: t.name,
      time: this.sim.now(),
      held: this.heldNames(t),
    });
    (this.adj[from] as number[]).push(to);
    after[to] = true;
  }

  /** A path of classes from `a` to `b` (both included), or null. */
  private path(a: number, b: number): number[] | null {
    const prev = new Map<number, number>([[a, -1]]);
    const queue = [a];
    for (let qi = 0; qi < queue.length; qi++) {
      const x = queue[qi] as number;
      if (x === b) {
        const out: number[] = [];
        for (let y = b; y !== -1; y = prev.get(y) ?? -1) out.unshift(y);
        return out;
      }
      for (const y of this.adj[x] ?? []) {
        if (!prev.has(y)) {
          prev.set(y, x);
          queue.push(y);
        }
      }
    }
    return null;
  }

  /** `cycle` = [from, to, ..., from]: the new order from->to closes it. */
  private reportCycle(t: Task, cycle: number[]): never {
    const names = cycle.map((c) => this.className(c));
    const seen: string[] = [];
    for (let i = 1; i + 1 < cycle.length; i++) {
      const e = this.edges.get((cycle[i] as number) * 0x100000 + (cycle[i + 1] as number));
      if (e) {
        seen.push(
          `${names[i]} -> ${names[i + 1]} first by ${e.task} at ${e.time} ns holding [${e.held.join(', ')}]`,
        );
      }
    }
    const now = `${names[0]} -> ${names[1]} now by ${t.name} holding [${this.heldNames(t).join(', ')}]`;
    const kind = names.includes(FS_RECLAIM.lockdepName) ? 'reclaim-lock' : 'lock-order';
    const what =
      kind === 'reclaim-lock'
        ? 'allocation that may enter reclaim under a lock that reclaim takes'
        : 'possible circular locking dependency';
    trap(kind, `${what}: ${names.join(' -> ')}\n  ${[now, ...seen].join('\n  ')}`, {
      cycle: names,
      edges: [now, ...seen],
    });
  }
}

/**
 * Bounded exhaustive exploration (DESIGN.md `dfs`), stateless in the CHESS manner (Musuvathi
 * and Qadeer, PLDI 2007): run the program, remember at every decision which tasks could have
 * run, then backtrack to the deepest decision with an alternative not tried yet and run again
 * with that prefix. A preemption is a choice that switches away from a task that could have
 * gone on; schedules with more than `bound` preemptions are not explored. When the search
 * runs out of alternatives it has covered every schedule within the bound.
 */
import type { Policy } from '../sim/policy.js';
import type { Task } from '../sim/task.js';

interface Node {
  /** Runnable task ids at this decision. */
  readonly alts: readonly number[];
  /** The task that ran last, if it was runnable here (switching away is a preemption). */
  readonly running: number | undefined;
  chosen: number;
  readonly tried: Set<number>;
}

/** Follows `prefix` (task ids by decision), then the default; records every decision. */
export class DfsPolicy implements Policy {
  readonly name = 'dfs';
  readonly nodes: Node[] = [];
  private last: number | undefined;

  constructor(private readonly prefix: readonly number[]) {}

  choose(runq: readonly Task[], dflt: Task, step: number): Task {
    const want = this.prefix[step];
    const chosen = (want !== undefined ? runq.find((t) => t.id === want) : undefined) ?? dflt;
    const alts = runq.map((t) => t.id).sort((a, b) => a - b);
    const running = this.last !== undefined && alts.includes(this.last) ? this.last : undefined;
    this.nodes.push({ alts, running, chosen: chosen.id, tried: new Set([chosen.id]) });
    this.last = chosen.id;
    return chosen;
  }
}

function preemptions(nodes: readonly Node[], upTo: number): number {
  let n = 0;
  for (let i = 0; i < upTo; i++) {
    const node = nodes[i] as Node;
    if (node.running !== undefined && node.chosen !== node.running) n++;
  }
  return n;
}

/**
 * The search state between runs: the decision path of the last run, with the alternatives
 * tried at each depth. `next()` gives the prefix of the next schedule, or null when done.
 */
export class DfsSearch {
  private path: Node[] = [];

  constructor(readonly bound: number) {}

  /** Merge the decisions a run recorded: the prefix keeps its tried sets. */
  record(policy: DfsPolicy): void {
    const keep = this.path.length;
    const merged = policy.nodes.map((n, i) => (i < keep ? (this.path[i] as Node) : n));
    this.path = merged;
  }

  next(): number[] | null {
    for (let j = this.path.length - 1; j >= 0; j--) {
      const node = this.path[j] as Node;
      const before = preemptions(this.path, j);
      for (const a of node.alts) {
        if (node.tried.has(a)) continue;
        const cost = node.running !== undefined && a !== node.running ? 1 : 0;
        if (before + cost > this.bound) continue;
        node.tried.add(a);
        node.chosen = a;
        this.path.length = j + 1;
        return this.path.map((n) => n.chosen);
      }
    }
    return null;
  }
}

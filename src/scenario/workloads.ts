/**
 * Workload generators (issue "compare"): parameterised builders of scenario text for the
 * design comparison. Each produces an ordinary scenario file (so it runs, explores and
 * reports like any other, and the report can show it), from parameters with defaults.
 * A scenario file may name one with a top-level `workload:` key instead of steps:
 *
 *   name: churn
 *   system: { design: rfc-v1 }
 *   workload: { kind: allocator-churn, ops: 64, seed: 3 }
 */
import { Rng } from '../sim/rng.js';

export type WorkloadParams = Readonly<Record<string, number>>;

export interface WorkloadDef {
  readonly description: string;
  /** Parameter defaults (every parameter is a whole number). */
  readonly defaults: WorkloadParams;
  /** The steps or threads block, as YAML (indented by 0). */
  build(p: WorkloadParams, gpus: number): string;
}

const MiB = 256; // pages

function gpuNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `gpu${i}`);
}

/** A buffer mapped, filled and made accessible to every GPU (one SET_ATTR per GPU fd). */
function setup(
  indent: string,
  as: string,
  pages: number,
  value: string,
  gpus: number,
  extra = '',
): string[] {
  return [
    `${indent}- mmap: { as: ${as}, size: ${pages} pages, align: 2MiB }`,
    `${indent}- write: { at: ${as}, size: ${pages} pages, value: ${value} }`,
    ...gpuNames(gpus).map(
      (g) =>
        `${indent}- svm.set: { gpu: ${g}, at: ${as}, size: ${pages} pages, attrs: { ACCESS: ${g}${extra ? `, ${extra.replaceAll('GPU', g)}` : ''} } }`,
    ),
  ];
}

function p(params: WorkloadParams, k: string): number {
  const v = params[k];
  if (v === undefined) throw new RangeError(`workload parameter ${k} missing`);
  return v;
}

export const WORKLOADS: Readonly<Record<string, WorkloadDef>> = {
  'allocator-churn': {
    description:
      'malloc/free of varied sizes inside registered heaps: every free is a partial munmap of a mapped, GPU-accessible heap',
    defaults: { heaps: 1, heap_mib: 8, ops: 16, seed: 1 },
    build(params, gpus) {
      const rng = new Rng(p(params, 'seed'), 'workload.allocator-churn');
      const lines: string[] = ['steps:'];
      const heapPages = p(params, 'heap_mib') * MiB;
      for (let h = 0; h < p(params, 'heaps'); h++) {
        lines.push(...setup('  ', `heap${h}`, heapPages, 'index', gpus));
      }
      // Free page runs at random places: each is a partial munmap of a live range.
      const freed = new Set<string>();
      for (let i = 0; i < p(params, 'ops'); i++) {
        const h = rng.below(p(params, 'heaps'));
        const len = 1 << rng.int(0, 6); // 1..64 pages
        // Frees stay in the first three quarters: the GPU reads the last quarter afterwards.
        const at = rng.below(Math.max(1, (heapPages * 3) / 4 - len));
        const key = `${h}:${at >> 6}`;
        if (freed.has(key)) continue;
        freed.add(key);
        lines.push(
          `  - munmap: { at: heap${h} + ${at} pages, size: ${len} pages, expect_errno: [OK] }`,
        );
      }
      lines.push('  - settle');
      for (let h = 0; h < p(params, 'heaps'); h++) {
        for (const g of gpuNames(gpus))
          lines.push(
            `  - gpu.read: { gpu: ${g}, at: heap${h} + ${heapPages - 64} pages, size: 64 pages, expect: index+${heapPages - 64} }`,
          );
      }
      return lines.join('\n');
    },
  },
  streaming: {
    description:
      'N GPUs stream over one shared buffer, while the CPU touches and reclaims part of it',
    defaults: { mib: 8, passes: 2, evictions: 2 },
    build(params, gpus) {
      const pages = p(params, 'mib') * MiB;
      const lines = ['steps:', ...setup('  ', 'buf', pages, 'index', gpus)];
      for (let pass = 0; pass < p(params, 'passes'); pass++) {
        for (const g of gpuNames(gpus))
          lines.push(`  - gpu.read: { gpu: ${g}, at: buf, size: ${pages} pages, expect: index }`);
        for (let e = 0; e < p(params, 'evictions'); e++) {
          const at = ((pass * 7 + e * 3) % 8) * (pages / 8);
          lines.push(`  - reclaim: { at: buf + ${at} pages, size: ${pages / 8} pages }`);
        }
        lines.push('  - settle');
      }
      return lines.join('\n');
    },
  },
  'eviction-storm': {
    description: 'reclaim and page migration under running GPU kernels (two threads)',
    defaults: { mib: 4, rounds: 4, repeat: 4 },
    build(params, gpus) {
      const pages = p(params, 'mib') * MiB;
      const lines = ['threads:', '  gpu:', ...setup('    ', 'buf', pages, '7', gpus)];
      lines.push('    - barrier: { name: go }');
      for (const g of gpuNames(gpus))
        lines.push(
          `    - gpu.read: { gpu: ${g}, at: buf, size: ${pages} pages, expect: 7, repeat: ${p(params, 'repeat')} }`,
        );
      lines.push('  cpu:', '    - barrier: { name: go }');
      for (let r = 0; r < p(params, 'rounds'); r++) {
        const at = (r % 4) * (pages / 4);
        lines.push(
          `    - ${r % 2 ? 'migrate_pages' : 'reclaim'}: { at: buf + ${at} pages, size: ${pages / 4} pages }`,
        );
        lines.push('    - sleep: { time: 50us }');
      }
      return lines.join('\n');
    },
  },
  'fork-heavy': {
    description: 'a process that forks children which write to its GPU-mapped memory (COW breaks)',
    defaults: { mib: 2, children: 3 },
    build(params, gpus) {
      const pages = p(params, 'mib') * MiB;
      const lines = ['steps:', ...setup('  ', 'buf', pages, '1', gpus)];
      for (let c = 0; c < p(params, 'children'); c++) {
        lines.push(
          `  - fork: { as: child${c}, steps: [{ write: { at: buf, size: ${pages / 4} pages, value: ${c + 2} } }] }`,
        );
        lines.push(`  - wait: { process: child${c}, expect_exit: 0 }`);
        lines.push(`  - write: { at: buf + ${c} pages, size: 1 pages, value: 1 }`);
        lines.push('  - settle');
        for (const g of gpuNames(gpus))
          lines.push(`  - gpu.read: { gpu: ${g}, at: buf, size: ${pages} pages, expect: 1 }`);
      }
      return lines.join('\n');
    },
  },
  'prefetch-compute': {
    description:
      'register with ACCESS and a prefetch location, then compute on the GPU and read back on the CPU',
    defaults: { mib: 8 },
    build(params, gpus) {
      const pages = p(params, 'mib') * MiB;
      const lines = ['steps:', ...setup('  ', 'buf', pages, 'index', gpus, 'PREFETCH_LOC: GPU')];
      for (const g of gpuNames(gpus))
        lines.push(`  - gpu.atomic: { gpu: ${g}, at: buf, size: ${pages} pages, add: 1 }`);
      lines.push(`  - read: { at: buf, size: ${pages} pages, expect: index+${gpus} }`);
      return lines.join('\n');
    },
  },
  'random-mix': {
    description:
      'a seeded random mix of CPU writes, GPU reads, partial munmaps, mprotect and reclaim',
    defaults: { mib: 4, ops: 24, seed: 1 },
    build(params, gpus) {
      const rng = new Rng(p(params, 'seed'), 'workload.random-mix');
      const pages = p(params, 'mib') * MiB;
      const lines = ['steps:', ...setup('  ', 'buf', pages, '3', gpus)];
      const chunk = pages / 16;
      const gone = new Set<number>();
      for (let i = 0; i < p(params, 'ops'); i++) {
        const c = rng.below(16);
        if (gone.has(c)) continue;
        const at = `buf + ${c * chunk} pages`;
        const g = `gpu${rng.below(gpus)}`;
        switch (rng.below(5)) {
          case 0:
            lines.push(`  - write: { at: ${at}, size: ${chunk} pages, value: 3 }`);
            break;
          case 1:
            lines.push(`  - gpu.read: { gpu: ${g}, at: ${at}, size: ${chunk} pages, expect: 3 }`);
            break;
          case 2:
            lines.push(`  - reclaim: { at: ${at}, size: ${chunk} pages }`);
            break;
          case 3:
            lines.push(
              `  - mprotect: { at: ${at}, size: ${chunk} pages, prot: r }`,
              `  - mprotect: { at: ${at}, size: ${chunk} pages, prot: rw }`,
            );
            break;
          default:
            gone.add(c);
            lines.push(`  - munmap: { at: ${at}, size: ${chunk} pages }`);
        }
      }
      lines.push('  - settle');
      return lines.join('\n');
    },
  },
};

/** A full scenario file for workload `kind` with `params` over defaults. */
export function workloadScenario(
  kind: string,
  params: Partial<Record<string, number>> = {},
  name?: string,
  system = '',
): string {
  const def = WORKLOADS[kind];
  if (!def)
    throw new RangeError(
      `unknown workload '${kind}' (known: ${Object.keys(WORKLOADS).join(', ')})`,
    );
  const merged: Record<string, number> = { ...def.defaults };
  for (const [k, v] of Object.entries(params)) {
    if (!(k in def.defaults))
      throw new RangeError(
        `workload ${kind} has no parameter '${k}' (known: ${Object.keys(def.defaults).join(', ')})`,
      );
    if (v !== undefined) merged[k] = v;
  }
  const gpus = /gpus:\s*(\d+)/.exec(system)?.[1];
  const args = Object.entries(merged)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return [
    `name: ${name ?? kind}`,
    `description: "workload ${kind} (${args}): ${def.description}"`,
    ...(system ? [`system: ${system}`] : []),
    def.build(merged, gpus ? Number(gpus) : 1),
    '',
  ].join('\n');
}

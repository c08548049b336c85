/**
 * Design comparison (issue "compare"): the same workload run on each design, GPU count and
 * XNACK mode under the timed policy, with the figures the cover letter's questions need
 * taken from the counters and the cost table.
 */
import { getDesign } from '../amdgpu/svm/designs.js';
import { parseScenario } from '../scenario/loader.js';
import { runScenario, type RunResult } from '../scenario/runner.js';
import { DEFAULT_COSTS } from '../sim/costs.js';

export interface CompareInput {
  /** Workload name or file name. */
  readonly name: string;
  /** The scenario text for a GPU count (workloads are rebuilt per count). */
  readonly text: (gpus: number) => string;
}

export interface CompareAxes {
  readonly designs: readonly string[];
  readonly gpus: readonly number[];
  /** XNACK modes; undefined = each design's default. */
  readonly xnack: readonly (boolean | undefined)[];
  /** Cost-table overrides in ns for every run. */
  readonly costs?: Readonly<Record<string, number>>;
}

export interface CompareRow {
  readonly workload: string;
  readonly design: string;
  readonly gpus: number;
  readonly xnack: boolean;
  readonly status: 'pass' | 'fail' | 'n/a';
  readonly reason: string;
  readonly metrics: Readonly<Record<MetricName, number>>;
  readonly counters: Readonly<Record<string, number>>;
  readonly replay: string;
  readonly text: string;
}

export const METRICS = {
  virtual_time_ns: 'virtual time of the run (ns)',
  gpu_stall_ns: 'GPU stall: kernels waiting on quiesced queues or on retry faults (ns)',
  notifier_ns: 'time in MMU-notifier invalidations, mm locks held (ns)',
  mmap_lock_held_ns: 'mmap_lock hold time (ns)',
  worker_ns: 'time in GC and restore workers (ns)',
  migration_bytes: 'bytes migrated between system memory and VRAM',
  migration_ns: 'migration time from the cost table (ns)',
  mmu_invalidations: 'CPU-side invalidations (mmu notifier ranges)',
  notifier_callbacks: 'notifier callbacks (all instances)',
  hmm_range_fault_pages: 'pages walked by hmm_range_fault',
  dma_map_pages: 'pages DMA-mapped',
  pte_writes: 'GPU PTE writes',
  tlb_flushes: 'GPU TLB flushes',
  gpu_faults_retry: 'retry faults',
  queue_quiesce: 'KFD queue quiesces',
  ranges_created: 'gpusvm ranges created',
} as const;
export type MetricName = keyof typeof METRICS;

function metricsOf(r: RunResult): Record<MetricName, number> {
  const c = (k: string): number => r.counters[k] ?? 0;
  const migrated =
    c('migrated_pages_to_vram') + c('migrated_pages_to_ram') + c('migrated_pages_dev_to_dev');
  return {
    virtual_time_ns: r.time,
    gpu_stall_ns: c('gpu_stall_quiesced_ns') + c('gpu_stall_fault_ns'),
    notifier_ns: c('notifier_ns'),
    mmap_lock_held_ns: c('lock_held_ns:mmap_lock'),
    worker_ns: c('worker_ns'),
    migration_bytes: migrated * 4096,
    migration_ns: Math.round(
      migrated * (DEFAULT_COSTS.migrated_page_to_vram.ns + 4096 * DEFAULT_COSTS.migrate_byte.ns),
    ),
    mmu_invalidations: c('mmu_invalidations'),
    notifier_callbacks: c('notifier_callbacks'),
    hmm_range_fault_pages: c('hmm_range_fault_pages'),
    dma_map_pages: c('dma_map_pages'),
    pte_writes: c('pte_writes'),
    tlb_flushes: c('tlb_flushes'),
    gpu_faults_retry: c('gpu_faults_retry'),
    queue_quiesce: c('queue_quiesce'),
    ranges_created: c('ranges_created'),
  };
}

const ZERO = Object.fromEntries(Object.keys(METRICS).map((k) => [k, 0])) as Record<MetricName, number>;

/** Run every combination; `onRow` sees each row as it is done (progress). */
export function runComparison(
  inputs: readonly CompareInput[],
  axes: CompareAxes,
  onRow?: (row: CompareRow, done: number, total: number) => void,
): CompareRow[] {
  const rows: CompareRow[] = [];
  const total = inputs.length * axes.designs.length * axes.gpus.length * axes.xnack.length;
  for (const input of inputs) {
    for (const design of axes.designs) {
      for (const gpus of axes.gpus) {
        for (const x of axes.xnack) {
          const row = runOne(input, design, gpus, x, axes.costs);
          rows.push(row);
          onRow?.(row, rows.length, total);
        }
      }
    }
  }
  return rows;
}

function runOne(
  input: CompareInput,
  design: string,
  gpus: number,
  x: boolean | undefined,
  costs: Readonly<Record<string, number>> | undefined,
): CompareRow {
  const info = getDesign(design);
  const xnack = x ?? info?.defaultXnack ?? false;
  const text = input.text(gpus);
  const base = { workload: input.name, design, gpus, xnack, text };
  if (!info) return { ...base, status: 'n/a', reason: `unknown design ${design}`, metrics: ZERO, counters: {}, replay: '' };
  let r: RunResult;
  try {
    r = runScenario(parseScenario(text, `${input.name}.yaml`), { overrides: { design, gpus, xnack, policy: 'timed', costs } });
  } catch (e) {
    return { ...base, status: 'n/a', reason: (e as Error).message.split('\n')[0] ?? 'invalid', metrics: ZERO, counters: {}, replay: '' };
  }
  // A design whose driver is not built can still run what needs no driver.
  const noDriver = !r.pass && r.reason.includes('has no SVM driver built yet');
  return {
    ...base,
    status: r.pass ? 'pass' : noDriver ? 'n/a' : 'fail',
    reason: r.reason,
    metrics: metricsOf(r),
    counters: r.counters,
    replay: r.replay,
  };
}

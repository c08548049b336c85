/**
 * The cover letter's three design questions, answered from comparison rows: each answer is
 * a sentence with the measured numbers and the chart data behind it.
 */
import type { CompareRow, MetricName } from './compare.js';

export interface Answer {
  readonly id: string;
  readonly title: string;
  readonly question: string;
  readonly answer: string;
  readonly chart: ChartSpec | null;
}

export interface ChartSpec {
  readonly labels: readonly string[];
  readonly series: readonly { readonly label: string; readonly data: readonly number[] }[];
  readonly yTitle: string;
}

const fmt = (n: number): string => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

function ok(rows: readonly CompareRow[], workload: string): CompareRow[] {
  return rows.filter((r) => r.workload === workload && r.status === 'pass');
}

function per(r: CompareRow, m: MetricName): number {
  const inv = r.metrics.mmu_invalidations;
  return inv > 0 ? r.metrics[m] / inv : 0;
}

/** Q1: no range splitting makes a partial munmap rebuild or refault whole ranges. */
function q1(rows: readonly CompareRow[]): Answer {
  const rs = ok(rows, 'allocator-churn').filter((r) => r.gpus === 1);
  const metrics: MetricName[] = ['dma_map_pages', 'pte_writes', 'hmm_range_fault_pages', 'gpu_faults_retry'];
  const parts = rs.map(
    (r) =>
      `${r.design}: ${fmt(per(r, 'dma_map_pages'))} pages DMA-mapped and ${fmt(per(r, 'pte_writes'))} PTEs written per invalidation, ` +
      `${fmt(r.metrics.gpu_stall_ns / 1000)} us of GPU stall, ${fmt(r.metrics.gpu_faults_retry)} retry faults`,
  );
  return {
    id: 'q1',
    title: 'Question 1: no range splitting',
    question:
      'drm_gpusvm cannot split a range, so a partial munmap removes whole ranges: rfc-v1 rebuilds the survivors at once from the attribute tree, rfc-v2 lets the GPU refault them. What does each partial munmap cost?',
    answer: parts.length ? `Allocator churn (partial munmaps inside a mapped heap, 1 GPU): ${parts.join('; ')}.` : 'No passing allocator-churn run to measure.',
    chart: rs.length
      ? { labels: metrics, series: rs.map((r) => ({ label: r.design, data: metrics.map((m) => per(r, m)) })), yTitle: 'per CPU invalidation' }
      : null,
  };
}

/** Q2: ioctl-driven (eager) versus fault-driven mapping. */
function q2(rows: readonly CompareRow[]): Answer {
  // Streaming registers ACCESS only: rfc-v1 maps at SET_ATTR, rfc-v2 maps on GPU faults.
  const rs = ok(rows, 'streaming').filter((r) => r.gpus === 1);
  const metrics: MetricName[] = ['virtual_time_ns', 'gpu_stall_ns', 'mmap_lock_held_ns'];
  const parts = rs.map(
    (r) =>
      `${r.design} (XNACK ${r.xnack ? 'on' : 'off'}): ${fmt(r.metrics.virtual_time_ns / 1000)} us in all, ${fmt(r.metrics.gpu_stall_ns / 1000)} us GPU stall, ` +
      `${fmt(r.metrics.gpu_faults_retry)} retry faults, mmap_lock held ${fmt(r.metrics.mmap_lock_held_ns / 1000)} us`,
  );
  return {
    id: 'q2',
    title: 'Question 2: ioctl-driven versus fault-driven mapping',
    question:
      'gpusvm is built around GPU faults, while rfc-v1 maps from the SET_ATTR ioctl and cannot hold mmap_lock across find_or_insert. What does each way of mapping cost on the same work?',
    answer: parts.length
      ? `Streaming over a buffer registered with ACCESS only (1 GPU): ${parts.join('; ')}.`
      : 'No passing streaming run to measure.',
    chart: rs.length
      ? { labels: metrics, series: rs.map((r) => ({ label: `${r.design} xnack ${r.xnack ? 'on' : 'off'}`, data: metrics.map((m) => r.metrics[m] / 1000) })), yTitle: 'us' }
      : null,
  };
}

/** Q3: per-GPU instances multiply the work of every invalidation. */
function q3(rows: readonly CompareRow[]): Answer {
  const rs = ok(rows, 'streaming');
  const designs = [...new Set(rs.map((r) => r.design))];
  const gpus = [...new Set(rs.map((r) => r.gpus))].sort((a, b) => a - b);
  const metrics: MetricName[] = ['notifier_callbacks', 'hmm_range_fault_pages', 'dma_map_pages', 'tlb_flushes'];
  const series = designs.flatMap((d) =>
    metrics.map((m) => ({
      label: `${d} ${m}`,
      data: gpus.map((g) => {
        const r = rs.find((x) => x.design === d && x.gpus === g);
        return r ? per(r, m) : 0;
      }),
    })),
  );
  const parts = designs.map((d) => {
    const pts = gpus.map((g) => rs.find((x) => x.design === d && x.gpus === g)).filter((r): r is CompareRow => !!r);
    return `${d}: notifier callbacks per invalidation ${pts.map((r) => `${fmt(per(r, 'notifier_callbacks'))} (N=${r.gpus})`).join(', ')}; DMA-mapped pages per invalidation ${pts.map((r) => fmt(per(r, 'dma_map_pages'))).join(', ')}`;
  });
  return {
    id: 'q3',
    title: 'Question 3: N GPUs, N instances',
    question:
      'One drm_gpusvm instance per GPU means N notifiers, N hmm_range_fault walks, N DMA mappings and N TLB flushes for every CPU invalidation. Does the work grow with N?',
    answer: parts.length ? `Streaming over one shared buffer with reclaim: ${parts.join('; ')}.` : 'No passing streaming run to measure.',
    chart: rs.length ? { labels: gpus.map((g) => `${g} GPU${g > 1 ? 's' : ''}`), series, yTitle: 'per CPU invalidation' } : null,
  };
}

export function answerQuestions(rows: readonly CompareRow[]): Answer[] {
  return [q1(rows), q2(rows), q3(rows)];
}

/** Terminal tables of comparison rows. */
import type { CompareRow, MetricName } from './compare.js';

const COLS: [string, MetricName, number][] = [
  ['time us', 'virtual_time_ns', 1000],
  ['stall us', 'gpu_stall_ns', 1000],
  ['notif us', 'notifier_ns', 1000],
  ['hmm pg', 'hmm_range_fault_pages', 1],
  ['dma pg', 'dma_map_pages', 1],
  ['PTEs', 'pte_writes', 1],
  ['TLB', 'tlb_flushes', 1],
  ['faults', 'gpu_faults_retry', 1],
  ['quiesce', 'queue_quiesce', 1],
];

export function formatCompareTable(rows: readonly CompareRow[]): string {
  const head = ['workload', 'design', 'GPUs', 'XNACK', 'status', ...COLS.map((c) => c[0])];
  const body = rows.map((r) => [
    r.workload,
    r.design,
    String(r.gpus),
    r.xnack ? 'on' : 'off',
    r.status,
    ...COLS.map(([, m, scale]) => (r.status === 'pass' ? Math.round(r.metrics[m] / scale).toLocaleString('en-US') : '-')),
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 5 ? c.padEnd(width[i] ?? 0) : c.padStart(width[i] ?? 0))).join('  ');
  const notes = rows.filter((r) => r.status !== 'pass').map((r) => `  ${r.workload} ${r.design} ${r.gpus} GPU: ${r.reason}`);
  return [line(head), ...body.map(line), ...(notes.length ? ['', 'not passing:', ...notes] : [])].join('\n');
}

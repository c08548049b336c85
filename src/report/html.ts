/**
 * The offline HTML report of a comparison: one self-contained page (chart.js is inlined, no
 * network) with the answers to the design questions, per-workload charts and tables, each
 * workload's scenario text and how to reproduce every figure.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { METRICS, type CompareRow, type MetricName } from './compare.js';
import { answerQuestions, type ChartSpec } from './questions.js';

const require = createRequire(import.meta.url);

/** chart.js's UMD build, to inline into the page. */
export function chartJsSource(): string {
  return readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

/** Inline JSON safe inside a <script> element. */
function json(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c');
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function chart(id: string, spec: ChartSpec, charts: unknown[]): string {
  charts.push({
    id,
    type: 'bar',
    data: {
      labels: spec.labels,
      datasets: spec.series.map((s, i) => ({ label: s.label, data: s.data, backgroundColor: PALETTE[i % PALETTE.length] })),
    },
    options: { animation: false, responsive: true, scales: { y: { beginAtZero: true, title: { display: true, text: spec.yTitle } } } },
  });
  return `<div class="chart"><canvas id="${id}" class="svmsim-chart"></canvas></div>`;
}

const SHOWN: MetricName[] = ['virtual_time_ns', 'gpu_stall_ns', 'notifier_ns', 'mmap_lock_held_ns', 'worker_ns', 'hmm_range_fault_pages', 'dma_map_pages', 'pte_writes', 'tlb_flushes', 'gpu_faults_retry', 'queue_quiesce', 'migration_bytes'];

function table(rows: readonly CompareRow[]): string {
  const head = ['design', 'GPUs', 'XNACK', 'status', ...SHOWN].map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows
    .map((r) => {
      const cells = [r.design, String(r.gpus), r.xnack ? 'on' : 'off', r.status === 'pass' ? 'pass' : `${r.status}: ${r.reason}`, ...SHOWN.map((m) => r.metrics[m].toLocaleString('en-US'))];
      return `<tr class="${r.status}">${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
    })
    .join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function workloadSection(name: string, rows: readonly CompareRow[], idx: number, charts: unknown[], files: ReadonlyMap<string, string>): string {
  const passing = rows.filter((r) => r.status === 'pass');
  const labels = passing.map((r) => `${r.design} ${r.gpus}G x${r.xnack ? 'on' : 'off'}`);
  const series = (ms: MetricName[], scale: number) => ms.map((m) => ({ label: m, data: passing.map((r) => r.metrics[m] / scale) }));
  const charts1 = passing.length
    ? chart(`w${idx}-time`, { labels, series: series(['virtual_time_ns', 'gpu_stall_ns', 'notifier_ns', 'worker_ns'], 1000), yTitle: 'us' }, charts) +
      chart(`w${idx}-counts`, { labels, series: series(['hmm_range_fault_pages', 'dma_map_pages', 'pte_writes', 'tlb_flushes', 'gpu_faults_retry'], 1), yTitle: 'count' }, charts)
    : '<p>No passing run to chart.</p>';
  const repro = rows
    .map((r) => `svmsim run ${files.get(`${name}/${r.gpus}`) ?? `${name}.yaml`} --design ${r.design} --gpus ${r.gpus} --xnack ${r.xnack ? 'on' : 'off'} --json`)
    .filter((v, i, a) => a.indexOf(v) === i);
  const text = rows[0]?.text ?? '';
  return `<section id="workload-${esc(name)}"><h2>Workload: ${esc(name)}</h2>
${charts1}
${table(rows)}
<details><summary>Scenario text (${esc(rows[0] ? `${rows[0].gpus} GPU` : '')})</summary><pre>${esc(text)}</pre></details>
<details><summary>Reproduce these figures</summary><pre>${esc(repro.join('\n'))}</pre></details>
</section>`;
}

export interface ReportMeta {
  readonly title: string;
  readonly command: string;
  /** "workload/gpus" -> scenario file written beside the report. */
  readonly files: ReadonlyMap<string, string>;
  /** Extra preformatted sections (e.g. the conformance table). */
  readonly extra?: readonly { readonly title: string; readonly text: string }[];
}

export function renderReport(rows: readonly CompareRow[], meta: ReportMeta): string {
  const charts: unknown[] = [];
  const answers = answerQuestions(rows)
    .map((a) => `<section id="${a.id}" class="question"><h2>${esc(a.title)}</h2><p class="q">${esc(a.question)}</p><p class="a">${esc(a.answer)}</p>${a.chart ? chart(`${a.id}-chart`, a.chart, charts) : ''}</section>`)
    .join('\n');
  const workloads = [...new Set(rows.map((r) => r.workload))];
  const sections = workloads.map((w, i) => workloadSection(w, rows.filter((r) => r.workload === w), i, charts, meta.files)).join('\n');
  const extra = (meta.extra ?? []).map((e) => `<section><h2>${esc(e.title)}</h2><pre>${esc(e.text)}</pre></section>`).join('\n');
  const legend = Object.entries(METRICS).map(([k, v]) => `<li><code>${k}</code>: ${esc(v)}</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(meta.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:1em 0;display:block;overflow-x:auto}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:nth-child(-n+4),th{text-align:left}
tr.fail td{background:#fde0e0}tr.n\\/a td{color:#888}
.chart{max-width:900px;margin:1em 0}.q{font-style:italic}.a{font-weight:500}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}
</style></head><body>
<h1>${esc(meta.title)}</h1>
<p>Generated by <code>${esc(meta.command)}</code>. Every figure comes from the model's counters and its cost table (virtual time); see <code>svmsim costs</code> for each cost and its source.</p>
${answers}
${sections}
${extra}
<section><h2>Metrics</h2><ul>${legend}</ul></section>
<script>${chartJsSource()}</script>
<script id="svmsim-charts" type="application/json">${json(charts)}</script>
<script>
(function(){var specs=JSON.parse(document.getElementById('svmsim-charts').textContent);var n=0;
specs.forEach(function(s){var el=document.getElementById(s.id);if(!el)return;new Chart(el,{type:s.type,data:s.data,options:s.options});n++;});
window.__svmsimCharts=n;})();
</script>
</body></html>
`;
}

/**
 * The main job (`npm start`, `svmsim` with no command): the conformance suites over every
 * design, the default design comparison over the built-in workloads, their summary tables,
 * and the offline report in report/index.html with both.
 */
import { runComparison, type CompareInput, type CompareRow } from '../report/compare.js';
import { answerQuestions } from '../report/questions.js';
import { formatCompareTable } from '../report/text.js';
import { workloadScenario } from '../scenario/workloads.js';
import { loadSuites, runSuites } from '../scenario/suite.js';
import { writeReport } from './compare.js';
import { defaultSuiteRoot, formatReport } from './suite.js';

/** The default comparison: small enough for the 2-minute budget on two cores. */
export const DEFAULT_COMPARISON: readonly {
  workload: string;
  gpus: number[];
  params: Record<string, number>;
}[] = [
  { workload: 'allocator-churn', gpus: [1], params: { heap_mib: 4, ops: 12 } },
  { workload: 'prefetch-compute', gpus: [1], params: { mib: 4 } },
  { workload: 'eviction-storm', gpus: [1], params: { mib: 2, rounds: 4, repeat: 2 } },
  { workload: 'streaming', gpus: [1, 2, 4], params: { mib: 4, passes: 2, evictions: 2 } },
];

export function defaultComparison(onRow?: (done: number, total: number) => void): CompareRow[] {
  const rows: CompareRow[] = [];
  const total = DEFAULT_COMPARISON.reduce((n, c) => n + c.gpus.length * 2, 0);
  for (const c of DEFAULT_COMPARISON) {
    const input: CompareInput = {
      name: c.workload,
      text: (g) => workloadScenario(c.workload, c.params, c.workload, `{ gpus: ${g} }`),
    };
    rows.push(
      ...runComparison(
        [input],
        { designs: ['rfc-v1', 'rfc-v2'], gpus: c.gpus, xnack: [undefined] },
        () => onRow?.(rows.length + 1, total),
      ),
    );
  }
  return rows;
}

export function mainJob(
  out: (l: string) => void,
  progress: (done: number, total: number) => void = () => undefined,
): number {
  const suites = loadSuites(defaultSuiteRoot());
  const suite = runSuites(suites, {});
  const suiteText = formatReport(suite, suites).join('\n');
  out('Conformance suites (pass / FAIL / NA per case, design and XNACK mode):');
  out(suiteText);
  out('');
  const rows = defaultComparison(progress);
  out('Design comparison (timed policy; virtual time from the cost table):');
  out(formatCompareTable(rows));
  out('');
  for (const a of answerQuestions(rows)) out(`${a.title}\n  ${a.answer}\n`);
  const html = writeReport('report', rows, 'npm start', [
    { title: 'Conformance suites', text: suiteText },
  ]);
  out(`Report written to ${html} (open it in a browser; it works offline).`);
  return suite.ok ? 0 : 1;
}

/**
 * `svmsim compare WORKLOAD|FILE...`: run each workload on each design and GPU count, print
 * the table, and write DIR/index.html (offline report), DIR/results.json and the scenario
 * files of every run, so each figure can be reproduced with `svmsim run`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { designNames } from '../amdgpu/svm/designs.js';
import {
  runComparison,
  type CompareAxes,
  type CompareInput,
  type CompareRow,
} from '../report/compare.js';
import { renderReport } from '../report/html.js';
import { formatCompareTable } from '../report/text.js';
import { WORKLOADS, workloadScenario } from '../scenario/workloads.js';
import { UsageError, costOverrides } from './run.js';

export interface CompareCliOptions {
  design?: string;
  gpus?: string;
  xnack?: string;
  out?: string;
  json?: boolean;
  progress?: boolean;
  cost?: string[];
}

function list(name: string, v: string | undefined, dflt: string): string[] {
  const items = (v ?? dflt)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (!items.length) throw new UsageError(`--${name} needs at least one value`);
  return items;
}

export function inputsOf(args: readonly string[]): CompareInput[] {
  return args.map((a) => {
    if (WORKLOADS[a])
      return { name: a, text: (g: number) => workloadScenario(a, {}, a, `{ gpus: ${g} }`) };
    let text: string;
    try {
      text = readFileSync(a, 'utf8');
    } catch {
      throw new UsageError(
        `'${a}' is neither a workload (${Object.keys(WORKLOADS).join(', ')}) nor a readable file`,
      );
    }
    return { name: basename(a).replace(/\.(ya?ml|json)$/, ''), text: () => text };
  });
}

export function axesOf(o: CompareCliOptions): CompareAxes {
  const designs = list('design', o.design, 'rfc-v1,rfc-v2');
  for (const d of designs)
    if (!designNames().includes(d))
      throw new UsageError(`unknown design '${d}' (known: ${designNames().join(', ')})`);
  const gpus = list('gpus', o.gpus, '1').map((g) => {
    const n = Number(g);
    if (!Number.isInteger(n) || n < 1 || n > 64)
      throw new UsageError(`--gpus takes whole numbers from 1 to 64, got '${g}'`);
    return n;
  });
  const xnack = list('xnack', o.xnack, 'default').map((x) => {
    if (x === 'default') return undefined;
    if (x !== 'on' && x !== 'off')
      throw new UsageError(`--xnack takes on, off or default, got '${x}'`);
    return x === 'on';
  });
  const costs = costOverrides(o.cost);
  return { designs, gpus, xnack, ...(costs ? { costs } : {}) };
}

/** Write the report files; returns the path of index.html. */
export function writeReport(
  dir: string,
  rows: readonly CompareRow[],
  command: string,
  extra: { title: string; text: string }[] = [],
): string {
  mkdirSync(join(dir, 'scenarios'), { recursive: true });
  const files = new Map<string, string>();
  for (const r of rows) {
    const key = `${r.workload}/${r.gpus}`;
    if (files.has(key)) continue;
    const f = join(dir, 'scenarios', `${r.workload}-${r.gpus}gpu.yaml`);
    writeFileSync(f, r.text);
    files.set(key, relative(process.cwd(), f));
  }
  writeFileSync(
    join(dir, 'results.json'),
    JSON.stringify(
      rows.map(({ text: _t, ...rest }) => rest),
      null,
      2,
    ),
  );
  const html = join(dir, 'index.html');
  writeFileSync(
    html,
    renderReport(rows, { title: 'svmsim design comparison', command, files, extra }),
  );
  return html;
}

export function compareCommand(
  args: string[],
  o: CompareCliOptions,
  out: (l: string) => void,
): number {
  const inputs = inputsOf(args);
  const axes = axesOf(o);
  const total = inputs.length * axes.designs.length * axes.gpus.length * axes.xnack.length;
  const bar =
    o.progress === false || o.json
      ? null
      : new SingleBar(
          { format: 'compare [{bar}] {value}/{total} runs', stream: process.stderr },
          Presets.shades_classic,
        );
  bar?.start(total, 0);
  const rows = runComparison(inputs, axes, (_r, done) => bar?.update(done));
  bar?.stop();
  const dir = o.out ?? 'report';
  const html = writeReport(dir, rows, `svmsim compare ${args.join(' ')}`);
  if (o.json)
    out(
      JSON.stringify(
        rows.map(({ text: _t, ...rest }) => rest),
        null,
        2,
      ),
    );
  else {
    out(formatCompareTable(rows));
    out(`\nreport: ${html}`);
  }
  return rows.some((r) => r.status === 'fail') ? 1 : 0;
}

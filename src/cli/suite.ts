/**
 * `svmsim suite`: run the built-in conformance suites (scenarios/conformance/*, each with a
 * manifest.suite) over every design, XNACK mode and migration variant; print one table per
 * suite (PASS / FAIL / NA per case and design), the reasons below it, and the totals. Exit 0
 * when every applicable case passes, 1 when one fails, 2 on a usage error or an invalid suite.
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Presets, SingleBar } from 'cli-progress';
import { designNames, getDesign } from '../amdgpu/svm/designs.js';
import { ScenarioError } from '../scenario/loader.js';
import {
  MIGRATION_OPTION,
  loadSuites,
  planSuites,
  reportOf,
  runPlanned,
  type CaseResult,
  type Mode,
  type Suite,
  type SuiteReport,
} from '../scenario/suite.js';
import { UsageError } from './run.js';

export interface SuiteCliOptions {
  design?: string[];
  xnack?: string;
  filter?: string;
  json?: boolean;
  progress?: boolean;
  dir?: string;
  naList?: boolean;
}

/** scenarios/conformance of this checkout: found upwards from this module (src/ or dist/src/). */
export function defaultSuiteRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const c = join(d, 'scenarios', 'conformance');
    if (existsSync(c)) return c;
    const up = dirname(d);
    if (up === d) return resolve('scenarios', 'conformance');
    d = up;
  }
}

function suitesIn(root: string): Suite[] {
  // Relative to the working directory when below it, so failures name short paths.
  const rel = relative(process.cwd(), root);
  const suites = loadSuites(rel && !rel.startsWith('..') ? rel : root);
  if (!suites.length) throw new UsageError(`no suites (folders with a manifest.suite) in ${root}`);
  return suites;
}

/** A result column: a design, or a design with the migration option. */
function column(design: string, migration: Mode): string {
  return migration === 'on' ? `${design}+${MIGRATION_OPTION}` : design;
}

function pad(rows: string[][]): string[] {
  const widths = rows.reduce<number[]>(
    (w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)),
    [],
  );
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

function relPath(file: string): string {
  const r = relative(process.cwd(), file);
  return r.startsWith('..') ? file : r;
}

/** A result cell: PASS, FAIL[Fn] or NA[n]; notes collect the reasons. */
function cell(
  r: CaseResult,
  naNotes: Map<string, number>,
  fails: string[],
  showId: (r: CaseResult) => string,
): string {
  if (r.status === 'pass') return 'PASS';
  if (r.status === 'fail') {
    const n = fails.filter((l) => l.startsWith('  [F')).length + 1;
    fails.push(
      `  [F${n}] ${showId(r)} xnack ${r.xnack} ${column(r.design, r.migration)}: ${r.reason}`,
    );
    // `svmsim run` has no option switch, so only a run without the option reproduces this way.
    if (r.migration === 'off' && r.replay !== undefined)
      fails.push(
        `       reproduce: svmsim run ${relPath(r.file)} --design ${r.design} --xnack ${r.xnack} --replay ${r.replay}`,
      );
    return `FAIL[F${n}]`;
  }
  const note = `${r.reason} (${r.cite ?? ''})`;
  if (!naNotes.has(note)) naNotes.set(note, naNotes.size + 1);
  return `NA[${naNotes.get(note)}]`;
}

/** The report as text: per suite a table and its failures; the NA reasons; the totals. */
export function formatReport(report: SuiteReport, suites: readonly Suite[]): string[] {
  const out: string[] = [];
  const columns = report.designs.flatMap((d) => [column(d, 'off'), column(d, 'on')]);
  const naNotes = new Map<string, number>();
  for (const suite of suites) {
    const results = report.results.filter((r) => r.suite === suite.name);
    if (!results.length) continue;
    const rows = new Map<string, { r0: CaseResult; cells: Map<string, string> }>();
    const fails: string[] = [];
    for (const r of results) {
      const key = `${r.id}\0${r.xnack}`;
      const row = rows.get(key) ?? { r0: r, cells: new Map<string, string>() };
      rows.set(key, row);
      row.cells.set(
        column(r.design, r.migration),
        cell(r, naNotes, fails, (x) => x.id),
      );
    }
    const used = columns.filter((c) => [...rows.values()].some((r) => r.cells.has(c)));
    out.push(`${suite.name}: ${suite.title} (${suite.source})`);
    const table = [['case', 'xnack', ...used, 'test']];
    for (const { r0, cells } of rows.values())
      table.push([r0.id, r0.xnack, ...used.map((c) => cells.get(c) ?? '-'), r0.test]);
    out.push(...pad(table).map((l) => `  ${l}`));
    if (fails.length) out.push('  failures:', ...fails);
    out.push('');
  }
  if (naNotes.size) {
    out.push('not applicable:');
    for (const [note, n] of naNotes) out.push(`  [${n}] ${note}`);
    out.push('');
  }
  out.push('totals:');
  const rows = [['suite', 'design', 'pass', 'fail', 'n/a']];
  for (const t of report.totals)
    rows.push([t.suite, column(t.design, t.migration), `${t.pass}`, `${t.fail}`, `${t.na}`]);
  const sum = (k: 'pass' | 'fail' | 'na'): string =>
    String(report.totals.reduce((n, t) => n + t[k], 0));
  rows.push(['all', '', sum('pass'), sum('fail'), sum('na')]);
  out.push(...pad(rows).map((l) => `  ${l}`));
  out.push(
    `-: the case has no run in that column (its outcome does not depend on ${MIGRATION_OPTION}); NA[n]: not applicable, reason above.`,
  );
  return out;
}

/**
 * The not-applicable combinations as a Markdown list, one item per reason and column, with
 * every case it covers (README "Conformance" holds this list).
 */
export function formatNaList(results: readonly CaseResult[]): string[] {
  const groups = new Map<string, Map<string, string[]>>();
  for (const r of results) {
    if (r.status !== 'na') continue;
    const key = `**${column(r.design, r.migration)}**: ${r.reason} (${r.cite ?? ''})`;
    const bySuite = groups.get(key) ?? new Map<string, string[]>();
    groups.set(key, bySuite);
    const ids = bySuite.get(r.suite) ?? [];
    bySuite.set(r.suite, ids);
    ids.push(`${r.id}/${r.xnack}`);
  }
  return [...groups].map(
    ([key, bySuite]) =>
      `- ${key}. ${[...bySuite].map(([suite, ids]) => `${suite}: ${ids.join(', ')}`).join('; ')}.`,
  );
}

export function parseSuiteOptions(o: SuiteCliOptions): {
  designs: string[];
  xnack: Mode | undefined;
} {
  const designs = o.design?.length ? o.design : designNames();
  for (const d of designs) {
    if (!getDesign(d))
      throw new UsageError(`--design: unknown design '${d}' (known: ${designNames().join(', ')})`);
  }
  if (o.xnack !== undefined && o.xnack !== 'on' && o.xnack !== 'off')
    throw new UsageError(`--xnack takes on or off, got '${o.xnack}'`);
  return { designs: [...new Set(designs)], xnack: o.xnack };
}

/** Run the suites; returns the exit code. */
export async function runSuiteCommand(
  o: SuiteCliOptions,
  out: (line: string) => void,
): Promise<number> {
  const { designs, xnack } = parseSuiteOptions(o);
  let suites: Suite[];
  try {
    suites = suitesIn(o.dir ?? defaultSuiteRoot());
  } catch (e) {
    if (!(e instanceof ScenarioError)) throw e;
    out(`INVALID suite\n${e.message.replace(/^/gm, '  ')}`);
    return 2;
  }
  const plan = planSuites(suites, { designs, xnack, filter: o.filter });
  if (o.naList) {
    for (const l of formatNaList(plan.filter((p) => p.na).map(runPlanned))) out(l);
    return 0;
  }
  const started = Date.now();
  const bar =
    o.progress === false || o.json
      ? null
      : new SingleBar(
          {
            format: 'suite [{bar}] {value}/{total} {case}',
            stream: process.stderr,
            clearOnComplete: true,
          },
          Presets.shades_classic,
        );
  bar?.start(plan.length, 0, { case: '' });
  const results: CaseResult[] = [];
  for (const p of plan) {
    bar?.update(results.length, { case: `${p.suite.name}/${p.case.id} ${p.design}` });
    results.push(runPlanned(p));
    // Let the bar repaint between cases.
    if (bar) await new Promise((r) => setImmediate(r));
  }
  bar?.update(results.length, { case: '' });
  bar?.stop();
  const report = reportOf(designs, results);
  if (o.json) {
    out(JSON.stringify({ ...report, results: report.results.map(relFile) }, null, 2));
  } else {
    for (const l of formatReport(report, suites)) out(l);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    process.stderr.write(`${plan.length} combinations in ${secs} s\n`);
  }
  if (!plan.length) {
    process.stderr.write(`svmsim: no case matches the selection\n`);
    return 1;
  }
  return report.ok ? 0 : 1;
}

function relFile(r: CaseResult): CaseResult {
  return { ...r, file: relPath(r.file) };
}

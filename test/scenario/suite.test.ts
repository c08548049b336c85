import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { designNames, registerDesign } from '../../src/amdgpu/svm/designs.js';
import { formatNaList, formatReport, runSuiteCommand } from '../../src/cli/suite.js';
import { ScenarioError } from '../../src/scenario/loader.js';
import {
  loadSuite,
  loadSuites,
  parseManifest,
  planSuites,
  runSuites,
  variantOf,
  type CaseResult,
  type Suite,
} from '../../src/scenario/suite.js';

/** The registry's designs before this file registers its own (the suite's default). */
const DEFAULT_DESIGNS = designNames();
const ROOT = join(process.cwd(), 'scenarios', 'conformance');

function issuesOf(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof ScenarioError)
      return e.issues.map((i) => `${i.file.split('/').pop()}:${i.line}:${i.col} ${i.message}`);
    throw e;
  }
  throw new Error('expected a ScenarioError');
}

// A design that declares no migration option (rfc-v1 and rfc-v2 both do now).
registerDesign({ name: 'test-plain', description: 'no options', defaultXnack: false, options: {} });

const MANIFEST = `suite: demo
title: a demo suite
source: test-suites.md §1
not_applicable:
  - design: rfc-v2
    xnack: off
    reason: XNACK off is not supported
    cite: rfc-series.md §5.2
cases:
  - id: D1
    test: Demo.One/0
    file: d1-off.yaml
    xnack: off
    migration: [off, on]
  - id: D1
    test: Demo.One/1
    file: d1-on.yaml
    xnack: on
    not_applicable:
      - design: test-plain
        reason: a case rule
        cite: clarifications.md §6
`;

const SCENARIO = (xnack: string): string => `name: demo-${xnack}
system: { xnack: ${xnack} }
steps:
  - mmap: { as: buf, size: 1 page }
  - write: { at: buf, size: 1 page, value: 7 }
  - read: { at: buf, size: 1 page, expect: 7 }
`;

function demoSuite(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'svmsim-suite-'));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

describe('suite manifests', () => {
  it('parses a manifest', () => {
    const { raw } = parseManifest(MANIFEST, 'manifest.suite');
    expect(raw.cases.map((c) => [c.id, c.xnack, c.migration])).toEqual([
      ['D1', ['off'], ['off', 'on']],
      ['D1', ['on'], undefined],
    ]);
  });

  it('reports every problem at its line and column', () => {
    const bad = MANIFEST.replace('    migration: [off, on]\n', '    migration: [off, maybe]\n')
      .replace('    cite: clarifications.md §6\n', '    cite: somewhere\n')
      .replace('    xnack: on\n', '    xnack: off\n    colour: blue\n')
      .replace('  - design: rfc-v2\n', '  - design: rfc-v9\n');
    expect(issuesOf(() => parseManifest(bad, 'manifest.suite'))).toEqual([
      'manifest.suite:14:22 cases[0].migration[1]: expected off or on',
      "manifest.suite:19:13 cases[1].colour: unknown field 'colour'",
      'manifest.suite:23:15 cases[1].not_applicable[0].cite: cite the spec section, e.g. "rfc-series.md §5.2"',
    ]);
    // Once the schema passes: unknown designs and a second file for the same case and mode.
    const twice = MANIFEST.replace('  - design: rfc-v2\n', '  - design: rfc-v9\n').replace(
      '    xnack: on\n',
      '    xnack: [on, off]\n',
    );
    expect(issuesOf(() => parseManifest(twice, 'manifest.suite'))).toEqual([
      "manifest.suite:5:13 not_applicable[0].design: unknown design 'rfc-v9' (known: " +
        `${designNames().join(', ')})`,
      "manifest.suite:15:9 cases[1].id: case 'D1' already has a file for xnack off",
    ]);
    expect(issuesOf(() => parseManifest('suite: [', 'm.suite'))[0]).toMatch(/^m\.suite:1:/);
  });

  it('checks the files a manifest names and the ones it leaves out', () => {
    const dir = demoSuite({
      'manifest.suite': MANIFEST,
      'd1-off.yaml': SCENARIO('off').replace(
        'system: { xnack: off }',
        'system: { design: rfc-v1 }',
      ),
      'd1-on.yaml': SCENARIO('off').replace('demo-off', 'demo-on'),
      'orphan.yaml': SCENARIO('on').replace('demo-on', 'orphan'),
    });
    expect(issuesOf(() => loadSuite(dir))).toEqual([
      'manifest.suite:10:3 orphan.yaml is not listed in cases',
      `manifest.suite:12:11 ${dir}/d1-off.yaml sets system.design; a conformance file leaves it to the suite`,
      `manifest.suite:17:11 ${dir}/d1-on.yaml fixes xnack off but the manifest runs it in on`,
    ]);
    const missing = demoSuite({ 'manifest.suite': MANIFEST, 'd1-off.yaml': SCENARIO('off') });
    expect(issuesOf(() => loadSuite(missing))).toEqual([
      `manifest.suite:17:11 cases[1].file: no such file ${missing}/d1-on.yaml`,
    ]);
  });
});

describe('planning', () => {
  const dir = demoSuite({
    'manifest.suite': MANIFEST,
    'd1-off.yaml': SCENARIO('off'),
    'd1-on.yaml': SCENARIO('on'),
  });
  const suite = loadSuite(dir);

  it('marks what a design lacks as not applicable, suite rules first, with the citation', () => {
    const plan = planSuites([suite], { designs: ['test-plain', 'rfc-v2'] });
    const show = plan.map((p) => `${p.xnack} ${p.design} ${p.migration} ${p.na?.cite ?? 'run'}`);
    expect(show).toEqual([
      'off test-plain off run',
      'off test-plain on clarifications.md §6',
      'off rfc-v2 off rfc-series.md §5.2',
      'off rfc-v2 on rfc-series.md §5.2',
      'on test-plain off clarifications.md §6',
      'on rfc-v2 off run',
    ]);
    expect(plan[1]?.na?.reason).toBe(
      'design option migration not available in design test-plain yet (issue svm-v2)',
    );
    expect(plan[4]?.na?.reason).toBe('a case rule');
    expect(planSuites([suite], { designs: ['rfc-v1'], xnack: 'on' })).toHaveLength(1);
    expect(planSuites([suite], { designs: ['rfc-v1'], filter: 'one/1' })).toHaveLength(1);
    expect(planSuites([suite], { designs: ['rfc-v1'], filter: 'nothing' })).toHaveLength(0);
    expect(() => planSuites([suite], { designs: ['rfc-v9'] })).toThrow(/unknown design rfc-v9/);
  });

  it('runs a migration variant once the design declares the option', () => {
    registerDesign({
      name: 'test-migration',
      description: 'a design that declares migration',
      defaultXnack: false,
      options: { migration: { description: 'VRAM migration', default: false } },
    });
    const plan = planSuites([suite], { designs: ['test-migration'], xnack: 'off' });
    expect(plan.map((p) => [p.migration, p.na])).toEqual([
      ['off', undefined],
      ['on', undefined],
    ]);
    const s = suite.cases[0]?.scenario;
    if (!s) throw new Error('no scenario');
    expect(variantOf(s, 'test-migration', 'on').system.options).toEqual({ migration: true });
    expect(variantOf(s, 'test-migration', 'off').system.options).toEqual({ migration: false });
    expect(variantOf(s, 'test-plain', 'on')).toBe(s);
  });
});

describe('the built-in suites', () => {
  const suites: Suite[] = loadSuites(ROOT);

  it('has the three suites, every case file listed', () => {
    expect(suites.map((s) => s.name)).toEqual(['kfdtest', 'igt', 'hip']);
    const kfd = suites[0];
    const ids = new Set(kfd?.cases.map((c) => c.id));
    for (let k = 1; k <= 27; k++) expect(ids.has(`K${k}`)).toBe(true);
    expect(ids.has('E1') && ids.has('E2')).toBe(true);
  });

  it('runs over the default designs with a consistent table, reasons and totals', () => {
    const report = runSuites(suites, { designs: DEFAULT_DESIGNS });
    const { results, totals } = report;
    const expected = suites.reduce(
      (n, s) =>
        n +
        s.cases.reduce((m, c) => m + c.xnack.length * c.migration.length, 0) *
          DEFAULT_DESIGNS.length,
      0,
    );
    expect(results).toHaveLength(expected);
    for (const r of results) {
      if (r.status === 'pass') expect(r.reason).toBe('');
      else expect(r.reason).not.toBe('');
      if (r.status === 'na') expect(r.cite).toMatch(/\b[a-z-]+\.md §\d/);
      // A file the suite cannot even set up is the suite's bug, never a design's result.
      expect(r.reason).not.toMatch(/^invalid for this combination/);
    }
    const na = (f: (r: CaseResult) => boolean): CaseResult[] =>
      results.filter((r) => f(r) && r.status !== 'na');
    expect(na((r) => r.design === 'rfc-v2' && r.xnack === 'off')).toEqual([]);
    expect(na((r) => r.suite === 'kfdtest' && r.id === 'K21' && r.migration === 'off')).toEqual([]);
    // Totals add up per suite and overall; ok means no applicable case failed.
    const sum = totals.reduce((n, t) => n + t.pass + t.fail + t.na, 0);
    expect(sum).toBe(results.length);
    for (const t of totals) {
      const mine = results.filter(
        (r) => r.suite === t.suite && r.design === t.design && r.migration === t.migration,
      );
      expect([t.pass, t.fail, t.na]).toEqual(
        (['pass', 'fail', 'na'] as const).map((k) => mine.filter((r) => r.status === k).length),
      );
    }
    expect(report.ok).toBe(!results.some((r) => r.status === 'fail'));

    const text = formatReport(report, suites);
    for (const s of suites) {
      const head = text.indexOf(`${s.name}: ${s.title} (${s.source})`);
      expect(head).toBeGreaterThanOrEqual(0);
      const header = text[head + 1] ?? '';
      const cols = header.trim().split(/\s{2,}/);
      expect(cols.slice(0, 2)).toEqual(['case', 'xnack']);
      const rows = new Set(
        results.filter((r) => r.suite === s.name).map((r) => `${r.id}/${r.xnack}`),
      );
      const body = text.slice(head + 2, head + 2 + rows.size);
      for (const line of body) expect(line.trim().split(/\s{2,}/)).toHaveLength(cols.length);
    }
    const notes = text.slice(text.indexOf('not applicable:') + 1, text.indexOf('totals:') - 1);
    for (const n of notes) expect(n).toMatch(/^ {2}\[\d+\] .+ \(.*\.md §\d.*\)$/);
  }, 60_000);

  it('README lists every not-applicable case of rfc-v1 and rfc-v2', () => {
    const plan = planSuites(suites, { designs: ['rfc-v1', 'rfc-v2'] }).filter((p) => p.na);
    const results = plan.map((p) => ({
      suite: p.suite.name,
      id: p.case.id,
      test: p.case.test,
      file: p.case.file,
      design: p.design,
      xnack: p.xnack,
      migration: p.migration,
      status: 'na' as const,
      reason: p.na?.reason ?? '',
      cite: p.na?.cite,
    }));
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('## Conformance'));
    expect(section.length).toBeGreaterThan(20);
    for (const line of formatNaList(results)) expect(section).toContain(line);
  });

  it('svmsim suite: --json with a filter, and the exit code', async () => {
    const out: string[] = [];
    const code = await runSuiteCommand(
      { filter: 'K4', xnack: 'on', design: ['rfc-v1'], json: true, progress: false, dir: ROOT },
      (l) => out.push(l),
    );
    const report = JSON.parse(out.join('\n')) as { ok: boolean; results: CaseResult[] };
    expect(report.results.map((r) => `${r.id} ${r.xnack} ${r.design}`)).toEqual(['K4 on rfc-v1']);
    expect(code).toBe(report.ok ? 0 : 1);
    await expect(
      runSuiteCommand({ design: ['nope'], progress: false }, () => undefined),
    ).rejects.toThrow(/unknown design 'nope'/);
    const empty = join(mkdtempSync(join(tmpdir(), 'svmsim-suite-')), 'none');
    mkdirSync(empty);
    await expect(runSuiteCommand({ dir: empty, progress: false }, () => undefined)).rejects.toThrow(
      /no suites/,
    );
  });
});

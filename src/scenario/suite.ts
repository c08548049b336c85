/**
 * Conformance suites (`svmsim suite`): the ported kfdtest, IGT and hip-tests cases of
 * shared/spec/test-suites.md, run over every design, XNACK mode and design-option variant.
 *
 * A suite is a folder of scenario files plus one manifest, `manifest.suite` (YAML). The
 * manifest holds what the scenario format has no place for: which original test each file
 * ports, the XNACK modes it runs in, whether it runs with and without `migration: true`, and
 * where a design legitimately lacks a feature, a not-applicable rule with its reason and the
 * spec section that says so. The manifest is not named `*.yaml` because every `*.yaml` under
 * scenarios/ is a scenario file (`svmsim run DIR/*.yaml`, test/scenario/files.test.ts).
 *
 * Pure: no console and no clock. `loadSuite` validates a manifest and its files and throws
 * ScenarioError with file:line:col like the loader; `planSuites` lists every combination
 * (not-applicable ones with their reason); `runPlanned` runs one; `runSuites` runs them all.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LineCounter, isMap, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { designNames, getDesign } from '../amdgpu/svm/designs.js';
import { Trap } from '../sim/trap.js';
import { ScenarioError, loadScenario, type Issue, type Pos, type Scenario } from './loader.js';
import { runScenario } from './runner.js';
import { resolveSystem } from './system.js';

export const MANIFEST_FILE = 'manifest.suite';
/** The design option a case may ask to run with and without (clarifications.md §6). */
export const MIGRATION_OPTION = 'migration';

export type Mode = 'off' | 'on';

/** A not-applicable rule: every key given must match; `reason` cites `cite`. */
export interface NaRule {
  readonly design?: string | undefined;
  readonly xnack?: Mode | undefined;
  readonly migration?: Mode | undefined;
  readonly reason: string;
  readonly cite: string;
}

export interface SuiteCase {
  readonly id: string;
  /** The original test's name. */
  readonly test: string;
  /** Path of the scenario file. */
  readonly file: string;
  readonly xnack: readonly Mode[];
  /** `off` runs without the option, `on` with `migration: true`. */
  readonly migration: readonly Mode[];
  readonly notApplicable: readonly NaRule[];
  readonly scenario: Scenario;
}

export interface Suite {
  readonly name: string;
  readonly order: number;
  readonly title: string;
  readonly source: string;
  readonly manifest: string;
  readonly notApplicable: readonly NaRule[];
  readonly cases: readonly SuiteCase[];
}

const zMode = z.enum(['off', 'on']);
/** `off`, `on`, or a non-empty list of them. */
const zModes = z.unknown().transform((v, ctx): Mode[] => {
  const list: unknown[] = Array.isArray(v) ? v : [v];
  if (v === undefined || !list.length)
    ctx.addIssue({ code: 'custom', message: 'expected off, on or a list of them' });
  list.forEach((m, i) => {
    if (m !== undefined && m !== 'off' && m !== 'on')
      ctx.addIssue({
        code: 'custom',
        message: 'expected off or on',
        path: Array.isArray(v) ? [i] : [],
      });
  });
  if (new Set(list).size !== list.length)
    ctx.addIssue({ code: 'custom', message: 'a mode is listed twice' });
  return list as Mode[];
});
/** "rfc-series.md §5.2", "clarifications.md §6", "test-suites.md §1.2 K4", ... */
const CITE_RE = /\b[a-z][a-z0-9-]*\.md §\d/;
const zRule = z.strictObject({
  design: z.string().min(1).optional(),
  xnack: zMode.optional(),
  migration: zMode.optional(),
  reason: z.string().min(1),
  cite: z.string().regex(CITE_RE, 'cite the spec section, e.g. "rfc-series.md §5.2"'),
});
const zCase = z.strictObject({
  id: z.string().min(1),
  test: z.string().min(1),
  file: z.string().regex(/^[^/]+\.(ya?ml|json)$/, 'a scenario file of this folder'),
  xnack: zModes,
  migration: zModes.optional(),
  not_applicable: z.array(zRule).optional(),
});
const zManifest = z.strictObject({
  suite: z.string().regex(/^[a-z][a-z0-9-]*$/, 'a lower-case suite name'),
  /** Where the suite comes in the report (then by name). */
  order: z.number().int().optional(),
  title: z.string().min(1),
  source: z.string().min(1),
  not_applicable: z.array(zRule).optional(),
  cases: z.array(zCase).min(1),
});
type RawManifest = z.output<typeof zManifest>;
type Path = readonly (string | number)[];

function posIn(doc: Document, lc: LineCounter, path: Path): Pos {
  for (let n = path.length; n >= 0; n--) {
    const node: unknown = doc.getIn(path.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range) return lc.linePos(range[0]);
  }
  return { line: 1, col: 1 };
}

function showPath(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Parse and check a manifest's text (not its files); throws ScenarioError. */
export function parseManifest(
  text: string,
  file: string,
): { raw: RawManifest; pos: (p: Path) => Pos } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const issues: Issue[] = doc.errors.map((e) => ({
    file,
    ...lc.linePos(e.pos[0]),
    message: e.message.split('\n')[0] ?? e.message,
  }));
  if (issues.length) throw new ScenarioError(issues);
  const pos = (p: Path): Pos => posIn(doc, lc, p);
  const add = (p: Path, message: string): void => {
    issues.push({ file, ...pos(p), message: p.length ? `${showPath(p)}: ${message}` : message });
  };
  if (!isMap(doc.contents)) add([], 'a suite manifest is a map with suite, title and cases');
  const r = zManifest.safeParse(doc.toJS());
  if (!r.success) {
    for (const i of r.error.issues) {
      const at = [...(i.path as (string | number)[])];
      if (i.code === 'unrecognized_keys' && i.keys[0] !== undefined) at.push(i.keys[0]);
      add(
        at,
        i.code === 'unrecognized_keys' ? `unknown field '${i.keys.join("', '")}'` : i.message,
      );
    }
    throw new ScenarioError(issues);
  }
  const known = designNames();
  const checkRules = (rules: readonly NaRule[] | undefined, base: Path): void =>
    rules?.forEach((rule, i) => {
      if (rule.design !== undefined && !known.includes(rule.design))
        add([...base, i, 'design'], `unknown design '${rule.design}' (known: ${known.join(', ')})`);
    });
  checkRules(r.data.not_applicable, ['not_applicable']);
  // A case id names one original test: its files (one per XNACK mode) share it.
  const ids = new Set<string>();
  const files = new Set<string>();
  r.data.cases.forEach((c, i) => {
    for (const m of c.xnack) {
      if (ids.has(`${c.id}/${m}`))
        add(['cases', i, 'id'], `case '${c.id}' already has a file for xnack ${m}`);
      ids.add(`${c.id}/${m}`);
    }
    if (files.has(c.file)) add(['cases', i, 'file'], `'${c.file}' is listed twice`);
    files.add(c.file);
    checkRules(c.not_applicable, ['cases', i, 'not_applicable']);
  });
  if (issues.length) throw new ScenarioError(issues);
  return { raw: r.data, pos };
}

/** The scenario's own system block must leave design, xnack and migration to the suite. */
function checkScenario(s: Scenario, modes: readonly Mode[]): string[] {
  const out: string[] = [];
  if (s.system.design !== undefined)
    out.push(`${s.file} sets system.design; a conformance file leaves it to the suite`);
  if (s.system.xnack !== undefined && (modes.length !== 1 || modes[0] !== onOff(s.system.xnack)))
    out.push(
      `${s.file} fixes xnack ${onOff(s.system.xnack)} but the manifest runs it in ${modes.join(', ')}`,
    );
  if (s.system.options?.[MIGRATION_OPTION] !== undefined)
    out.push(`${s.file} sets options.${MIGRATION_OPTION}; the manifest's migration list does`);
  return out;
}

function onOff(b: boolean): Mode {
  return b ? 'on' : 'off';
}

/** Load and validate a suite folder: its manifest and every scenario file it names. */
export function loadSuite(dir: string): Suite {
  const manifest = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(manifest, 'utf8');
  } catch (e) {
    throw new ScenarioError([
      { file: manifest, line: 1, col: 1, message: `cannot read: ${(e as Error).message}` },
    ]);
  }
  const { raw, pos } = parseManifest(text, manifest);
  const issues: Issue[] = [];
  const names = new Map<string, string>();
  const cases: SuiteCase[] = [];
  raw.cases.forEach((c, i) => {
    const file = join(dir, c.file);
    const at = (message: string): void => {
      issues.push({ file: manifest, ...pos(['cases', i, 'file']), message });
    };
    if (!existsSync(file)) return at(`cases[${i}].file: no such file ${file}`);
    let scenario: Scenario;
    try {
      scenario = loadScenario(file);
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      issues.push(...e.issues);
      return;
    }
    checkScenario(scenario, c.xnack).forEach(at);
    const other = names.get(scenario.name);
    if (other) at(`scenario name '${scenario.name}' is also the name of ${other}`);
    names.set(scenario.name, c.file);
    cases.push({
      id: c.id,
      test: c.test,
      file,
      xnack: c.xnack,
      migration: c.migration ?? ['off'],
      notApplicable: c.not_applicable ?? [],
      scenario,
    });
  });
  const listed = new Set(raw.cases.map((c) => c.file));
  for (const f of readdirSync(dir).sort()) {
    if (/\.(ya?ml|json)$/.test(f) && !listed.has(f))
      issues.push({ file: manifest, ...pos(['cases']), message: `${f} is not listed in cases` });
  }
  if (issues.length) throw new ScenarioError(issues);
  return {
    name: raw.suite,
    order: raw.order ?? 100,
    title: raw.title,
    source: raw.source,
    manifest,
    notApplicable: raw.not_applicable ?? [],
    cases,
  };
}

/** Load every suite under `root`, in manifest `order`, then by name. */
export function loadSuites(root: string): Suite[] {
  return findSuiteDirs(root)
    .map(loadSuite)
    .sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
}

/** Every suite folder (one holding a manifest) directly under `root`, by name. */
export function findSuiteDirs(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .sort()
    .map((d) => join(root, d))
    .filter((d) => statSync(d).isDirectory() && existsSync(join(d, MANIFEST_FILE)));
}

export interface SuiteSelection {
  /** Designs to run; default every registered design. */
  readonly designs?: readonly string[] | undefined;
  /** Only this XNACK mode. */
  readonly xnack?: Mode | undefined;
  /** Case-insensitive text matched against suite, id, test name and file name. */
  readonly filter?: string | undefined;
}

export interface PlannedRun {
  readonly suite: Suite;
  readonly case: SuiteCase;
  readonly design: string;
  readonly xnack: Mode;
  readonly migration: Mode;
  /** Set when the combination is not applicable. */
  readonly na?: { readonly reason: string; readonly cite: string } | undefined;
}

export type Status = 'pass' | 'fail' | 'na';

export interface CaseResult {
  readonly suite: string;
  readonly id: string;
  readonly test: string;
  readonly file: string;
  readonly design: string;
  readonly xnack: Mode;
  readonly migration: Mode;
  readonly status: Status;
  /** Why it failed or is not applicable; empty on a pass. */
  readonly reason: string;
  /** The spec section a not-applicable reason cites. */
  readonly cite?: string | undefined;
  /** A failed run's replay string (`svmsim run FILE --replay`). */
  readonly replay?: string | undefined;
}

function matches(rule: NaRule, design: string, xnack: Mode, migration: Mode): boolean {
  return (
    (rule.design === undefined || rule.design === design) &&
    (rule.xnack === undefined || rule.xnack === xnack) &&
    (rule.migration === undefined || rule.migration === migration)
  );
}

/**
 * Why `design` cannot run this combination, or undefined. Suite rules first (they name what a
 * design lacks altogether, such as a whole XNACK mode), then the case's own, then a migration
 * variant the design does not declare.
 */
export function notApplicable(
  suite: Suite,
  c: SuiteCase,
  design: string,
  xnack: Mode,
  migration: Mode,
): { reason: string; cite: string } | undefined {
  const rule = [...suite.notApplicable, ...c.notApplicable].find((r) =>
    matches(r, design, xnack, migration),
  );
  if (rule) return { reason: rule.reason, cite: rule.cite };
  if (migration === 'on' && !getDesign(design)?.options[MIGRATION_OPTION]) {
    return {
      reason: `design option ${MIGRATION_OPTION} not available in design ${design} yet (issue svm-v2)`,
      cite: 'clarifications.md §6',
    };
  }
  return undefined;
}

export function caseMatches(suite: Suite, c: SuiteCase, filter: string | undefined): boolean {
  if (!filter) return true;
  const hay = `${suite.name}/${c.id} ${c.test} ${basename(c.file)}`.toLowerCase();
  return hay.includes(filter.toLowerCase());
}

/** Every combination of the selection, in suite, case, mode, design, variant order. */
export function planSuites(suites: readonly Suite[], sel: SuiteSelection = {}): PlannedRun[] {
  const designs = sel.designs ?? designNames();
  const unknown = designs.filter((d) => !getDesign(d));
  if (unknown.length)
    throw new Error(`unknown design ${unknown.join(', ')} (known: ${designNames().join(', ')})`);
  const out: PlannedRun[] = [];
  for (const suite of suites) {
    for (const c of suite.cases) {
      if (!caseMatches(suite, c, sel.filter)) continue;
      for (const xnack of c.xnack) {
        if (sel.xnack !== undefined && sel.xnack !== xnack) continue;
        for (const design of designs) {
          for (const migration of c.migration) {
            const na = notApplicable(suite, c, design, xnack, migration);
            out.push({ suite, case: c, design, xnack, migration, ...(na ? { na } : {}) });
          }
        }
      }
    }
  }
  return out;
}

/** Scheduling decisions after which a run counts as a livelock (keeps the suite bounded). */
export const SUITE_MAX_STEPS = 20_000_000;

/** The scenario as the combination runs it: the migration option set or cleared. */
export function variantOf(s: Scenario, design: string, migration: Mode): Scenario {
  const declared = getDesign(design)?.options[MIGRATION_OPTION] !== undefined;
  if (!declared) return s;
  return {
    ...s,
    system: {
      ...s.system,
      options: { ...s.system.options, [MIGRATION_OPTION]: migration === 'on' },
    },
  };
}

/** Run one planned combination (a not-applicable one returns at once). */
export function runPlanned(p: PlannedRun): CaseResult {
  const base = {
    suite: p.suite.name,
    id: p.case.id,
    test: p.case.test,
    file: p.case.file,
    design: p.design,
    xnack: p.xnack,
    migration: p.migration,
  };
  if (p.na) return { ...base, status: 'na', reason: p.na.reason, cite: p.na.cite };
  const s = variantOf(p.case.scenario, p.design, p.migration);
  const overrides = { design: p.design, xnack: p.xnack === 'on' };
  const resolved = resolveSystem(s, overrides);
  if (!resolved.ok) {
    const first = resolved.issues[0];
    const where = first ? `${first.file}:${first.line}:${first.col}: ${first.message}` : '';
    return { ...base, status: 'fail', reason: `invalid for this combination: ${where}` };
  }
  try {
    const r = runScenario(s, { overrides, maxSteps: SUITE_MAX_STEPS });
    if (r.pass) return { ...base, status: 'pass', reason: '' };
    return { ...base, status: 'fail', reason: r.reason, replay: r.replay };
  } catch (e) {
    // A model bug that escaped as a JS exception (not a trap): the case fails, the suite goes on.
    const msg = e instanceof Trap || e instanceof Error ? e.message : String(e);
    return { ...base, status: 'fail', reason: `crash: ${msg.split('\n')[0] ?? msg}` };
  }
}

export interface Totals {
  readonly suite: string;
  readonly design: string;
  readonly migration: Mode;
  pass: number;
  fail: number;
  na: number;
}

/** Totals per suite (in result order), design (in `designs` order) and variant (off, on). */
export function totalsOf(results: readonly CaseResult[], designs: readonly string[]): Totals[] {
  const map = new Map<string, Totals>();
  for (const r of results) {
    const key = `${r.suite}\0${r.design}\0${r.migration}`;
    let t = map.get(key);
    if (!t) {
      t = { suite: r.suite, design: r.design, migration: r.migration, pass: 0, fail: 0, na: 0 };
      map.set(key, t);
    }
    t[r.status]++;
  }
  const suites = [...new Set(results.map((r) => r.suite))];
  const rank = (t: Totals): number =>
    (suites.indexOf(t.suite) * (designs.length + 1) + designs.indexOf(t.design)) * 2 +
    (t.migration === 'on' ? 1 : 0);
  return [...map.values()].sort((a, b) => rank(a) - rank(b));
}

export interface SuiteReport {
  readonly designs: readonly string[];
  readonly results: readonly CaseResult[];
  readonly totals: readonly Totals[];
  /** Every applicable case passed. */
  readonly ok: boolean;
}

export function reportOf(designs: readonly string[], results: readonly CaseResult[]): SuiteReport {
  return {
    designs,
    results,
    totals: totalsOf(results, designs),
    ok: results.every((r) => r.status !== 'fail'),
  };
}

/** Plan and run every combination; `onResult` sees each result as it comes. */
export function runSuites(
  suites: readonly Suite[],
  sel: SuiteSelection = {},
  onResult?: (r: CaseResult, done: number, total: number) => void,
): SuiteReport {
  const plan = planSuites(suites, sel);
  const results = plan.map((p, i) => {
    const r = runPlanned(p);
    onResult?.(r, i + 1, plan.length);
    return r;
  });
  return reportOf(sel.designs ?? designNames(), results);
}

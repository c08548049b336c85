/**
 * Scenario loader and validator (SCENARIO-FORMAT.md). Parses YAML or JSON with the `yaml`
 * parser (JSON is YAML), keeps source positions, validates with zod and with the checks the
 * schema cannot express (one key per step, steps xor threads, names bound before use,
 * barriers once per thread), and reports every problem with file, line and column. An
 * invalid file yields no scenario at all.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, isMap, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { TRAP_KINDS } from '../sim/trap.js';
import { zCounters, zInt, zName, zOnOff, zSize, zTime, type CounterExpect } from './fields.js';
import { STEP_KINDS, STEP_SCHEMAS, isStepKind, type StepFields, type StepKind } from './steps.js';
import { describe, type AddrExpr } from './values.js';
import { WORKLOADS } from './workloads.js';

export interface Pos {
  readonly line: number;
  readonly col: number;
}

export interface Issue extends Pos {
  readonly file: string;
  readonly message: string;
}

export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
  readonly issues: readonly Issue[];
  constructor(issues: readonly Issue[]) {
    const sorted = [...issues].sort((a, b) => a.line - b.line || a.col - b.col);
    super(sorted.map((i) => `${i.file}:${i.line}:${i.col}: ${i.message}`).join('\n'));
    this.issues = sorted;
  }
}

export type Step = {
  [K in StepKind]: {
    readonly kind: K;
    /** Index of the step in its list (0-based). */
    readonly index: number;
    readonly pos: Pos;
    readonly f: StepFields<K>;
    /** A fork's child steps. */
    readonly children?: readonly Step[];
  };
}[StepKind];

const zGpuSpec = z.strictObject({ name: zName, ip: z.string().optional(), vram: zSize.optional() });

export const zSystem = z.strictObject({
  design: z.string().optional(),
  xnack: zOnOff.optional(),
  gpus: z
    .unknown()
    .transform((raw, ctx) => {
      const r = Array.isArray(raw)
        ? z.array(zGpuSpec).min(1, 'at least one GPU').safeParse(raw)
        : zInt(1, 64).safeParse(raw);
      if (r.success) return r.data;
      for (const i of r.error.issues)
        ctx.addIssue({ code: 'custom', message: i.message, path: i.path });
      return z.NEVER;
    })
    .optional(),
  ram: zSize.optional(),
  va_bits: z
    .union([z.literal(47n), z.literal(56n), z.literal(47), z.literal(56)])
    .transform(Number)
    .optional(),
  chunk_sizes: z.array(zSize).min(1).optional(),
  notifier_size: zSize.optional(),
  costs: z.record(z.string(), zTime).optional(),
  seed: zInt(0, 0xffffffff).optional(),
  policy: z.enum(['timed', 'random', 'pct']).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
});
export type SystemSpec = z.output<typeof zSystem>;

const zTop = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  system: z.unknown().optional(),
  steps: z.array(z.unknown()).optional(),
  threads: z.record(zName, z.array(z.unknown())).optional(),
  /** A workload generator instead of steps (workloads.ts): `{ kind: NAME, PARAM: N, ... }`. */
  workload: z.record(z.string(), z.unknown()).optional(),
  expect: z
    .strictObject({
      violations: z.array(z.enum(TRAP_KINDS)).optional(),
      counters: zCounters.optional(),
    })
    .optional(),
});

export interface Scenario {
  readonly file: string;
  readonly name: string;
  readonly description: string;
  readonly system: SystemSpec;
  /** Threads in file order; `path` is where the thread's step list is in the file. */
  readonly threads: readonly {
    readonly name: string;
    readonly path: readonly (string | number)[];
    readonly steps: readonly Step[];
  }[];
  readonly expect: {
    readonly violations: readonly string[];
    readonly counters: Record<string, CounterExpect>;
  };
  readonly source: string;
  /** Position of a path in the file (for errors found later, e.g. against the system). */
  readonly posOf: (path: readonly (string | number)[]) => Pos;
}

type Path = (string | number)[];

class Checker {
  readonly issues: Issue[] = [];
  constructor(
    readonly file: string,
    readonly doc: Document,
    readonly lc: LineCounter,
  ) {}

  pos(path: readonly (string | number)[]): Pos {
    for (let n = path.length; n >= 0; n--) {
      const node: unknown = this.doc.getIn(path.slice(0, n), true);
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (range) {
        const p = this.lc.linePos(range[0]);
        return { line: p.line, col: p.col };
      }
    }
    return { line: 1, col: 1 };
  }

  add(path: readonly (string | number)[], message: string): void {
    const where = path.length ? `${formatPath(path)}: ` : '';
    this.issues.push({ file: this.file, ...this.pos(path), message: `${where}${message}` });
  }

  /** Validate `raw` at `path` with `schema`; record issues; undefined on failure. */
  check<T extends z.ZodType>(schema: T, raw: unknown, path: Path): z.output<T> | undefined {
    const r = schema.safeParse(raw);
    if (r.success) return r.data;
    for (const i of r.error.issues) {
      const at = [...path, ...(i.path as Path)];
      if (i.code === 'unrecognized_keys' && i.keys[0] !== undefined) at.push(i.keys[0]);
      this.add(at, issueMessage(i));
    }
    return undefined;
  }
}

function issueMessage(i: z.core.$ZodIssue): string {
  if (i.code === 'unrecognized_keys')
    return `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')}`;
  if (i.code === 'invalid_value' && 'values' in i)
    return `expected one of ${i.values.map(String).join(', ')}`;
  return i.message;
}

function formatPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function parseSteps(c: Checker, raw: readonly unknown[], path: Path): Step[] {
  const out: Step[] = [];
  raw.forEach((item, index) => {
    const p = [...path, index];
    if (typeof item === 'string' && isStepKind(item)) item = { [item]: null };
    if (
      !item ||
      typeof item !== 'object' ||
      Array.isArray(item) ||
      Object.keys(item).length !== 1
    ) {
      c.add(p, `a step is a map with exactly one key (the step kind), got ${describe(item)}`);
      return;
    }
    const [kind, value] = Object.entries(item)[0] as [string, unknown];
    if (!isStepKind(kind)) {
      c.add([...p, kind], `unknown step kind '${kind}' (known: ${STEP_KINDS.join(', ')})`);
      return;
    }
    const f = c.check(STEP_SCHEMAS[kind], value ?? {}, [...p, kind]);
    if (f === undefined) return;
    const step = { kind, index, pos: c.pos(p), f } as Step;
    if (step.kind === 'fork' && step.f.steps) {
      out.push({ ...step, children: parseSteps(c, step.f.steps, [...p, kind, 'steps']) });
      return;
    }
    out.push(step);
  });
  return out;
}

/** Every address expression of a step, with its field name. */
function addressesOf(s: Step): [string, AddrExpr][] {
  const out: [string, AddrExpr][] = [];
  for (const [k, v] of Object.entries(s.f)) {
    if (v && typeof v === 'object' && 'terms' in v && 'text' in v) out.push([k, v as AddrExpr]);
  }
  return out;
}

function checkNames(c: Checker, threads: Scenario['threads']): void {
  const bound = new Set<string>();
  const children = new Set<string>();
  const visit = (steps: readonly Step[], f: (s: Step, path: Path) => void, path: Path): void => {
    for (const s of steps) {
      f(s, [...path, s.index, s.kind]);
      if (s.children) visit(s.children, f, [...path, s.index, s.kind, 'steps']);
    }
  };
  threads.forEach((t) =>
    visit(
      t.steps,
      (s) => {
        if ((s.kind === 'mmap' || s.kind === 'mremap') && s.f.as) bound.add(s.f.as);
        if (s.kind === 'fork') children.add(s.f.as);
      },
      [...t.path],
    ),
  );
  // Each thread, and each fork's child (a thread of its own), names a barrier at most once.
  const checkThread = (name: string, steps: readonly Step[], path: Path): void => {
    const barriers = new Set<string>();
    for (const s of steps) {
      const p = [...path, s.index, s.kind];
      for (const [field, a] of addressesOf(s)) {
        for (const term of a.terms) {
          if ('name' in term && !bound.has(term.name)) {
            c.add([...p, field], `'${term.name}' is not bound by any 'as:' in this file`);
          }
        }
      }
      if ((s.kind === 'wait' || s.kind === 'kill') && !children.has(s.f.process)) {
        c.add([...p, 'process'], `'${s.f.process}' is not a child created by a fork step`);
      }
      if (s.kind === 'barrier') {
        if (barriers.has(s.f.name))
          c.add([...p, 'name'], `thread '${name}' names barrier '${s.f.name}' twice`);
        barriers.add(s.f.name);
      }
      if (s.kind === 'fork' && s.children) checkThread(s.f.as, s.children, [...p, 'steps']);
    }
  };
  for (const t of threads) checkThread(t.name, t.steps, [...t.path]);
}

type Threads = Scenario['threads'][number][];

/** The `steps` or `threads` of a parsed top level. */
function parseBody(
  c: Checker,
  top: { steps?: unknown[] | undefined; threads?: Record<string, unknown[]> | undefined },
): Threads {
  if ((top.steps === undefined) === (top.threads === undefined)) {
    c.add(
      [],
      top.steps
        ? "a file has either 'steps' or 'threads', never both"
        : "a scenario needs 'steps', 'threads' or 'workload'",
    );
  }
  if (top.threads) {
    return Object.entries(top.threads).map(([name, raw]) => ({
      name,
      path: ['threads', name],
      steps: parseSteps(c, raw, ['threads', name]),
    }));
  }
  return [{ name: 'main', path: ['steps'], steps: parseSteps(c, top.steps ?? [], ['steps']) }];
}

/** `workload:` generates the steps (workloads.ts); they are parsed like written ones. */
function expandWorkload(
  c: Checker,
  w: Record<string, unknown>,
  hasSteps: boolean,
  system: SystemSpec | undefined,
): Threads {
  if (hasSteps) {
    c.add(['workload'], "a file has either 'workload' or 'steps'/'threads'");
    return [];
  }
  const { kind, ...rest } = w;
  const params: Record<string, number> = {};
  for (const [k, v] of Object.entries(rest)) {
    if (typeof v !== 'bigint') {
      c.add(['workload', k], `workload parameter '${k}' takes a whole number`);
      continue;
    }
    params[k] = Number(v);
  }
  const def = typeof kind === 'string' ? WORKLOADS[kind] : undefined;
  if (!def) {
    c.add(
      ['workload', 'kind'],
      `unknown workload ${describe(kind)} (known: ${Object.keys(WORKLOADS).join(', ')})`,
    );
    return [];
  }
  const unknown = Object.keys(params).filter((k) => !(k in def.defaults));
  if (unknown.length) {
    c.add(
      ['workload', unknown[0] ?? ''],
      `workload ${String(kind)} has no parameter '${unknown[0]}' (known: ${Object.keys(def.defaults).join(', ')})`,
    );
    return [];
  }
  const gpus =
    typeof system?.gpus === 'number'
      ? system.gpus
      : Array.isArray(system?.gpus)
        ? system.gpus.length
        : 1;
  const text = def.build({ ...def.defaults, ...params }, gpus);
  const lc = new LineCounter();
  const gen = new Checker(
    `${c.file} (workload ${String(kind)})`,
    parseDocument(text, { intAsBigInt: true, lineCounter: lc }),
    lc,
  );
  const threads = parseBody(
    gen,
    gen.doc.toJS() as { steps?: unknown[]; threads?: Record<string, unknown[]> },
  );
  c.issues.push(...gen.issues);
  return threads;
}

/** Parse and validate scenario text; throws ScenarioError listing every problem. */
export function parseScenario(text: string, file: string): Scenario {
  const lc = new LineCounter();
  const doc = parseDocument(text, {
    intAsBigInt: true,
    lineCounter: lc,
    prettyErrors: false,
    uniqueKeys: true,
  });
  const c = new Checker(file, doc, lc);
  for (const e of doc.errors) {
    const p = lc.linePos(e.pos[0]);
    c.issues.push({
      file,
      line: p.line,
      col: p.col,
      message: e.message.split('\n')[0] ?? e.message,
    });
  }
  if (c.issues.length) throw new ScenarioError(c.issues);
  if (!isMap(doc.contents))
    throw new ScenarioError([
      { file, line: 1, col: 1, message: 'a scenario is a map with at least a name and steps' },
    ]);
  const top = c.check(zTop, doc.toJS(), []);
  if (!top) throw new ScenarioError(c.issues);
  const system = c.check(zSystem, top.system ?? {}, ['system']);
  const threads = top.workload
    ? expandWorkload(c, top.workload, top.steps !== undefined || top.threads !== undefined, system)
    : parseBody(c, top);
  if (c.issues.length === 0) checkNames(c, threads);
  if (c.issues.length) throw new ScenarioError(c.issues);
  return {
    file,
    name: top.name,
    description: top.description ?? '',
    system: system ?? {},
    threads,
    expect: { violations: top.expect?.violations ?? [], counters: top.expect?.counters ?? {} },
    source: text,
    posOf: (path) => c.pos(path),
  };
}

export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ScenarioError([
      { file, line: 1, col: 1, message: `cannot read: ${(e as Error).message}` },
    ]);
  }
  return parseScenario(text, file);
}

/**
 * `svmsim run FILE...`: one line per scenario (PASS, or FAIL with the first failing step or
 * the trap and its replay string); exit 0 when all pass, 1 when any fails, 2 when a file is
 * invalid (SCENARIO-FORMAT.md "Results"). Invalid files run nothing.
 */
import { writeFileSync } from 'node:fs';
import { ScenarioError, loadScenario, type Scenario } from '../scenario/loader.js';
import { runScenario, type RunResult } from '../scenario/runner.js';
import { resolveSystem, type SystemOverrides } from '../scenario/system.js';
import { parseTime } from '../scenario/values.js';
import { isCostName } from '../sim/costs.js';

export interface RunCliOptions {
  design?: string;
  xnack?: string;
  gpus?: string;
  seed?: string;
  policy?: string;
  replay?: string;
  trace?: string;
  json?: boolean;
  cost?: string[];
  option?: string[];
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function intOption(
  name: string,
  v: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} takes a whole number from ${min} to ${max}, got '${v}'`);
  }
  return n;
}

export function overridesOf(o: RunCliOptions): SystemOverrides {
  if (o.xnack !== undefined && o.xnack !== 'on' && o.xnack !== 'off') {
    throw new UsageError(`--xnack takes on or off, got '${o.xnack}'`);
  }
  if (o.policy !== undefined && !['timed', 'random', 'pct'].includes(o.policy)) {
    throw new UsageError(`--policy takes timed, random or pct, got '${o.policy}'`);
  }
  return {
    design: o.design,
    xnack: o.xnack === undefined ? undefined : o.xnack === 'on',
    gpus: intOption('gpus', o.gpus, 1, 64),
    seed: intOption('seed', o.seed, 0, 0xffffffff),
    policy: o.policy as SystemOverrides['policy'],
    costs: costOverrides(o.cost),
    options: optionOverrides(o.option),
  };
}

/**
 * --option NAME[=true|false] (repeatable): design options over every file's
 * system.options; NAME alone means true. The design checks the names (resolveSystem).
 */
export function optionOverrides(
  list: readonly string[] | undefined,
): Record<string, boolean> | undefined {
  if (!list?.length) return undefined;
  const out: Record<string, boolean> = {};
  for (const item of list) {
    const m = /^([A-Za-z0-9_-]+)(?:=(true|false))?$/.exec(item);
    if (!m)
      throw new UsageError(
        `--option takes NAME or NAME=true|false (e.g. migration=true), got '${item}'`,
      );
    out[m[1] ?? ''] = m[2] !== 'false';
  }
  return out;
}

/** --cost NAME=TIME (repeatable): cost-table entries over every file's system.costs. */
export function costOverrides(
  list: readonly string[] | undefined,
): Record<string, number> | undefined {
  if (!list?.length) return undefined;
  const out: Record<string, number> = {};
  for (const item of list) {
    const m = /^([a-z_]+)=(.+)$/.exec(item);
    if (!m) throw new UsageError(`--cost takes NAME=TIME (e.g. tlb_flush=6us), got '${item}'`);
    const [, name = '', value = ''] = m;
    if (!isCostName(name))
      throw new UsageError(`--cost: unknown cost '${name}' (see 'svmsim costs')`);
    const t = parseTime(value);
    if (!t.ok) throw new UsageError(`--cost ${name}: ${t.error}`);
    out[name] = t.value;
  }
  return out;
}

export function formatResult(r: RunResult): string {
  if (r.pass) {
    const trap = r.trap ? ` (expected trap ${r.trap.kind})` : '';
    return `PASS ${r.file} ${r.name}${trap}`;
  }
  return `FAIL ${r.file} ${r.name}: ${r.reason}`;
}

/** Run the files; returns the exit code. */
export function runFiles(files: string[], o: RunCliOptions, out: (line: string) => void): number {
  const overrides = overridesOf(o);
  let invalid = false;
  const scenarios: Scenario[] = [];
  for (const f of files) {
    try {
      const s = loadScenario(f);
      const r = resolveSystem(s, overrides);
      if (!r.ok) throw new ScenarioError(r.issues);
      scenarios.push(s);
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      invalid = true;
      out(`INVALID ${f}\n${e.message.replace(/^/gm, '  ')}`);
    }
  }
  const results: RunResult[] = [];
  const traces: string[] = [];
  for (const s of scenarios) {
    const r = runScenario(s, {
      overrides,
      trace: o.trace !== undefined,
      ...(o.replay !== undefined ? { replay: o.replay } : {}),
    });
    results.push(r);
    if (r.trace !== undefined) {
      traces.push(
        JSON.stringify({ kind: 'scenario', file: s.file, name: s.name }) + '\n' + r.trace,
      );
    }
    if (!o.json) out(formatResult(r));
  }
  if (o.trace !== undefined) writeFileSync(o.trace, traces.join(''));
  if (o.json) {
    out(
      JSON.stringify(
        results.map(({ trace: _t, ...rest }) => rest),
        (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
        2,
      ),
    );
  }
  if (invalid) return 2;
  return results.every((r) => r.pass) ? 0 : 1;
}

/**
 * `svmsim explore FILE`: run a scenario under many schedules, stop at the first violation
 * (or go on with --all), print the trap, a readable interleaving around it and the replay
 * string, then minimise the schedule and the scenario and print those too.
 */
import { SingleBar, Presets } from 'cli-progress';
import {
  explore,
  type ExploreOptions,
  type ExploreResult,
  type Finding,
} from '../explore/explore.js';
import { formatInterleaving } from '../explore/interleaving.js';
import { minimiseSchedule, minimiseSteps } from '../explore/minimise.js';
import { exploreParallel } from '../explore/parallel.js';
import { ScenarioError, loadScenario, type Scenario } from '../scenario/loader.js';
import { runScenario } from '../scenario/runner.js';
import { resolveSystem } from '../scenario/system.js';
import { UsageError, overridesOf, type RunCliOptions } from './run.js';

export interface ExploreCliOptions extends Pick<RunCliOptions, 'design' | 'xnack' | 'gpus'> {
  policy?: string;
  depth?: string;
  schedules?: string;
  time?: string;
  jobs?: string;
  seed?: string;
  all?: boolean;
  minimise?: boolean;
  json?: boolean;
  progress?: boolean;
  cost?: string[];
  option?: string[];
}

function int(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} takes a whole number from ${min} to ${max}, got '${v}'`);
  return n;
}

/** --time: seconds, or N s|min. */
function seconds(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(s|min)?$/.exec(v.trim());
  if (!m) throw new UsageError(`--time takes seconds (e.g. 60 or 60s or 2min), got '${v}'`);
  return Number(m[1]) * (m[2] === 'min' ? 60 : 1);
}

export function parseExploreOptions(o: ExploreCliOptions): {
  opts: ExploreOptions;
  jobs: number;
  time: number | undefined;
} {
  const policy = o.policy ?? 'pct';
  if (policy !== 'random' && policy !== 'pct' && policy !== 'dfs') {
    throw new UsageError(`--policy takes random, pct or dfs, got '${policy}'`);
  }
  const opts: ExploreOptions = {
    policy,
    depth: int('depth', o.depth, policy === 'dfs' ? 2 : 3, policy === 'dfs' ? 0 : 1, 64),
    schedules: int('schedules', o.schedules, 1000, 1, 100_000_000),
    seed: int('seed', o.seed, 1, 0, 0xffffffff),
    all: o.all ?? false,
    overrides: overridesOf({
      ...(o.design !== undefined ? { design: o.design } : {}),
      ...(o.xnack !== undefined ? { xnack: o.xnack } : {}),
      ...(o.gpus !== undefined ? { gpus: o.gpus } : {}),
      ...(o.cost !== undefined ? { cost: o.cost } : {}),
      ...(o.option !== undefined ? { option: o.option } : {}),
    }),
  };
  const jobs = int('jobs', o.jobs, 1, 1, 64);
  if (jobs > 1 && policy === 'dfs')
    throw new UsageError('--policy dfs explores on one job (drop --jobs)');
  return { opts, jobs, time: seconds(o.time) };
}

function report(
  s: Scenario,
  r: ExploreResult,
  f: Finding,
  o: ExploreCliOptions,
  opts: ExploreOptions,
  out: (l: string) => void,
): void {
  const res = f.result;
  out(
    `FOUND at schedule ${f.schedule}${opts.policy === 'dfs' ? '' : ` (seed ${f.seed})`}: ${res.reason}`,
  );
  if (res.trap) out(res.trap.message.replace(/^/gm, '  '));
  const traced = runScenario(s, {
    overrides: opts.overrides ?? {},
    replay: res.replay,
    trace: true,
  });
  out('interleaving (last events; -> marks a task switch):');
  const events = (traced.trace ?? '')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { t: number; task: string; kind: string });
  for (const line of formatInterleaving(events)) out(`  ${line}`);
  out(`replay: ${res.replay}`);
  out(`reproduce: svmsim run ${s.file} --replay ${res.replay}`);
  if (o.minimise === false) return;
  const sched = minimiseSchedule(s, res, opts.overrides ?? {});
  out(`minimised schedule: ${sched.before} -> ${sched.after} deviations (${sched.runs} runs)`);
  out(`minimised replay: ${sched.result.replay}`);
  const steps = minimiseSteps(s, sched.result, {
    overrides: {
      ...opts.overrides,
      policy: opts.policy === 'dfs' ? 'timed' : opts.policy,
      seed: f.seed,
    },
  });
  out(
    `minimised scenario: ${steps.removed} of ${s.threads.reduce((n, t) => n + t.steps.length, 0)} steps removed (${steps.runs} runs); replay ${steps.result.replay}`,
  );
  out(steps.yaml.replace(/^/gm, '  ').trimEnd());
  void r;
}

/** Returns the exit code: 0 nothing found, 1 a finding, 2 an invalid file. */
export async function exploreFile(
  file: string,
  o: ExploreCliOptions,
  out: (l: string) => void,
): Promise<number> {
  const { opts, jobs, time } = parseExploreOptions(o);
  let s: Scenario;
  try {
    s = loadScenario(file);
    const r = resolveSystem(s, opts.overrides);
    if (!r.ok) throw new ScenarioError(r.issues);
  } catch (e) {
    if (!(e instanceof ScenarioError)) throw e;
    out(`INVALID ${file}\n${e.message.replace(/^/gm, '  ')}`);
    return 2;
  }
  const started = Date.now();
  const bar =
    o.progress === false || o.json
      ? null
      : new SingleBar(
          {
            format: 'explore [{bar}] {value}/{total} schedules, {found} found',
            stream: process.stderr,
          },
          Presets.shades_classic,
        );
  bar?.start(opts.schedules ?? 1000, 0, { found: 0 });
  const withHooks: ExploreOptions = {
    ...opts,
    ...(time !== undefined ? { shouldStop: () => Date.now() - started > time * 1000 } : {}),
    onProgress: (done, found) => bar?.update(done, { found }),
  };
  const r = jobs > 1 ? await exploreParallel(file, withHooks, jobs) : explore(s, withHooks);
  bar?.stop();
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (o.json) {
    out(
      JSON.stringify(
        {
          explored: r.explored,
          complete: r.complete,
          outcomes: r.outcomes.size,
          seconds: Number(secs),
          findings: r.findings.map((f) => ({
            schedule: f.schedule,
            seed: f.seed,
            reason: f.result.reason,
            trap: f.result.trap?.kind ?? null,
            replay: f.result.replay,
          })),
        },
        null,
        2,
      ),
    );
    return r.findings.length ? 1 : 0;
  }
  const cover =
    opts.policy === 'dfs' && r.complete
      ? `, covering every schedule within ${opts.depth} preemptions`
      : '';
  out(
    `explored ${r.explored} ${opts.policy} schedules of ${s.name} in ${secs} s${cover}: ${r.findings.length ? `${r.findings.length} failing` : 'no violation'}; ${r.outcomes.size} distinct outcomes`,
  );
  const shown = opts.all ? r.findings.slice(0, 1) : r.findings;
  for (const f of shown) report(s, r, f, o, opts, out);
  if (opts.all && r.findings.length > 1)
    out(
      `(${r.findings.length - 1} more failing schedules: ${r.findings
        .slice(1, 11)
        .map((f) => f.schedule)
        .join(', ')}${r.findings.length > 11 ? ', ...' : ''})`,
    );
  return r.findings.length ? 1 : 0;
}

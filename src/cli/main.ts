#!/usr/bin/env node
/**
 * The `svmsim` command. Subcommands are added as their layers land; with no subcommand it
 * prints the help and exits 0 (so `npm start` never fails).
 */
import { Command } from 'commander';
import { DEFAULT_COSTS, type CostName } from '../sim/costs.js';
import { compareCommand, type CompareCliOptions } from './compare.js';
import { mainJob } from './main-job.js';
import { exploreFile, type ExploreCliOptions } from './explore.js';
import { WORKLOADS } from '../scenario/workloads.js';
import { UsageError, runFiles, type RunCliOptions } from './run.js';
import { runSuiteCommand, type SuiteCliOptions } from './suite.js';

/** Commander accumulator for repeatable options. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('svmsim')
    .description(
      'Executable model of amdgpu SVM on drm_gpusvm: runs the driver design on simulated kernel ' +
        'subsystems and a simulated GPU under a deterministic, explorable scheduler.',
    )
    .version('0.1.0')
    .showHelpAfterError();

  program
    .command('costs')
    .description('print the cost table: each primitive, its virtual time and its source')
    .option('--json', 'print as JSON')
    .action((opts: { json?: boolean }) => {
      const names = Object.keys(DEFAULT_COSTS) as CostName[];
      if (opts.json) {
        console.log(JSON.stringify(DEFAULT_COSTS, null, 2));
        return;
      }
      const width = Math.max(...names.map((n) => n.length));
      for (const n of names) {
        const c = DEFAULT_COSTS[n];
        console.log(`${n.padEnd(width)}  ${String(c.ns).padStart(8)} ns  ${c.source}`);
      }
    });

  program
    .command('run')
    .description(
      'run scenario files: one PASS/FAIL line each; exit 0 all pass, 1 a failure, 2 an invalid file',
    )
    .argument('<files...>', 'scenario files (YAML or JSON)')
    .option('--design <name>', 'driver design (overrides system.design)')
    .option('--xnack <on|off>', 'XNACK mode (overrides system.xnack)')
    .option('--gpus <n>', 'number of GPUs (overrides system.gpus)')
    .option('--seed <n>', 'scheduler seed (overrides system.seed)')
    .option('--policy <name>', 'timed | random | pct (overrides system.policy)')
    .option('--replay <string>', 'follow this replay string instead of the policy')
    .option('--trace <file>', 'write the trace events as JSON lines')
    .option('--json', 'print the results as JSON')
    .option(
      '--cost <name=time>',
      'override a cost-table entry (repeatable), e.g. tlb_flush=6us',
      collect,
      [],
    )
    .option(
      '--option <name[=true|false]>',
      'set a design option (repeatable; overrides system.options), e.g. migration',
      collect,
      [],
    )
    .action((files: string[], opts: RunCliOptions) => {
      process.exitCode = runFiles(files, opts, (l) => console.log(l));
    });

  program
    .command('explore')
    .description(
      'run a scenario under many schedules; report, replay and minimise the first violation',
    )
    .argument('<file>', 'scenario file')
    .option('--policy <name>', 'random | pct | dfs', 'pct')
    .option('--depth <d>', 'pct bug depth (default 3) or dfs preemption bound (default 2)')
    .option('--schedules <n>', 'schedules to try at most', '1000')
    .option('--time <seconds>', 'wall-clock budget (e.g. 60s, 2min)')
    .option('--jobs <j>', 'worker threads (random and pct; results do not depend on it)', '1')
    .option('--seed <s>', 'base seed: schedule i uses seed + i', '1')
    .option('--all', 'go on after the first violation')
    .option('--no-minimise', 'skip minimisation')
    .option('--no-progress', 'no progress bar')
    .option('--design <name>', 'driver design (overrides system.design)')
    .option('--xnack <on|off>', 'XNACK mode (overrides system.xnack)')
    .option('--gpus <n>', 'number of GPUs (overrides system.gpus)')
    .option('--json', 'print the summary as JSON')
    .option('--cost <name=time>', 'override a cost-table entry (repeatable)', collect, [])
    .option(
      '--option <name[=true|false]>',
      'set a design option (repeatable; overrides system.options)',
      collect,
      [],
    )
    .action(async (file: string, opts: ExploreCliOptions) => {
      process.exitCode = await exploreFile(file, opts, (l) => console.log(l));
    });

  program
    .command('compare')
    .description(
      'run workloads on each design and GPU count; print the table and write an offline HTML report',
    )
    .argument(
      '<inputs...>',
      `workload names (${Object.keys(WORKLOADS).join(', ')}) or scenario files`,
    )
    .option('--design <list>', 'designs, comma separated', 'rfc-v1,rfc-v2')
    .option('--gpus <list>', 'GPU counts, comma separated (e.g. 1,2,4,8)', '1')
    .option('--xnack <list>', 'XNACK modes: on, off, default (each design its own)', 'default')
    .option('--out <dir>', 'report directory', 'report')
    .option('--no-progress', 'no progress bar')
    .option('--json', 'print the rows as JSON')
    .option('--cost <name=time>', 'override a cost-table entry (repeatable)', collect, [])
    .action((inputs: string[], opts: CompareCliOptions) => {
      process.exitCode = compareCommand(inputs, opts, (l) => console.log(l));
    });

  program
    .command('suite')
    .description(
      'run the conformance suites (kfdtest, IGT, hip-tests) over each design, XNACK mode and ' +
        'migration variant: PASS / FAIL / NA per case; exit 0 when every applicable case passes',
    )
    .option('--design <name...>', 'designs to run (default: every registered design)')
    .option('--xnack <on|off>', 'only the cases of this XNACK mode')
    .option('--filter <text>', 'only cases whose suite, id, test or file name contains this')
    .option('--dir <folder>', 'suites folder (default: scenarios/conformance of this checkout)')
    .option('--no-progress', 'no progress bar')
    .option('--json', 'print the results as JSON')
    .option('--na-list', 'run nothing: list the not-applicable cases by reason, as Markdown')
    .action(async (opts: SuiteCliOptions) => {
      process.exitCode = await runSuiteCommand(opts, (l) => console.log(l));
    });

  program
    .command('main', { isDefault: true })
    .description(
      'the main job (also with no command): the default design comparison and its report',
    )
    .action(() => {
      process.exitCode = mainJob((l) => console.log(l));
    });

  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`svmsim: ${e.message}`);
  process.exitCode = 2;
}

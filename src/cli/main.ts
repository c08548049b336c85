#!/usr/bin/env node
/**
 * The `svmsim` command. Subcommands are added as their layers land; with no subcommand it
 * prints the help and exits 0 (so `npm start` never fails).
 */
import { Command } from 'commander';
import { DEFAULT_COSTS, type CostName } from '../sim/costs.js';

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

  program.action(() => {
    program.outputHelp();
  });
  return program;
}

await buildProgram().parseAsync(process.argv);

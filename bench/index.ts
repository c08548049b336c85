/**
 * `npm run bench`: runs every benchmark module in this folder (each exports
 * `run(): Promise<BenchResult[]>`) and prints one table. `npm run bench -- sim mm` runs only
 * the named modules. Speed and memory targets live here, never in timed tests.
 */
import { readdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchResult } from './types.js';

interface BenchModule {
  run(): Promise<BenchResult[]>;
}

function isBenchModule(m: unknown): m is BenchModule {
  return typeof (m as { run?: unknown }).run === 'function';
}

async function main(): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url));
  const only = process.argv.slice(2);
  const files = readdirSync(here)
    .filter((f) => f.endsWith('.js') && !['index.js', 'types.js'].includes(f))
    .filter((f) => only.length === 0 || only.includes(basename(f, '.js')))
    .sort();
  const rows: (BenchResult & { module: string })[] = [];
  for (const f of files) {
    const mod: unknown = await import(pathToFileURL(`${here}/${f}`).href);
    if (!isBenchModule(mod)) continue;
    process.stderr.write(`bench ${basename(f, '.js')} ...\n`);
    for (const r of await mod.run()) rows.push({ module: basename(f, '.js'), ...r });
  }
  const fmt = (v: number): string =>
    Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3);
  console.log('| module | figure | value | unit | target | note |');
  console.log('|---|---|---:|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.module} | ${r.name} | ${fmt(r.value)} | ${r.unit} | ${r.target ?? ''} | ${r.note ?? ''} |`,
    );
  }
}

await main();

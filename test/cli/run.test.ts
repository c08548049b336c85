/**
 * The svmsim command as users run it (the built program): exit codes, PASS/FAIL lines,
 * --json, byte-identical --trace for one scenario and seed, and --replay of a failing run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = 'dist/src/cli/main.js';
const dir = mkdtempSync(join(tmpdir(), 'svmsim-cli-'));

function svmsim(...args: string[]): { status: number | null; out: string; err: string } {
  const p = spawnSync('node', [CLI, ...args], { encoding: 'utf8' });
  return { status: p.status, out: p.stdout, err: p.stderr };
}

function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const RACE = `name: race
system: { policy: random }
threads:
  a:
    - mmap: { as: buf, size: 16 pages }
    - barrier: { name: go }
    - write: { at: buf, size: 16 pages, value: 1 }
  b:
    - barrier: { name: go }
    - munmap: { at: buf, size: 16 pages }
`;

describe.skipIf(!existsSync(CLI))('svmsim run (built CLI)', () => {
  it('exits 0 when all pass, 1 on a failure, 2 on an invalid file', () => {
    const ok = file(
      'ok.yaml',
      'name: ok\nsteps:\n  - mmap: { as: a, size: 4096 }\n  - write: { at: a, size: 4096, value: 1 }\n',
    );
    const bad = file(
      'bad.yaml',
      'name: bad\nsteps:\n  - mmap: { as: a, size: 4096 }\n  - read: { at: a, size: 4096, expect: 5, label: wrong }\n',
    );
    const invalid = file('invalid.yaml', 'name: x\nsteps:\n  - mmap: { size: lots }\n');
    expect(svmsim('run', ok)).toMatchObject({ status: 0, out: `PASS ${ok} ok\n` });
    const r = svmsim('run', ok, bad);
    expect(r.status).toBe(1);
    expect(r.out).toContain(
      `FAIL ${bad} bad: ${bad}:4:5: step 1 (read, "wrong") of main: expected page 0 = 0x5`,
    );
    const i = svmsim('run', ok, invalid);
    expect(i.status).toBe(2);
    expect(i.out).toContain(
      `INVALID ${invalid}\n  ${invalid}:3:19: steps[0].mmap.size: invalid size 'lots'`,
    );
    const j = svmsim('run', ok, '--json');
    expect(JSON.parse(j.out)).toMatchObject([{ name: 'ok', pass: true }]);
    expect(svmsim('run', ok, '--policy', 'fastest').status).toBe(2);
  });

  it('takes cost-table overrides on the command line', () => {
    const f = file(
      'cost.yaml',
      'name: cost\nsteps:\n  - mmap: { as: a, size: 8 pages }\n  - write: { at: a, size: 8 pages, value: 1 }\n',
    );
    const time = (...extra: string[]): number => {
      const [r] = JSON.parse(svmsim('run', f, '--json', ...extra).out) as { time: number }[];
      return r?.time ?? -1;
    };
    const base = time();
    expect(time('--cost', 'cpu_access_page=1us', '--cost', 'cpu_fault=0')).not.toBe(base);
    const bad = svmsim('run', f, '--cost', 'tlb_flsh=1us');
    expect(bad.status).toBe(2);
    expect(bad.err).toContain("--cost: unknown cost 'tlb_flsh'");
    expect(svmsim('run', f, '--cost', 'tlb_flush=fast').err).toContain(
      '--cost tlb_flush: invalid time',
    );
  });

  it('takes design options on the command line, checked against the design', () => {
    const f = 'scenarios/rfc-v2/migration-two-gpus.yaml';
    const counters = (...extra: string[]): Record<string, number> => {
      const [r] = JSON.parse(svmsim('run', f, '--json', ...extra).out) as {
        counters: Record<string, number>;
      }[];
      return r?.counters ?? {};
    };
    expect(counters()['migrated_pages_dev_to_dev'] ?? 0).toBe(0);
    // NAME alone is NAME=true; the file's own counter expectations then fail (exit 1).
    expect(counters('--option', 'select-device-private')['migrated_pages_dev_to_dev']).toBe(1536);
    expect(svmsim('run', f, '--option', 'select-device-private').status).toBe(1);
    const off = svmsim('run', f, '--option', 'migration=false', '--option', 'migration=true');
    expect(off.status).toBe(0); // the last one wins
    const unknown = svmsim('run', f, '--option', 'bogus');
    expect(unknown.status).toBe(2);
    expect(unknown.out).toContain("--option bogus: design rfc-v2 has no option 'bogus'");
    const needs = svmsim(
      'run',
      'scenarios/rfc-v2/attr-bounds.yaml',
      '--option',
      'select-device-private',
    );
    expect(needs.status).toBe(2);
    expect(needs.out).toContain("option 'select-device-private' needs 'migration: true'");
    const bad = svmsim('run', f, '--option', 'migration=maybe');
    expect(bad.status).toBe(2);
    expect(bad.err).toContain('--option takes NAME or NAME=true|false');
  });

  it('writes a byte-identical trace for the same scenario and seed, and replays a failure', () => {
    const race = file('race.yaml', RACE);
    const t1 = join(dir, 't1.jsonl');
    const t2 = join(dir, 't2.jsonl');
    svmsim('run', race, '--seed', '4', '--trace', t1);
    svmsim('run', race, '--seed', '4', '--trace', t2);
    const a = readFileSync(t1, 'utf8');
    expect(a.split('\n').length).toBeGreaterThan(20);
    expect(readFileSync(t2, 'utf8')).toBe(a);
    let failing: string | undefined;
    for (let seed = 1; seed < 40 && !failing; seed++) {
      const r = svmsim('run', race, '--seed', String(seed), '--json');
      const [res] = JSON.parse(r.out) as { pass: boolean; replay: string; reason: string }[];
      if (res && !res.pass) failing = JSON.stringify([res.replay, res.reason]);
    }
    const [replay, reason] = JSON.parse(failing ?? '["", ""]') as [string, string];
    expect(reason).toMatch(/expected OK, got EFAULT/);
    const again = svmsim('run', race, '--replay', replay);
    expect(again.status).toBe(1);
    expect(again.out).toContain(reason);
  });
});

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/scenario/loader.js';
import { resolveSystem } from '../../src/scenario/system.js';

function scenarioFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return scenarioFiles(p);
    return /\.(ya?ml|json)$/.test(f) ? [p] : [];
  });
}

describe('every scenario file in scenarios/', () => {
  const files = scenarioFiles('scenarios');
  it('exists', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  it.each(files)('%s is valid', (file) => {
    const s = loadScenario(file);
    const r = resolveSystem(s);
    expect(r.ok ? [] : r.issues.map((i) => i.message)).toEqual([]);
  });
});

/**
 * The design option `migration: true` (clarifications.md §6; src/amdgpu/svm/migrate.ts) for
 * `rfc-v1` and `rfc-v2`: both designs declare it (default off); VRAM pages map with the
 * 'vram-local' PTE flags; and every migration scenario (prefetch to VRAM and back, preferred
 * location on a GPU fault, ACCESS_IN_PLACE, a CPU fault back, VRAM pressure with the single
 * eviction and the in-place fallback, two GPUs ping-ponging) passes timed and under 200
 * random schedules with no oracle violation.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../../src/amdgpu/svm/index.js';
import { AMDGPU_PRESETS } from '../../../src/amdgpu/ip.js';
import {
  AMDGPU_PTE_SNOOPED,
  AMDGPU_PTE_SYSTEM,
  AMDGPU_PTE_VALID,
  AMDGPU_PTE_WRITEABLE,
  amdgpu_svm_pte_flags,
} from '../../../src/amdgpu/pte.js';
import type { amdgpu_svm } from '../../../src/amdgpu/svm/amdgpu_svm.js';
import {
  amdgpu_svm_range_attr_pte_flags,
  amdgpu_svm_range_vram_pte_flags,
} from '../../../src/amdgpu/svm/amdgpu_svm_pte.js';
import type { amdgpu_svm_attrs } from '../../../src/amdgpu/svm/attr_types.js';
import { getDesign } from '../../../src/amdgpu/svm/designs.js';
import { AMDGPU_SVM_FLAGS as F } from '../../../src/amdgpu/svm/uapi.js';
import { loadScenario } from '../../../src/scenario/loader.js';
import { runScenario } from '../../../src/scenario/runner.js';

const files = ['scenarios/rfc-v1', 'scenarios/rfc-v2'].flatMap((dir) =>
  readdirSync(dir)
    .filter((f) => f.startsWith('migration-') && f.endsWith('.yaml'))
    .map((f) => join(dir, f)),
);
const SEEDS = Array.from({ length: 200 }, (_, i) => i + 1);

describe('migration option', () => {
  it('is declared by both designs, default off', () => {
    for (const name of ['rfc-v1', 'rfc-v2']) {
      const opt = getDesign(name)?.options['migration'];
      expect(opt?.default, name).toBe(false);
      expect(opt?.description).toContain('clarifications.md §6');
    }
    // rfc-v2 keeps its v3_* options next to it.
    expect(Object.keys(getDesign('rfc-v2')?.options ?? {})).toContain('v3_clamped_zap');
  });

  it("maps VRAM pages with 'vram-local' flags: no SYSTEM, no snoop, local MTYPE", () => {
    const ip = AMDGPU_PRESETS['gfx943'];
    if (!ip) throw new Error('no gfx943 preset');
    const svm = { adev: { ip } } as unknown as amdgpu_svm;
    const attrs = { flags: F.COHERENT | F.HOST_ACCESS } as amdgpu_svm_attrs;
    const sys = amdgpu_svm_range_attr_pte_flags(svm, attrs);
    const vram = amdgpu_svm_range_vram_pte_flags(svm, attrs.flags, sys);
    expect(sys & AMDGPU_PTE_SYSTEM).not.toBe(0);
    expect(vram & (AMDGPU_PTE_SYSTEM | AMDGPU_PTE_SNOOPED)).toBe(0);
    expect(vram & AMDGPU_PTE_VALID).not.toBe(0);
    expect(vram).toBe(
      amdgpu_svm_pte_flags(ip, {
        domain: 'vram-local',
        coherent: true,
        ext_coherent: false,
        gpu_exec: false,
        read_only: false,
      }),
    );
    // A read-only system mapping gives a read-only VRAM mapping.
    const ro = amdgpu_svm_range_vram_pte_flags(svm, attrs.flags, sys & ~AMDGPU_PTE_WRITEABLE);
    expect(ro & AMDGPU_PTE_WRITEABLE).toBe(0);
  });

  it('programs VRAM PTEs without SYSTEM after a prefetch (rfc-v2)', () => {
    const r = runScenario(loadScenario('scenarios/rfc-v2/migration-prefetch.yaml'), {
      trace: true,
    });
    expect(r.reason).toBe('');
    const updates = (r.trace ?? '')
      .split('\n')
      .filter((l) => l.includes('"amdgpu.vm_update"'))
      .map((l) => JSON.parse(l) as { flags: number; unlocked: boolean });
    const mapped = updates.filter((u) => u.flags & AMDGPU_PTE_VALID && !u.unlocked);
    expect(mapped.some((u) => (u.flags & AMDGPU_PTE_SYSTEM) === 0)).toBe(true);
    expect(mapped.some((u) => (u.flags & AMDGPU_PTE_SYSTEM) !== 0)).toBe(true);
  });

  it('has a scenario per feature for both designs', () => {
    expect(files.filter((f) => f.includes('rfc-v1')).length).toBeGreaterThanOrEqual(4);
    expect(files.filter((f) => f.includes('rfc-v2')).length).toBeGreaterThanOrEqual(4);
  });

  it.each(files)(
    '%s passes timed and under 200 random schedules',
    (file) => {
      const s = loadScenario(file);
      const timed = runScenario(s);
      expect(timed.reason).toBe('');
      expect(timed.pass).toBe(true);
      for (const seed of SEEDS) {
        const r = runScenario(s, { overrides: { policy: 'random', seed } });
        expect(r.reason, `random seed ${seed}`).toBe('');
        expect(r.pass, `random seed ${seed}`).toBe(true);
      }
    },
    120_000,
  );

  it('makes the multi-GPU ping-pong observable in counters (rfc-v2)', () => {
    const r = runScenario(loadScenario('scenarios/rfc-v2/migration-two-gpus.yaml'));
    expect(r.reason).toBe('');
    expect(r.counters['migrated_pages_to_vram']).toBe(2048);
    expect(r.counters['svm_vram_evictions']).toBeGreaterThanOrEqual(3);
    expect(r.counters['svm_fault_handler_entries@gpu0']).toBeGreaterThanOrEqual(2);
    expect(r.counters['svm_fault_handler_entries@gpu1']).toBeGreaterThanOrEqual(2);
  });
});

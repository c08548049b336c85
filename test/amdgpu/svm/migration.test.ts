/**
 * The design option `migration: true` (clarifications.md §6; src/amdgpu/svm/migrate.ts) for
 * `rfc-v1` and `rfc-v2`: both designs declare it (default off); VRAM pages map with the
 * 'vram-local' PTE flags; and every migration scenario (prefetch to VRAM and back, preferred
 * location on a GPU fault, ACCESS_IN_PLACE, a CPU fault back, VRAM pressure with the single
 * eviction and the in-place fallback, two GPUs ping-ponging, and with
 * `select-device-private` a peer's VRAM mapped over P2P and moves between GPUs that skip
 * system memory) passes timed and under 200 random schedules with no oracle violation.
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
import { explore } from '../../../src/explore/explore.js';
import { loadScenario, parseScenario } from '../../../src/scenario/loader.js';
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
    for (const name of ['rfc-v1', 'rfc-v2']) {
      const opt = getDesign(name)?.options['select-device-private'];
      expect(opt?.default, name).toBe(false);
      expect(opt?.requires).toBe('migration');
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
    const { local: vram, remote } = amdgpu_svm_range_vram_pte_flags(svm, attrs.flags, sys);
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
    // A peer's VRAM over P2P (select-device-private): no SYSTEM either, the remote MTYPE.
    expect(remote & (AMDGPU_PTE_SYSTEM | AMDGPU_PTE_SNOOPED)).toBe(0);
    expect(remote).not.toBe(vram);
    expect(remote).toBe(
      amdgpu_svm_pte_flags(ip, {
        domain: 'vram-remote',
        coherent: true,
        ext_coherent: false,
        gpu_exec: false,
        read_only: false,
      }),
    );
    // A read-only system mapping gives read-only VRAM mappings.
    const ro = amdgpu_svm_range_vram_pte_flags(svm, attrs.flags, sys & ~AMDGPU_PTE_WRITEABLE);
    expect(ro.local & AMDGPU_PTE_WRITEABLE).toBe(0);
    expect(ro.remote & AMDGPU_PTE_WRITEABLE).toBe(0);
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

  it.each([
    ['rfc-v1', 'migration-two-gpus-xnack-on', 'migration-two-gpus-peer-xnack-on', 64],
    ['rfc-v2', 'migration-two-gpus', 'migration-two-gpus-peer', 512],
  ])(
    '%s: select-device-private moves between GPUs without the bounce through system memory',
    (design, bounceFile, directFile, pages) => {
      const load = (f: string) => loadScenario(`scenarios/${design}/${f}.yaml`);
      const bounce = runScenario(load(bounceFile));
      const direct = runScenario(load(directFile));
      expect(bounce.reason).toBe('');
      expect(direct.reason).toBe('');
      const c = (r: typeof bounce, k: string) => r.counters[k] ?? 0;
      // The same four GPU accesses, so three moves between GPUs (through RAM, or device to
      // device), then the CPU's final read brings the buffer back to RAM.
      expect(c(bounce, 'migrated_pages_to_vram')).toBe(4 * pages);
      expect(c(bounce, 'migrated_pages_to_ram')).toBe(4 * pages);
      expect(c(bounce, 'migrated_pages_dev_to_dev')).toBe(0);
      expect(c(bounce, 'svm_vram_evictions')).toBeGreaterThan(0);
      expect(c(direct, 'migrated_pages_to_vram')).toBe(pages);
      expect(c(direct, 'migrated_pages_to_ram')).toBe(pages);
      expect(c(direct, 'migrated_pages_dev_to_dev')).toBe(3 * pages);
      expect(c(direct, 'svm_vram_evictions')).toBe(0);
      expect(direct.time).toBeLessThan(bounce.time);
    },
  );

  it('peer migration racing the CPU: the leak pct found at schedule 163 is fixed, none left', () => {
    // With select-device-private a get_pages walk can device_map a peer's page and then
    // meet a second pagemap (-EOPNOTSUPP); drm_gpusvm's err_unmap then missed that P2P
    // map (test/drm/get-pages.test.ts, sim_err_unmap_dpagemap_unfixed). pct seed 163
    // found it as a `leak` trap at exit; this is its minimised schedule.
    const s = loadScenario('scenarios/races/peer-migration-vs-cpu.yaml');
    const found = 'v1.rk.l-4.2-5.1-5.i-8';
    const again = runScenario(s, { replay: found });
    expect(again.reason).toBe('');
    expect(again.counters['gpusvm_get_pages_calls']).toBeGreaterThan(0);
    const r = explore(s, { policy: 'pct', schedules: 1000 });
    expect(r.explored).toBe(1000);
    expect(r.findings).toEqual([]);
  }, 120_000);

  it('finding: with select-device-private, V3 prefetch can return get_pages -EOPNOTSUPP to SET_ATTR', () => {
    // Two GPUs prefetch the same range into their own VRAM at once. With one pagemap owner
    // for both, gpu0 moves a page out of gpu1's VRAM while gpu1 maps its range, whose pages
    // now sit in two VRAMs: get_pages fails -EOPNOTSUPP (mixed pagemaps). The fault path
    // evicts and retries; V3's prefetch path (amdgpu_svm_range_map_attr_range, "the first
    // error ends it") evicts and returns it, so SET_ATTR fails. Without the option the
    // other GPU's pages are migrated to RAM by hmm and no range mixes two VRAMs.
    const s = parseScenario(PEER_PREFETCH_RACE, 'peer-prefetch-race.yaml');
    const r = runScenario(s, { replay: 'v1.ak.f-2.5-2.1-2.1-2' });
    expect(r.reason).toMatch(/step 1 \(svm\.set\) of b: expected OK, got EOPNOTSUPP/);
    const bounce = runScenario(s, {
      replay: 'v1.ak.f-2.5-2.1-2.1-2',
      overrides: { options: { 'select-device-private': false } },
    });
    expect(bounce.reason).toBe('');
  });
});

const PEER_PREFETCH_RACE = `name: peer-prefetch-race
system:
  design: rfc-v2
  xnack: on
  gpus: [{ name: gpu0, ip: gfx943 }, { name: gpu1, ip: gfx943 }]
  chunk_sizes: [64KiB, 4KiB]
  costs: { cpu_fault: 100us }
  options: { migration: true, select-device-private: true }
threads:
  a:
    - mmap: { as: buf, size: 32 pages, align: 64KiB }
    - write: { at: buf, size: 32 pages, value: 5 }
    - barrier: { name: go }
    - svm.set: { gpu: gpu0, at: buf + 16 pages, size: 16 pages, attrs: { ACCESS: gpu0, PREFETCH_LOC: gpu0 } }
    - gpu.read: { gpu: gpu0, at: buf + 16 pages, size: 16 pages, expect: 5 }
    - barrier: { name: done }
  b:
    - barrier: { name: go }
    - svm.set: { gpu: gpu1, at: buf + 16 pages, size: 16 pages, attrs: { ACCESS: gpu1, PREFETCH_LOC: gpu1 } }
    - gpu.read: { gpu: gpu1, at: buf + 16 pages, size: 16 pages, expect: 5 }
    - barrier: { name: done }
  c:
    - barrier: { name: go }
    - write: { at: buf, size: 8 pages, value: 6 }
    - munmap: { at: buf + 8 pages, size: 8 pages }
    - settle
    - read: { at: buf, size: 8 pages, expect: 6 }
    - barrier: { name: done }
    - write: { at: buf + 16 pages, size: 16 pages, value: 7 }
    - gpu.read: { gpu: gpu0, at: buf + 16 pages, size: 16 pages, expect: 7 }
    - gpu.read: { gpu: gpu1, at: buf + 16 pages, size: 16 pages, expect: 7 }
`;

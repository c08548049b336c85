import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../src/scenario/loader.js';
import { resolveSystem, type SystemOverrides } from '../../src/scenario/system.js';
import './mirror-design.js';

function resolve(text: string, o: SystemOverrides = {}) {
  return resolveSystem(parseScenario(text, 'f.yaml'), o);
}

function issues(text: string, o: SystemOverrides = {}): string[] {
  const r = resolve(text, o);
  if (r.ok) throw new Error('expected problems');
  return r.issues.map((i) => `${i.line}:${i.col} ${i.message}`);
}

describe('system resolution', () => {
  it('fills the defaults of the format', () => {
    const r = resolve('name: d\nsteps: [settle]\n');
    expect(r.ok && r.system).toEqual({
      design: 'rfc-v1',
      xnack: false,
      gpus: [{ name: 'gpu0', ip: 'gfx943', vram: 16n * 1024n ** 3n, gpuId: 0x1000 }],
      ram: 64n * 1024n ** 3n,
      vaBits: 47,
      chunkSizes: [2097152n, 65536n, 4096n],
      notifierSize: 512n * 1024n * 1024n,
      costs: {},
      seed: 1,
      policy: 'timed',
      options: expect.any(Object) as unknown,
    });
    // Every design option (known-flaw variants, migration) defaults to off.
    expect(Object.values(r.ok ? r.system.options : { x: true }).every((v) => v === false)).toBe(
      true,
    );
    const v2 = resolve('name: d\nsystem: { design: rfc-v2 }\nsteps: [settle]\n');
    expect(v2.ok && v2.system.xnack).toBe(true);
  });

  it('takes a GPU list with presets and ids by position, and command-line overrides', () => {
    const text = `name: g
system:
  gpus: [{ name: a, ip: gfx906 }, { name: b, ip: gfx1100, vram: 8GiB }]
  seed: 4
steps: [{ gpu.read: { gpu: b, at: 0x1000, size: 4096 } }]
`;
    const r = resolve(text);
    expect(r.ok && r.system.gpus).toEqual([
      { name: 'a', ip: 'gfx906', vram: 16n * 1024n ** 3n, gpuId: 0x1000 },
      { name: 'b', ip: 'gfx1100', vram: 8n * 1024n ** 3n, gpuId: 0x1001 },
    ]);
    const o = resolve('name: o\nsystem: { gpus: 1, policy: pct }\nsteps: [settle]\n', {
      gpus: 3,
      seed: 9,
      policy: 'random',
      design: 'rfc-v2',
    });
    expect(
      o.ok && [o.system.gpus.map((g) => g.name), o.system.seed, o.system.policy, o.system.design],
    ).toEqual([['gpu0', 'gpu1', 'gpu2'], 9, 'random', 'rfc-v2']);
  });

  it('reports every problem at its place', () => {
    expect(
      issues(`name: bad
system:
  design: rfc-v9
  xnack: on
  gpus: [{ name: w, ip: gfx1100 }, { name: w, ip: gfx42 }]
  costs: { tlb_flsh: 4us }
  chunk_sizes: [64KiB, 2MiB, 3000]
  options: { turbo: true }
steps:
  - gpu.read: { gpu: gpu7, at: 0x1000, size: 4096 }
  - svm.set: { gpu: w, at: 0x1000, size: 4096, attrs: { PREFETCH_LOC: gpu3 } }
  - where: { at: 0x1000, size: 4096, expect: vram }
`),
    ).toEqual([
      "3:11 system.design: unknown design 'rfc-v9' (known: rfc-v1, rfc-v2, test-mirror, test-nodriver)",
      '5:10 system.gpus.0: xnack: on needs XNACK-capable GPUs, and w (gfx1100) is not',
      "5:44 system.gpus.1.name: GPU name 'w' is used twice",
      "5:51 system.gpus.1.ip: unknown GPU preset 'gfx42' (known: gfx943, gfx906, gfx1100)",
      "6:22 system.costs.tlb_flsh: unknown cost 'tlb_flsh' (see 'svmsim costs')",
      '7:16 system.chunk_sizes: the last chunk size must be 4KiB (drm_gpusvm_init)',
      '7:24 system.chunk_sizes.1: chunk sizes must be in descending order',
      '7:30 system.chunk_sizes.2: chunk size 3000 is not a power of two of at least 4 KiB',
      "10:22 steps.0.gpu.read.gpu: unknown GPU 'gpu7' (this system has w)",
      "11:55 steps.1.svm.set.attrs.0: unknown GPU 'gpu3' (this system has w)",
      '12:46 steps.2.where.expect: expected sysmem or a GPU name (this system has w)',
    ]);
  });

  it('validates options against the design and GPU names against --gpus', () => {
    expect(
      issues(
        'name: o\nsystem: { design: test-nodriver, options: { migration: 1 } }\nsteps: [settle]\n',
      ),
    ).toEqual([
      "2:56 system.options.migration: design test-nodriver has no option 'migration' (it declares none)",
    ]);
    expect(
      issues(
        'name: o\nsystem: { design: test-mirror, options: { noisy: 1, loud: true } }\nsteps: [settle]\n',
      ),
    ).toEqual([
      "2:50 system.options.noisy: option 'noisy' takes true or false",
      "2:59 system.options.loud: design test-mirror has no option 'loud' (known: noisy, liar)",
    ]);
    // An option that needs another one (designs.ts `requires`).
    expect(
      issues(
        'name: p\nsystem: { design: rfc-v2, options: { select-device-private: true } }\nsteps: [settle]\n',
      ),
    ).toEqual([
      "2:61 system.options.select-device-private: option 'select-device-private' needs 'migration: true'",
    ]);
    expect(
      resolve(
        'name: p\nsystem:\n  design: rfc-v1\n  options: { migration: true, select-device-private: true }\nsteps: [settle]\n',
      ).ok,
    ).toBe(true);
    expect(
      issues('name: g\nsteps: [{ gpu.read: { gpu: gpu1, at: 0x1000, size: 4096 } }]\n', {
        gpus: 1,
      }),
    ).toEqual(["2:28 steps.0.gpu.read.gpu: unknown GPU 'gpu1' (this system has gpu0)"]);
  });
});

/**
 * The cover letter's multi-GPU claim (design question 3), made visible by the counters: each
 * GPU's fd has its own amdgpu_svm and drm_gpusvm over the same mm, so one CPU-side
 * invalidation costs N notifier callbacks, N hmm_range_fault walks, N DMA (un)mappings and N
 * sets of TLB flushes. Measured for N = 1, 2, 4 on an munmap and on an eviction.
 */
import { describe, expect, it } from 'vitest';
import { AMDGPU_SVM_ATTR as A } from '../../../src/amdgpu/svm/uapi.js';
import { do_munmap } from '../../../src/mm/mmap.js';
import { reclaim } from '../../../src/mm/vmscan.js';
import type { Co } from '../../../src/sim/task.js';
import {
  counter,
  exitAndCheck,
  fill,
  machine,
  mapped,
  mmap,
  run,
  setAttr,
  type Machine,
} from './harness.js';

const SCALED = [
  'notifier_callbacks',
  'hmm_range_fault_calls',
  'hmm_range_fault_pages',
  'dma_map_pages',
  'dma_unmap_pages',
  'tlb_flushes',
] as const;
type Scaled = (typeof SCALED)[number];

/** Counter deltas of one invalidation (`op`, then settle) with N GPUs sharing a buffer. */
function perInvalidation(n: number, op: (m: Machine, buf: number) => Co): Record<Scaled, number> {
  const m = machine(`{ design: rfc-v1, xnack: off, gpus: ${n} }`);
  const gpus = Array.from({ length: n }, (_, i) => `gpu${i}`);
  const buf = run(m, function* () {
    const b = yield* mmap(m, 1024);
    yield* fill(m, b, 1024, (i) => i);
    for (const [i, g] of gpus.entries()) {
      const r = yield* setAttr(m, b, 1024, [{ type: A.ACCESS, value: 0x1000 + i }], g);
      if (r) throw new Error(`SET_ATTR on ${g}: ${r}`);
    }
    return b;
  });
  for (const g of gpus) expect(mapped(m, buf, 1024, g)).toBe(1024);
  const before = Object.fromEntries(SCALED.map((c) => [c, counter(m, c)]));
  run(m, () => op(m, buf));
  const delta = Object.fromEntries(SCALED.map((c) => [c, counter(m, c) - (before[c] ?? 0)]));
  for (const g of gpus) expect(mapped(m, buf + 512, 512, g)).toBe(512);
  exitAndCheck(m);
  return delta as Record<Scaled, number>;
}

const ops: [string, (m: Machine, buf: number) => Co][] = [
  [
    'a partial munmap (UNMAP, GC rebuild, restore)',
    function* (m, buf) {
      yield* do_munmap(m.proc.mm, buf + 64, 64);
    },
  ],
  [
    'an eviction (reclaim of one page: quiesce, restore)',
    function* (m, buf) {
      yield* reclaim(m.proc.mm, buf + 600, 1);
    },
  ],
];

describe('multi-GPU: per-invalidation cost scales with the number of GPUs', () => {
  it.each(ops)('%s', (_name, op) => {
    const one = perInvalidation(1, op);
    for (const c of SCALED) expect(one[c], c).toBeGreaterThan(0);
    for (const n of [2, 4]) {
      const many = perInvalidation(n, op);
      for (const c of SCALED) expect(many[c], `${c} with ${n} GPUs`).toBe(n * one[c]);
    }
  });
});

/**
 * Chunk selection of drm_gpusvm_range_find_or_insert (spec drm-gpusvm.md §2, §2.1), table
 * driven: the largest aligned chunk inside the CPU vma, the notifier and the caller's GPU VA
 * bounds, not overlapping an existing range, and, up to check_pages_threshold, only over
 * CPU-present pages; the one-page chunk is never checked. Chunk sizes are Xe's
 * {2M, 64K, 4K} (512, 16, 1 pages) unless a row says otherwise.
 */
import { describe, expect, it } from 'vitest';
import { EINVAL, ENOENT, EPERM, errnoName, type Co } from '../../src/sim/index.js';
import { PROT_READ, cpu_read_range, cpu_write_range } from '../../src/mm/index.js';
import {
  IS_ERR,
  drm_gpusvm_range_end,
  drm_gpusvm_range_find_or_insert,
  drm_gpusvm_range_start,
  type drm_gpusvm_ctx,
  type drm_gpusvm_range,
} from '../../src/drm/index.js';
import { locked, machine, mmap, run, svm_init, type Svm, type SvmOptions } from './fixture.js';

/** A 2M-aligned base page (256 MiB). */
const B = 0x10000;

interface Row {
  name: string;
  /** [start, npages, prot?] */
  vmas: [number, number, number?][];
  /** CPU writes (or reads, with `zero`) over [start, npages) before the fault. */
  touch?: [number, number][];
  zero?: boolean;
  /** Ranges created first: [fault, gpuva_start, gpuva_end]. */
  pre?: [number, number, number][];
  svm?: SvmOptions;
  fault: number;
  gpuva?: [number, number];
  ctx?: drm_gpusvm_ctx;
  /** [start, end) of the range, or a negative errno. */
  expect: [number, number] | number;
}

const ALL: [number, number] = [0, 2 ** 36];

const rows: Row[] = [
  {
    name: 'aligned 2M inside the vma: 2M',
    vmas: [[B, 1024]],
    fault: B + 700,
    expect: [B + 512, B + 1024],
  },
  {
    name: 'vma starts inside the 2M block: 64K',
    vmas: [[B + 8, 1016]],
    fault: B + 100,
    expect: [B + 96, B + 112],
  },
  {
    name: 'vma end cuts the 64K chunk: 4K',
    vmas: [[B, 20]],
    fault: B + 18,
    expect: [B + 18, B + 19],
  },
  {
    name: 'vma exactly one 64K chunk',
    vmas: [[B + 16, 16]],
    fault: B + 31,
    expect: [B + 16, B + 32],
  },
  {
    name: 'vma ends at the 2M boundary',
    vmas: [[B - 512, 512]],
    fault: B - 1,
    expect: [B - 512, B],
  },
  {
    name: 'notifier of 1M: 2M does not fit, 64K does',
    vmas: [[B, 1024]],
    svm: { notifier_size: 256 },
    fault: B + 700,
    expect: [B + 688, B + 704],
  },
  {
    name: 'notifier of 32K cuts every 64K chunk: 4K',
    vmas: [[B, 1024]],
    svm: { notifier_size: 8 },
    fault: B + 5,
    expect: [B + 5, B + 6],
  },
  {
    name: 'gpuva start inside the 2M block: 64K',
    vmas: [[B, 1024]],
    gpuva: [B + 600, B + 1024],
    fault: B + 700,
    expect: [B + 688, B + 704],
  },
  {
    name: 'gpuva end cuts the 64K chunk: 4K',
    vmas: [[B, 1024]],
    gpuva: [B, B + 690],
    fault: B + 689,
    expect: [B + 689, B + 690],
  },
  {
    name: 'a range inside the 2M block: 64K',
    vmas: [[B, 1024]],
    pre: [[B + 100, B + 100, B + 101]],
    fault: B + 300,
    expect: [B + 288, B + 304],
  },
  {
    name: 'a 64K range next door does not overlap',
    vmas: [[B, 1024]],
    pre: [[B + 20, B + 16, B + 32]],
    fault: B + 15,
    expect: [B, B + 16],
  },
  {
    name: 'a range inside the 64K chunk: 4K',
    vmas: [[B, 1024]],
    pre: [[B + 20, B + 20, B + 21]],
    gpuva: [B + 16, B + 1024],
    fault: B + 18,
    expect: [B + 18, B + 19],
  },
  {
    name: 'a fault inside a range returns it as it is',
    vmas: [[B, 1024]],
    pre: [[B + 20, B + 16, B + 32]],
    fault: B + 17,
    expect: [B + 16, B + 32],
  },
  {
    name: 'threshold 64K, pages missing: 4K',
    vmas: [[B + 8, 1016]],
    ctx: { check_pages_threshold: 16 },
    fault: B + 100,
    expect: [B + 100, B + 101],
  },
  {
    name: 'threshold 64K, pages present: 64K',
    vmas: [[B + 8, 1016]],
    touch: [[B + 96, 16]],
    ctx: { check_pages_threshold: 16 },
    fault: B + 100,
    expect: [B + 96, B + 112],
  },
  {
    name: 'threshold 64K, one page of 16 missing: 4K',
    vmas: [[B + 8, 1016]],
    touch: [[B + 96, 15]],
    ctx: { check_pages_threshold: 16 },
    fault: B + 100,
    expect: [B + 100, B + 101],
  },
  {
    name: 'threshold 64K does not check the 2M chunk',
    vmas: [[B, 1024]],
    ctx: { check_pages_threshold: 16 },
    fault: B + 100,
    expect: [B, B + 512],
  },
  {
    name: 'threshold 2M, only a 64K chunk present: 64K',
    vmas: [[B, 1024]],
    touch: [[B + 96, 16]],
    ctx: { check_pages_threshold: 512 },
    fault: B + 100,
    expect: [B + 96, B + 112],
  },
  {
    name: 'threshold never checks the 4K chunk',
    vmas: [[B, 1024]],
    ctx: { check_pages_threshold: 512 },
    fault: B + 100,
    expect: [B + 100, B + 101],
  },
  {
    name: 'zero-page mappings count as present',
    vmas: [[B + 8, 1016]],
    touch: [[B + 96, 16]],
    zero: true,
    ctx: { check_pages_threshold: 16 },
    fault: B + 100,
    expect: [B + 96, B + 112],
  },
  {
    name: 'another chunk table {32, 4, 1}',
    vmas: [[B + 4, 60]],
    svm: { chunks: [32, 4, 1] },
    fault: B + 33,
    expect: [B + 32, B + 64],
  },
  {
    name: 'read-only vma with read_only: 2M',
    vmas: [[B, 512, PROT_READ]],
    ctx: { read_only: true },
    fault: B,
    expect: [B, B + 512],
  },
  {
    name: 'read-only vma without read_only: -EPERM',
    vmas: [[B, 512, PROT_READ]],
    fault: B,
    expect: -EPERM,
  },
  { name: 'no vma: -ENOENT', vmas: [[B, 16]], fault: B + 16, expect: -ENOENT },
  {
    name: 'gpuva excludes the fault: -EINVAL',
    vmas: [[B, 1024]],
    gpuva: [B + 10, B + 20],
    fault: B + 5,
    expect: -EINVAL,
  },
  // The off-by-one of step 1: fault_addr == mm_start + mm_range is accepted.
  {
    name: 'fault at mm_start + mm_range is accepted',
    vmas: [[B, 1024]],
    svm: { mm_start: B, mm_range: 512 },
    fault: B + 512,
    expect: [B + 512, B + 1024],
  },
  {
    name: 'fault past mm_start + mm_range: -EINVAL',
    vmas: [[B, 1024]],
    svm: { mm_start: B, mm_range: 512 },
    fault: B + 513,
    expect: -EINVAL,
  },
  {
    name: 'fault below mm_start: -EINVAL',
    vmas: [[B - 16, 1024]],
    svm: { mm_start: B, mm_range: 512 },
    fault: B - 1,
    expect: -EINVAL,
  },
];

function* fault(
  svm: Svm,
  addr: number,
  gpuva: [number, number],
  ctx: drm_gpusvm_ctx,
): Co<drm_gpusvm_range | number> {
  return yield* locked(svm, () =>
    drm_gpusvm_range_find_or_insert(svm.gpusvm, addr, gpuva[0], gpuva[1], ctx),
  );
}

function show(r: drm_gpusvm_range | number): [number, number] | string {
  return IS_ERR(r) ? errnoName(r) : [drm_gpusvm_range_start(r), drm_gpusvm_range_end(r)];
}

describe('drm_gpusvm_range_find_or_insert chunk selection', () => {
  for (const row of rows) {
    it(row.name, () => {
      const m = machine({ trace: false });
      const got = run(m, function* () {
        const svm = svm_init(m, row.svm);
        for (const [start, n, prot] of row.vmas)
          yield* mmap(m.mm, n, { addr: start, ...(prot !== undefined ? { prot } : {}) });
        for (const [start, n] of row.touch ?? []) {
          if (row.zero) expect(yield* cpu_read_range(m.mm, start, n, new Uint32Array(n))).toBe(0);
          else expect(yield* cpu_write_range(m.mm, start, n, 7)).toBe(0);
        }
        const pre: (drm_gpusvm_range | number)[] = [];
        for (const [addr, s, e] of row.pre ?? []) pre.push(yield* fault(svm, addr, [s, e], {}));
        for (const p of pre) expect(IS_ERR(p)).toBe(false);
        const r = yield* fault(svm, row.fault, row.gpuva ?? ALL, row.ctx ?? {});
        if (row.name.includes('as it is')) expect(r).toBe(pre[0]);
        // find_or_insert creates no DMA mapping.
        expect(m.drm.dev.mapped).toBe(0);
        return show(r);
      });
      expect(got).toEqual(typeof row.expect === 'number' ? errnoName(row.expect) : row.expect);
    });
  }
});

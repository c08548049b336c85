/**
 * Every error return of the framework (spec drm-gpusvm.md §1.1, §2, §3, §6): init
 * arguments, find_or_insert, get_pages (including the 1 s timeout on the virtual clock),
 * evict, populate_mm, eviction and the CPU-fault migration.
 */
import { describe, expect, it } from 'vitest';
import { EBUSY, EFAULT, EINVAL, ENOENT, ETIME, join, sleep, type Co } from '../../src/sim/index.js';
import {
  MADV_DONTNEED,
  MMU_NOTIFY_CLEAR,
  PROT_NONE,
  SIGBUS,
  cpu_read,
  cpu_read_range,
  cpu_write_range,
  do_madvise,
  do_mprotect,
  get_page,
  mm_pte_pfn,
  mmput,
  put_page,
} from '../../src/mm/index.js';
import {
  IS_ERR,
  drm_gpusvm,
  drm_gpusvm_init,
  drm_gpusvm_range_evict,
  drm_gpusvm_range_find_or_insert,
  drm_gpusvm_range_get_pages,
  drm_pagemap_evict_to_ram,
  drm_pagemap_populate_mm,
  type drm_gpusvm_ops,
  type drm_gpusvm_range,
} from '../../src/drm/index.js';
import { locked, machine, mmap, run, svm_init, type Machine, type Svm } from './fixture.js';
import { TestVram, type TestDevmem } from './devmem.js';

const B = 0x10000;
const S = 1000_000_000; // 1 s in ns

function* range_at(svm: Svm, addr: number): Co<drm_gpusvm_range> {
  const r = yield* locked(svm, () =>
    drm_gpusvm_range_find_or_insert(svm.gpusvm, addr, 0, 2 ** 36, {}),
  );
  if (IS_ERR(r)) throw new Error(`find_or_insert: ${r}`);
  return r;
}

describe('drm_gpusvm_init arguments', () => {
  const ops: drm_gpusvm_ops = { *invalidate() {} };
  const cases: [string, (m: Machine) => number][] = [
    [
      'full mode without ops',
      (m) => drm_gpusvm_init(new drm_gpusvm(), 'x', m.drm, m.mm, 0, 16, 16, null, [1], 1),
    ],
    [
      'full mode without chunks',
      (m) => drm_gpusvm_init(new drm_gpusvm(), 'x', m.drm, m.mm, 0, 16, 16, ops, [], 0),
    ],
    [
      'simple mode with ops',
      (m) => drm_gpusvm_init(new drm_gpusvm(), 'x', m.drm, null, 0, 0, 0, ops, [], 0),
    ],
    [
      'simple mode with chunks',
      (m) => drm_gpusvm_init(new drm_gpusvm(), 'x', m.drm, null, 0, 0, 0, null, [1], 1),
    ],
    [
      'simple mode with a window',
      (m) => drm_gpusvm_init(new drm_gpusvm(), 'x', m.drm, null, 0, 16, 0, null, [], 0),
    ],
    [
      'simple mode with a notifier size',
      (m) => drm_gpusvm_init(new drm_gpusvm(), 'x', m.drm, null, 0, 0, 16, null, [], 0),
    ],
    [
      'SIM: notifier size not a power of two',
      (m) => drm_gpusvm_init(new drm_gpusvm(), 'x', m.drm, m.mm, 0, 16, 12, ops, [1], 1),
    ],
    [
      'SIM: chunk size not a power of two',
      (m) => drm_gpusvm_init(new drm_gpusvm(), 'x', m.drm, m.mm, 0, 16, 16, ops, [3, 1], 2),
    ],
  ];
  for (const [name, f] of cases) {
    it(`${name}: -EINVAL`, () => {
      const m = machine({ trace: false });
      expect(
        run(m, function* () {
          return f(m);
        }),
      ).toBe(-EINVAL);
    });
  }
  it('simple mode and full mode succeed', () => {
    const m = machine({ trace: false });
    run(m, function* () {
      expect(drm_gpusvm_init(new drm_gpusvm(), 'x', m.drm, null, 0, 0, 0, null, [], 0)).toBe(0);
      expect(drm_gpusvm_init(new drm_gpusvm(), 'x', m.drm, m.mm, 0, 16, 16, ops, [4, 1], 2)).toBe(
        0,
      );
      expect(m.mm.mm_count).toBe(2); // full mode grabs the mm
    });
  });
});

describe('find_or_insert errors', () => {
  it('-ENOENT leaves no notifier behind; -EFAULT once the mm is gone', () => {
    const m = machine();
    run(m, function* () {
      const svm = svm_init(m);
      yield* mmap(m.mm, 16, { addr: B });
      const r = yield* locked(svm, () =>
        drm_gpusvm_range_find_or_insert(svm.gpusvm, B + 16, 0, 2 ** 36, {}),
      );
      expect(r).toBe(-ENOENT);
      expect(svm.gpusvm.root).toHaveLength(0);
      expect(m.mm.notifier_subscriptions?.itree).toHaveLength(0);
      expect(m.sim.counters.get('gpusvm_notifiers_created')).toBe(0);
      yield* mmput(m.mm); // the process exits
      const r2 = yield* locked(svm, () =>
        drm_gpusvm_range_find_or_insert(svm.gpusvm, B, 0, 2 ** 36, {}),
      );
      expect(r2).toBe(-EFAULT);
    });
  });
});

describe('get_pages and evict errors', () => {
  it('-EFAULT when a vma in the range cannot be read, and once the mm is gone', () => {
    const m = machine();
    run(m, function* () {
      const svm = svm_init(m, { chunks: [32, 1] });
      yield* mmap(m.mm, 32, { addr: B });
      const r = yield* range_at(svm, B);
      expect(yield* do_mprotect(m.mm, B + 20, 4, PROT_NONE)).toBe(0);
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, {})).toBe(-EFAULT);
      expect(m.drm.dev.mapped).toBe(0);
      expect(yield* drm_gpusvm_range_evict(svm.gpusvm, r)).toBe(-EFAULT);
      yield* mmput(m.mm);
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, {})).toBe(-EFAULT);
      expect(yield* drm_gpusvm_range_evict(svm.gpusvm, r)).toBe(-EFAULT);
    });
  });

  it('-EBUSY when the 1 s timeout passes while the sequence keeps moving', () => {
    const m = machine();
    run(m, function* () {
      const svm = svm_init(m, { chunks: [32, 1] });
      yield* mmap(m.mm, 32, { addr: B });
      expect(yield* cpu_read_range(m.mm, B, 32, new Uint32Array(32))).toBe(0); // zero pages
      const r = yield* range_at(svm, B);
      // get_pages' own write fault replaces a zero page (MMU_NOTIFY_CLEAR): the callback
      // of that invalidation takes 2 s, so hmm_range_fault's -EBUSY comes after the timeout.
      let slept = false;
      svm.hook = function* (range) {
        if (range.event === MMU_NOTIFY_CLEAR && !slept) {
          slept = true;
          yield* sleep(2 * S);
        }
      };
      const t0 = m.sim.now();
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, {})).toBe(-EBUSY);
      expect(m.sim.now() - t0).toBeGreaterThan(S);
      expect(m.drm.dev.mapped).toBe(0);
      expect(yield* drm_gpusvm_range_get_pages(svm.gpusvm, r, {})).toBe(0); // a new call works
    });
  });

  it('evict gives -ETIME when read_begin returns after the timeout', () => {
    const m = machine();
    run(m, function* () {
      const svm = svm_init(m, { chunks: [32, 1] });
      yield* mmap(m.mm, 32, { addr: B });
      expect(yield* cpu_write_range(m.mm, B, 32, 1)).toBe(0);
      const r = yield* range_at(svm, B);
      svm.hook = function* () {
        yield* sleep(2 * S);
      };
      const other = m.sim.spawn('madvise', function* () {
        expect(yield* do_madvise(m.mm, B + 1, 1, MADV_DONTNEED)).toBe(0);
      });
      yield* sleep(100_000); // the madvise invalidation is in its 2 s callback now
      svm.hook = null;
      expect(yield* drm_gpusvm_range_evict(svm.gpusvm, r)).toBe(-ETIME);
      yield* join(other);
    });
  });
});

describe('drm_pagemap errors', () => {
  it('populate_mm and evict_to_ram give -EFAULT once the mm is gone', () => {
    const m = machine();
    run(m, function* () {
      const vram = new TestVram(m, 64);
      yield* mmap(m.mm, 16, { addr: B });
      expect(yield* cpu_write_range(m.mm, B, 16, 1)).toBe(0);
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 16, m.mm, 0)).toBe(0);
      const devmem = vram.allocations[0] as TestDevmem;
      yield* mmput(m.mm); // the process exits
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 16, m.mm, 0)).toBe(-EFAULT);
      expect(yield* drm_pagemap_evict_to_ram(devmem)).toBe(-EFAULT);
      expect(vram.region.used).toBe(0); // exit freed the device pages
      expect(vram.released).toBe(1);
    });
  });

  it('a CPU fault that cannot get RAM for the migration back is SIGBUS', () => {
    const m = machine({ ram_pages: 32 });
    run(m, function* () {
      const vram = new TestVram(m, 64);
      const a = yield* mmap(m.mm, 16);
      expect(yield* cpu_write_range(m.mm, a, 16, 5)).toBe(0);
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, a, a + 16, m.mm, 0)).toBe(0);
      const c = yield* mmap(m.mm, 32);
      expect(yield* cpu_write_range(m.mm, c, 32, 6)).toBe(0); // RAM is full now
      expect(yield* cpu_read(m.mm, a + 1)).toBe(-SIGBUS);
      expect(vram.region.used).toBe(16); // nothing moved
    });
  });

  it('evict_to_ram gives -EBUSY when a pinned page keeps the allocation attached', () => {
    const m = machine();
    run(m, function* () {
      const vram = new TestVram(m, 64);
      yield* mmap(m.mm, 16, { addr: B });
      expect(yield* cpu_write_range(m.mm, B, 16, 9)).toBe(0);
      expect(yield* drm_pagemap_populate_mm(vram.dpagemap, B, B + 16, m.mm, 0)).toBe(0);
      const devmem = vram.allocations[0] as TestDevmem;
      const pinned = mm_pte_pfn(m.mm, B + 4);
      get_page(m.sys, pinned); // e.g. a get_user_pages pin
      expect(yield* drm_pagemap_evict_to_ram(devmem)).toBe(-EBUSY);
      expect(vram.region.used).toBe(1); // the others went
      put_page(m.sys, pinned);
      expect(yield* drm_pagemap_evict_to_ram(devmem)).toBe(0);
      expect(vram.region.used).toBe(0);
      expect(yield* cpu_read(m.mm, B + 4)).toBe(9);
    });
  });
});

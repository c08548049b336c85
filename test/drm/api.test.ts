/**
 * The rest of the drm_gpusvm API: driver-allocated ranges and notifiers, range references,
 * iteration, has_mapping, find_vma_start, fini, per-GPU counters, and the simple mode
 * (no mm: drm_gpusvm_get_pages / unmap / free over a driver's own notifier, as Xe userptr
 * and the amdgpu XNACK-off follow-on use it).
 */
import { describe, expect, it } from 'vitest';
import { down_write, up_write, type Co } from '../../src/sim/index.js';
import {
  MADV_DONTNEED,
  MmuIntervalNotifier,
  ULONG_MAX_PAGES,
  cpu_write_range,
  do_madvise,
  mmu_interval_notifier_insert,
  mmu_interval_notifier_remove,
  mmu_interval_set_seq,
  type MmuIntervalNotifierOps,
} from '../../src/mm/index.js';
import {
  IS_ERR,
  drm_gpusvm,
  drm_gpusvm_fini,
  drm_gpusvm_find_vma_start,
  drm_gpusvm_for_each_notifier,
  drm_gpusvm_for_each_range,
  drm_gpusvm_for_each_range_safe,
  drm_gpusvm_free_pages,
  drm_gpusvm_get_pages,
  drm_gpusvm_has_mapping,
  drm_gpusvm_init,
  drm_gpusvm_notifier,
  drm_gpusvm_pages,
  drm_gpusvm_range,
  drm_gpusvm_range_find_or_insert,
  drm_gpusvm_range_get,
  drm_gpusvm_range_put,
  drm_gpusvm_range_remove,
  drm_gpusvm_range_start,
  drm_gpusvm_unmap_pages,
} from '../../src/drm/index.js';
import { locked, machine, mmap, run, svm_init } from './fixture.js';

const B = 0x10000;

class DriverRange extends drm_gpusvm_range {
  freed = false;
}

describe('drm_gpusvm API', () => {
  it('driver ranges and notifiers, references, iteration, has_mapping, fini', () => {
    const m = machine();
    run(m, function* () {
      const svm = svm_init(m, { chunks: [16, 1], notifier_size: 32 });
      const g = svm.gpusvm;
      let notifiers = 0;
      g.ops = {
        ...(g.ops as NonNullable<typeof g.ops>),
        range_alloc: () => new DriverRange(),
        range_free: (r) => {
          (r as DriverRange).freed = true;
        },
        notifier_alloc: () => {
          notifiers++;
          return new drm_gpusvm_notifier();
        },
      };
      yield* mmap(m.mm, 64, { addr: B });
      const ins = (a: number): Co<drm_gpusvm_range> =>
        locked(svm, function* () {
          const r = yield* drm_gpusvm_range_find_or_insert(g, a, 0, 2 ** 36, {});
          if (IS_ERR(r)) throw new Error(String(r));
          return r;
        });
      const r1 = yield* ins(B + 1);
      const r2 = yield* ins(B + 40);
      yield* ins(B + 17);
      expect(r1).toBeInstanceOf(DriverRange);
      expect(notifiers).toBe(2); // [B, B+32) and [B+32, B+64)
      expect([...drm_gpusvm_for_each_notifier(g, 0, 2 ** 40)]).toHaveLength(2);
      const n0 = g.root[0] as drm_gpusvm_notifier;
      expect([...drm_gpusvm_for_each_range(n0, B, B + 32)].map(drm_gpusvm_range_start)).toEqual([
        B,
        B + 16,
      ]);
      expect(drm_gpusvm_for_each_range_safe(n0, B + 20, B + 21)).toHaveLength(1);
      expect(drm_gpusvm_has_mapping(g, B + 32, B + 48)).toBe(true);
      expect(drm_gpusvm_has_mapping(g, B + 33, B + 34)).toBe(true);
      expect(drm_gpusvm_has_mapping(g, B + 50, B + 64)).toBe(false);
      expect(yield* drm_gpusvm_find_vma_start(g, B - 100, B + 1)).toBe(B);
      expect(yield* drm_gpusvm_find_vma_start(g, B + 64, B + 100)).toBe(ULONG_MAX_PAGES);

      // A reference keeps a removed range alive; the last put frees it.
      drm_gpusvm_range_get(r2);
      yield* locked(svm, () => drm_gpusvm_range_remove(g, r2));
      expect((r2 as DriverRange).freed).toBe(false);
      expect(g.root).toHaveLength(1); // its notifier had no other range
      drm_gpusvm_range_put(r2);
      expect((r2 as DriverRange).freed).toBe(true);

      yield* locked(svm, () => drm_gpusvm_fini(g));
      expect(g.root).toHaveLength(0);
      expect((r1 as DriverRange).freed).toBe(true);
      expect(m.mm.notifier_subscriptions?.itree).toHaveLength(0);
      expect(m.mm.mm_count).toBe(1);
      const c = m.sim.counters;
      expect(c.get('ranges_created@gpu0')).toBe(3);
      expect(c.get('ranges_removed@gpu0')).toBe(3);
      expect(c.get('gpusvm_notifiers_removed@gpu0')).toBe(2);
    });
  });

  it('simple mode: get_pages / unmap_pages / free_pages over the driver notifier', () => {
    const m = machine();
    run(m, function* () {
      const g = new drm_gpusvm();
      expect(drm_gpusvm_init(g, 'userptr', m.drm, null, 0, 0, 0, null, [], 0)).toBe(0);
      const a = yield* mmap(m.mm, 8);
      expect(yield* cpu_write_range(m.mm, a, 8, 3)).toBe(0);
      const pages = new drm_gpusvm_pages();
      const mni = new MmuIntervalNotifier('userptr');
      const ops: MmuIntervalNotifierOps = {
        *invalidate(n, _range, cur_seq) {
          yield* down_write(g.notifier_lock);
          mmu_interval_set_seq(n, cur_seq);
          yield* drm_gpusvm_unmap_pages(g, pages, 8, { in_notifier: true });
          up_write(g.notifier_lock);
          return true;
        },
      };
      expect(yield* mmu_interval_notifier_insert(mni, m.mm, a, 8, ops)).toBe(0);
      expect(yield* drm_gpusvm_get_pages(g, pages, m.mm, mni, a, a + 8, {})).toBe(0);
      expect(m.drm.dev.mapped).toBe(8);
      expect(yield* do_madvise(m.mm, a, 1, MADV_DONTNEED)).toBe(0);
      expect(m.drm.dev.mapped).toBe(0);
      expect(yield* drm_gpusvm_get_pages(g, pages, m.mm, mni, a, a + 8, {})).toBe(0);
      yield* drm_gpusvm_free_pages(g, pages, 8);
      expect(pages.dma_addr).toBeNull();
      expect(m.drm.dev.mapped).toBe(0);
      yield* mmu_interval_notifier_remove(mni);
    });
  });
});

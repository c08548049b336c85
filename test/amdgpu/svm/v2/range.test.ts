/**
 * The V2 range layer driven directly (RFC V3 patches 07-09): map_interval over attribute
 * nodes (holes skipped), one page-table update per DMA entry, the two TLB flushes of a
 * prefetch mapping, and invalidate_interval's zap / remove split.
 */
import { describe, expect, it } from 'vitest';
import { amdgpu_vm_count_mapped } from '../../../../src/amdgpu/vm_pt.js';
import {
  amdgpu_svm_attr_range_alloc,
  amdgpu_svm_attr_range_insert_locked,
  attr_set_default,
} from '../../../../src/amdgpu/svm/attr.js';
import {
  amdgpu_svm_range_invalidate_interval,
  amdgpu_svm_range_map_interval,
} from '../../../../src/amdgpu/svm/v2/index.js';
import { drm_gpusvm_has_mapping } from '../../../../src/drm/index.js';
import { down_write, mutex_lock, mutex_unlock, up_write } from '../../../../src/sim/locks.js';
import type { Co } from '../../../../src/sim/task.js';
import { counter, fill, machine, mmapAnon, run, svmOf, type Machine } from './harness.js';

/** An attribute node with the defaults over [start, start + npages). */
function* addNode(m: Machine, start: number, npages: number): Co {
  const svm = svmOf(m);
  const tree = svm.attr_tree;
  if (!tree) throw new Error('no tree');
  yield* mutex_lock(tree.lock);
  const node = amdgpu_svm_attr_range_alloc(start, start + npages - 1, attr_set_default(svm));
  if (!node) throw new Error('alloc');
  amdgpu_svm_attr_range_insert_locked(tree, node);
  mutex_unlock(tree.lock);
}

describe('the V2 range layer', () => {
  it('map_interval maps the nodes, skips the holes; per-entry updates, two flushes a range', () => {
    const m = machine();
    const svm = svmOf(m);
    const buf = run(m, function* () {
      const b = yield* mmapAnon(m, 2048, 512);
      yield* fill(m, b, 2048, (i) => i);
      yield* addNode(m, b, 512);
      yield* addNode(m, b + 1024, 1024);
      return b;
    });
    const ret = run(m, function* () {
      yield* down_write(svm.svm_lock);
      const r = yield* amdgpu_svm_range_map_interval(svm, buf, buf + 2047);
      up_write(svm.svm_lock);
      return r;
    });
    expect(ret).toBe(0);
    expect(amdgpu_vm_count_mapped(svm.vm, buf, 512)).toBe(512);
    expect(amdgpu_vm_count_mapped(svm.vm, buf + 512, 512)).toBe(0);
    expect(amdgpu_vm_count_mapped(svm.vm, buf + 1024, 1024)).toBe(1024);
    expect(counter(m, 'svm_ranges_mapped')).toBe(3);
    // V3 programs one amdgpu_vm_update_range per DMA entry (no coalescing): 1536 pages.
    expect(counter(m, 'pte_writes')).toBe(1536);
    // Prefetch mapping: the update's flush on the last segment plus svm->flush_tlb.
    expect(counter(m, 'tlb_flushes')).toBe(6);
  });

  it('invalidate_interval zaps the mapped ranges, removes only those crossing the bounds', () => {
    const m = machine();
    const svm = svmOf(m);
    const buf = run(m, function* () {
      const b = yield* mmapAnon(m, 1024, 512);
      yield* fill(m, b, 1024, (i) => i);
      yield* addNode(m, b, 1024);
      yield* down_write(svm.svm_lock);
      yield* amdgpu_svm_range_map_interval(svm, b, b + 1023);
      up_write(svm.svm_lock);
      return b;
    });
    const flushes = counter(m, 'tlb_flushes');
    // The interval holds the first range whole and half of the second.
    const ret = run(m, function* () {
      yield* down_write(svm.svm_lock);
      const r = yield* amdgpu_svm_range_invalidate_interval(svm, buf, buf + 767);
      up_write(svm.svm_lock);
      return r;
    });
    expect(ret).toBe(0);
    expect(amdgpu_vm_count_mapped(svm.vm, buf, 1024)).toBe(0);
    expect(counter(m, 'svm_ranges_zapped')).toBe(2);
    expect(counter(m, 'svm_ranges_split_removed')).toBe(1);
    expect(counter(m, 'tlb_flushes') - flushes).toBe(1);
    expect(drm_gpusvm_has_mapping(svm.gpusvm, buf, buf + 512)).toBe(true);
    expect(drm_gpusvm_has_mapping(svm.gpusvm, buf + 512, buf + 1024)).toBe(false);
  });
});

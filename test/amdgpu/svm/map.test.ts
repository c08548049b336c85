/**
 * The V1 range layer: what each attribute-change trigger does (rfc-series §2.2) and the
 * mapping loop (§3.3, clarifications §1-§2): the read-only retry, the skip path and its
 * revalidation, coalesced updates, TLB flush counting, errors.
 */
import { describe, expect, it } from 'vitest';
import {
  AMDGPU_PTE_READABLE,
  AMDGPU_PTE_WRITEABLE,
  AMDGPU_PTE_EXECUTABLE,
} from '../../../src/amdgpu/pte.js';
import { amdgpu_svm_ranges } from '../../../src/amdgpu/svm/amdgpu_svm.js';
import { amdgpu_svm_range_update_gpu_range } from '../../../src/amdgpu/svm/amdgpu_svm_gpu.js';
import { to_amdgpu_svm_range } from '../../../src/amdgpu/svm/amdgpu_svm_range.js';
import { amdgpu_svm_range_map_attr_ranges } from '../../../src/amdgpu/svm/v1/map.js';
import {
  AMDGPU_SVM_ATTR as A,
  AMDGPU_SVM_FLAGS as F,
  AMDGPU_SVM_LOCATION_SYSMEM,
  type drm_amdgpu_svm_attribute,
} from '../../../src/amdgpu/svm/uapi.js';
import {
  DRM_INTERCONNECT_DRIVER,
  drm_gpusvm_notifier_lock,
  drm_gpusvm_notifier_unlock,
} from '../../../src/drm/index.js';
import { MMU_NOTIFY_CLEAR, PROT_READ } from '../../../src/mm/consts.js';
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
  mmu_notifier_range_init,
} from '../../../src/mm/mmu_notifier.js';
import { EAGAIN, EFAULT, EOPNOTSUPP } from '../../../src/sim/errno.js';
import { down_write, up_write } from '../../../src/sim/locks.js';
import { Trap } from '../../../src/sim/trap.js';
import {
  counter,
  events,
  exitAndCheck,
  fill,
  machine,
  mapped,
  mmap,
  pteFlags,
  run,
  setAttr,
  svmOf,
  type Machine,
} from './harness.js';

const GPU0 = 0x1000;
const ACCESS = { type: A.ACCESS, value: GPU0 };

function boot(xnack: boolean, npages = 512): { m: Machine; buf: number } {
  const m = machine(`{ design: rfc-v1, xnack: ${xnack ? 'on' : 'off'} }`, true);
  const buf = run(m, function* () {
    const b = yield* mmap(m, npages);
    yield* fill(m, b, npages, (i) => i + 1);
    return b;
  });
  return { m, buf };
}

/** SET over the buffer; returns how many mapping-loop iterations ran and how many skipped. */
function set(m: Machine, buf: number, attrs: drm_amdgpu_svm_attribute[], n = 512) {
  const before = events(m, 'svm.range.map').length;
  const gp0 = counter(m, 'gpusvm_get_pages_calls@gpu0');
  const r = run(m, () => setAttr(m, buf, n, attrs));
  expect(r).toBe(0);
  const maps = events(m, 'svm.range.map').slice(before);
  return {
    maps: maps.length,
    skips: maps.filter((e) => e['skip'] === true).length,
    get_pages: counter(m, 'gpusvm_get_pages_calls@gpu0') - gp0,
  };
}

describe('amdgpu_svm_range_apply_attr_change: every trigger', () => {
  it('ACCESS gained with XNACK off maps eagerly', () => {
    const { m, buf } = boot(false);
    expect(set(m, buf, [ACCESS])).toMatchObject({ maps: 1, skips: 0, get_pages: 1 });
    expect(mapped(m, buf, 512)).toBe(512);
    exitAndCheck(m);
  });

  it('ACCESS gained with XNACK on maps nothing (the GPU will fault)', () => {
    const { m, buf } = boot(true);
    expect(set(m, buf, [ACCESS])).toMatchObject({ maps: 0 });
    expect(mapped(m, buf, 512)).toBe(0);
    exitAndCheck(m);
  });

  it('ACCESS gained with XNACK on and GPU_ALWAYS_MAPPED maps', () => {
    const { m, buf } = boot(true);
    // XNACK on: the default access is ENABLE, so take it away first, then set the flag.
    expect(set(m, buf, [{ type: A.NO_ACCESS, value: GPU0 }])).toMatchObject({ maps: 0 });
    expect(set(m, buf, [{ type: A.SET_FLAGS, value: F.GPU_ALWAYS_MAPPED }])).toMatchObject({
      maps: 0,
    });
    expect(set(m, buf, [ACCESS])).toMatchObject({ maps: 1 });
    expect(mapped(m, buf, 512)).toBe(512);
    exitAndCheck(m);
  });

  it('ACCESS lost unmaps nothing (as KFD; a TODO in the RFC)', () => {
    const { m, buf } = boot(false);
    set(m, buf, [ACCESS]);
    expect(set(m, buf, [{ type: A.NO_ACCESS, value: GPU0 }])).toMatchObject({ maps: 0 });
    expect(mapped(m, buf, 512)).toBe(512);
    exitAndCheck(m);
  });

  it('a PTE-flag change with access remaps with the new flags', () => {
    const { m, buf } = boot(false);
    set(m, buf, [ACCESS]);
    expect(pteFlags(m, buf) & AMDGPU_PTE_EXECUTABLE).toBe(0);
    expect(set(m, buf, [{ type: A.SET_FLAGS, value: F.GPU_EXEC }])).toMatchObject({
      maps: 1,
      skips: 0,
      get_pages: 1,
    });
    expect(pteFlags(m, buf) & AMDGPU_PTE_EXECUTABLE).toBe(AMDGPU_PTE_EXECUTABLE);
    exitAndCheck(m);
  });

  it('a PTE-flag change without access maps nothing', () => {
    const { m, buf } = boot(false);
    expect(set(m, buf, [{ type: A.SET_FLAGS, value: F.GPU_EXEC }])).toMatchObject({ maps: 0 });
    exitAndCheck(m);
  });

  it('a PTE-flag change with access maps eagerly with XNACK on too', () => {
    const { m, buf } = boot(true);
    expect(set(m, buf, [{ type: A.SET_FLAGS, value: F.GPU_EXEC }])).toMatchObject({ maps: 1 });
    exitAndCheck(m);
  });

  it('a mapping-flag change with access remaps (the cached attr_flags differ)', () => {
    const { m, buf } = boot(false);
    set(m, buf, [ACCESS]);
    expect(set(m, buf, [{ type: A.SET_FLAGS, value: F.HIVE_LOCAL }])).toMatchObject({
      maps: 1,
      skips: 0,
    });
    exitAndCheck(m);
  });

  it('LOCATION_CHANGE and GRANULARITY_CHANGE touch no mapping (migration is a TODO)', () => {
    const { m, buf } = boot(false);
    set(m, buf, [ACCESS]);
    const loc = [
      { type: A.PREFERRED_LOC, value: AMDGPU_SVM_LOCATION_SYSMEM },
      { type: A.PREFETCH_LOC, value: GPU0 },
    ];
    expect(set(m, buf, loc)).toMatchObject({ maps: 0 });
    expect(set(m, buf, [{ type: A.GRANULARITY, value: 3 }])).toMatchObject({ maps: 0 });
    exitAndCheck(m);
  });

  it('XNACK off: SET ACCESS again re-checks the mapping (old == new) and takes the skip path', () => {
    const { m, buf } = boot(false);
    set(m, buf, [ACCESS]);
    expect(set(m, buf, [ACCESS])).toMatchObject({ maps: 1, skips: 1, get_pages: 0 });
    exitAndCheck(m);
  });

  it('XNACK on: SET ACCESS again does nothing', () => {
    const { m, buf } = boot(true);
    set(m, buf, [ACCESS]);
    expect(set(m, buf, [ACCESS])).toMatchObject({ maps: 0 });
    exitAndCheck(m);
  });
});

describe('amdgpu_svm_range_map: the mapping loop', () => {
  it('maps a read-only VMA after the -EPERM retry, without WRITEABLE', () => {
    const m = machine('{ design: rfc-v1, xnack: off }');
    const buf = run(m, () => mmap(m, 16, 1, PROT_READ));
    expect(run(m, () => setAttr(m, buf, 16, [ACCESS]))).toBe(0);
    expect(mapped(m, buf, 16)).toBe(16);
    expect(pteFlags(m, buf) & AMDGPU_PTE_WRITEABLE).toBe(0);
    expect(pteFlags(m, buf) & AMDGPU_PTE_READABLE).toBe(AMDGPU_PTE_READABLE);
    exitAndCheck(m);
  });

  it('flushes the TLB twice per mapped range and not at all on a skip (clarifications §2)', () => {
    const { m, buf } = boot(false, 1024);
    const t0 = counter(m, 'tlb_flushes@gpu0');
    set(m, buf, [ACCESS], 1024);
    expect(counter(m, 'tlb_flushes@gpu0') - t0).toBe(4);
    const t1 = counter(m, 'tlb_flushes@gpu0');
    set(m, buf, [ACCESS], 1024);
    expect(counter(m, 'tlb_flushes@gpu0') - t1).toBe(0);
    exitAndCheck(m);
  });

  it('coalesces physically contiguous DMA entries into one amdgpu_vm_update_range', () => {
    const { m, buf } = boot(false);
    const u0 = events(m, 'amdgpu.vm_update').length;
    set(m, buf, [ACCESS]);
    const [range] = amdgpu_svm_ranges(svmOf(m));
    const dma = range?.pages.dma_addr ?? [];
    let segments = 1;
    for (let i = 1; i < dma.length; i++)
      if ((dma[i]?.addr ?? 0) !== (dma[i - 1]?.addr ?? 0) + 1) segments++;
    const updates = events(m, 'amdgpu.vm_update').slice(u0);
    expect(updates).toHaveLength(segments);
    expect(updates.filter((e) => e['flush'] === true)).toHaveLength(1);
    exitAndCheck(m);
  });

  it('the skip path revalidates under the notifier lock: stale -> gpu_mapped cleared, -EAGAIN, then maps', () => {
    const { m, buf } = boot(false);
    set(m, buf, [ACCESS]);
    const svm = svmOf(m);
    const rets = run(m, function* () {
      // Hold svm_lock so the restore worker waits while the test maps by hand.
      yield* down_write(svm.svm_lock);
      const r = mmu_notifier_range_init(MMU_NOTIFY_CLEAR, 0, m.proc.mm, buf, buf + 1);
      yield* mmu_notifier_invalidate_range_start(r);
      yield* mmu_notifier_invalidate_range_end(r);
      const range = to_amdgpu_svm_range(amdgpu_svm_ranges(svm)[0] ?? fail());
      const still = range.gpu_mapped;
      const first = yield* amdgpu_svm_range_map_attr_ranges(svm, buf, buf + 511);
      const cleared = !range.gpu_mapped;
      const second = yield* amdgpu_svm_range_map_attr_ranges(svm, buf, buf + 511);
      up_write(svm.svm_lock);
      return { still, first, cleared, second, mapped: range.gpu_mapped };
    });
    expect(rets).toEqual({ still: true, first: -EAGAIN, cleared: true, second: 0, mapped: true });
    exitAndCheck(m);
  });

  it('a hole before the next VMA is -EFAULT', () => {
    const { m, buf } = boot(true);
    const svm = svmOf(m);
    const r = run(m, function* () {
      yield* down_write(svm.svm_lock);
      // XNACK on: holes of the attribute tree have access, so the walk tries to map the hole.
      const ret = yield* amdgpu_svm_range_map_attr_ranges(svm, buf + 512, buf + 600);
      up_write(svm.svm_lock);
      return ret;
    });
    expect(r).toBe(-EFAULT);
    exitAndCheck(m);
  });

  it('refuses a non-system DMA entry (-EOPNOTSUPP: V1 maps system pages only)', () => {
    const { m, buf } = boot(false);
    set(m, buf, [ACCESS]);
    const svm = svmOf(m);
    const r = run(m, function* () {
      const range = amdgpu_svm_ranges(svm)[0] ?? fail();
      const dma = range.pages.dma_addr ?? fail();
      const saved = dma[0] ?? fail();
      dma[0] = { ...saved, proto: DRM_INTERCONNECT_DRIVER };
      yield* drm_gpusvm_notifier_lock(svm.gpusvm);
      const ret = yield* amdgpu_svm_range_update_gpu_range(svm, range, 0x61, false, false, {
        fence: null,
      });
      drm_gpusvm_notifier_unlock(svm.gpusvm);
      dma[0] = saved;
      return ret;
    });
    expect(r).toBe(-EOPNOTSUPP);
    exitAndCheck(m);
  });

  it('asserts svm_lock held for write in map_attr_ranges (lockdep)', () => {
    const { m, buf } = boot(false);
    const svm = svmOf(m);
    expect(() => run(m, () => amdgpu_svm_range_map_attr_ranges(svm, buf, buf))).toThrow(Trap);
  });
});

function fail(): never {
  throw new Error('missing');
}

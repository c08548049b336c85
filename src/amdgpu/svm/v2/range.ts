/**
 * The V2-design GPU mapping core (RFC V3 patch 07, amdgpu_svm_range.c;
 * shared/spec/rfc-series.md §3.3): is_valid, the notifier's PTE zap, the per-entry range
 * update, find_or_insert bounded by the attribute range (with the -EPERM read-only retry),
 * get_pages with eviction on mixed pages, update_mapping, and the prefetch drivers
 * map_attr_range and map_interval. The shared helpers (PTE flags, page-directory lock,
 * pages_valid, range_has_access) come from the shared range layer.
 */
import {
  IS_ERR,
  drm_gpusvm_notifier_lock,
  drm_gpusvm_notifier_unlock,
  drm_gpusvm_range_end,
  drm_gpusvm_range_evict,
  drm_gpusvm_range_find_or_insert,
  drm_gpusvm_range_get_pages,
  drm_gpusvm_range_start,
  type drm_gpusvm_ctx,
  type drm_gpusvm_range,
} from '../../../drm/index.js';
import type { MmuNotifierRange } from '../../../mm/mm_types.js';
import { EAGAIN, EINVAL, EOPNOTSUPP, EPERM } from '../../../sim/errno.js';
import { lockdep_assert_held, mutex_lock, mutex_unlock } from '../../../sim/locks.js';
import { memalloc_noreclaim_restore, memalloc_noreclaim_save } from '../../../sim/reclaim.js';
import { getSim } from '../../../sim/scheduler.js';
import type { Co } from '../../../sim/task.js';
import type { amdgpu_vm } from '../../amdgpu.js';
import { dma_fence_wait, type FenceOut } from '../../fence.js';
import { amdgpu_vm_update_pdes, amdgpu_vm_update_range } from '../../vm_pt.js';
import type { amdgpu_svm } from '../amdgpu_svm.js';
import {
  amdgpu_svm_range_lock_vm_pd,
  amdgpu_svm_range_unlock_vm_pd,
  amdgpu_svm_range_update_gpu_range as update_gpu_range_common,
} from '../amdgpu_svm_gpu.js';
import {
  amdgpu_svm_range_attr_pte_flags,
  amdgpu_svm_range_vram_pte_flags,
  type amdgpu_svm_vram_pte_flags,
} from '../amdgpu_svm_pte.js';
import {
  range_has_access,
  range_invalidate_gpu_mapping,
  range_pages_valid,
  to_amdgpu_svm_range,
  type amdgpu_svm_range,
} from '../amdgpu_svm_range.js';
import { amdgpu_svm_attr_get_bounds_locked } from '../attr_tree.js';
import {
  AMDGPU_SVM_ULONG_MAX,
  amdgpu_svm_attr_devmem_possible,
  amdgpu_svm_attr_prefer_vram,
  type amdgpu_svm_attr_range,
  type amdgpu_svm_attrs,
} from '../attr_types.js';
import {
  amdgpu_svm_migrate_target_of,
  amdgpu_svm_migration_ctx,
  amdgpu_svm_migration_enabled,
  amdgpu_svm_range_migrate,
} from '../migrate.js';
import { AMDGPU_SVM_FLAGS } from '../uapi.js';
import {
  SVM_GET_PAGES_ERRORS,
  attr_range_live,
  SVM_RANGES_MAPPED,
  ktime_get_boottime,
  range_set_validate_timestamp,
} from './work_types.js';
import './events.js';

/** SZ_64K in pages: check_pages_threshold when device memory is possible. */
const SZ_64K_PAGES = 16;

/**
 * amdgpu_svm_range_is_valid (V3 patch 07): under noreclaim and the notifier lock, the range
 * is GPU-mapped with these PTE and attribute flags and its pages are still valid. (Christian
 * König on v8: the answer "looses meaning as soon as the lock is dropped".)
 */
export function* amdgpu_svm_range_is_valid(
  svm: amdgpu_svm,
  range: amdgpu_svm_range,
  attrs: Readonly<amdgpu_svm_attrs>,
  pte_flags: number,
): Co<boolean> {
  const flags = memalloc_noreclaim_save();
  yield* drm_gpusvm_notifier_lock(svm.gpusvm);
  const valid =
    range.gpu_mapped &&
    range.pte_flags === pte_flags &&
    range.attr_flags === attrs.flags &&
    range_pages_valid(svm.gpusvm, range);
  drm_gpusvm_notifier_unlock(svm.gpusvm);
  memalloc_noreclaim_restore(flags);
  return valid;
}

/**
 * SIM: Linux's amdgpu_vm_update_range with flush_tlb on an unlocked (notifier) update only
 * bumps vm->tlb_seq (amdgpu_vm_tlb_seq_cb); the caller's svm->flush_tlb then flushes once,
 * as amdgpu_vm_flush_compute_tlb sees the sequence moved. The model's update flushes at
 * once, so the V2 zaps pass flush_tlb = false and bump the sequence here, leaving the one
 * flush to svm->flush_tlb ("V2 zaps all ranges first and flushes once", clarifications §2).
 */
export function amdgpu_svm_v2_tlb_seq_bump(vm: amdgpu_vm): void {
  vm.tlb_seq++;
}

/**
 * An unlocked PTE clear of [start_page, last_page] under memalloc_noreclaim with a synchronous
 * fence wait: the update V3 makes in amdgpu_svm_range_zap_ptes and invalidate_interval.
 */
export function* amdgpu_svm_v2_clear_ptes(
  svm: amdgpu_svm,
  start_page: number,
  last_page: number,
): Co<number> {
  const fence: FenceOut = { fence: null };
  const flags = memalloc_noreclaim_save();
  // SIM: flush_tlb false, the sequence bump stands for it (amdgpu_svm_v2_tlb_seq_bump).
  let ret = yield* amdgpu_vm_update_range(
    svm.adev,
    svm.vm,
    false,
    true,
    false,
    false,
    null,
    start_page,
    last_page,
    0,
    0,
    0,
    null,
    null,
    fence,
  );
  memalloc_noreclaim_restore(flags);
  if (!ret) amdgpu_svm_v2_tlb_seq_bump(svm.vm);
  if (!ret && fence.fence) ret = yield* dma_fence_wait(fence.fence, false);
  return ret;
}

/**
 * amdgpu_svm_range_zap_ptes (V3 patch 07): clear the PTEs of the range clamped to the
 * notifier interval (no TLB flush here: the notifier flushes once after every range).
 */
export function* amdgpu_svm_range_zap_ptes(
  svm: amdgpu_svm,
  range: amdgpu_svm_range,
  mmu_range: MmuNotifierRange,
): Co<number> {
  const start_page = Math.max(drm_gpusvm_range_start(range), mmu_range.start);
  const last_page = Math.min(drm_gpusvm_range_end(range), mmu_range.end) - 1;
  if (last_page < start_page) return 0;
  return yield* amdgpu_svm_v2_clear_ptes(svm, start_page, last_page);
}

/**
 * amdgpu_svm_range_update_gpu_range (V3 patch 07): one amdgpu_vm_update_range per DMA entry
 * (V3 dropped V1's coalescing; V7 brought it back), flush_tlb and the fence with the last
 * segment; VRAM entries (own or P2P) with `vram_pte_flags` under `migration: true`. The shared
 * function with coalescing off. notifier_lock held.
 */
export function amdgpu_svm_range_update_gpu_range(
  svm: amdgpu_svm,
  range: amdgpu_svm_range,
  pte_flags: number,
  flush_tlb: boolean,
  wait_fence: boolean,
  fence: FenceOut,
  vram_pte_flags: amdgpu_svm_vram_pte_flags | null = null,
): Co<number> {
  return update_gpu_range_common(
    svm,
    range,
    pte_flags,
    flush_tlb,
    wait_fence,
    fence,
    vram_pte_flags,
    false,
  );
}

/**
 * amdgpu_svm_range_find_or_insert (V3 patch 07): the range containing `addr`, created inside
 * the attribute range's bounds, so no range ever crosses an attribute boundary. -EPERM from a
 * read-only VMA without ctx.read_only sets it and retries. A range or -errno.
 */
export function* amdgpu_svm_range_find_or_insert(
  svm: amdgpu_svm,
  addr: number,
  attr_range: amdgpu_svm_attr_range,
  ctx: drm_gpusvm_ctx,
): Co<amdgpu_svm_range | number> {
  attr_range_live(attr_range, 'amdgpu_svm_range_find_or_insert');
  const gpuva_start = attr_range.it_node.start;
  const gpuva_end = attr_range.it_node.last + 1;
  for (;;) {
    // retry:
    const r = yield* drm_gpusvm_range_find_or_insert(svm.gpusvm, addr, gpuva_start, gpuva_end, ctx);
    if (r === -EPERM && !ctx.read_only) {
      ctx.read_only = true;
      continue;
    }
    if (IS_ERR(r)) return r;
    return to_amdgpu_svm_range(r);
  }
}

/**
 * amdgpu_svm_range_get_pages (V3 patch 07): drm_gpusvm_range_get_pages; on -EOPNOTSUPP
 * (mixed page types) evict the range to system memory so the caller's retry can map it.
 */
export function* amdgpu_svm_range_get_pages(
  svm: amdgpu_svm,
  range: drm_gpusvm_range,
  ctx: drm_gpusvm_ctx,
): Co<number> {
  const ret = yield* drm_gpusvm_range_get_pages(svm.gpusvm, range, ctx);
  if (ret) getSim().counters.add(SVM_GET_PAGES_ERRORS, 1, svm.adev.name);
  if (ret === -EOPNOTSUPP) yield* drm_gpusvm_range_evict(svm.gpusvm, range);
  return ret;
}

/**
 * amdgpu_svm_range_update_mapping (V3 patch 07): lock the page directory; under noreclaim and
 * the notifier lock, -EAGAIN (and gpu_mapped cleared) if the pages were invalidated, else
 * program the range; then the fence wait, update_pdes, an optional svm->flush_tlb, and the
 * cached flags, gpu_mapped and validate_timestamp.
 */
export function* amdgpu_svm_range_update_mapping(
  svm: amdgpu_svm,
  range: amdgpu_svm_range,
  pte_flags: number,
  attrs_flags: number,
  intr: boolean,
  wait: boolean,
  flush_tlb: boolean,
): Co<number> {
  const fence: FenceOut = { fence: null };
  let ret = yield* amdgpu_svm_range_lock_vm_pd(svm);
  if (ret) return ret;
  const flags = memalloc_noreclaim_save();
  yield* drm_gpusvm_notifier_lock(svm.gpusvm);
  if (!range_pages_valid(svm.gpusvm, range)) {
    range_invalidate_gpu_mapping(range);
    ret = -EAGAIN;
  } else {
    const vram_flags = amdgpu_svm_migration_enabled(svm)
      ? amdgpu_svm_range_vram_pte_flags(svm, attrs_flags, pte_flags)
      : null;
    ret = yield* amdgpu_svm_range_update_gpu_range(
      svm,
      range,
      pte_flags,
      flush_tlb,
      wait,
      fence,
      vram_flags,
    );
  }
  drm_gpusvm_notifier_unlock(svm.gpusvm);
  memalloc_noreclaim_restore(flags);
  if (!ret && fence.fence) yield* dma_fence_wait(fence.fence, intr);
  if (!ret) ret = yield* amdgpu_vm_update_pdes(svm.adev, svm.vm, false);
  if (!ret) {
    if (flush_tlb) yield* svm.flush_tlb(svm);
    range.pte_flags = pte_flags;
    range.attr_flags = attrs_flags;
    range.gpu_mapped = true;
    range_set_validate_timestamp(range, ktime_get_boottime());
    getSim().counters.add(SVM_RANGES_MAPPED, 1, svm.adev.name);
  }
  amdgpu_svm_range_unlock_vm_pd(svm);
  getSim().trace.emit('svm.range.map', {
    gpu: svm.adev.name,
    start: drm_gpusvm_range_start(range),
    end: drm_gpusvm_range_end(range),
    skip: false,
    pte_flags,
    ret,
  });
  return ret;
}

/**
 * The drm_gpusvm_ctx of map_attr_range and map_fault (V3 patches 07 and 11): read_only from
 * GPU_RO; devmem_possible hard-coded false in the RFC (migration left undone in V3), so
 * devmem_only, check_pages_threshold and timeslice_ms come out 0 / false. With `migration:
 * true` (v8): amdgpu_svm_attr_devmem_possible, device_private_page_owner and allow_mixed
 * (migrate.ts). SIM: devmem_only stays false with the option, so that a range whose
 * migration failed (or a CPU fault took back) maps in system memory (clarifications §6).
 */
export function amdgpu_svm_v2_map_ctx(
  svm: amdgpu_svm,
  attrs: Readonly<amdgpu_svm_attrs>,
  with_timeslice: boolean,
): drm_gpusvm_ctx {
  // The RFC computes amdgpu_svm_attr_devmem_possible(svm, attrs), then overrides it with
  // false (migration left undone in V3); the migration option keeps the computed value.
  const migration = amdgpu_svm_migration_enabled(svm);
  const devmem_possible = migration && amdgpu_svm_attr_devmem_possible(svm, attrs);
  const need_vram_migration = amdgpu_svm_attr_prefer_vram(svm, attrs);
  const ctx: drm_gpusvm_ctx = {
    read_only: (attrs.flags & AMDGPU_SVM_FLAGS.GPU_RO) !== 0,
    devmem_possible,
    check_pages_threshold: devmem_possible ? SZ_64K_PAGES : 0,
    devmem_only: need_vram_migration && devmem_possible && !migration,
  };
  if (with_timeslice) ctx.timeslice_ms = need_vram_migration && devmem_possible ? 5 : 0;
  return amdgpu_svm_migration_ctx(svm, ctx);
}

/**
 * amdgpu_svm_range_map_attr_range (V3 patch 07), the prefetch path: every gpusvm range of the
 * attribute range, in address order: find_or_insert, skip if is_valid, get_pages,
 * update_mapping (interruptible, waited, flushed). The first error ends it.
 */
export function* amdgpu_svm_range_map_attr_range(
  svm: amdgpu_svm,
  attr_range: amdgpu_svm_attr_range,
): Co<number> {
  const attrs = attr_range.attrs;
  const start = attr_range.it_node.start;
  const end = attr_range.it_node.last + 1;
  const map_ctx = amdgpu_svm_v2_map_ctx(svm, attrs, false);
  let addr = start;
  while (addr < end) {
    const range = yield* amdgpu_svm_range_find_or_insert(svm, addr, attr_range, map_ctx);
    if (IS_ERR(range)) return range;
    const next_addr = drm_gpusvm_range_end(range);
    if (next_addr <= addr) return -EINVAL;
    const range_pte_flags = amdgpu_svm_range_attr_pte_flags(svm, attrs, map_ctx.read_only);
    // Migration (left undone in the RFC, V3 patch 07; v8 migrates the prefetched range
    // before mapping): a failed move maps the pages where they are.
    yield* amdgpu_svm_range_migrate(
      svm,
      drm_gpusvm_range_start(range),
      next_addr,
      amdgpu_svm_migrate_target_of(svm, attrs, 'prefetch'),
      0,
    );
    if (yield* amdgpu_svm_range_is_valid(svm, range, attrs, range_pte_flags)) {
      addr = next_addr;
      continue;
    }
    let ret = yield* amdgpu_svm_range_get_pages(svm, range, map_ctx);
    if (ret) return ret;
    ret = yield* amdgpu_svm_range_update_mapping(
      svm,
      range,
      range_pte_flags,
      attrs.flags,
      true,
      true,
      true,
    );
    if (ret) return ret;
    addr = next_addr;
  }
  return 0;
}

/**
 * amdgpu_svm_range_map_interval (V3 patch 07): walk [start_page, last_page] with
 * get_bounds_locked and map every attribute node that grants access (holes are skipped: they
 * have no node to bound the ranges). No V3 caller uses it with XNACK on; ported for
 * completeness. svm_lock held for write.
 */
export function* amdgpu_svm_range_map_interval(
  svm: amdgpu_svm,
  start_page: number,
  last_page: number,
): Co<number> {
  lockdep_assert_held(svm.svm_lock, 'write');
  const attr_tree = svm.attr_tree;
  if (!attr_tree) return -EINVAL;
  let cursor = start_page;
  while (cursor <= last_page) {
    yield* mutex_lock(attr_tree.lock);
    const b = amdgpu_svm_attr_get_bounds_locked(attr_tree, cursor);
    const attrs = b.range ? { ...b.range.attrs } : null;
    mutex_unlock(attr_tree.lock);
    const seg_last = Math.min(b.last_page, last_page);
    if (b.range && attrs && range_has_access(attrs.access)) {
      // map may fail here cause no vma or access deny
      const ret = yield* amdgpu_svm_range_map_attr_range(svm, b.range);
      if (ret) return ret;
    }
    if (seg_last === AMDGPU_SVM_ULONG_MAX || seg_last === last_page) break;
    const next = seg_last + 1;
    if (next <= cursor) break;
    cursor = next;
  }
  return 0;
}

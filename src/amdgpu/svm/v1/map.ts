/**
 * The V1 mapping loop and its drivers (RFC V1 patch 07, amdgpu_svm_range.c;
 * shared/spec/rfc-series.md §3.3, clarifications.md §1-§2): find_vma_start ->
 * find_or_insert (the -EPERM read-only retry) -> skip when already mapped alike, else
 * get_pages -> page-directory lock -> noreclaim + notifier lock, revalidate -> coalesced
 * amdgpu_vm_update_range -> fence wait -> update_pdes -> TLB flush. Then map_interval,
 * map_attr_ranges and the attribute-change dispatcher. V1 maps system pages only (the
 * `migration: true` option adds v8's VRAM migration, migrate.ts).
 */
import {
  IS_ERR,
  drm_gpusvm_find_vma_start,
  drm_gpusvm_notifier_lock,
  drm_gpusvm_notifier_unlock,
  drm_gpusvm_range_end,
  drm_gpusvm_range_find_or_insert,
  drm_gpusvm_range_get_pages,
  type drm_gpusvm_ctx,
  type drm_gpusvm_range,
} from '../../../drm/index.js';
import { EFAULT, EINVAL, EPERM, EAGAIN } from '../../../sim/errno.js';
import { lockdep_assert_held, mutex_lock, mutex_unlock } from '../../../sim/locks.js';
import { memalloc_noreclaim_restore, memalloc_noreclaim_save } from '../../../sim/reclaim.js';
import { getSim } from '../../../sim/scheduler.js';
import type { Co } from '../../../sim/task.js';
import { dma_fence_wait, type FenceOut } from '../../fence.js';
import { AMDGPU_PTE_WRITEABLE } from '../../pte.js';
import { amdgpu_vm_eviction_lock, amdgpu_vm_eviction_unlock } from '../../vm.js';
import { amdgpu_vm_update_pdes } from '../../vm_pt.js';
import type { amdgpu_svm } from '../amdgpu_svm.js';
import {
  amdgpu_svm_range_lock_vm_pd,
  amdgpu_svm_range_unlock_vm_pd,
  amdgpu_svm_range_update_gpu_range,
} from '../amdgpu_svm_gpu.js';
import {
  amdgpu_svm_range_attr_pte_flags,
  amdgpu_svm_range_vram_pte_flags,
} from '../amdgpu_svm_pte.js';
import {
  range_attr_match,
  range_has_access,
  range_invalidate_gpu_mapping,
  range_pages_valid,
  to_amdgpu_svm_range,
} from '../amdgpu_svm_range.js';
import type { amdgpu_svm_attr_change } from '../attr_set.js';
import { amdgpu_svm_attr_lookup_page_locked } from '../attr_tree.js';
import {
  AMDGPU_SVM_ATTR_TRIGGER_ACCESS_CHANGE,
  AMDGPU_SVM_ATTR_TRIGGER_LOCATION_CHANGE,
  AMDGPU_SVM_ATTR_TRIGGER_MAPPING_FLAG_CHANGE,
  AMDGPU_SVM_ATTR_TRIGGER_PTE_FLAG_CHANGE,
  AMDGPU_SVM_ULONG_MAX,
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
  FLAW_ALLOC_UNDER_NOTIFIER_LOCK,
  FLAW_EVICTION_LOCK,
  FLAW_UNLOCKED_COMMIT,
  amdgpu_svm_flaw,
} from './flaws.js';
import { NEED_REBUILD } from './work_types.js';
import '../events.js';

/**
 * The second half of one iteration of amdgpu_svm_range_map (V1 patch 07), after get_pages:
 * under the page-directory lock, memalloc_noreclaim and the notifier lock, revalidate (the
 * skip path must still match with valid pages, else gpu_mapped is cleared and -EAGAIN; a
 * fresh mapping needs valid pages, else -EAGAIN) and program the range; then the fence wait,
 * update_pdes, svm->flush_tlb and the cached flags. -EAGAIN goes to the caller: SET retries,
 * the restore worker requeues (clarifications.md §1). SIM: `in_fault` (the GPU fault
 * handler's pass) only selects where the flaw-eviction-lock variant applies (flaws.ts).
 */
function* amdgpu_svm_range_map_commit(
  svm: amdgpu_svm,
  range: drm_gpusvm_range,
  attrs: Readonly<amdgpu_svm_attrs>,
  range_pte_flags: number,
  skip_map: boolean,
  in_fault: boolean,
): Co<number> {
  const fence: FenceOut = { fence: null };
  // `migration: true` (v8): VRAM entries (own, or a peer's over P2P) map with the VRAM
  // flags (migrate.ts).
  const vram_flags = amdgpu_svm_migration_enabled(svm)
    ? amdgpu_svm_range_vram_pte_flags(svm, attrs.flags, range_pte_flags)
    : null;
  let ret = yield* amdgpu_svm_range_lock_vm_pd(svm);
  if (ret) return ret;
  // FLAW flaw-alloc-under-notifier-lock (spec §7.5, patch 02, Christian König: "you can't
  // allocate memory under that lock when it is held in the MMU notifier"): no noreclaim, so
  // a page-table allocation under notifier_lock may enter reclaim, whose notifier takes it.
  const noreclaim = !amdgpu_svm_flaw(svm, FLAW_ALLOC_UNDER_NOTIFIER_LOCK);
  const flags = noreclaim ? memalloc_noreclaim_save() : 0;
  // FLAW flaw-eviction-lock (spec §7.5, patch 02: Honglei's eviction_lock attempt): the fault
  // path holds vm->eviction_lock around its notifier-locked section, eviction_lock ->
  // notifier_lock, while the notifier's PTE zap takes notifier_lock -> eviction_lock (ABBA),
  // and the VM code it calls takes eviction_lock itself ("you simply can't call the VM code
  // with the lock held").
  const eviction_locked = in_fault && amdgpu_svm_flaw(svm, FLAW_EVICTION_LOCK);
  if (eviction_locked) yield* amdgpu_vm_eviction_lock(svm.vm);
  yield* drm_gpusvm_notifier_lock(svm.gpusvm);
  let unlocked_early = false;
  if (skip_map) {
    // slow path must validate under notifier lock
    if (!range_attr_match(range, attrs, range_pte_flags) || !range_pages_valid(svm.gpusvm, range)) {
      range_invalidate_gpu_mapping(range);
      ret = -EAGAIN;
    } else {
      ret = 0;
    }
  } else if (!range_pages_valid(svm.gpusvm, range)) {
    // not protected by mmap lock, maybe changed by mmu notifier
    ret = -EAGAIN;
  } else if (amdgpu_svm_flaw(svm, FLAW_UNLOCKED_COMMIT)) {
    // FLAW flaw-unlocked-commit (spec §7.5, patch 07 amdgpu_svm_range_is_valid, Christian
    // König: "The valid state looses meaning as soon as the lock is dropped"): the validity
    // was checked under notifier_lock, which is dropped before the PTEs are written, so a
    // notifier in between leaves PTEs on frames the CPU no longer maps.
    drm_gpusvm_notifier_unlock(svm.gpusvm);
    unlocked_early = true;
    ret = yield* amdgpu_svm_range_update_gpu_range(
      svm,
      range,
      range_pte_flags,
      true,
      true,
      fence,
      vram_flags,
    );
  } else {
    ret = yield* amdgpu_svm_range_update_gpu_range(
      svm,
      range,
      range_pte_flags,
      true,
      true,
      fence,
      vram_flags,
    );
  }
  if (!unlocked_early) drm_gpusvm_notifier_unlock(svm.gpusvm);
  if (eviction_locked) amdgpu_vm_eviction_unlock(svm.vm);
  if (noreclaim) memalloc_noreclaim_restore(flags);
  if (!ret && fence.fence) yield* dma_fence_wait(fence.fence, false);
  if (!ret) ret = yield* amdgpu_vm_update_pdes(svm.adev, svm.vm, false);
  if (!ret) {
    yield* svm.flush_tlb(svm);
    const r = to_amdgpu_svm_range(range);
    r.pte_flags = range_pte_flags;
    r.attr_flags = attrs.flags;
    r.gpu_mapped = true;
  }
  amdgpu_svm_range_unlock_vm_pd(svm);
  return ret;
}

/**
 * amdgpu_svm_range_map (V1 patch 07): map pages [start, end) with `attrs` range by range.
 * A hole before the next VMA is -EFAULT; find_or_insert's -EPERM (a writable mapping of a
 * read-only VMA) sets read_only and retries once, and the PTEs lose WRITEABLE. svm_lock held
 * for write (the drm_gpusvm driver lock). With `migration: true` (v8; left undone in the RFC,
 * V1 patch 07) each range first moves where a prefetch (`prefetch`) or, in the fault handler,
 * the preferred location asks (migrate.ts); a failed move maps in place.
 */
export function* amdgpu_svm_range_map(
  svm: amdgpu_svm,
  start: number,
  end: number,
  attrs: Readonly<amdgpu_svm_attrs>,
  gpusvm_ctx: Readonly<drm_gpusvm_ctx>,
  pte_flags: number,
  in_fault = false,
  prefetch = false,
): Co<number> {
  const gpusvm = svm.gpusvm;
  const sim = getSim();
  const target =
    in_fault || prefetch
      ? amdgpu_svm_migrate_target_of(svm, attrs, in_fault ? 'fault' : 'prefetch')
      : null;
  let addr = start;
  while (addr < end) {
    const vma_start = yield* drm_gpusvm_find_vma_start(gpusvm, addr, end);
    if (vma_start > addr) return -EFAULT;
    const map_ctx: drm_gpusvm_ctx = { ...gpusvm_ctx };
    let range = yield* drm_gpusvm_range_find_or_insert(gpusvm, addr, vma_start, end, map_ctx);
    if (IS_ERR(range) && range === -EPERM && !map_ctx.read_only) {
      // drm_gpusvm refuses a writable range on a read-only VMA, and some UMD tests do not
      // set GPU_RO on read-only memory: retry read-only.
      map_ctx.read_only = true;
      range = yield* drm_gpusvm_range_find_or_insert(gpusvm, addr, vma_start, end, map_ctx);
    }
    if (IS_ERR(range)) return range;
    const next_addr = drm_gpusvm_range_end(range);
    if (next_addr <= addr) return -EINVAL;
    const range_pte_flags = map_ctx.read_only ? pte_flags & ~AMDGPU_PTE_WRITEABLE : pte_flags;
    // SIM: a range the option moved (or tried to) is mapped afresh, not through the skip
    // path, whose revalidation would only answer -EAGAIN for the pages the move replaced.
    if (target) yield* amdgpu_svm_range_migrate(svm, range.itree.start, next_addr, target, 0);
    const skip_map = !target && range_attr_match(range, attrs, range_pte_flags);
    let ret = 0;
    if (!skip_map) ret = yield* drm_gpusvm_range_get_pages(gpusvm, range, map_ctx);
    if (!ret)
      ret = yield* amdgpu_svm_range_map_commit(
        svm,
        range,
        attrs,
        range_pte_flags,
        skip_map,
        in_fault,
      );
    sim.trace.emit('svm.range.map', {
      gpu: svm.adev.name,
      start: range.itree.start,
      end: next_addr,
      skip: skip_map,
      pte_flags: range_pte_flags,
      ret,
    });
    if (ret) return ret;
    addr = next_addr;
  }
  return 0;
}

/**
 * amdgpu_svm_range_map_interval (V1 patch 07): map pages [start_page, last_page] with
 * `attrs`: read-only context from GPU_RO, PTE flags from the attributes (and, with
 * `migration: true`, this GPU as device-private owner; `prefetch` migrates first).
 */
export function amdgpu_svm_range_map_interval(
  svm: amdgpu_svm,
  start_page: number,
  last_page: number,
  attrs: Readonly<amdgpu_svm_attrs>,
  in_fault = false,
  prefetch = false,
): Co<number> {
  const gpusvm_ctx: drm_gpusvm_ctx = amdgpu_svm_migration_ctx(svm, {
    read_only: (attrs.flags & AMDGPU_SVM_FLAGS.GPU_RO) !== 0,
  });
  const pte_flags = amdgpu_svm_range_attr_pte_flags(svm, attrs);
  return amdgpu_svm_range_map(
    svm,
    start_page,
    last_page + 1,
    attrs,
    gpusvm_ctx,
    pte_flags,
    in_fault,
    prefetch,
  );
}

/**
 * amdgpu_svm_range_map_attr_ranges (V1 patch 07): walk [start_page, last_page] through the
 * attribute tree (holes have the defaults) and map every segment whose access is ENABLE or
 * IN_PLACE. The first error ends the walk ("map may fail here cause no vma or access deny").
 * svm_lock held for write. SIM: `in_fault` marks the fault handler's call (flaws.ts).
 */
export function* amdgpu_svm_range_map_attr_ranges(
  svm: amdgpu_svm,
  start_page: number,
  last_page: number,
  in_fault = false,
): Co<number> {
  lockdep_assert_held(svm.svm_lock, 'write');
  const attr_tree = svm.attr_tree;
  if (!attr_tree) return -EINVAL;
  let cursor = start_page;
  while (cursor <= last_page) {
    yield* mutex_lock(attr_tree.lock);
    const { attrs, range_last } = amdgpu_svm_attr_lookup_page_locked(attr_tree, cursor);
    mutex_unlock(attr_tree.lock);
    const seg_last = Math.min(range_last, last_page);
    if (range_has_access(attrs.access)) {
      const ret = yield* amdgpu_svm_range_map_interval(svm, cursor, seg_last, attrs, in_fault);
      if (ret) return ret;
    }
    if (seg_last === AMDGPU_SVM_ULONG_MAX || seg_last === last_page) break;
    const next = seg_last + 1;
    if (next <= cursor) break;
    cursor = next;
  }
  return 0;
}

/**
 * amdgpu_svm_range_apply_attr_change (V1 patch 07; rfc-series.md §2.2): what each trigger
 * does. Access lost: nothing (as KFD; unmapping left undone in the RFC). Access gained: remap
 * when XNACK is off or GPU_ALWAYS_MAPPED is set. PTE or mapping flags changed with access:
 * remap. LOCATION_CHANGE: left undone in the RFC (V1 patch 07); with `migration: true` (v8)
 * a prefetch to this GPU migrates and maps the interval.
 * svm_lock held for write.
 */
export function* amdgpu_svm_range_apply_attr_change(
  svm: amdgpu_svm,
  change: Readonly<amdgpu_svm_attr_change>,
): Co<number> {
  lockdep_assert_held(svm.svm_lock, 'write');
  const { start, last, trigger, prev_attrs, new_attrs } = change;
  const old_access = range_has_access(prev_attrs.access);
  const new_access = range_has_access(new_attrs.access);
  let update_mapping = false;
  if (trigger & AMDGPU_SVM_ATTR_TRIGGER_ACCESS_CHANGE) {
    if (!new_access && old_access) {
      // Do nothing, as kfd svm. Left undone in the RFC: unmap ranges that lost access.
    } else if (new_access) {
      if (NEED_REBUILD(svm) || new_attrs.flags & AMDGPU_SVM_FLAGS.GPU_ALWAYS_MAPPED)
        update_mapping = true;
    }
  }
  if (
    trigger &
      (AMDGPU_SVM_ATTR_TRIGGER_PTE_FLAG_CHANGE | AMDGPU_SVM_ATTR_TRIGGER_MAPPING_FLAG_CHANGE) &&
    new_access
  )
    update_mapping = true;
  // AMDGPU_SVM_ATTR_TRIGGER_LOCATION_CHANGE: left undone in the RFC (V1 patch 07, migration);
  // the `migration: true` option does it as v8 (migrate.ts).
  let prefetch = false;
  if (trigger & AMDGPU_SVM_ATTR_TRIGGER_LOCATION_CHANGE && amdgpu_svm_migration_enabled(svm)) {
    const target = amdgpu_svm_migrate_target_of(svm, new_attrs, 'prefetch');
    // (PREFETCH_LOC sysmem moves the pages back after SET: ioctl.ts.)
    if (target === 'vram' && new_access) update_mapping = prefetch = true;
  }
  if (!update_mapping) return 0;
  return yield* amdgpu_svm_range_map_interval(svm, start, last, new_attrs, false, prefetch);
}

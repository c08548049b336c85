/**
 * drm_gpusvm ranges (drivers/gpu/drm/drm_gpusvm.c; spec drm-gpusvm.md §2, §4.2, §4.4):
 * creation by fault address with the chunk selection, removal, references, and the unmap
 * marking. Ranges are never split: a partial unmap marks the range and the driver removes
 * it whole (DOC: Partial Unmapping of Ranges).
 */
import { EBUSY, EFAULT, EINVAL, ENOENT, ENOMEM, EPERM } from '../sim/errno.js';
import { kref_assert_live, kref_get, kref_init, kref_put } from '../sim/kref.js';
import { lockdep_assert_held } from '../sim/locks.js';
import { might_alloc } from '../sim/reclaim.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import { WARN_ON } from '../sim/trap.js';
import {
  HMM_PFN_VALID,
  HMM_RANGE_DEFAULT_TIMEOUT,
  ULONG_MAX_PAGES,
  VM_WRITE,
} from '../mm/consts.js';
import { mmput } from '../mm/fork.js';
import { HmmRange, hmm_range_fault } from '../mm/hmm.js';
import {
  mmap_assert_locked,
  mmap_read_lock,
  mmap_read_unlock,
  mmget_not_zero,
} from '../mm/mm_struct.js';
import type { MmStruct, MmuNotifierRange, VmAreaStruct } from '../mm/mm_types.js';
import {
  mmu_interval_notifier_insert,
  mmu_interval_notifier_remove,
  mmu_interval_read_begin,
} from '../mm/mmu_notifier.js';
import {
  find_vma_intersection,
  is_vm_hugetlb_page,
  vma_is_anonymous,
  vma_lookup,
} from '../mm/vma.js';
import {
  __drm_gpusvm_free_pages,
  __drm_gpusvm_unmap_pages,
  drm_gpusvm_hmm_pfn_to_order,
} from './drm_gpusvm_pages.js';
import {
  drm_gpusvm_notifier_alloc,
  drm_gpusvm_notifier_free,
  drm_gpusvm_notifier_insert,
  drm_gpusvm_notifier_ops,
  drm_gpusvm_notifier_remove,
} from './drm_gpusvm_notifier.js';
import {
  LONG_MAX,
  drm_gpusvm_driver_lock_held,
  drm_gpusvm_notifier_end,
  drm_gpusvm_notifier_find,
  drm_gpusvm_notifier_lock,
  drm_gpusvm_notifier_size,
  drm_gpusvm_notifier_start,
  drm_gpusvm_notifier_unlock,
  drm_gpusvm_range,
  drm_gpusvm_range_end,
  drm_gpusvm_range_find,
  drm_gpusvm_range_start,
  type drm_gpusvm,
  type drm_gpusvm_ctx,
  type drm_gpusvm_notifier,
  type drm_gpusvm_ops,
} from './drm_gpusvm_types.js';
import { interval_tree_insert, interval_tree_remove } from './itree.js';
import './events.js';

/** drm_gpusvm.c drm_gpusvm_range_alloc: refcount 1, notifier_seq LONG_MAX. */
function drm_gpusvm_range_alloc(
  gpusvm: drm_gpusvm,
  notifier: drm_gpusvm_notifier,
  fault_addr: number,
  chunk_size: number,
  migrate_devmem: boolean,
): drm_gpusvm_range | null {
  might_alloc('GFP_KERNEL');
  const ops = gpusvm.ops as drm_gpusvm_ops;
  const range = ops.range_alloc ? ops.range_alloc(gpusvm) : new drm_gpusvm_range();
  if (!range) return null;
  kref_init(range.refcount);
  range.gpusvm = gpusvm;
  range.notifier = notifier;
  range.itree.start = Math.floor(fault_addr / chunk_size) * chunk_size;
  range.itree.last = Math.ceil((fault_addr + 1) / chunk_size) * chunk_size - 1;
  range.pages.notifier_seq = LONG_MAX;
  range.pages.flags = { ...range.pages.flags, migrate_devmem };
  return range;
}

/**
 * drm_gpusvm.c drm_gpusvm_range_insert: into the notifier's tree and list. notifier_lock is
 * taken for read: tree edits are serialised by the driver lock; the read lock only keeps
 * the invalidate callback (a writer) out.
 */
function* drm_gpusvm_range_insert(notifier: drm_gpusvm_notifier, range: drm_gpusvm_range): Co {
  const gpusvm = notifier.gpusvm;
  yield* drm_gpusvm_notifier_lock(gpusvm);
  interval_tree_insert(notifier.root, range);
  drm_gpusvm_notifier_unlock(gpusvm);
}

/** drm_gpusvm.c drm_gpusvm_range_get. */
export function drm_gpusvm_range_get(range: drm_gpusvm_range): drm_gpusvm_range {
  kref_get(range.refcount);
  return range;
}

/** drm_gpusvm.c drm_gpusvm_range_put: the last put frees it through ops.range_free. */
export function drm_gpusvm_range_put(range: drm_gpusvm_range): void {
  kref_put(range.refcount, () => range.gpusvm.ops?.range_free?.(range));
}

/**
 * drm_gpusvm.c drm_gpusvm_check_pages (≈L696-768): are all pages of [start, end) present on
 * the CPU? hmm_range_fault without faulting (default_flags 0), retried on -EBUSY until the
 * timeout. mmap_lock held.
 */
function* drm_gpusvm_check_pages(
  gpusvm: drm_gpusvm,
  notifier: drm_gpusvm_notifier,
  start: number,
  end: number,
  dev_private_owner: object | null,
): Co<boolean> {
  const sim = getSim();
  const timeout = sim.now() + HMM_RANGE_DEFAULT_TIMEOUT;
  const npages = end - start;
  mmap_assert_locked(gpusvm.mm as MmStruct);
  might_alloc('GFP_KERNEL'); // pfns
  const hmm_range = new HmmRange({
    notifier: notifier.notifier,
    start,
    end,
    default_flags: 0,
    dev_private_owner,
  });
  hmm_range.notifier_seq = yield* mmu_interval_read_begin(notifier.notifier);
  let err: number;
  for (;;) {
    err = yield* hmm_range_fault(hmm_range);
    if (err === -EBUSY) {
      if (sim.now() > timeout) break;
      hmm_range.notifier_seq = yield* mmu_interval_read_begin(notifier.notifier);
      continue;
    }
    break;
  }
  if (err) return false;
  const pfns = hmm_range.hmm_pfns;
  for (let i = 0; i < npages;) {
    if (!((pfns[i] as number) & HMM_PFN_VALID)) return false;
    i += 2 ** drm_gpusvm_hmm_pfn_to_order(pfns[i] as number, i, npages);
  }
  return true;
}

/**
 * drm_gpusvm.c drm_gpusvm_range_chunk_size (≈L910-1010): the largest chunk, aligned
 * around fault_addr, inside the CPU vma, the notifier and [gpuva_start, gpuva_end); a
 * chunk larger than one page must not overlap an existing range and, when it is at most
 * check_pages_threshold, must be CPU-present. The one-page chunk is never checked. LONG_MAX
 * when nothing fits.
 */
function* drm_gpusvm_range_chunk_size(
  gpusvm: drm_gpusvm,
  notifier: drm_gpusvm_notifier,
  vas: VmAreaStruct,
  fault_addr: number,
  gpuva_start: number,
  gpuva_end: number,
  check_pages_threshold: number,
  dev_private_owner: object | null,
): Co<number> {
  let start = 0;
  let end = 0;
  for (let i = 0; ; ++i) {
    // retry:
    for (; i < gpusvm.num_chunks; ++i) {
      const chunk = gpusvm.chunk_sizes[i] as number;
      start = Math.floor(fault_addr / chunk) * chunk;
      end = Math.ceil((fault_addr + 1) / chunk) * chunk;
      if (
        start >= vas.vm_start &&
        end <= vas.vm_end &&
        start >= drm_gpusvm_notifier_start(notifier) &&
        end <= drm_gpusvm_notifier_end(notifier) &&
        start >= gpuva_start &&
        end <= gpuva_end
      )
        break;
    }
    if (i === gpusvm.num_chunks) return LONG_MAX;
    if (end - start === 1) return 1; // SZ_4K
    if (drm_gpusvm_range_find(notifier, start, end)) continue; // overlaps a range
    // XXX in the C: only create ranges over pages the CPU faulted in (the
    // process-many-malloc failure of xe_exec_system_allocator).
    if (
      end - start <= check_pages_threshold &&
      !(yield* drm_gpusvm_check_pages(gpusvm, notifier, start, end, dev_private_owner))
    )
      continue;
    return end - start;
  }
}

/**
 * drm_gpusvm.c drm_gpusvm_find_vma_start: vm_start of the first CPU vma meeting
 * [start, end), or ULONG_MAX (SIM: ULONG_MAX_PAGES). Takes mmap_lock for read.
 */
export function* drm_gpusvm_find_vma_start(
  gpusvm: drm_gpusvm,
  start: number,
  end: number,
): Co<number> {
  const mm = gpusvm.mm as MmStruct;
  let addr = ULONG_MAX_PAGES;
  if (!mmget_not_zero(mm)) return addr;
  yield* mmap_read_lock(mm);
  const vma = find_vma_intersection(mm, start, end);
  if (vma) addr = vma.vm_start;
  mmap_read_unlock(mm);
  yield* mmput(mm);
  return addr;
}

/**
 * drm_gpusvm.c drm_gpusvm_range_find_or_insert (≈L1046-1143): the range containing
 * fault_addr, created (with its notifier when needed) if none. The caller holds the driver
 * lock; mmap_lock is taken here, after the notifier insert. Returns the range or -EINVAL
 * (outside the window, nothing fits), -EFAULT (mm gone), -ENOENT (no CPU vma), -EPERM
 * (vma not writable and !read_only), -ENOMEM. Note the off-by-one: fault_addr ==
 * mm_start + mm_range is accepted, as in the C.
 */
export function* drm_gpusvm_range_find_or_insert(
  gpusvm: drm_gpusvm,
  fault_addr: number,
  gpuva_start: number,
  gpuva_end: number,
  ctx: drm_gpusvm_ctx,
): Co<drm_gpusvm_range | number> {
  const mm = gpusvm.mm as MmStruct;
  let notifier_alloc = false;
  let err: number;
  drm_gpusvm_driver_lock_held(gpusvm);
  if (fault_addr < gpusvm.mm_start || fault_addr > gpusvm.mm_start + gpusvm.mm_range)
    return -EINVAL;
  if (!mmget_not_zero(mm)) return -EFAULT;
  let notifier = drm_gpusvm_notifier_find(gpusvm, fault_addr, fault_addr + 1) ?? null;
  if (!notifier) {
    notifier = drm_gpusvm_notifier_alloc(gpusvm, fault_addr);
    if (!notifier) return yield* err_mmunlock(mm, -ENOMEM);
    notifier_alloc = true;
    err = yield* mmu_interval_notifier_insert(
      notifier.notifier,
      mm,
      drm_gpusvm_notifier_start(notifier),
      drm_gpusvm_notifier_size(notifier),
      drm_gpusvm_notifier_ops,
    );
    if (err) return yield* err_notifier(gpusvm, mm, notifier_alloc, notifier, err);
  }
  yield* mmap_read_lock(mm);
  const vas = vma_lookup(mm, fault_addr);
  if (!vas) return yield* err_notifier_remove(gpusvm, mm, notifier_alloc, notifier, -ENOENT);
  if (!ctx.read_only && !(vas.vm_flags & VM_WRITE))
    return yield* err_notifier_remove(gpusvm, mm, notifier_alloc, notifier, -EPERM);
  let range = drm_gpusvm_range_find(notifier, fault_addr, fault_addr + 1) ?? null;
  if (!range) {
    // XXX in the C: short-circuit migration on the current migrate_vma_* limitations.
    const migrate_devmem =
      (ctx.devmem_possible ?? false) && vma_is_anonymous(vas) && !is_vm_hugetlb_page(vas);
    const chunk_size = yield* drm_gpusvm_range_chunk_size(
      gpusvm,
      notifier,
      vas,
      fault_addr,
      gpuva_start,
      gpuva_end,
      ctx.check_pages_threshold ?? 0,
      ctx.device_private_page_owner ?? null,
    );
    if (chunk_size === LONG_MAX)
      return yield* err_notifier_remove(gpusvm, mm, notifier_alloc, notifier, -EINVAL);
    range = drm_gpusvm_range_alloc(gpusvm, notifier, fault_addr, chunk_size, migrate_devmem);
    if (!range) return yield* err_notifier_remove(gpusvm, mm, notifier_alloc, notifier, -ENOMEM);
    yield* drm_gpusvm_range_insert(notifier, range);
    if (notifier_alloc) drm_gpusvm_notifier_insert(gpusvm, notifier);
    trace_insert(gpusvm, range, fault_addr);
  }
  // out_mmunlock:
  mmap_read_unlock(mm);
  yield* mmput(mm);
  return range;
}

// The error exits of drm_gpusvm_range_find_or_insert (the C's goto labels).
function* err_notifier_remove(
  gpusvm: drm_gpusvm,
  mm: MmStruct,
  notifier_alloc: boolean,
  n: drm_gpusvm_notifier,
  e: number,
): Co<number> {
  mmap_read_unlock(mm);
  if (notifier_alloc) yield* mmu_interval_notifier_remove(n.notifier);
  return yield* err_notifier(gpusvm, mm, notifier_alloc, n, e);
}
function* err_notifier(
  gpusvm: drm_gpusvm,
  mm: MmStruct,
  notifier_alloc: boolean,
  n: drm_gpusvm_notifier,
  e: number,
): Co<number> {
  if (notifier_alloc) drm_gpusvm_notifier_free(gpusvm, n);
  return yield* err_mmunlock(mm, e);
}
function* err_mmunlock(mm: MmStruct, e: number): Co<number> {
  yield* mmput(mm);
  return e;
}

function trace_insert(gpusvm: drm_gpusvm, range: drm_gpusvm_range, fault: number): void {
  const sim = getSim();
  sim.account('ranges_created', 1, 'range_created', gpusvm.drm.name);
  sim.trace.emit('drm.gpusvm_range_insert', {
    gpusvm: gpusvm.name,
    start: drm_gpusvm_range_start(range),
    end: drm_gpusvm_range_end(range),
    fault,
  });
}

/**
 * drm_gpusvm.c drm_gpusvm_range_remove (≈L1232): DMA-unmap and free the pages, take the
 * range out of its notifier and drop the creation reference; an empty notifier goes too
 * (its mmu interval notifier removed unless fini did it). The caller holds the driver lock.
 */
export function* drm_gpusvm_range_remove(gpusvm: drm_gpusvm, range: drm_gpusvm_range): Co {
  const start = drm_gpusvm_range_start(range);
  const npages = drm_gpusvm_range_end(range) - start;
  drm_gpusvm_driver_lock_held(gpusvm);
  kref_assert_live(range.refcount, 'drm_gpusvm_range_remove');
  const notifier = drm_gpusvm_notifier_find(gpusvm, start, start + 1);
  if (WARN_ON(!notifier, 'drm_gpusvm_range_remove: no notifier') || !notifier) return;
  yield* drm_gpusvm_notifier_lock(gpusvm);
  __drm_gpusvm_unmap_pages(gpusvm, range.pages, npages);
  __drm_gpusvm_free_pages(gpusvm, range.pages);
  interval_tree_remove(notifier.root, range);
  drm_gpusvm_notifier_unlock(gpusvm);
  const sim = getSim();
  sim.account('ranges_removed', 1, 'range_removed', gpusvm.drm.name);
  sim.trace.emit('drm.gpusvm_range_remove', { gpusvm: gpusvm.name, start, end: start + npages });
  drm_gpusvm_range_put(range);
  if (notifier.root.length === 0) {
    if (!notifier.flags.removed) yield* mmu_interval_notifier_remove(notifier.notifier);
    drm_gpusvm_notifier_remove(gpusvm, notifier);
    drm_gpusvm_notifier_free(gpusvm, notifier);
  }
}

/**
 * drm_gpusvm.c drm_gpusvm_range_set_unmapped (≈L1775): in the notifier (notifier_lock for
 * write) on MMU_NOTIFY_UNMAP: the range is unmapped, partially if the unmap does not cover
 * it. get_pages on it then fails with -EFAULT; the driver must remove it.
 */
export function drm_gpusvm_range_set_unmapped(
  range: drm_gpusvm_range,
  mmu_range: MmuNotifierRange,
): void {
  const gpusvm = range.gpusvm;
  lockdep_assert_held(gpusvm.notifier_lock, 'write');
  const partial =
    range.pages.flags.partial_unmap ||
    drm_gpusvm_range_start(range) < mmu_range.start ||
    drm_gpusvm_range_end(range) > mmu_range.end;
  const first = !range.pages.flags.unmapped;
  range.pages.flags = { ...range.pages.flags, unmapped: true, partial_unmap: partial };
  const sim = getSim();
  if (first) sim.counters.add('gpusvm_ranges_unmapped', 1, gpusvm.drm.name);
  if (first && partial) sim.counters.add('gpusvm_ranges_partial_unmap', 1, gpusvm.drm.name);
  sim.trace.emit('drm.gpusvm_set_unmapped', {
    gpusvm: gpusvm.name,
    start: drm_gpusvm_range_start(range),
    end: drm_gpusvm_range_end(range),
    partial,
  });
}

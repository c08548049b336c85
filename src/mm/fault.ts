/**
 * Page faults (mm/memory.c handle_mm_fault and the handlers it dispatches to).
 *
 * Called with mmap_lock held (read is enough) by the CPU access path (access.ts), by
 * hmm_range_fault (FAULT_FLAG_REMOTE) and by populate. Permission checks against the vma
 * (access_error, hmm's VM_WRITE test) belong to the callers.
 */
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import { trap } from '../sim/trap.js';
import {
  FAULT_FLAG_WRITE,
  MMU_NOTIFY_CLEAR,
  VM_ACCESS_FLAGS,
  VM_FAULT_MAJOR,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_PFNMAP,
  VM_SHARED,
  VM_WRITE,
} from './consts.js';
import { filemap_get_page } from './filemap.js';
import { mmap_assert_locked } from './mm_struct.js';
import type { VmAreaStruct } from './mm_types.js';
import {
  mmu_notifier_invalidate_range_end,
  mmu_notifier_invalidate_range_start,
  mmu_notifier_range_init,
} from './mmu_notifier.js';
import {
  alloc_page,
  folio_trylock,
  folio_unlock,
  folio_wait_unlocked,
  get_page,
  is_zero_pfn,
  page_count,
  page_is_anon,
  page_pgmap,
  put_page,
} from './page.js';
import {
  PTE_DEVICE_PRIVATE,
  PTE_KIND_MASK,
  PTE_MIGRATION,
  PTE_NONE,
  PTE_PRESENT,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_WRITE,
} from './pgtable.js';
import { anon_vma_prepare, set_pte_get_page, set_pte_new_page, set_pte_zero_page } from './pte.js';
import { linear_page_index, vma_is_anonymous } from './vma.js';

/**
 * mm/memory.c handle_mm_fault: resolve a fault at `vpn`; returns a vm_fault_t (0 when the
 * access can be retried, VM_FAULT_* error bits otherwise).
 */
export function* handle_mm_fault(vma: VmAreaStruct, vpn: number, flags: number): Co<number> {
  const mm = vma.vm_mm;
  mmap_assert_locked(mm);
  const sim = getSim();
  sim.account('cpu_faults', 1, 'cpu_fault');
  const ret = yield* handle_pte_fault(vma, vpn, flags);
  sim.trace.emit('mm.fault', { mm: mm.id, vpn, flags, ret });
  return ret;
}

/** mm/memory.c handle_pte_fault. */
function* handle_pte_fault(vma: VmAreaStruct, vpn: number, flags: number): Co<number> {
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  // SIM: the callers check access; a fault the vma cannot allow is refused here too.
  if (!(vma.vm_flags & VM_ACCESS_FLAGS) || (write && !(vma.vm_flags & VM_WRITE)))
    return VM_FAULT_SIGSEGV;
  if (vpn < vma.vm_start || vpn >= vma.vm_end) trap('bug', `fault at ${vpn} outside its vma`);
  const pgt = vma.vm_mm.pgt;
  const d = pgt.desc(vpn);
  switch (d & PTE_KIND_MASK) {
    case PTE_NONE:
      if (vma.vm_flags & VM_PFNMAP) return VM_FAULT_SIGBUS;
      if (vma_is_anonymous(vma)) return do_anonymous_page(vma, vpn, write);
      if (yield* filemap_wait_locked(vma, vpn)) return 0;
      return do_fault(vma, vpn, write);
    case PTE_SWAP:
      return do_swap_page(vma, vpn);
    case PTE_DEVICE_PRIVATE:
      return yield* do_device_private_fault(vma, vpn, flags);
    case PTE_MIGRATION:
      // migration_entry_wait: the migrating task holds the frame locked.
      yield* folio_wait_unlocked(vma.vm_mm.sys, pgt.pfn(vpn));
      return 0;
    case PTE_PRESENT:
      if (write && !(d & PTE_WRITE)) return yield* do_wp_page(vma, vpn);
      return 0; // spurious
    default:
      return trap('bug', `pte kind ${d & PTE_KIND_MASK} at ${vpn}`);
  }
}

/**
 * mm/memory.c do_anonymous_page: a read maps the shared zero page read-only; a write
 * allocates a zeroed page.
 */
export function do_anonymous_page(vma: VmAreaStruct, vpn: number, write: boolean): number {
  const mm = vma.vm_mm;
  if (!write) {
    set_pte_zero_page(mm, vpn);
    return 0;
  }
  anon_vma_prepare(vma);
  const pfn = alloc_page(mm.sys, 'GFP_KERNEL');
  if (pfn < 0) return VM_FAULT_OOM;
  set_pte_new_page(mm, vpn, pfn, (vma.vm_flags & VM_WRITE) !== 0);
  return 0;
}

/**
 * filemap_fault's folio lock: a page-cache page being reclaimed or migrated is locked; wait
 * for it and retry the fault. True when it waited.
 */
function* filemap_wait_locked(vma: VmAreaStruct, vpn: number): Co<boolean> {
  const file = vma.vm_file;
  if (!file) return false;
  const sys = vma.vm_mm.sys;
  const pfn = file.f_mapping.i_pages.get(linear_page_index(vma, vpn));
  if (pfn === undefined || !sys.page_locked.has(pfn)) return false;
  yield* folio_wait_unlocked(sys, pfn);
  return true;
}

/**
 * mm/memory.c do_fault (do_read_fault / do_cow_fault / do_shared_fault) for file and shmem
 * mappings. SIM: shared mappings are tmpfs-like (no write-notify): the page is mapped
 * writable at once when the vma is.
 */
function do_fault(vma: VmAreaStruct, vpn: number, write: boolean): number {
  const mm = vma.vm_mm;
  const file = vma.vm_file;
  if (!file) return trap('bug', 'do_fault on an anonymous vma');
  const index = linear_page_index(vma, vpn);
  if (index >= file.f_mapping.size) return VM_FAULT_SIGBUS;
  const page = filemap_get_page(mm.sys, file.f_mapping, index);
  if (page < 0) return VM_FAULT_OOM;
  if (vma.vm_flags & VM_SHARED) {
    set_pte_get_page(mm, vpn, page, (vma.vm_flags & VM_WRITE) !== 0);
    return 0;
  }
  if (!write) {
    set_pte_get_page(mm, vpn, page, false);
    return 0;
  }
  // do_cow_fault: a private copy of the page-cache page.
  anon_vma_prepare(vma);
  const copy = alloc_page(mm.sys, 'GFP_KERNEL', mm.sys.phys.read(page));
  if (copy < 0) return VM_FAULT_OOM;
  getSim().account('pages_copied', 1, 'page_copy');
  set_pte_new_page(mm, vpn, copy, true);
  return 0;
}

/** mm/memory.c do_swap_page for a swap entry. SIM: no swap cache (see swap.ts). */
function do_swap_page(vma: VmAreaStruct, vpn: number): number {
  const mm = vma.vm_mm;
  const slot = mm.pgt.pfn(vpn);
  const page = alloc_page(mm.sys, 'GFP_KERNEL', mm.sys.swap.read(slot));
  if (page < 0) return VM_FAULT_OOM;
  getSim().account('pages_swapped_in', 1, 'swap_in_page');
  mm.sys.swap.free(slot);
  mm.pgt.clear(vpn);
  set_pte_new_page(mm, vpn, page, (vma.vm_flags & VM_WRITE) !== 0);
  return VM_FAULT_MAJOR;
}

/**
 * mm/memory.c do_swap_page, device-private entry: lock the frame, hold a reference and call
 * its pagemap's migrate_to_ram; a locked frame (a migration in progress) is waited for and
 * the fault retried.
 */
function* do_device_private_fault(vma: VmAreaStruct, vpn: number, flags: number): Co<number> {
  const sys = vma.vm_mm.sys;
  const page = vma.vm_mm.pgt.pfn(vpn);
  if (!folio_trylock(sys, page)) {
    yield* folio_wait_unlocked(sys, page);
    return 0;
  }
  get_page(sys, page);
  const pgmap = page_pgmap(sys, page);
  if (!pgmap) return trap('bug', `device-private entry for frame ${page} without a pagemap`);
  const ret = yield* pgmap.ops.migrate_to_ram({ vma, address: vpn, page, flags });
  folio_unlock(sys, page);
  put_page(sys, page);
  return ret;
}

/**
 * mm/memory.c do_wp_page: a write to a present read-only pte. Shared mappings and
 * exclusively owned anonymous pages are made writable in place (wp_page_reuse); the zero
 * page, page-cache pages and pages shared after fork are copied (wp_page_copy).
 */
function* do_wp_page(vma: VmAreaStruct, vpn: number): Co<number> {
  const mm = vma.vm_mm;
  const sys = mm.sys;
  const d = mm.pgt.desc(vpn);
  const pfn = mm.pgt.pfn(vpn);
  if (vma.vm_flags & VM_SHARED || d & PTE_SPECIAL) {
    mm.pgt.set_flags(vpn, PTE_WRITE, 0);
    return 0;
  }
  const exclusive =
    !is_zero_pfn(pfn) &&
    page_is_anon(sys, pfn) &&
    sys.rmap.count(pfn) === 1 &&
    page_count(sys, pfn) === 1 &&
    !sys.page_locked.has(pfn);
  if (exclusive) {
    mm.pgt.set_flags(vpn, PTE_WRITE, 0);
    getSim().counters.add('wp_reuse', 1);
    return 0;
  }
  return yield* wp_page_copy(vma, vpn, d, pfn);
}

/**
 * mm/memory.c wp_page_copy: copy the page, then under MMU_NOTIFY_CLEAR for that one page
 * replace the read-only pte by a writable pte to the copy.
 */
function* wp_page_copy(vma: VmAreaStruct, vpn: number, d: number, old: number): Co<number> {
  const mm = vma.vm_mm;
  const sys = mm.sys;
  anon_vma_prepare(vma);
  const zero = is_zero_pfn(old);
  const copy = alloc_page(sys, 'GFP_KERNEL', zero ? 0 : sys.phys.read(old));
  if (copy < 0) return VM_FAULT_OOM;
  if (!zero) getSim().account('pages_copied', 1, 'page_copy');
  const range = mmu_notifier_range_init(MMU_NOTIFY_CLEAR, 0, mm, vpn, vpn + 1, vma);
  yield* mmu_notifier_invalidate_range_start(range);
  if (mm.pgt.desc(vpn) !== d || mm.pgt.pfn(vpn) !== old) {
    // !pte_same: someone changed the pte meanwhile; drop the copy and retry.
    put_page(sys, copy);
  } else {
    if (!zero) {
      sys.rmap.remove(old, mm.id, vpn);
      put_page(sys, old);
    }
    set_pte_new_page(mm, vpn, copy, true);
    getSim().counters.add('cow_faults', 1);
  }
  yield* mmu_notifier_invalidate_range_end(range);
  return 0;
}

/** Whether an entry at vpn already satisfies an access (no fault needed). */
export function pte_allows(d: number, write: boolean): boolean {
  return (d & PTE_KIND_MASK) === PTE_PRESENT && (!write || (d & PTE_WRITE) !== 0);
}

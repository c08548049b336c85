/**
 * mmap, munmap and populate (mm/mmap.c do_mmap / mmap_region, mm/vma.c do_vmi_munmap,
 * mm/gup.c __mm_populate). Addresses and sizes are page numbers; syscalls.ts validates
 * byte arguments as the syscalls do and calls these.
 */
import { EEXIST, EINVAL, ENOMEM, EPERM } from '../sim/errno.js';
import { cond_resched } from '../sim/locks.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import {
  FAULT_FLAG_WRITE,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  PTRS_PER_PTE,
  VM_ACCESS_FLAGS,
  VM_DONTEXPAND,
  VM_FAULT_ERROR,
  VM_IO,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_MIXEDMAP,
  VM_PFNMAP,
  VM_SHARED,
  VM_WRITE,
} from './consts.js';
import { do_anonymous_page, handle_mm_fault, pte_allows } from './fault.js';
import { shmem_release_unmapped } from './filemap.js';
import { unmap_vmas } from './memory.js';
import {
  mmap_read_lock,
  mmap_read_unlock,
  mmap_write_downgrade,
  mmap_write_lock,
  mmap_write_unlock,
} from './mm_struct.js';
import { File, VmAreaStruct, type MmStruct, type VmaKind } from './mm_types.js';
import { alloc_page, put_page } from './page.js';
import { PTE_NONE } from './pgtable.js';
import { set_pte_get_page, set_pte_special } from './pte.js';
import {
  get_unmapped_area,
  range_is_free,
  split_at,
  vma_is_anonymous,
  vma_link,
  vma_try_merge,
  vma_unlink,
  vmas_in,
} from './vma.js';

export interface MmapOptions {
  /** MAP_FIXED target or placement hint, in pages (0: none). */
  addr?: number;
  npages: number;
  prot: number;
  /** MAP_SHARED or MAP_PRIVATE, plus MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_POPULATE. */
  flags: number;
  /** A file mapping; anonymous when absent. */
  file?: File | null;
  /** File offset in pages. */
  pgoff?: number;
  /** SIM: a VM_IO | VM_PFNMAP device mapping (remap_pfn_range of frames given at mmap). */
  io?: boolean;
  /** SIM: a device file whose mmap vm_insert_page()s zeroed pages (test_hmm's dmirror). */
  mixedmap?: boolean;
  /** SIM (scenario `align`): the start is a multiple of this many pages. */
  align?: number;
  kind?: VmaKind;
}

/** mm/mmap.c calc_vm_prot_bits + calc_vm_flag_bits. */
function mmap_vm_flags(o: MmapOptions): number {
  let f = (o.prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if ((o.flags & (MAP_SHARED | MAP_PRIVATE)) === MAP_SHARED) f |= VM_SHARED | VM_MAYSHARE;
  if (o.io) f |= VM_IO | VM_PFNMAP | VM_DONTEXPAND;
  if (o.mixedmap) f |= VM_MIXEDMAP;
  return f;
}

/**
 * mm/mmap.c do_mmap: map `npages` and return the start page, or -errno. Takes mmap_lock for
 * write; MAP_FIXED replaces what was there (MMU_NOTIFY_UNMAP of the old range);
 * MAP_POPULATE faults the pages in afterwards with mmap_lock held for read.
 */
export function* do_mmap(mm: MmStruct, o: MmapOptions): Co<number> {
  getSim().account('mm_mmaps', 1, 'mm_syscall');
  const type = o.flags & (MAP_SHARED | MAP_PRIVATE);
  if (o.npages <= 0 || (type !== MAP_SHARED && type !== MAP_PRIVATE)) return -EINVAL;
  if (o.prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) return -EINVAL;
  if (o.npages > mm.task_size) return -ENOMEM;
  yield* mmap_write_lock(mm);
  const ret = yield* mmap_region_locked(mm, o);
  mmap_write_unlock(mm);
  if (ret >= 0 && o.flags & MAP_POPULATE) yield* mm_populate(mm, ret, o.npages);
  return ret;
}

function* mmap_region_locked(mm: MmStruct, o: MmapOptions): Co<number> {
  const fixed = (o.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
  let addr: number;
  if (fixed) {
    addr = o.addr ?? 0;
    if (addr < mm.mmap_min_addr) return -EPERM;
    if (addr + o.npages > mm.task_size) return -ENOMEM;
    if (!range_is_free(mm, addr, addr + o.npages)) {
      if (o.flags & MAP_FIXED_NOREPLACE) return -EEXIST;
      yield* do_vmi_munmap(mm, addr, addr + o.npages, false);
    }
  } else {
    addr = get_unmapped_area(mm, o.npages, o.addr ?? 0, o.align ?? 1);
    if (addr < 0) return addr;
  }
  const vm_flags = mmap_vm_flags(o);
  let file = o.file ?? null;
  let pgoff = o.pgoff ?? 0;
  if (!file && vm_flags & VM_SHARED) file = new File(`shmem:${mm.name}:${addr}`, o.npages, true);
  else if (!file) pgoff = addr;
  const vma = new VmAreaStruct(mm, addr, addr + o.npages, vm_flags, pgoff, file);
  vma.kind = o.kind ?? null;
  vma_link(mm, vma);
  if (o.io || o.mixedmap) {
    const ret = insert_driver_pages(vma, o.io === true);
    if (ret < 0) {
      yield* do_vmi_munmap(mm, addr, addr + o.npages, false);
      return ret;
    }
  } else {
    vma_try_merge(mm, vma);
  }
  getSim().trace.emit('mm.mmap', {
    mm: mm.id,
    start: addr,
    npages: o.npages,
    vm_flags,
    file: file ? file.name : '',
  });
  return addr;
}

/**
 * SIM: the driver's mmap: remap_pfn_range (io: special ptes, writable when the vma is) or
 * vm_insert_page (mixedmap: normal pages, read-only in a private mapping).
 */
function insert_driver_pages(vma: VmAreaStruct, io: boolean): number {
  const mm = vma.vm_mm;
  const shared_write = (vma.vm_flags & (VM_SHARED | VM_WRITE)) === (VM_SHARED | VM_WRITE);
  for (let vpn = vma.vm_start; vpn < vma.vm_end; vpn++) {
    const pfn = alloc_page(mm.sys, 'GFP_KERNEL');
    if (pfn < 0) return -ENOMEM;
    if (io) set_pte_special(mm, vpn, pfn, (vma.vm_flags & VM_WRITE) !== 0);
    else set_pte_get_page(mm, vpn, pfn, shared_write);
    put_page(mm.sys, pfn);
  }
  return 0;
}

/**
 * mm/vma.c do_vmi_munmap with mmap_lock held for write: split the vmas at start and end,
 * detach them, optionally downgrade to read (munmap does; mremap and MAP_FIXED do not),
 * then unmap_vmas (MMU_NOTIFY_UNMAP over [start, end)) and free the page tables. Returns
 * 1 when it downgraded the lock, else 0.
 */
export function* do_vmi_munmap(
  mm: MmStruct,
  start: number,
  end: number,
  downgrade: boolean,
): Co<number> {
  if (vmas_in(mm, start, end).length === 0) return 0;
  split_at(mm, start);
  split_at(mm, end);
  const vmas = vmas_in(mm, start, end);
  for (const v of vmas) vma_unlink(mm, v);
  if (downgrade) mmap_write_downgrade(mm);
  yield* unmap_vmas(mm, vmas, start, end);
  mm.pgt.free_empty(start, end);
  shmem_release_unmapped(mm.sys, vmas);
  return downgrade ? 1 : 0;
}

/** The munmap syscall on pages [start, start + npages). */
export function* do_munmap(mm: MmStruct, start: number, npages: number): Co<number> {
  getSim().account('mm_munmaps', 1, 'mm_syscall');
  if (npages <= 0 || start + npages > mm.task_size) return -EINVAL;
  yield* mmap_write_lock(mm);
  const downgraded = yield* do_vmi_munmap(mm, start, start + npages, true);
  if (downgraded) mmap_read_unlock(mm);
  else mmap_write_unlock(mm);
  getSim().trace.emit('mm.munmap', { mm: mm.id, start, npages });
  return 0;
}

/**
 * mm/gup.c __mm_populate: fault in [start, start + npages) (write faults for private
 * writable vmas), skipping VM_IO/VM_PFNMAP and inaccessible vmas. Returns 0 or -ENOMEM.
 */
export function* mm_populate(mm: MmStruct, start: number, npages: number): Co<number> {
  const sim = getSim();
  const end = start + npages;
  let ret = 0;
  let faults = 0;
  yield* mmap_read_lock(mm);
  for (const vma of vmas_in(mm, start, end)) {
    if (vma.vm_flags & (VM_IO | VM_PFNMAP) || !(vma.vm_flags & VM_ACCESS_FLAGS)) continue;
    const write = (vma.vm_flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
    const anon = vma_is_anonymous(vma);
    const hi = Math.min(end, vma.vm_end);
    for (let vpn = Math.max(start, vma.vm_start); vpn < hi && ret === 0; vpn++) {
      const d = mm.pgt.desc(vpn);
      if (pte_allows(d, write)) continue;
      let r: number;
      if (anon && d === PTE_NONE) {
        r = do_anonymous_page(vma, vpn, write); // the common case, without a coroutine
        faults++;
      } else {
        r = yield* handle_mm_fault(vma, vpn, write ? FAULT_FLAG_WRITE : 0);
      }
      if (r & VM_FAULT_ERROR) ret = -ENOMEM;
      if ((vpn + 1) % PTRS_PER_PTE === 0) yield* cond_resched();
    }
    if (ret) break;
  }
  mmap_read_unlock(mm);
  sim.account('cpu_faults', faults, 'cpu_fault');
  sim.trace.emit('mm.populate', { mm: mm.id, start, npages, ret });
  return ret;
}

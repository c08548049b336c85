/**
 * The vma tree of an mm and the vma primitives (mm/mmap.c, mm/vma.c, mm/util.c):
 * lookup, insertion, split, merge and free-area search.
 *
 * SIM: Linux keeps vmas in a maple tree; the model keeps a sorted array (mm.mmap) searched
 * by bisection. Callers hold mmap_lock (write to change the tree, read to look up).
 */
import { ENOMEM } from '../sim/errno.js';
import { getSim } from '../sim/scheduler.js';
import { trap } from '../sim/trap.js';
import { VM_HUGETLB, VM_MAYWRITE, VM_SHARED, VM_SPECIAL } from './consts.js';
import { VmAreaStruct, type MmStruct } from './mm_types.js';

/** Index of the first vma with vm_end > addr (mm.mmap.length when none). */
export function find_vma_index(mm: MmStruct, addr: number): number {
  const a = mm.mmap;
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as VmAreaStruct).vm_end > addr) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** mm/mmap.c find_vma: the first vma ending above addr (it may start above addr too). */
export function find_vma(mm: MmStruct, addr: number): VmAreaStruct | undefined {
  return mm.mmap[find_vma_index(mm, addr)];
}

/** include/linux/mm.h vma_lookup: the vma containing addr. */
export function vma_lookup(mm: MmStruct, addr: number): VmAreaStruct | undefined {
  const v = find_vma(mm, addr);
  return v && v.vm_start <= addr ? v : undefined;
}

/** include/linux/mm.h find_vma_intersection: the first vma overlapping [start, end). */
export function find_vma_intersection(
  mm: MmStruct,
  start: number,
  end: number,
): VmAreaStruct | undefined {
  const v = find_vma(mm, start);
  return v && v.vm_start < end ? v : undefined;
}

/** The vmas overlapping [start, end), in address order (a snapshot). */
export function vmas_in(mm: MmStruct, start: number, end: number): VmAreaStruct[] {
  const out: VmAreaStruct[] = [];
  for (let i = find_vma_index(mm, start); i < mm.mmap.length; i++) {
    const v = mm.mmap[i] as VmAreaStruct;
    if (v.vm_start >= end) break;
    out.push(v);
  }
  return out;
}

/** vma_link / vma_iter_store: insert into the tree; overlapping an existing vma is a bug. */
export function vma_link(mm: MmStruct, vma: VmAreaStruct): void {
  const i = find_vma_index(mm, vma.vm_start);
  const next = mm.mmap[i];
  if (next && next.vm_start < vma.vm_end) {
    trap('bug', `vma [${vma.vm_start}, ${vma.vm_end}) overlaps [${next.vm_start}, ${next.vm_end})`);
  }
  mm.mmap.splice(i, 0, vma);
  getSim().account('vma_ops', 1, 'vma_op');
}

/** vma_iter_clear / detach: remove from the tree. */
export function vma_unlink(mm: MmStruct, vma: VmAreaStruct): void {
  const i = mm.mmap.indexOf(vma);
  if (i < 0) trap('bug', `vma [${vma.vm_start}, ${vma.vm_end}) is not in ${mm.name}`);
  mm.mmap.splice(i, 1);
}

export function vma_is_anonymous(vma: VmAreaStruct): boolean {
  return vma.vm_file === null;
}

export function is_vm_hugetlb_page(vma: VmAreaStruct): boolean {
  return (vma.vm_flags & VM_HUGETLB) !== 0;
}

/** include/linux/mm.h is_cow_mapping: private and may be written. */
export function is_cow_mapping(flags: number): boolean {
  return (flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}

/** include/linux/pagemap.h linear_page_index: file page index of vpn in the vma. */
export function linear_page_index(vma: VmAreaStruct, vpn: number): number {
  return vma.vm_pgoff + (vpn - vma.vm_start);
}

/**
 * mm/vma.c __split_vma: cut `vma` at addr. The original keeps [vm_start, addr); the
 * returned new vma [addr, vm_end) is linked into the tree.
 */
export function split_vma(vma: VmAreaStruct, addr: number): VmAreaStruct {
  if (addr <= vma.vm_start || addr >= vma.vm_end) {
    trap('bug', `split_vma at ${addr} outside (${vma.vm_start}, ${vma.vm_end})`);
  }
  const upper = new VmAreaStruct(
    vma.vm_mm,
    addr,
    vma.vm_end,
    vma.vm_flags,
    vma.vm_pgoff + (addr - vma.vm_start),
    vma.vm_file,
  );
  upper.anon_vma = vma.anon_vma;
  upper.kind = vma.kind;
  vma.vm_end = addr;
  vma_link(vma.vm_mm, upper);
  return upper;
}

/** Split so that a vma boundary falls at addr (no-op when one already does). */
export function split_at(mm: MmStruct, addr: number): void {
  const v = vma_lookup(mm, addr);
  if (v && v.vm_start < addr) split_vma(v, addr);
}

/** mm/vma.c is_mergeable_vma + is_mergeable_anon_vma + pgoff contiguity. */
function can_merge(a: VmAreaStruct, b: VmAreaStruct): boolean {
  return (
    a.vm_end === b.vm_start &&
    a.vm_flags === b.vm_flags &&
    (a.vm_flags & VM_SPECIAL) === 0 &&
    a.vm_file === b.vm_file &&
    a.kind === b.kind &&
    a.vm_pgoff + (a.vm_end - a.vm_start) === b.vm_pgoff &&
    (a.anon_vma === null || b.anon_vma === null || a.anon_vma === b.anon_vma)
  );
}

/** mm/vma.c vma_merge_existing_range (reduced): merge `vma` with compatible neighbours. */
export function vma_try_merge(mm: MmStruct, vma: VmAreaStruct): VmAreaStruct {
  let cur = vma;
  const i = mm.mmap.indexOf(cur);
  const prev = i > 0 ? mm.mmap[i - 1] : undefined;
  if (prev && can_merge(prev, cur)) {
    prev.vm_end = cur.vm_end;
    prev.anon_vma ??= cur.anon_vma;
    vma_unlink(mm, cur);
    cur = prev;
  }
  const next = mm.mmap[mm.mmap.indexOf(cur) + 1];
  if (next && can_merge(cur, next)) {
    cur.vm_end = next.vm_end;
    cur.anon_vma ??= next.anon_vma;
    vma_unlink(mm, next);
  }
  return cur;
}

/** True when no vma overlaps [start, end). */
export function range_is_free(mm: MmStruct, start: number, end: number): boolean {
  return find_vma_intersection(mm, start, end) === undefined;
}

/**
 * mm/mmap.c arch_get_unmapped_area_topdown + vm_unmapped_area: the start of a free area of
 * `npages`, or -ENOMEM. A usable hint is taken as is; otherwise the highest gap below
 * mmap_base that fits is used (x86: below DEFAULT_MAP_WINDOW unless the hint is above it).
 * `align` (pages, a power of two) aligns the start, as vm_unmapped_area's align_mask does.
 */
export function get_unmapped_area(mm: MmStruct, npages: number, hint: number, align = 1): number {
  if (npages > mm.task_size) return -ENOMEM;
  const above_window = hint > mm.map_window;
  const high = above_window ? mm.task_size : mm.map_window;
  if (hint > 0) {
    const addr = Math.ceil(hint / align) * align;
    if (addr >= mm.mmap_min_addr && addr + npages <= high && range_is_free(mm, addr, addr + npages))
      return addr;
  }
  const low = mm.mmap_min_addr;
  let top = above_window ? mm.task_size : mm.mmap_base;
  for (let i = mm.mmap.length - 1; ; i--) {
    const v = mm.mmap[i];
    if (!v || v.vm_end <= top) {
      const bottom = Math.max(low, v ? v.vm_end : low);
      const cand = Math.floor((top - npages) / align) * align;
      if (top - bottom >= npages && cand >= bottom) return cand;
    }
    if (!v) break;
    top = Math.min(top, v.vm_start);
    if (top <= low) break;
  }
  return -ENOMEM;
}

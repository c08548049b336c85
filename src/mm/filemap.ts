/**
 * The page cache and file I/O (mm/filemap.c, mm/shmem.c, fs/read_write.c).
 *
 * SIM: a file is a map of page values. Its pages are in the page cache (frames, mapped by
 * file mappings) or in its backing store (disk, or swap for shmem); a page cache page is
 * read from the store on first use and written back when reclaim drops it. pread/pwrite go
 * through the cache when the page is there, so they see and change mapped data.
 */
import { EINVAL } from '../sim/errno.js';
import { getSim } from '../sim/scheduler.js';
import type { AddressSpace, File, MmSystem, VmAreaStruct } from './mm_types.js';
import { alloc_page, put_page } from './page.js';

/**
 * filemap_fault / shmem_get_folio: the page-cache frame of `index`, read in when missing;
 * -ENOMEM when no frame is free.
 */
export function filemap_get_page(sys: MmSystem, mapping: AddressSpace, index: number): number {
  const have = mapping.i_pages.get(index);
  if (have !== undefined) return have;
  const pfn = alloc_page(sys, 'GFP_KERNEL', mapping.store.get(index) ?? 0);
  if (pfn < 0) return pfn;
  mapping.i_pages.set(index, pfn);
  sys.pagecache.set(pfn, { mapping, index });
  getSim().counters.add('pagecache_reads', 1);
  return pfn;
}

/**
 * filemap_remove_folio + writeback: drop a page-cache frame, keeping its value in the
 * store. The caller has unmapped it; the cache's reference is dropped here.
 */
export function filemap_remove_page(sys: MmSystem, pfn: number): void {
  const pc = sys.pagecache.get(pfn);
  if (!pc) return;
  pc.mapping.store.set(pc.index, sys.phys.read(pfn));
  pc.mapping.i_pages.delete(pc.index);
  sys.pagecache.delete(pfn);
  put_page(sys, pfn);
}

/** Replace a page-cache frame by another (folio_migrate_mapping for file pages). */
export function filemap_replace_page(sys: MmSystem, old: number, nw: number): void {
  const pc = sys.pagecache.get(old);
  if (!pc) return;
  pc.mapping.i_pages.set(pc.index, nw);
  sys.pagecache.delete(old);
  sys.pagecache.set(nw, pc);
}

/** The current value of a file page (cache, else store, else 0). */
function file_page_value(sys: MmSystem, mapping: AddressSpace, index: number): number {
  const pfn = mapping.i_pages.get(index);
  return pfn !== undefined ? sys.phys.read(pfn) : (mapping.store.get(index) ?? 0);
}

/**
 * pread: copy up to `npages` values from page `index` into `out`; returns the number of
 * pages read (short at end of file).
 */
export function file_pread(
  sys: MmSystem,
  file: File,
  index: number,
  npages: number,
  out: number[] | Uint32Array,
): number {
  const m = file.f_mapping;
  const n = Math.max(0, Math.min(npages, m.size - index));
  for (let i = 0; i < n; i++) out[i] = file_page_value(sys, m, index + i);
  getSim().account('file_read_pages', n, 'cpu_access_page');
  return n;
}

/**
 * pwrite: store `value` (or value(i)) in pages [index, index + npages), extending the file;
 * returns the number of pages written.
 */
export function file_pwrite(
  sys: MmSystem,
  file: File,
  index: number,
  npages: number,
  value: number | ((i: number) => number),
): number {
  const m = file.f_mapping;
  for (let i = 0; i < npages; i++) {
    const v = (typeof value === 'number' ? value : value(i)) >>> 0;
    const pfn = m.i_pages.get(index + i);
    if (pfn !== undefined) sys.phys.write(pfn, v);
    else m.store.set(index + i, v);
  }
  if (index + npages > m.size) m.size = index + npages;
  getSim().account('file_write_pages', npages, 'cpu_access_page');
  return npages;
}

/**
 * ftruncate growing a file (SIM: shrinking a file is not modelled; the new size must not be
 * smaller). Returns 0 or -EINVAL.
 */
export function file_extend(file: File, npages: number): number {
  if (npages < file.f_mapping.size) return -EINVAL;
  file.f_mapping.size = npages;
  return 0;
}

/**
 * shmem_evict_inode: shared anonymous memory lives in an unnamed shmem file that goes away
 * with its last mapping (fput of the last vma). Called after vmas are removed; frees the
 * file's pages once no vma of any mm maps it. Named files keep their page cache.
 */
export function shmem_release_unmapped(sys: MmSystem, removed: readonly VmAreaStruct[]): void {
  for (const vma of removed) {
    const file = vma.vm_file;
    if (!file?.f_mapping.shmem) continue;
    const mapped = sys.mms.some((mm) => mm?.mmap.some((v) => v.vm_file === file));
    if (mapped) continue;
    const m = file.f_mapping;
    for (const pfn of [...m.i_pages.values()]) {
      if (sys.rmap.count(pfn) > 0) continue; // still mapped through a pte (cannot happen)
      m.i_pages.delete(sys.pagecache.get(pfn)?.index ?? -1);
      sys.pagecache.delete(pfn);
      put_page(sys, pfn);
    }
    m.store.clear();
  }
}

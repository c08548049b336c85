/**
 * Kernel-initiated page movement: reclaim to swap (mm/vmscan.c shrink_folio_list) and
 * NUMA-balancing / compaction migration (mm/migrate.c migrate_pages), driven by the
 * scenario's `reclaim` and `migrate_pages` steps over a range of one mm.
 *
 * Both run in the calling task without mmap_lock, as kswapd and kcompactd do; reclaim holds
 * the fs_reclaim context (kswapd runs inside it), so notifier callbacks run under
 * fs_reclaim, the rmap lock and MMU_NOTIFIER_MAP. Each frame is isolated (referenced and
 * locked), unmapped everywhere with try_to_migrate (MMU_NOTIFY_CLEAR per mapping), then
 * its migration entries become swap entries (reclaim; page-cache pages are written back
 * and dropped) or point at a new frame holding the same value (migrate_pages).
 */
import { fs_reclaim_acquire, fs_reclaim_release } from '../sim/reclaim.js';
import { getSim } from '../sim/scheduler.js';
import { cond_resched } from '../sim/locks.js';
import type { Co } from '../sim/task.js';
import { filemap_remove_page, filemap_replace_page } from './filemap.js';
import type { MmStruct, MmSystem } from './mm_types.js';
import {
  alloc_page,
  folio_trylock,
  folio_unlock,
  get_page,
  is_zero_pfn,
  page_is_anon,
  put_page,
} from './page.js';
import { PTE_KIND_MASK, PTE_PRESENT, PTE_SPECIAL, PTE_SWAP } from './pgtable.js';
import {
  page_mapped_live,
  remove_migration_ptes,
  rmap_places,
  try_to_migrate,
} from './rmap_walk.js';

/** isolate_lru_folio: the system frames mapped in [start, end), referenced and locked. */
function isolate_range(mm: MmStruct, start: number, end: number): number[] {
  const sys = mm.sys;
  const seen = new Set<number>();
  const out: number[] = [];
  mm.pgt.for_each(start, end, (_vpn, d, pfn) => {
    if ((d & PTE_KIND_MASK) !== PTE_PRESENT || d & PTE_SPECIAL || is_zero_pfn(pfn)) return;
    if (seen.has(pfn) || sys.phys.kindOf(pfn) !== 'system') return;
    seen.add(pfn);
    if (!folio_trylock(sys, pfn)) return;
    get_page(sys, pfn);
    out.push(pfn);
  });
  return out;
}

function putback(sys: MmSystem, pfn: number): void {
  folio_unlock(sys, pfn);
  put_page(sys, pfn);
}

/**
 * Swap out (anonymous) or drop (page cache) the locked frame `pfn`; false when it stays
 * (swap full, or still mapped), in which case its mappings are restored.
 */
function* pageout(sys: MmSystem, pfn: number): Co<boolean> {
  yield* try_to_migrate(sys, pfn);
  const places = rmap_places(sys, pfn);
  const anon = page_is_anon(sys, pfn);
  const slot = anon ? sys.swap.alloc(sys.phys.read(pfn), 1) : 0;
  if (page_mapped_live(sys, pfn) > 0 || (anon && slot === 0)) {
    remove_migration_ptes(sys, pfn, pfn);
    if (slot) sys.swap.free(slot);
    return false;
  }
  for (const { mm, vpn } of places) {
    sys.rmap.remove(pfn, mm.id, vpn);
    if (anon) {
      sys.swap.dup(slot);
      mm.pgt.set(vpn, PTE_SWAP, slot);
    } else {
      mm.pgt.clear(vpn);
    }
  }
  if (anon)
    sys.swap.free(slot); // the swap cache's reference
  else filemap_remove_page(sys, pfn);
  getSim().account('pages_swapped_out', 1, 'swap_out_page');
  return true;
}

/** Reclaim the pages mapped in [start, start + npages) of mm; returns how many went. */
export function* reclaim(mm: MmStruct, start: number, npages: number): Co<number> {
  const sys = mm.sys;
  fs_reclaim_acquire('GFP_KERNEL');
  let done = 0;
  for (const pfn of isolate_range(mm, start, start + npages)) {
    if (yield* pageout(sys, pfn)) done++;
    putback(sys, pfn);
  }
  fs_reclaim_release('GFP_KERNEL');
  getSim().trace.emit('mm.reclaim', { mm: mm.id, start, npages, reclaimed: done });
  return done;
}

/** mm/migrate.c migrate_folio_move for one locked frame; false when it could not move. */
function* migrate_one(sys: MmSystem, src: number): Co<boolean> {
  const dst = alloc_page(sys, 'GFP_KERNEL');
  if (dst < 0) return false;
  yield* try_to_migrate(sys, src);
  if (page_mapped_live(sys, src) > 0) {
    remove_migration_ptes(sys, src, src);
    put_page(sys, dst);
    return false;
  }
  yield* cond_resched(); // the copy
  sys.phys.copy(src, dst);
  getSim().account('pages_migrated_numa', 1, 'cpu_page_migrate');
  const cached = sys.pagecache.has(src);
  if (cached) filemap_replace_page(sys, src, dst); // dst's reference becomes the cache's
  remove_migration_ptes(sys, src, dst);
  if (cached)
    put_page(sys, src); // the cache's old reference
  else put_page(sys, dst);
  return true;
}

/**
 * Move the pages mapped in [start, start + npages) of mm to other frames (NUMA balancing,
 * compaction); values are kept. Returns how many moved.
 */
export function* migrate_pages(mm: MmStruct, start: number, npages: number): Co<number> {
  const sys = mm.sys;
  let done = 0;
  for (const pfn of isolate_range(mm, start, start + npages)) {
    if (yield* migrate_one(sys, pfn)) done++;
    putback(sys, pfn);
  }
  getSim().trace.emit('mm.migrate_pages', { mm: mm.id, start, npages, migrated: done });
  return done;
}

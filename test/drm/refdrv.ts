/**
 * A minimal fault-driven reference driver on drm_gpusvm, the Xe pattern (xe_svm.c
 * __xe_svm_handle_pagefault, xe_svm_invalidate, xe_svm_garbage_collector; spec
 * drm-gpusvm.md §7.3-§7.5 and the DOC: Examples of drm_gpusvm.c), over a mirror device
 * with a page table of its own (as lib/test_hmm.c has): vpn -> frame.
 *
 * - GPU fault: driver lock for write; garbage collector first; find_or_insert; optional
 *   migration to the test VRAM (populate_mm); get_pages (-EOPNOTSUPP: evict and retry;
 *   -EFAULT / -EPERM: retry); bind under notifier_lock after pages_valid, else retry.
 * - Invalidate (notifier_lock for write): zap the PTEs of every bound range overlapping
 *   the event (whole ranges), then DMA-unmap each, and on UNMAP mark it and queue it.
 * - GC: evict partially unmapped ranges, unbind, drm_gpusvm_range_remove.
 * - A GPU access goes through the mirror PT without locks; the coherence rule of
 *   DESIGN.md is checked there: the entry's frame is the frame the CPU maps.
 */
import {
  EFAULT,
  EOPNOTSUPP,
  EPERM,
  RwSemaphore,
  down_write,
  trap,
  up_write,
  type Co,
} from '../../src/sim/index.js';
import {
  MMU_NOTIFY_UNMAP,
  is_device_private_page,
  mm_pte_pfn,
  mm_pte_writable,
  type MmStruct,
} from '../../src/mm/index.js';
import {
  IS_ERR,
  drm_gpusvm,
  drm_gpusvm_driver_set_lock,
  drm_gpusvm_fini,
  drm_gpusvm_for_each_range,
  drm_gpusvm_init,
  drm_gpusvm_notifier_end,
  drm_gpusvm_notifier_lock,
  drm_gpusvm_notifier_start,
  drm_gpusvm_notifier_unlock,
  drm_gpusvm_range_end,
  drm_gpusvm_range_evict,
  drm_gpusvm_range_find_or_insert,
  drm_gpusvm_range_get_pages,
  drm_gpusvm_range_pages_valid,
  drm_gpusvm_range_remove,
  drm_gpusvm_range_set_unmapped,
  drm_gpusvm_range_start,
  drm_gpusvm_range_unmap_pages,
  drm_pagemap_populate_mm,
  type drm_gpusvm_ctx,
  type drm_gpusvm_notifier,
  type drm_gpusvm_range,
} from '../../src/drm/index.js';
import type { Machine } from './fixture.js';
import type { TestVram } from './devmem.js';

export interface RefOptions {
  chunks: readonly number[];
  notifier_size: number;
  /** Migrate ranges to this VRAM on GPU faults (the migration: true option). */
  vram?: TestVram | null;
  timeslice_ms?: number;
  check_pages_threshold?: number;
  /** A known flaw for the explorer to find: bind without drm_gpusvm_range_pages_valid. */
  flaw_skip_pages_valid?: boolean;
}

export interface PtEntry {
  pfn: number;
  write: boolean;
}

/** Fault-handler retries before the run is declared a livelock. */
export const REF_RETRY_LIMIT = 2000;

export class RefDriver {
  readonly gpusvm = new drm_gpusvm();
  /** xe vm->lock: held for write by faults, the GC and teardown. */
  readonly lock = new RwSemaphore('ref->lock');
  /** The mirror page table. Changed under notifier_lock (bind: read, zap: write). */
  readonly pt = new Map<number, PtEntry>();
  /** Ranges with a binding (Xe tile_present). */
  readonly bound = new Set<drm_gpusvm_range>();
  /** Ranges queued by UNMAP, FIFO. */
  readonly gc: drm_gpusvm_range[] = [];
  readonly stats = { faults: 0, retries: 0, binds: 0, removed: 0, evicts: 0, accesses: 0 };
  readonly mm: MmStruct;

  constructor(
    readonly m: Machine,
    readonly o: RefOptions,
  ) {
    this.mm = m.mm;
    const ret = drm_gpusvm_init(
      this.gpusvm,
      'ref-svm',
      m.drm,
      m.mm,
      0,
      m.mm.task_size,
      o.notifier_size,
      { invalidate: (g, n, r) => this.invalidate(n, r.start, r.end, r.event, r) },
      o.chunks,
      o.chunks.length,
    );
    if (ret) throw new Error(`drm_gpusvm_init: ${ret}`);
    drm_gpusvm_driver_set_lock(this.gpusvm, this.lock);
  }

  private zap(range: drm_gpusvm_range): void {
    for (let a = drm_gpusvm_range_start(range); a < drm_gpusvm_range_end(range); a++)
      this.pt.delete(a);
    this.bound.delete(range);
  }

  /** xe_svm_invalidate: notifier_lock held for write. */
  private *invalidate(
    notifier: drm_gpusvm_notifier,
    mstart: number,
    mend: number,
    event: number,
    mmu_range: Parameters<typeof drm_gpusvm_range_set_unmapped>[1],
  ): Co {
    const start = Math.max(drm_gpusvm_notifier_start(notifier), mstart);
    const end = Math.min(drm_gpusvm_notifier_end(notifier), mend);
    const ranges = [...drm_gpusvm_for_each_range(notifier, start, end)];
    // event_begin: zap whole ranges that have a binding.
    for (const r of ranges) if (!r.pages.flags.unmapped && this.bound.has(r)) this.zap(r);
    // event_end: DMA-unmap; UNMAP marks the range and queues it for the GC.
    for (const r of ranges) {
      yield* drm_gpusvm_range_unmap_pages(this.gpusvm, r, { in_notifier: true });
      if (event !== MMU_NOTIFY_UNMAP) continue;
      drm_gpusvm_range_set_unmapped(r, mmu_range);
      if (!this.gc.includes(r)) this.gc.push(r);
    }
  }

  /** xe_svm_garbage_collector: driver lock held. */
  *garbage_collector(): Co {
    for (let r = this.gc.shift(); r; r = this.gc.shift()) {
      if (r.pages.flags.partial_unmap) {
        this.stats.evicts++;
        yield* drm_gpusvm_range_evict(this.gpusvm, r);
      }
      yield* drm_gpusvm_notifier_lock(this.gpusvm);
      if (this.bound.has(r)) this.zap(r);
      drm_gpusvm_notifier_unlock(this.gpusvm);
      yield* drm_gpusvm_range_remove(this.gpusvm, r);
      this.stats.removed++;
    }
  }

  /** Commit the range's DMA addresses to the mirror PT (notifier_lock held, pages valid). */
  private bind(range: drm_gpusvm_range, write: boolean): void {
    const start = drm_gpusvm_range_start(range);
    const dma = range.pages.dma_addr ?? [];
    let i = 0;
    for (const a of dma) {
      if (i >= drm_gpusvm_range_end(range) - start) break;
      for (let k = 0; k < 2 ** a.order; k++) this.pt.set(start + i + k, { pfn: a.addr + k, write });
      i += 2 ** a.order;
    }
    this.bound.add(range);
    this.stats.binds++;
  }

  private ctx(): drm_gpusvm_ctx {
    const vram = this.o.vram;
    return {
      device_private_page_owner: vram ? vram.owner : null,
      devmem_possible: !!vram,
      check_pages_threshold: this.o.check_pages_threshold ?? 0,
      timeslice_ms: this.o.timeslice_ms ?? 0,
    };
  }

  /** __xe_svm_handle_pagefault (retry loop), driver lock held for write. */
  private *handle_fault(addr: number): Co<number> {
    const ctx = this.ctx();
    const vram = this.o.vram;
    let efault = 0;
    for (let tries = 0; ; tries++) {
      if (tries > REF_RETRY_LIMIT) trap('livelock', `GPU fault at ${addr} retried ${tries} times`);
      if (tries) this.stats.retries++;
      yield* this.garbage_collector(); // always process UNMAPs first
      const range = yield* drm_gpusvm_range_find_or_insert(
        this.gpusvm,
        addr,
        0,
        this.mm.task_size,
        ctx,
      );
      if (IS_ERR(range)) {
        if (range === -EPERM && !ctx.read_only) {
          ctx.read_only = true; // amdgpu V1: a read-only CPU vma maps read-only
          continue;
        }
        return range;
      }
      const f = range.pages.flags;
      if (vram && f.migrate_devmem && !f.has_devmem_pages && !f.unmapped) {
        const s = drm_gpusvm_range_start(range);
        const e = drm_gpusvm_range_end(range);
        // Best effort: on failure the pages are mapped where they are.
        yield* drm_pagemap_populate_mm(vram.dpagemap, s, e, this.mm, ctx.timeslice_ms ?? 0);
      }
      const err = yield* drm_gpusvm_range_get_pages(this.gpusvm, range, ctx);
      if (err === -EOPNOTSUPP) {
        yield* drm_gpusvm_range_evict(this.gpusvm, range);
        continue;
      }
      if (err === -EPERM && !ctx.read_only) {
        ctx.read_only = true;
        continue;
      }
      if (err === -EFAULT && !range.pages.flags.unmapped && ++efault > 3) return err;
      if (err === -EFAULT || err === -EPERM) continue; // CPU mappings changed
      if (err) return err;
      yield* drm_gpusvm_notifier_lock(this.gpusvm);
      if (!this.o.flaw_skip_pages_valid && !drm_gpusvm_range_pages_valid(this.gpusvm, range)) {
        drm_gpusvm_notifier_unlock(this.gpusvm); // -EAGAIN
        continue;
      }
      this.bind(range, !ctx.read_only);
      drm_gpusvm_notifier_unlock(this.gpusvm);
      return 0;
    }
  }

  *gpu_fault(addr: number): Co<number> {
    this.stats.faults++;
    yield* down_write(this.lock);
    try {
      return yield* this.handle_fault(addr);
    } finally {
      up_write(this.lock);
    }
  }

  /**
   * The coherence rule of DESIGN.md for one entry (trap `stale-gpu-mapping`), plus: a
   * writable entry to a system frame needs a writable CPU pte. Not checked for device
   * pages: hmm_range_fault reports the owner's device-private pages without a write fault
   * and drm_gpusvm drops HMM_PFN_WRITE, so a range partly made read-only is rebound
   * writable (see get-pages.test.ts).
   */
  check_entry(vpn: number, e: PtEntry): void {
    const cpu = mm_pte_pfn(this.mm, vpn);
    if (e.pfn !== cpu)
      trap('stale-gpu-mapping', `GPU maps page ${vpn} to frame ${e.pfn}, CPU to ${cpu}`);
    if (e.write && !is_device_private_page(this.m.sys, e.pfn) && !mm_pte_writable(this.mm, vpn))
      trap('stale-gpu-mapping', `GPU may write page ${vpn}, which the CPU maps read-only`);
  }

  check_all(): void {
    for (const [vpn, e] of this.pt) this.check_entry(vpn, e);
  }

  /** A GPU access through the mirror PT, faulting as needed: the value or a negative errno. */
  *gpu_read(vpn: number): Co<number> {
    for (let tries = 0; ; tries++) {
      const e = this.pt.get(vpn);
      if (e) {
        this.check_entry(vpn, e);
        this.stats.accesses++;
        return this.m.sys.phys.read(e.pfn);
      }
      if (tries > 100) trap('livelock', `GPU access to ${vpn} faulted ${tries} times`);
      const err = yield* this.gpu_fault(vpn);
      if (err) return err;
    }
  }

  /** Device close: GC, then drm_gpusvm_fini under the driver lock. */
  *fini(): Co {
    yield* down_write(this.lock);
    yield* this.garbage_collector();
    yield* drm_gpusvm_fini(this.gpusvm);
    this.pt.clear();
    this.bound.clear();
    up_write(this.lock);
  }
}

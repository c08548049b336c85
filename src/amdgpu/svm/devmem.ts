/**
 * VRAM as drm_pagemap device memory for the SVM `migration: true` option (clarifications
 * §6; drm-gpusvm.md §6; the v8 series' migration patches by Junhua Shen, modelled on Xe's
 * xe_svm.c: xe_devm_add, xe_drm_pagemap_populate_mm, xe_svm_copy, xe_svm_bo_evict).
 *
 * Each GPU gets a MEMORY_DEVICE_PRIVATE dev_pagemap over its VRAM region (owner = the
 * amdgpu_device, as Xe's xe_svm_devm_owner) whose ops are drm_pagemap_pagemap_ops_get(),
 * and a drm_pagemap whose populate_mm allocates one VRAM allocation of the range's size
 * from the VRAM manager and migrates into it (drm_pagemap_migrate_to_devmem, all or
 * nothing). A CPU fault on a VRAM page migrates the allocation window back (drm_pagemap's
 * migrate_to_ram); amdgpu_svm_migrate_to_ram evicts whole allocations.
 *
 * Nothing here is wired into a design: a design with `migration: true` calls
 * amdgpu_svm_devmem_init per GPU at init, amdgpu_svm_migrate_to_vram before mapping
 * (prefetch, GPU fault with a VRAM preferred location), maps the result with get_pages
 * (device_private_page_owner = amdgpu_svm_devmem_owner) and amdgpu_svm_devmem_fini at
 * teardown.
 *
 * Two page selections between GPUs:
 * - v6.18 (the RFC's base, the default): each GPU's pagemap has its own owner, and
 *   drm_pagemap_migrate_to_devmem leaves MIGRATE_VMA_SELECT_DEVICE_PRIVATE out, so a page in
 *   another GPU's VRAM is never collected (-EBUSY: the caller evicts it to system memory
 *   first) and hmm_range_fault migrates it to RAM before another GPU maps it; device_map
 *   refuses a foreign device.
 * - the newer multi-device drm_pagemap (`peer`): the GPUs of the machine form one peer group
 *   with one pagemap owner (Xe's drm_pagemap_acquire_owner, an XGMI hive in KFD terms,
 *   kfd-svm.md "Hive owner"); migration selects device-private pages of that owner with
 *   source_peer_migrates (the source GPU copies straight into the destination VRAM), and
 *   device_map gives a peer a P2P address, so a GPU maps a peer's VRAM in place.
 *
 * SIM: VRAM frames are freed one by one by their last put_page (drm_pagemap consumes the
 * reference amdgpu_vram_mgr_alloc gives each frame), not by devmem_release; devmem_release
 * only retires the allocation and counts vram_pages_freed. Copies are instantaneous frame
 * value copies charged migrate_byte per 4 KiB page; the per-page migrated_page_to_vram /
 * _to_ram costs and migrated_pages_* counters are charged by mm/migrate_device already.
 * Counters (scope: GPU name): vram_pages_allocated (vram.ts), vram_pages_freed,
 * svm_vram_evictions (allocations evicted by the -ENOSPC / -EBUSY retry).
 */
import {
  DRM_INTERCONNECT_DRIVER,
  drm_pagemap,
  drm_pagemap_devmem,
  drm_pagemap_devmem_init,
  drm_pagemap_evict_to_ram,
  drm_pagemap_init,
  drm_pagemap_migrate_to_devmem,
  drm_pagemap_page_zdd,
  drm_pagemap_pagemap_ops_get,
  drm_pagemap_populate_mm,
  drm_pagemap_put,
  type drm_device,
  type drm_pagemap_addr,
  type drm_pagemap_devmem_ops,
  type drm_pagemap_migrate_details,
  type drm_pagemap_ops,
} from '../../drm/index.js';
import { DMA_MAPPING_ERROR, DmaDevice, type DmaDataDirection } from '../../dma/mapping.js';
import {
  DevPagemap,
  PTE_DEVICE_PRIVATE,
  memremap_register,
  mm_pte_kind,
  mm_pte_pfn,
  mmap_read_lock,
  mmap_read_unlock,
  memunmap_pages,
  type MmStruct,
  type MmSystem,
} from '../../mm/index.js';
import { EBUSY, ENODEV, ENOMEM, ENOSPC, cond_resched, getSim, type Co } from '../../sim/index.js';
import type { amdgpu_device } from '../amdgpu.js';
import { amdgpu_vram_mgr_alloc, amdgpu_vram_mgr_owns } from '../vram.js';

/** AMDGPU_INTERCONNECT_VRAM (v8 patch 07): the GPU's own VRAM. */
export const AMDGPU_INTERCONNECT_VRAM = DRM_INTERCONNECT_DRIVER;
/** AMDGPU_INTERCONNECT_P2P (v8 patch 07): a peer GPU's VRAM over the interconnect. */
export const AMDGPU_INTERCONNECT_P2P = AMDGPU_INTERCONNECT_VRAM + 1;

/**
 * struct drm_pagemap_owner of the newest drm_pagemap (drm-gpusvm.md §7.8): the pgmap owner
 * shared by a group of devices with a fast interconnect to each other. `devs` are the
 * members' DMA devices, which device_map serves with P2P addresses.
 */
export class amdgpu_svm_peer_owner {
  readonly devs = new Set<DmaDevice>();
}

/**
 * One VRAM allocation (Xe: the xe_bo of xe_drm_pagemap_populate_mm). `pfns` are its frames
 * once populate_devmem_pfn ran; `start`/`end` the virtual range it was created for.
 */
export class amdgpu_svm_devmem extends drm_pagemap_devmem {
  pfns: number[] | null = null;
  constructor(
    readonly vram: amdgpu_svm_vram,
    readonly start: number,
    readonly end: number,
    /** Creation order on this GPU: the eviction retry picks the lowest (oldest). */
    readonly seq: number,
  ) {
    super();
  }
}

/** Per-GPU device memory (Xe: xe_vram_region's pagemap + dpagemap). */
export class amdgpu_svm_vram {
  readonly pgmap: DevPagemap;
  readonly dpagemap = new drm_pagemap();
  /** Allocations not yet released (their last page not yet freed), oldest first. */
  readonly allocations: amdgpu_svm_devmem[] = [];
  /** Live device_map mappings. */
  device_mapped = 0;
  /** drm_pagemap_migrate_details for populate_mm (the peer selection sets two of them). */
  readonly mdetails: drm_pagemap_migrate_details;
  /** After amdgpu_svm_devmem_fini: populate_mm gives -ENODEV. */
  removed = false;
  next_seq = 0;
  readonly devmem_ops: drm_pagemap_devmem_ops;

  constructor(
    readonly adev: amdgpu_device,
    readonly sys: MmSystem,
    readonly drm: drm_device,
    /** The peer group (newer selection), or null: the pagemap's owner is adev alone. */
    readonly peer: amdgpu_svm_peer_owner | null,
  ) {
    this.pgmap = new DevPagemap(
      'MEMORY_DEVICE_PRIVATE',
      drm_pagemap_pagemap_ops_get(sys),
      peer ?? adev,
      `vram:${adev.name}`,
    );
    // Newest Xe xe_drm_pagemap_populate_mm: source_peer_migrates; and the selection of
    // device-private pages the v6.18 code leaves out (drm_pagemap_migrate.ts).
    this.mdetails = peer ? { select_device_private: true, source_peer_migrates: true } : {};
    this.devmem_ops = amdgpu_svm_devmem_ops(this);
  }
}

const registry = new WeakMap<MmSystem, Map<amdgpu_device, amdgpu_svm_vram>>();
/** One peer group per machine (Xe: the global xe_owner_list, every device interconnected). */
const peer_owners = new WeakMap<MmSystem, amdgpu_svm_peer_owner>();

/** The device memory of `adev` on machine `sys`, if amdgpu_svm_devmem_init ran. */
export function amdgpu_svm_devmem_get(
  sys: MmSystem,
  adev: amdgpu_device,
): amdgpu_svm_vram | undefined {
  return registry.get(sys)?.get(adev);
}

/**
 * The pgmap owner of `adev`'s VRAM, which its mapping contexts pass as
 * device_private_page_owner (Xe xe_svm_private_page_owner): the peer group with the newer
 * selection, else adev itself (xe_svm_devm_owner). adev when it has no device memory.
 */
export function amdgpu_svm_devmem_owner(sys: MmSystem, adev: amdgpu_device): object {
  return amdgpu_svm_devmem_get(sys, adev)?.pgmap.owner ?? adev;
}

/**
 * v8 amdgpu_svm migration init, after Xe xe_devm_add (xe_svm.c): a MEMORY_DEVICE_PRIVATE
 * dev_pagemap over the GPU's VRAM (owner = adev, xe_svm_devm_owner; with `peer`, the
 * machine's peer group as drm_pagemap_acquire_owner would give) with
 * drm_pagemap_pagemap_ops_get(), and a drm_pagemap over it. SIM: the VRAM region already
 * exists in the frame store (vram.ts), so it is registered rather than reserved;
 * `drm` should be the design's drm_of(adev) so device_map recognises the GPU's own DMA
 * device. Idempotent per (machine, GPU).
 */
export function amdgpu_svm_devmem_init(
  adev: amdgpu_device,
  sys: MmSystem,
  drm: drm_device = { name: adev.name, dev: new DmaDevice(adev.name, adev.phys) },
  peer = false,
): amdgpu_svm_vram {
  let per = registry.get(sys);
  if (!per) registry.set(sys, (per = new Map<amdgpu_device, amdgpu_svm_vram>()));
  const old = per.get(adev);
  if (old) return old;
  let owner: amdgpu_svm_peer_owner | null = null;
  if (peer) {
    owner = peer_owners.get(sys) ?? new amdgpu_svm_peer_owner();
    peer_owners.set(sys, owner);
    owner.devs.add(drm.dev);
  }
  const vram = new amdgpu_svm_vram(adev, sys, drm, owner);
  memremap_register(sys, vram.pgmap, adev.vram.region);
  drm_pagemap_init(vram.dpagemap, vram.pgmap, drm, amdgpu_svm_pagemap_ops(vram), sys);
  per.set(adev, vram);
  return vram;
}

/**
 * Xe xe_devm_remove / drm_pagemap_put at device fini: drop the drm_pagemap and unregister
 * the dev_pagemap (memunmap_pages traps `leak` if VRAM frames are still in use).
 */
export function amdgpu_svm_devmem_fini(sys: MmSystem, adev: amdgpu_device): void {
  const vram = registry.get(sys)?.get(adev);
  if (!vram) return;
  vram.removed = true;
  registry.get(sys)?.delete(adev);
  vram.peer?.devs.delete(vram.drm.dev);
  drm_pagemap_put(vram.dpagemap);
  memunmap_pages(sys, vram.pgmap);
}

/** Xe xe_drm_pagemap_ops (xe_svm.c): device_map, device_unmap, populate_mm, destroy. */
function amdgpu_svm_pagemap_ops(vram: amdgpu_svm_vram): drm_pagemap_ops {
  return {
    // xe_drm_pagemap_device_map: own device -> DPA with XE_INTERCONNECT_VRAM; another
    // device -> DMA_MAPPING_ERROR in v6.18 (get_pages then fails -EFAULT), a P2P address
    // for a member of the peer group in the newest code (XE_INTERCONNECT_P2P). SIM: the
    // P2P address is the frame itself, as the hive's VRAM is one address space.
    device_map(dp, dev, page, order, dir: DmaDataDirection): drm_pagemap_addr {
      const proto = dev === dp.drm.dev ? AMDGPU_INTERCONNECT_VRAM : AMDGPU_INTERCONNECT_P2P;
      const reachable = proto === AMDGPU_INTERCONNECT_VRAM || vram.peer?.devs.has(dev) === true;
      if (!reachable || !amdgpu_vram_mgr_owns(vram.adev.vram, page))
        return { addr: DMA_MAPPING_ERROR, proto, order, dir };
      vram.device_mapped++;
      return { addr: page, proto, order, dir };
    },
    // xe_drm_pagemap_device_unmap: nothing to undo for local VRAM (a P2P mapping would
    // dma_unmap_resource). SIM: counts mappings.
    device_unmap(_dp, _dev, addr) {
      if (addr.addr !== DMA_MAPPING_ERROR) vram.device_mapped--;
    },
    populate_mm: (dp, start, end, mm, timeslice_ms) =>
      amdgpu_svm_populate_mm(vram, dp, start, end, mm, timeslice_ms),
    // Xe: the drm_pagemap cache / shrinker frees it. SIM: nothing to free.
    destroy() {},
  };
}

/**
 * Xe xe_drm_pagemap_populate_mm (xe_svm.c): -ENODEV once the device is gone; a VRAM
 * allocation of end - start pages, drm_pagemap_devmem_init, drm_pagemap_migrate_to_devmem
 * (the reference is consumed even on error). SIM: VRAM is allocated by populate_devmem_pfn
 * (the BO's backing store), so VRAM exhaustion surfaces there as -ENOSPC, before any copy
 * (Xe fails the BO creation first; same result, and a range already in this VRAM still
 * returns 0 without allocating).
 */
function* amdgpu_svm_populate_mm(
  vram: amdgpu_svm_vram,
  dp: drm_pagemap,
  start: number,
  end: number,
  mm: MmStruct,
  timeslice_ms: number,
): Co<number> {
  if (vram.removed) return -ENODEV; // drm_dev_enter failed
  const devmem = new amdgpu_svm_devmem(vram, start, end, vram.next_seq++);
  drm_pagemap_devmem_init(devmem, vram.drm.dev, mm, vram.devmem_ops, dp, end - start, null);
  vram.allocations.push(devmem);
  return yield* drm_pagemap_migrate_to_devmem(devmem, mm, start, end, {
    ...vram.mdetails,
    timeslice_ms,
  });
}

/** Xe xe_svm_devmem_ops: populate_devmem_pfn, copy_to_devmem, copy_to_ram, devmem_release. */
function amdgpu_svm_devmem_ops(vram: amdgpu_svm_vram): drm_pagemap_devmem_ops {
  const phys = vram.sys.phys;
  const name = vram.adev.name;
  // xe_svm_copy: one GPU copy per physically contiguous run. SIM: migrate_byte per byte.
  function* copy(
    pages: readonly number[],
    addrs: readonly (drm_pagemap_addr | undefined)[],
    npages: number,
    to_vram: boolean,
  ): Co<number> {
    let n = 0;
    for (let i = 0; i < npages; i++) {
      const a = addrs[i];
      const p = pages[i] as number;
      if (!a || p < 0) continue;
      if (to_vram) phys.copy(a.addr, p);
      else phys.copy(p, a.addr);
      n++;
    }
    getSim().charge(n * 4096 * getSim().costs.get('migrate_byte'));
    yield* cond_resched();
    return 0;
  }
  return {
    // xe_svm_populate_devmem_pfn: the BO's buddy blocks as device pfns.
    *populate_devmem_pfn(devmem, npages, pfn) {
      const d = devmem as amdgpu_svm_devmem;
      if (d.pfns) {
        // SIM: eviction; frames no longer holding this allocation's data are -1.
        d.pfns.forEach((p, i) => {
          pfn[i] = drm_pagemap_page_zdd(vram.sys, p)?.devmem_allocation === d ? p : -1;
        });
        return 0;
      }
      const out: number[] = [];
      const err = amdgpu_vram_mgr_alloc(vram.adev.vram, npages, out);
      if (err) return err;
      d.pfns = out;
      out.forEach((p, i) => (pfn[i] = p));
      yield* cond_resched();
      return 0;
    },
    copy_to_devmem: (pages, addrs, npages) => copy(pages, addrs, npages, true),
    copy_to_ram: (pages, addrs, npages) => copy(pages, addrs, npages, false),
    // xe_svm_devmem_release: xe_bo_put_async + PM put. SIM: the frames are already free.
    devmem_release(devmem) {
      const d = devmem as amdgpu_svm_devmem;
      const i = vram.allocations.indexOf(d);
      if (i >= 0) vram.allocations.splice(i, 1);
      if (d.pfns) getSim().counters.add('vram_pages_freed', d.pfns.length, name);
    },
  };
}

/** Allocations of `vram` with device pages, overlapping [start, end) of mm. */
function overlapping(vram: amdgpu_svm_vram, mm: MmStruct, start: number, end: number) {
  return vram.allocations.filter((d) => d.pfns && d.mm === mm && d.start < end && start < d.end);
}

/**
 * Every page of [start, end) already in this VRAM? (Xe checks the range's
 * has_devmem_pages / dpagemap before populate_mm; SIM: read from the CPU page table, since
 * v6.18's migrate_to_devmem does not collect own device-private pages and would answer
 * -EBUSY rather than "Migration wasn't necessary".)
 */
function* amdgpu_svm_range_in_vram(
  vram: amdgpu_svm_vram,
  mm: MmStruct,
  start: number,
  end: number,
): Co<boolean> {
  yield* mmap_read_lock(mm);
  let all = true;
  for (let a = start; all && a < end; a++) {
    all =
      mm_pte_kind(mm, a) === PTE_DEVICE_PRIVATE &&
      amdgpu_vram_mgr_owns(vram.adev.vram, mm_pte_pfn(mm, a));
  }
  mmap_read_unlock(mm);
  return all;
}

/** Evict each allocation (drm_pagemap_evict_to_ram); the first error, else 0. */
function* evict_all(list: readonly amdgpu_svm_devmem[]): Co<number> {
  let err = 0;
  for (const d of list) {
    getSim().counters.add('svm_vram_evictions', 1, d.vram.adev.name);
    const r = yield* drm_pagemap_evict_to_ram(d);
    err ||= r;
  }
  return err;
}

/**
 * v8 amdgpu_svm_range_migrate_to_vram (rfc-series.md §5.4): drm_pagemap_populate_mm of
 * [start, start + npages) into adev's VRAM, with a single retry that first evicts:
 * - -ENOSPC / -ENOMEM (VRAM full): evict this GPU's oldest allocation (Xe: TTM evicts a BO,
 *   xe_svm_bo_evict -> drm_pagemap_evict_to_ram);
 * - -EBUSY (conflicting device pages: another GPU's, unselected without
 *   select_device_private, or a fragmented own allocation): evict every allocation of any
 *   GPU overlapping the range, so the move bounces through system memory.
 * Nothing to evict, or a second failure, returns the error: the caller maps in place in
 * system memory (Xe/v8 fallback), never looping. Called without mmap_lock.
 */
export function* amdgpu_svm_migrate_to_vram(
  adev: amdgpu_device,
  mm: MmStruct,
  start: number,
  npages: number,
  timeslice_ms: number,
): Co<number> {
  const vram = amdgpu_svm_devmem_get(mm.sys, adev);
  if (!vram) return -ENODEV; // migration not set up on this GPU
  const end = start + npages;
  if (yield* amdgpu_svm_range_in_vram(vram, mm, start, end)) return 0;
  let err = yield* drm_pagemap_populate_mm(vram.dpagemap, start, end, mm, timeslice_ms);
  if (!err) return 0;
  let victims: amdgpu_svm_devmem[] = [];
  if (err === -ENOSPC || err === -ENOMEM) {
    // SIM: no eviction when even an empty VRAM could not hold the range.
    const oldest = vram.allocations.find((d) => d.pfns);
    if (oldest && npages <= vram.adev.vram.size) victims = [oldest];
  } else if (err === -EBUSY) {
    for (const v of registry.get(mm.sys)?.values() ?? []) {
      victims.push(...overlapping(v, mm, start, end));
    }
  }
  if (!victims.length) return err;
  yield* evict_all(victims);
  err = yield* drm_pagemap_populate_mm(vram.dpagemap, start, end, mm, timeslice_ms);
  return err;
}

/**
 * v8 amdgpu_svm_range_migrate_to_ram, by allocation (drm_pagemap_evict_to_ram, as
 * drm_gpusvm_range_evict would for a range): every allocation of `adev` (null: every GPU)
 * overlapping [start, start + npages) of mm goes back to system memory whole. 0 or the
 * first eviction error.
 */
export function* amdgpu_svm_migrate_to_ram(
  adev: amdgpu_device | null,
  mm: MmStruct,
  start: number,
  npages: number,
): Co<number> {
  const list: amdgpu_svm_devmem[] = [];
  for (const [a, v] of registry.get(mm.sys) ?? []) {
    if (!adev || a === adev) list.push(...overlapping(v, mm, start, start + npages));
  }
  return yield* evict_all(list);
}

/**
 * Leak check (oracle-style): VRAM allocations still alive and VRAM frames still in use on
 * every GPU with device memory on machine `sys`. Empty when all VRAM was returned.
 */
export function amdgpu_svm_devmem_leaks(sys: MmSystem): string[] {
  const left: string[] = [];
  for (const [adev, vram] of registry.get(sys) ?? []) {
    for (const d of vram.allocations) {
      left.push(`${adev.name}: VRAM allocation [${d.start}, ${d.end}) of ${d.mm.name} alive`);
    }
    if (adev.vram.used > 0) left.push(`${adev.name}: ${adev.vram.used} VRAM frames in use`);
    if (vram.device_mapped > 0) left.push(`${adev.name}: ${vram.device_mapped} device_map live`);
  }
  return left;
}

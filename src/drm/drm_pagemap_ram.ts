/**
 * Migration back to system memory (drivers/gpu/drm/drm_pagemap.c; spec drm-gpusvm.md §6.4,
 * §6.5): the dev_pagemap ops of every drm_pagemap (migrate_to_ram on a CPU fault, folio
 * free) and drm_pagemap_evict_to_ram for device-memory eviction.
 *
 * A CPU fault migrates the whole allocation window [ALIGN_DOWN(addr, size),
 * ALIGN(addr + 1, size)) clipped to the vma, but only pages of the faulting page's
 * allocation (same zdd); before the allocation's timeslice expires it migrates nothing and
 * the CPU faults again.
 */
import { EBUSY, EFAULT, ENOMEM } from '../sim/errno.js';
import { cond_resched } from '../sim/locks.js';
import { might_alloc } from '../sim/reclaim.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import { WARN_ON } from '../sim/trap.js';
import { completion_done } from '../sim/wait.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  VM_FAULT_SIGBUS,
  migrate_pfn,
  migrate_pfn_to_page,
} from '../mm/consts.js';
import { mmput } from '../mm/fork.js';
import {
  MigrateVma,
  migrate_device_finalize,
  migrate_device_pages,
  migrate_device_pfns,
  migrate_vma_finalize,
  migrate_vma_pages,
  migrate_vma_setup,
} from '../mm/migrate_device.js';
import { mmget_not_zero } from '../mm/mm_struct.js';
import type { DevPagemapOps, MmSystem, VmAreaStruct, VmFault } from '../mm/mm_types.js';
import { alloc_page, folio_trylock, page_pgmap, put_page } from '../mm/page.js';
import {
  drm_pagemap_migrate_map_pages,
  drm_pagemap_migrate_unmap_pages,
  drm_pagemap_migration_unlock_put_pages,
  drm_pagemap_page_free,
  drm_pagemap_page_zdd,
} from './drm_pagemap.js';
import type { drm_pagemap_addr, drm_pagemap_devmem } from './drm_pagemap_types.js';
import './events.js';

/**
 * drm_pagemap.c drm_pagemap_migrate_populate_ram_pfn: a locked RAM page for every
 * collected source page (of the fault page's zdd when there is one); counts them in
 * mpages.n. 0 or -ENOMEM (every page allocated so far is put back).
 */
function drm_pagemap_migrate_populate_ram_pfn(
  sys: MmSystem,
  fault_page: number,
  npages: number,
  mpages: { n: number },
  src_mpfn: Float64Array,
  mpfn: Float64Array,
): number {
  const fault_zdd = fault_page >= 0 ? drm_pagemap_page_zdd(sys, fault_page) : undefined;
  for (let i = 0; i < npages; i++) {
    if (!((src_mpfn[i] as number) & MIGRATE_PFN_MIGRATE)) continue;
    const src_page = migrate_pfn_to_page(src_mpfn[i] as number);
    if (src_page < 0) continue;
    if (fault_page >= 0 && drm_pagemap_page_zdd(sys, src_page) !== fault_zdd) continue;
    // GFP_HIGHUSER may enter reclaim like GFP_KERNEL.
    const page = alloc_page(sys, 'GFP_KERNEL');
    if (page < 0) {
      // free_pages:
      for (let k = 0; k < npages; k++) {
        const p = migrate_pfn_to_page(mpfn[k] as number);
        if (p < 0) continue;
        put_page(sys, p);
        mpfn[k] = 0;
      }
      return -ENOMEM;
    }
    mpfn[i] = migrate_pfn(page);
  }
  for (let i = 0; i < npages; i++) {
    const page = migrate_pfn_to_page(mpfn[i] as number);
    if (page < 0) continue;
    WARN_ON(!folio_trylock(sys, page), `new RAM page ${page} locked`);
    mpages.n++;
  }
  return 0;
}

/**
 * drm_pagemap.c __drm_pagemap_migrate_to_ram: migrate the allocation window of
 * the faulting device page back to RAM. 0 (also: timeslice not over, raced) or -errno.
 */
function* __drm_pagemap_migrate_to_ram(
  vas: VmAreaStruct,
  page: number,
  fault_addr: number,
  size: number,
): Co<number> {
  const sys = vas.vm_mm.sys;
  const sim = getSim();
  const zdd = drm_pagemap_page_zdd(sys, page);
  const devmem = zdd?.devmem_allocation;
  if (!zdd || !devmem) return -EFAULT; // SIM: not a drm_pagemap page (the C oopses)
  const name = zdd.dpagemap.drm.name;
  if (sim.now() < devmem.timeslice_expiration) {
    sim.counters.add('pagemap_timeslice_refusals', 1, name);
    sim.trace.emit('drm.pagemap_timeslice_refused', {
      drm: name,
      vpn: fault_addr,
      until: devmem.timeslice_expiration,
    });
    return 0;
  }
  let start = Math.floor(fault_addr / size) * size;
  let end = Math.ceil((fault_addr + 1) / size) * size;
  // Corner where the vma has been partially unmapped.
  if (start < vas.vm_start) start = vas.vm_start;
  if (end > vas.vm_end) end = vas.vm_end;
  const npages = end - start;
  might_alloc('GFP_KERNEL'); // buf
  const migrate = new MigrateVma({
    vma: vas,
    start,
    end,
    pgmap_owner: page_pgmap(sys, page)?.owner ?? null,
    flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE | MIGRATE_VMA_SELECT_DEVICE_COHERENT,
    fault_page: page,
  });
  const pagemap_addr: (drm_pagemap_addr | undefined)[] = new Array<undefined>(npages);
  let err = yield* migrate_vma_setup(migrate);
  if (err || !migrate.cpages) return trace_ram(name, start, end, migrate.cpages, err); // raced
  sim.account('pagemap_migrations_to_ram', 1, 'pagemap_migrate_call', name);
  const ops = devmem.ops;
  const dev = devmem.dev;
  const mpages = { n: 0 };
  err = drm_pagemap_migrate_populate_ram_pfn(sys, page, npages, mpages, migrate.src, migrate.dst);
  if (!err)
    err = drm_pagemap_migrate_map_pages(
      sys,
      dev,
      zdd.dpagemap,
      pagemap_addr,
      migrate.dst,
      npages,
      'DMA_FROM_DEVICE',
      {},
    );
  if (!err && ops.copy_to_ram) {
    const pages: number[] = [];
    for (let i = 0; i < npages; ++i) pages.push(migrate_pfn_to_page(migrate.src[i] as number));
    err = yield* ops.copy_to_ram(pages, pagemap_addr, npages, null);
  }
  // err_finalize:
  if (err) drm_pagemap_migration_unlock_put_pages(sys, npages, migrate.dst);
  yield* migrate_vma_pages(migrate);
  // SIM: upstream unmaps after finalize, and finalize frees a destination page that failed
  // to migrate while the device still has it DMA-mapped (the model's DMA-API check traps
  // that); unmapping first keeps the same result without the window. A finding for upstream.
  drm_pagemap_migrate_unmap_pages(sys, dev, pagemap_addr, migrate.dst, npages, 'DMA_FROM_DEVICE');
  migrate_vma_finalize(migrate);
  return trace_ram(name, start, end, migrate.cpages, err);
}

function trace_ram(drm: string, start: number, end: number, cpages: number, ret: number) {
  getSim().trace.emit('drm.pagemap_migrate_to_ram', { drm, start, end, cpages, ret });
  return ret;
}

/**
 * drm_pagemap.c drm_pagemap_migrate_to_ram (dev_pagemap_ops.migrate_to_ram): the whole
 * allocation is the window. VM_FAULT_SIGBUS on failure, else 0.
 */
function* drm_pagemap_migrate_to_ram(vmf: VmFault): Co<number> {
  const sys = vmf.vma.vm_mm.sys;
  const zdd = drm_pagemap_page_zdd(sys, vmf.page);
  const size = zdd?.devmem_allocation?.size ?? 1;
  const err = yield* __drm_pagemap_migrate_to_ram(vmf.vma, vmf.page, vmf.address, size);
  return err ? VM_FAULT_SIGBUS : 0;
}

const pagemap_ops = new WeakMap<MmSystem, DevPagemapOps>();

/**
 * drm_pagemap.c drm_pagemap_pagemap_ops_get: the dev_pagemap_ops a driver gives the
 * dev_pagemap of its device memory. SIM: one ops object per machine, since page_free
 * receives only a frame number.
 */
export function drm_pagemap_pagemap_ops_get(sys: MmSystem): DevPagemapOps {
  let ops = pagemap_ops.get(sys);
  if (!ops) {
    ops = {
      migrate_to_ram: drm_pagemap_migrate_to_ram,
      page_free: (pfn) => drm_pagemap_page_free(sys, pfn),
    };
    pagemap_ops.set(sys, ops);
  }
  return ops;
}

/** One pass of drm_pagemap_evict_to_ram over the allocation's live frames. */
function* evict_pass(devmem: drm_pagemap_devmem, sys: MmSystem): Co<number> {
  const ops = devmem.ops;
  const all = new Float64Array(devmem.size);
  let err = ops.populate_devmem_pfn
    ? yield* ops.populate_devmem_pfn(devmem, devmem.size, all)
    : -EFAULT;
  if (err) return err;
  // SIM: frames already freed are reported as -1 and left out (see drm_pagemap_devmem_ops).
  const live = all.filter((p) => p >= 0);
  const npages = live.length;
  const src = live;
  const dst = new Float64Array(npages);
  const pagemap_addr: (drm_pagemap_addr | undefined)[] = new Array<undefined>(npages);
  err = yield* migrate_device_pfns(sys, src, npages);
  if (err) return err;
  const mpages = { n: 0 };
  err = drm_pagemap_migrate_populate_ram_pfn(sys, -1, npages, mpages, src, dst);
  if (!err && mpages.n)
    err = drm_pagemap_migrate_map_pages(
      sys,
      devmem.dev,
      devmem.dpagemap,
      pagemap_addr,
      dst,
      npages,
      'DMA_FROM_DEVICE',
      {},
    );
  if (!err && mpages.n && ops.copy_to_ram) {
    const pages: number[] = [];
    for (let i = 0; i < npages; ++i) pages.push(migrate_pfn_to_page(src[i] as number));
    err = yield* ops.copy_to_ram(pages, pagemap_addr, npages, null);
  }
  // err_finalize:
  if (err) drm_pagemap_migration_unlock_put_pages(sys, npages, dst);
  yield* migrate_device_pages(sys, src, dst, npages);
  // SIM: unmap before finalize, as in __drm_pagemap_migrate_to_ram above (upstream finding).
  drm_pagemap_migrate_unmap_pages(sys, devmem.dev, pagemap_addr, dst, npages, 'DMA_FROM_DEVICE');
  migrate_device_finalize(sys, src, dst, npages);
  return err;
}

/**
 * drm_pagemap.c drm_pagemap_evict_to_ram: move every page of the allocation to RAM
 * without mmap_lock or vma (migrate_device_*), retrying twice until the allocation is
 * detached. 0, -EFAULT (mm gone), or the error / -EBUSY.
 */
export function* drm_pagemap_evict_to_ram(devmem_allocation: drm_pagemap_devmem): Co<number> {
  const sys = devmem_allocation.mm.sys;
  const name = devmem_allocation.dpagemap.drm.name;
  getSim().account('pagemap_evictions', 1, 'pagemap_migrate_call', name);
  let retry_count = 2;
  let err: number;
  for (;;) {
    if (!mmget_not_zero(devmem_allocation.mm)) return -EFAULT;
    might_alloc('GFP_KERNEL'); // buf
    err = yield* evict_pass(devmem_allocation, sys);
    yield* mmput(devmem_allocation.mm); // SIM: mmput_async runs the put here
    if (completion_done(devmem_allocation.detached)) {
      err = 0;
      break;
    }
    if (retry_count-- === 0) {
      err = err || -EBUSY;
      break;
    }
    yield* cond_resched();
  }
  getSim().trace.emit('drm.pagemap_evict_to_ram', {
    drm: name,
    npages: devmem_allocation.size,
    ret: err,
  });
  return err;
}

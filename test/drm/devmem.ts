/**
 * A test-local device memory for drm_pagemap (what the amdgpu driver will provide over its
 * VRAM manager): a device-private region with a dev_pagemap whose ops are drm_pagemap's,
 * a drm_pagemap with device_map / device_unmap / populate_mm, and devmem ops that allocate
 * frames and copy values.
 */
import { ENOMEM, cond_resched, getSim, type Co } from '../../src/sim/index.js';
import { DevPagemap, memremap_pages, type MmStruct, type PhysRegion } from '../../src/mm/index.js';
import {
  DRM_INTERCONNECT_DRIVER,
  drm_pagemap,
  drm_pagemap_devmem,
  drm_pagemap_devmem_init,
  drm_pagemap_init,
  drm_pagemap_migrate_to_devmem,
  drm_pagemap_page_zdd,
  drm_pagemap_pagemap_ops_get,
  type drm_pagemap_devmem_ops,
  type drm_pagemap_migrate_details,
  type drm_pagemap_ops,
} from '../../src/drm/index.js';
import type { Machine } from './fixture.js';

/** A devmem allocation that remembers its frames (a BO's blocks). */
export class TestDevmem extends drm_pagemap_devmem {
  pfns: number[] | null = null;
}

export class TestVram {
  /** The device: pagemap owner, hmm dev_private_owner. */
  readonly owner = { name: 'vram0-owner' };
  readonly pgmap: DevPagemap;
  readonly region: PhysRegion;
  readonly dpagemap = new drm_pagemap();
  readonly allocations: TestDevmem[] = [];
  released = 0;
  /** Live device_map mappings. */
  device_mapped = 0;
  /** Migration details for populate_mm (select_device_private, ...). */
  mdetails: drm_pagemap_migrate_details = {};
  fail_alloc = false;
  readonly devmem_ops: drm_pagemap_devmem_ops;

  constructor(
    readonly m: Machine,
    npages: number,
  ) {
    const sys = m.sys;
    this.pgmap = new DevPagemap(
      'MEMORY_DEVICE_PRIVATE',
      drm_pagemap_pagemap_ops_get(sys),
      this.owner,
      'vram0',
    );
    this.region = memremap_pages(sys, this.pgmap, npages);
    this.devmem_ops = this.make_devmem_ops();
    drm_pagemap_init(this.dpagemap, this.pgmap, m.drm, this.make_ops(), sys);
  }

  private make_ops(): drm_pagemap_ops {
    return {
      device_map: (_dp, _dev, page, order, dir) => {
        this.device_mapped++;
        return { addr: page, proto: DRM_INTERCONNECT_DRIVER, order, dir };
      },
      device_unmap: () => {
        this.device_mapped--;
      },
      populate_mm: (dp, start, end, mm, timeslice_ms) =>
        this.populate_mm(dp, start, end, mm, timeslice_ms),
    };
  }

  /** xe_drm_pagemap_populate_mm-like: a new allocation of end - start pages, migrated into. */
  *populate_mm(
    dp: drm_pagemap,
    start: number,
    end: number,
    mm: MmStruct,
    timeslice_ms: number,
  ): Co<number> {
    const devmem = new TestDevmem();
    drm_pagemap_devmem_init(devmem, this.m.drm.dev, mm, this.devmem_ops, dp, end - start, null);
    this.allocations.push(devmem);
    return yield* drm_pagemap_migrate_to_devmem(devmem, mm, start, end, {
      ...this.mdetails,
      timeslice_ms,
    });
  }

  private make_devmem_ops(): drm_pagemap_devmem_ops {
    const sys = this.m.sys;
    const phys = sys.phys;
    const copy_cost = () => 4096 * getSim().costs.get('migrate_byte');
    return {
      devmem_release: () => {
        this.released++;
      },
      populate_devmem_pfn: (devmem, npages, pfn) => this.populate_devmem_pfn(devmem, npages, pfn),
      *copy_to_devmem(pages, addrs, npages) {
        for (let i = 0; i < npages; i++) {
          const a = addrs[i];
          if (a) phys.copy(a.addr, pages[i] as number);
        }
        getSim().charge(npages * copy_cost());
        yield* cond_resched();
        return 0;
      },
      *copy_to_ram(pages, addrs, npages) {
        for (let i = 0; i < npages; i++) {
          const a = addrs[i];
          const p = pages[i] as number;
          if (a && p >= 0) phys.copy(p, a.addr);
        }
        getSim().charge(npages * copy_cost());
        yield* cond_resched();
        return 0;
      },
    };
  }

  /** First call: allocate (all or nothing); later calls: the frames still holding our data. */
  *populate_devmem_pfn(devmem: drm_pagemap_devmem, npages: number, pfn: Float64Array): Co<number> {
    const d = devmem as TestDevmem;
    const sys = this.m.sys;
    if (d.pfns) {
      d.pfns.forEach((p, i) => {
        pfn[i] = drm_pagemap_page_zdd(sys, p)?.devmem_allocation === devmem ? p : -1;
      });
      return 0;
    }
    if (this.fail_alloc || this.region.free < npages) return -ENOMEM;
    d.pfns = [];
    for (let i = 0; i < npages; i++) {
      const p = sys.phys.alloc(this.region, 0);
      d.pfns.push(p);
      pfn[i] = p;
    }
    yield* cond_resched();
    return 0;
  }
}

import { describe, expect, it } from 'vitest';
import { DevPagemap, MmSystem, memremap_pages, put_page } from '../../src/mm/index.js';
import { Sim } from '../../src/sim/index.js';

describe('put_page of a device-private page', () => {
  it('calls the pagemap page_free while zone_device_data is still readable', () => {
    new Sim();
    const sys = new MmSystem({ ram_pages: 16 });
    let seen: unknown;
    const pgmap = new DevPagemap(
      'MEMORY_DEVICE_PRIVATE',
      {
        *migrate_to_ram() {
          return 0;
        },
        page_free: (pfn) => {
          seen = sys.phys.pagePrivate.get(pfn);
        },
      },
      {},
    );
    const pfn = sys.phys.alloc(memremap_pages(sys, pgmap, 4));
    sys.phys.pagePrivate.set(pfn, 'zdd');
    put_page(sys, pfn);
    expect(seen).toBe('zdd');
    expect(sys.phys.page_count(pfn)).toBe(0);
    expect(sys.phys.pagePrivate.has(pfn)).toBe(false);
  });
});

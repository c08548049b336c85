/** Per-device DMA mapping: addresses, counters, leak report and DMA-API debug checks. */
import { describe, expect, it } from 'vitest';
import { Sim, Trap } from '../../src/sim/index.js';
import { MmSystem, alloc_page, put_page } from '../../src/mm/index.js';
import {
  DmaDevice,
  dma_debug_check_leaks,
  dma_leaks,
  dma_map_page,
  dma_map_pages,
  dma_mapped_count,
  dma_mapping_error,
  dma_unmap_page,
  dma_unmap_pages,
} from '../../src/dma/index.js';

function setup(): { sim: Sim; sys: MmSystem; gpu0: DmaDevice; gpu1: DmaDevice } {
  const sim = new Sim();
  const sys = new MmSystem({ ram_pages: 1024 });
  return { sim, sys, gpu0: new DmaDevice('gpu0', sys.phys), gpu1: new DmaDevice('gpu1', sys.phys) };
}

function caught(f: () => void): Trap {
  try {
    f();
  } catch (e) {
    if (e instanceof Trap) return e;
    throw e;
  }
  throw new Error('no trap');
}

describe('dma mapping', () => {
  it('maps frames to their pfn per device, counts per device, and unmaps', () => {
    const { sim, sys, gpu0, gpu1 } = setup();
    const pfns = [alloc_page(sys), alloc_page(sys), alloc_page(sys)];
    const addrs = new Float64Array(3);
    expect(dma_map_pages(gpu0, pfns, 3, addrs)).toBe(3);
    expect([...addrs]).toEqual(pfns);
    const one = dma_map_page(gpu1, pfns[0] as number, 'DMA_TO_DEVICE');
    expect(dma_mapping_error(gpu1, one)).toBe(false);
    expect(dma_mapped_count(gpu0, pfns[0] as number)).toBe(1);
    expect(dma_mapped_count(gpu1, pfns[1] as number)).toBe(0);
    expect([gpu0.mapped, gpu1.mapped]).toEqual([3, 1]);
    expect(sim.counters.get('dma_map_pages')).toBe(4);
    expect(sim.counters.get('dma_map_pages@gpu0')).toBe(3);
    expect(sim.counters.get('dma_map_pages@gpu1')).toBe(1);
    dma_unmap_pages(gpu0, addrs, 2);
    dma_unmap_page(gpu1, one, 'DMA_TO_DEVICE');
    expect(dma_leaks(gpu0)).toEqual([{ pfn: pfns[2], count: 1 }]);
    expect(dma_leaks(gpu1)).toEqual([]);
    expect(sim.counters.get('dma_unmap_pages@gpu0')).toBe(2);
    expect(caught(() => dma_debug_check_leaks(gpu0)).kind).toBe('leak');
    dma_unmap_page(gpu0, addrs[2] as number);
    dma_debug_check_leaks(gpu0);
    expect(gpu0.mapped).toBe(0);
  });

  it('charges the dma_map_page and dma_unmap_page costs to the running task', () => {
    const { sim, sys, gpu0 } = setup();
    const pfn = alloc_page(sys);
    let t = 0;
    sim.spawn('worker', function* () {
      dma_map_page(gpu0, pfn);
      dma_unmap_page(gpu0, pfn);
      t = sim.now();
      yield 0;
    });
    sim.run();
    expect(t).toBe(sim.costs.get('dma_map_page') + sim.costs.get('dma_unmap_page'));
  });

  it('traps an unmap of what is not mapped, a map of a free frame, freeing a mapped frame, and device-private memory', () => {
    const { sys, gpu0 } = setup();
    const pfn = alloc_page(sys);
    expect(caught(() => dma_unmap_page(gpu0, pfn)).kind).toBe('bug');
    put_page(sys, pfn);
    expect(caught(() => dma_map_page(gpu0, pfn)).kind).toBe('use-after-free');
    const mapped = alloc_page(sys);
    dma_map_page(gpu0, mapped);
    expect(caught(() => put_page(sys, mapped)).kind).toBe('use-after-free'); // freed, still mapped
    const vram = sys.phys.addRegion('vram0', 16, 'device-private', {});
    const dpfn = sys.phys.alloc(vram);
    expect(caught(() => dma_map_page(gpu0, dpfn)).kind).toBe('bug');
  });
});

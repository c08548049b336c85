import { describe, expect, it } from 'vitest';
import { ENOSPC, join, type Co } from '../../src/sim/index.js';
import {
  AMDGPU_PRESETS,
  AMDGPU_PTE_SNOOPED,
  AMDGPU_PTE_SYSTEM,
  amdgpu_engine_dispatch,
  amdgpu_svm_pte_flags,
  amdgpu_vm_pte_flags,
  amdgpu_vram_mgr_alloc,
  amdgpu_vram_mgr_free,
  amdgpu_vram_mgr_owns,
  type KernelResult,
  type amdgpu_device,
} from '../../src/amdgpu/index.js';
import { createQueue, makeWorld, mapPages, openProcess, runMain, vmOf } from './helpers.js';

describe('VRAM', () => {
  it('hands out device-private frames owned by the GPU, all or nothing', () => {
    const w = makeWorld([{ vram_pages: 8 }, { vram_pages: 8 }]);
    const [g0, g1] = w.sys.devices as [amdgpu_device, amdgpu_device];
    const got: number[] = [];
    expect(amdgpu_vram_mgr_alloc(g0.vram, 5, got)).toBe(0);
    expect(got).toHaveLength(5);
    for (const pfn of got) {
      const r = w.phys.regionOf(pfn);
      expect(r?.kind).toBe('device-private');
      expect(r?.owner).toBe(g0);
      expect(amdgpu_vram_mgr_owns(g0.vram, pfn)).toBe(true);
      expect(amdgpu_vram_mgr_owns(g1.vram, pfn)).toBe(false);
      expect(w.phys.isDevicePrivate(pfn)).toBe(true);
    }
    const more: number[] = [];
    expect(amdgpu_vram_mgr_alloc(g0.vram, 4, more)).toBe(-ENOSPC);
    expect(g0.vram.used).toBe(5);
    amdgpu_vram_mgr_free(g0.vram, got.slice(0, 2));
    expect(g0.vram.free).toBe(5);
    expect(amdgpu_vram_mgr_alloc(g0.vram, 5, more)).toBe(0);
    expect(g0.vram.free).toBe(0);
    expect(w.sim.counters.get('vram_pages_allocated@gpu0')).toBe(10);
  });

  it('a VRAM PTE (local flags: no SYSTEM, no SNOOPED) reaches the VRAM frame', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, false);
      const q = yield* createQueue(p, w.gpu0);
      const vm = vmOf(p, w.gpu0);
      const pfns: number[] = [];
      amdgpu_vram_mgr_alloc(w.gpu0.vram, 2, pfns);
      w.phys.write(pfns[0] as number, 0xabc);
      const flags = amdgpu_svm_pte_flags(AMDGPU_PRESETS.gfx943, {
        domain: 'vram-local',
        coherent: false,
        ext_coherent: false,
        gpu_exec: false,
        read_only: false,
      });
      yield* mapPages(w.gpu0, vm, 64, pfns, flags);
      expect(amdgpu_vm_pte_flags(vm, 64) & (AMDGPU_PTE_SYSTEM | AMDGPU_PTE_SNOOPED)).toBe(0);
      const r = (yield* join(
        amdgpu_engine_dispatch(q, { op: 'copy', from: 64, to: 65, npages: 1 }),
      )) as KernelResult;
      expect(r.status).toBe('completed');
      expect(w.phys.read(pfns[1] as number)).toBe(0xabc);
    });
  });
});

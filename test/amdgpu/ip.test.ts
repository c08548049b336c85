import { describe, expect, it } from 'vitest';
import {
  AMDGPU_MTYPE_CC,
  AMDGPU_MTYPE_NC,
  AMDGPU_MTYPE_RW,
  AMDGPU_MTYPE_UC,
  AMDGPU_PRESETS,
  AMDGPU_PTE_EXECUTABLE,
  AMDGPU_PTE_IS_PTE,
  AMDGPU_PTE_MTYPE,
  AMDGPU_PTE_READABLE,
  AMDGPU_PTE_SNOOPED,
  AMDGPU_PTE_SYSTEM,
  AMDGPU_PTE_VALID,
  AMDGPU_PTE_WRITEABLE,
  IP_VERSION,
  amdgpu_pte_flags_string,
  amdgpu_pte_mtype,
  amdgpu_svm_default_xnack_enabled,
  amdgpu_svm_mtype,
  amdgpu_svm_pte_flags,
  ip_version_string,
  type AmdgpuIpInfo,
  type AmdgpuSvmPteInput,
} from '../../src/amdgpu/index.js';
import { makeWorld } from './helpers.js';

const sys: AmdgpuSvmPteInput = {
  domain: 'system',
  coherent: false,
  ext_coherent: false,
  gpu_exec: false,
  read_only: false,
};
const coherent = { ...sys, coherent: true };
const ext = { ...sys, coherent: true, ext_coherent: true };

function ipOf(gc: number, over: Partial<AmdgpuIpInfo> = {}): AmdgpuIpInfo {
  return { ...AMDGPU_PRESETS.gfx943, name: 'custom', gc, ...over };
}

describe('GPU presets (clarifications.md §5)', () => {
  it('builds gpu0..N-1 with gpu_id 0x1000+N, IP versions and default VRAM', () => {
    const w = makeWorld([{ ip: 'gfx943' }, { ip: 'gfx1100' }, { ip: 'gfx906', vram_pages: 256 }]);
    const [a, b, c] = w.sys.devices;
    expect([a?.name, b?.name, c?.name]).toEqual(['gpu0', 'gpu1', 'gpu2']);
    expect([a?.gpu_id, b?.gpu_id, c?.gpu_id]).toEqual([0x1000, 0x1001, 0x1002]);
    expect(a && ip_version_string(a.ip.gc)).toBe('9.4.3');
    expect(b && ip_version_string(b.ip.gc)).toBe('11.0.0');
    expect(c && ip_version_string(c.ip.gc)).toBe('9.4.0');
    expect(a?.ip.product).toBe('MI300X');
    expect(a?.vram.size).toBe(4 * 1024 * 1024); // 16 GiB of 4 KiB pages
    expect(c?.vram.size).toBe(256);
    expect(w.sys.deviceById(0x1001)).toBe(b);
    expect(w.sys.device('gpu2')).toBe(c);
    // MI300X has 8 XCCs in SPX mode.
    expect(a?.xcc_mask).toBe(0xff);
  });

  it('XNACK capability and default per preset', () => {
    const w = makeWorld([{ ip: 'gfx943' }, { ip: 'gfx906' }, { ip: 'gfx1100' }]);
    const table = w.sys.devices.map((d) => [
      d.ip.name,
      d.ip.xnack_capable,
      amdgpu_svm_default_xnack_enabled(d),
      d.gmc.noretry,
    ]);
    expect(table).toEqual([
      ['gfx943', true, true, false],
      ['gfx906', true, false, true],
      ['gfx1100', false, false, true],
    ]);
  });

  it('XNACK detection follows the RFC rules (rfc-series.md §5.2)', () => {
    const det = (gc: number, noretry: boolean) =>
      amdgpu_svm_default_xnack_enabled({ ip: ipOf(gc), gmc: { noretry } });
    expect(det(IP_VERSION(9, 0, 0), false)).toBe(false); // below 9.0.1
    expect(det(IP_VERSION(9, 4, 2), true)).toBe(true); // forced on whatever noretry says
    expect(det(IP_VERSION(9, 5, 0), true)).toBe(true);
    expect(det(IP_VERSION(10, 1, 1), false)).toBe(false); // no retry from 10.1.1
    expect(det(IP_VERSION(9, 4, 0), false)).toBe(true); // otherwise !noretry
    expect(det(IP_VERSION(9, 4, 0), true)).toBe(false);
    // gfx906 booted with amdgpu.noretry=0: XNACK on by default.
    const w = makeWorld([{ ip: 'gfx906', noretry: false }]);
    expect(amdgpu_svm_default_xnack_enabled(w.gpu0)).toBe(true);
  });
});

describe('SVM PTE flags and the MTYPE table (rfc-series.md §3.2)', () => {
  const gfx943 = AMDGPU_PRESETS.gfx943;
  const gfx906 = AMDGPU_PRESETS.gfx906;
  const gfx1100 = AMDGPU_PRESETS.gfx1100;

  it('system memory: VALID|SYSTEM|SNOOPED|READABLE|WRITEABLE with the per-IP MTYPE', () => {
    const base =
      AMDGPU_PTE_VALID |
      AMDGPU_PTE_SYSTEM |
      AMDGPU_PTE_SNOOPED |
      AMDGPU_PTE_READABLE |
      AMDGPU_PTE_WRITEABLE;
    // gfx943 dGPU below 9.5.0: UC for system memory, coherent or not.
    expect(amdgpu_svm_pte_flags(gfx943, sys)).toBe(base | AMDGPU_PTE_MTYPE(AMDGPU_MTYPE_UC));
    expect(amdgpu_svm_pte_flags(gfx943, coherent)).toBe(base | AMDGPU_PTE_MTYPE(AMDGPU_MTYPE_UC));
    // gfx906 (9.4.0) and gfx1100 (11.0.0): UC if coherent, otherwise NC.
    for (const ip of [gfx906, gfx1100]) {
      expect(amdgpu_svm_pte_flags(ip, sys)).toBe(base | AMDGPU_PTE_MTYPE(AMDGPU_MTYPE_NC));
      expect(amdgpu_svm_pte_flags(ip, coherent)).toBe(base | AMDGPU_PTE_MTYPE(AMDGPU_MTYPE_UC));
    }
    expect(amdgpu_pte_flags_string(amdgpu_svm_pte_flags(gfx1100, sys))).toBe(
      'VALID|SYSTEM|SNOOPED|READABLE|WRITEABLE MTYPE=NC',
    );
  });

  it('GPU_RO drops WRITEABLE, GPU_EXEC adds EXECUTABLE, GC 12 adds IS_PTE', () => {
    const ro = amdgpu_svm_pte_flags(gfx943, { ...sys, read_only: true });
    expect(ro & AMDGPU_PTE_WRITEABLE).toBe(0);
    expect(ro & AMDGPU_PTE_READABLE).toBe(AMDGPU_PTE_READABLE);
    const x = amdgpu_svm_pte_flags(gfx943, { ...sys, gpu_exec: true });
    expect(x & AMDGPU_PTE_EXECUTABLE).toBe(AMDGPU_PTE_EXECUTABLE);
    expect(amdgpu_svm_pte_flags(gfx943, sys) & AMDGPU_PTE_IS_PTE).toBe(0);
    const gfx12 = ipOf(IP_VERSION(12, 0, 0));
    const f12 = amdgpu_svm_pte_flags(gfx12, coherent);
    expect(f12 & AMDGPU_PTE_IS_PTE).toBe(AMDGPU_PTE_IS_PTE);
    expect(amdgpu_pte_mtype(f12)).toBe(AMDGPU_MTYPE_NC); // 12.0.x: always NC
  });

  it('VRAM: local drops SYSTEM and SNOOPED and uses mtype_local; remote is NC or UC', () => {
    const local = amdgpu_svm_pte_flags(gfx943, { ...sys, domain: 'vram-local' });
    expect(local & (AMDGPU_PTE_SYSTEM | AMDGPU_PTE_SNOOPED)).toBe(0);
    expect(amdgpu_pte_mtype(local)).toBe(AMDGPU_MTYPE_RW); // amdgpu_mtype_local default
    const local_ext = { ...ext, domain: 'vram-local' } as const;
    expect(amdgpu_svm_mtype(gfx943, local_ext)).toBe(AMDGPU_MTYPE_CC);
    expect(
      amdgpu_svm_mtype(gfx943, { ...sys, domain: 'vram-local' }, { amdgpu_mtype_local: 1 }),
    ).toBe(AMDGPU_MTYPE_NC);
    expect(
      amdgpu_svm_mtype(gfx943, { ...sys, domain: 'vram-local' }, { amdgpu_mtype_local: 2 }),
    ).toBe(AMDGPU_MTYPE_CC);
    expect(amdgpu_svm_mtype(gfx943, { ...sys, domain: 'vram-remote' })).toBe(AMDGPU_MTYPE_NC);
    expect(amdgpu_svm_mtype(gfx943, { ...ext, domain: 'vram-remote' })).toBe(AMDGPU_MTYPE_UC);
  });

  it('the other rows of the table: 9.4.1/9.4.2, 9.5.0 dGPU, APUs', () => {
    const gfx90a = ipOf(IP_VERSION(9, 4, 2));
    expect(amdgpu_svm_mtype(gfx90a, sys)).toBe(AMDGPU_MTYPE_NC);
    expect(amdgpu_svm_mtype(gfx90a, coherent)).toBe(AMDGPU_MTYPE_UC);
    expect(amdgpu_svm_mtype(gfx90a, { ...sys, domain: 'vram-local' })).toBe(AMDGPU_MTYPE_RW);
    expect(amdgpu_svm_mtype(gfx90a, { ...coherent, domain: 'vram-local' })).toBe(AMDGPU_MTYPE_CC);
    const gfx950 = ipOf(IP_VERSION(9, 5, 0));
    expect(amdgpu_svm_mtype(gfx950, sys)).toBe(AMDGPU_MTYPE_NC);
    expect(amdgpu_svm_mtype(gfx950, ext)).toBe(AMDGPU_MTYPE_UC);
    const apu1 = ipOf(IP_VERSION(9, 4, 3), { is_app_apu: true, num_possible_nodes: 1 });
    expect(amdgpu_svm_mtype(apu1, sys)).toBe(AMDGPU_MTYPE_RW);
    const apuN = ipOf(IP_VERSION(9, 4, 3), { is_app_apu: true, num_possible_nodes: 4 });
    expect(amdgpu_svm_mtype(apuN, sys)).toBe(AMDGPU_MTYPE_NC);
    expect(amdgpu_svm_mtype(apuN, ext)).toBe(AMDGPU_MTYPE_UC);
  });
});

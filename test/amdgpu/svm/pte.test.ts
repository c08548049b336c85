import { describe, expect, it } from 'vitest';
import { AMDGPU_PRESETS, IP_VERSION, type AmdgpuIpInfo } from '../../../src/amdgpu/ip.js';
import {
  AMDGPU_PTE_EXECUTABLE,
  AMDGPU_PTE_IS_PTE,
  AMDGPU_PTE_READABLE,
  AMDGPU_PTE_SNOOPED,
  AMDGPU_PTE_SYSTEM,
  AMDGPU_PTE_VALID,
  AMDGPU_PTE_WRITEABLE,
  MTYPE_NAMES,
  amdgpu_pte_mtype,
} from '../../../src/amdgpu/pte.js';
import type { amdgpu_svm } from '../../../src/amdgpu/svm/amdgpu_svm.js';
import { amdgpu_svm_range_attr_pte_flags } from '../../../src/amdgpu/svm/amdgpu_svm_pte.js';
import {
  AMDGPU_SVM_ACCESS_ENABLE,
  type amdgpu_svm_attrs,
} from '../../../src/amdgpu/svm/attr_types.js';
import { AMDGPU_SVM_FLAGS as F } from '../../../src/amdgpu/svm/uapi.js';

function ip(gc: number, apu = false, nodes = 1): AmdgpuIpInfo {
  return {
    name: `gc${gc.toString(16)}`,
    product: 'test',
    gc,
    is_app_apu: apu,
    num_possible_nodes: nodes,
    num_xcc: 1,
    xnack_capable: true,
  };
}

function flags(info: AmdgpuIpInfo, attr_flags: number, read_only = false): number {
  const svm = { adev: { ip: info } } as unknown as amdgpu_svm;
  const attrs: amdgpu_svm_attrs = {
    preferred_loc: -1,
    prefetch_loc: -1,
    flags: attr_flags,
    granularity: 9,
    access: AMDGPU_SVM_ACCESS_ENABLE,
  };
  return amdgpu_svm_range_attr_pte_flags(svm, attrs, read_only);
}

const mtype = (info: AmdgpuIpInfo, f: number): string =>
  MTYPE_NAMES[amdgpu_pte_mtype(flags(info, f))];

const COH = F.COHERENT;
const EXT = F.EXT_COHERENT;

describe('amdgpu_svm_range_attr_pte_flags: the MTYPE table per GC IP (rfc-series §3.2)', () => {
  const table: [string, AmdgpuIpInfo, number, string][] = [
    ['gfx943 (9.4.3 dGPU) coherent', AMDGPU_PRESETS.gfx943, COH, 'UC'],
    ['gfx943 (9.4.3 dGPU) not coherent: UC below 9.5.0', AMDGPU_PRESETS.gfx943, 0, 'UC'],
    ['9.5.0 dGPU not coherent', ip(IP_VERSION(9, 5, 0)), 0, 'NC'],
    ['9.5.0 dGPU ext-coherent', ip(IP_VERSION(9, 5, 0)), EXT, 'UC'],
    ['9.4.4 dGPU', ip(IP_VERSION(9, 4, 4)), 0, 'UC'],
    ['9.4.3 APU, one node: mtype_local RW', ip(IP_VERSION(9, 4, 3), true, 1), 0, 'RW'],
    ['9.4.3 APU, one node, ext-coherent: CC', ip(IP_VERSION(9, 4, 3), true, 1), EXT, 'CC'],
    ['9.4.3 APU, several nodes', ip(IP_VERSION(9, 4, 3), true, 4), 0, 'NC'],
    ['9.4.3 APU, several nodes, ext-coherent', ip(IP_VERSION(9, 4, 3), true, 4), EXT, 'UC'],
    ['9.4.1 coherent', ip(IP_VERSION(9, 4, 1)), COH, 'UC'],
    ['9.4.2 not coherent', ip(IP_VERSION(9, 4, 2)), 0, 'NC'],
    ['9.4.2 ext-coherent counts as coherent', ip(IP_VERSION(9, 4, 2)), EXT, 'UC'],
    ['gfx1100 (11.0.0) coherent', AMDGPU_PRESETS.gfx1100, COH, 'UC'],
    ['gfx1100 (11.0.0) not coherent', AMDGPU_PRESETS.gfx1100, 0, 'NC'],
    ['11.5.1 not coherent', ip(IP_VERSION(11, 5, 1)), 0, 'NC'],
    ['12.0.0 coherent: always NC', ip(IP_VERSION(12, 0, 0)), COH, 'NC'],
    ['12.0.1', ip(IP_VERSION(12, 0, 1)), 0, 'NC'],
    ['gfx906 (9.4.0, default case) coherent', AMDGPU_PRESETS.gfx906, COH, 'UC'],
    ['gfx906 (9.4.0, default case) not coherent', AMDGPU_PRESETS.gfx906, 0, 'NC'],
    ['10.3.0 (default case) not coherent', ip(IP_VERSION(10, 3, 0)), 0, 'NC'],
  ];
  it.each(table)('%s -> %s', (_n, info, f, want) => {
    expect(mtype(info, f)).toBe(want);
  });
});

describe('amdgpu_svm_range_attr_pte_flags: the other bits', () => {
  const base = AMDGPU_PTE_VALID | AMDGPU_PTE_SYSTEM | AMDGPU_PTE_SNOOPED | AMDGPU_PTE_READABLE;

  it('maps system memory VALID | SYSTEM | SNOOPED, READABLE, WRITEABLE unless GPU_RO', () => {
    const f = flags(AMDGPU_PRESETS.gfx943, F.HOST_ACCESS | F.COHERENT);
    expect(f & base).toBe(base);
    expect(f & AMDGPU_PTE_WRITEABLE).toBe(AMDGPU_PTE_WRITEABLE);
    expect(f & AMDGPU_PTE_EXECUTABLE).toBe(0);
    expect(flags(AMDGPU_PRESETS.gfx943, F.GPU_RO) & AMDGPU_PTE_WRITEABLE).toBe(0);
    expect(flags(AMDGPU_PRESETS.gfx943, 0, true) & AMDGPU_PTE_WRITEABLE).toBe(0);
  });

  it('sets EXECUTABLE for GPU_EXEC', () => {
    expect(flags(AMDGPU_PRESETS.gfx1100, F.GPU_EXEC) & AMDGPU_PTE_EXECUTABLE).toBe(
      AMDGPU_PTE_EXECUTABLE,
    );
  });

  it('sets IS_PTE from GC 12 on only', () => {
    expect(flags(ip(IP_VERSION(12, 0, 0)), 0) & AMDGPU_PTE_IS_PTE).toBe(AMDGPU_PTE_IS_PTE);
    expect(flags(AMDGPU_PRESETS.gfx1100, 0) & AMDGPU_PTE_IS_PTE).toBe(0);
    expect(flags(AMDGPU_PRESETS.gfx943, 0) & AMDGPU_PTE_IS_PTE).toBe(0);
  });

  it('ignores the mapping-only flags (HOST_ACCESS, HIVE_LOCAL, READ_MOSTLY, ALWAYS_MAPPED)', () => {
    const a = flags(AMDGPU_PRESETS.gfx943, 0);
    const b = flags(
      AMDGPU_PRESETS.gfx943,
      F.HOST_ACCESS | F.HIVE_LOCAL | F.GPU_READ_MOSTLY | F.GPU_ALWAYS_MAPPED,
    );
    expect(b).toBe(a);
  });
});

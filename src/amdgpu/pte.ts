/**
 * GPU PTE flags (amdgpu_vm.h) and the MTYPE table the SVM code uses to build them
 * (rfc-series.md §3.2, the v8 VRAM rules; kfd-svm.md §6.4 for the KFD baseline).
 *
 * Bits 0..6 are amdgpu's (clarifications.md §5). The fields the hardware keeps above bit 31
 * (MTYPE, PRT, PDE_PTE, TF, IS_PTE) move to model positions 8..13 so that flags fit a JS
 * number's 32-bit operations and a Uint16Array slot. SIM: symbolic positions; the hardware
 * puts MTYPE at bits 57..58 on GFX9, 48..50 on GFX10/11 and 54..55 on GFX12.
 */
import { IP_VERSION, type AmdgpuIpInfo } from './ip.js';

export const AMDGPU_PTE_VALID = 1 << 0;
export const AMDGPU_PTE_SYSTEM = 1 << 1;
export const AMDGPU_PTE_SNOOPED = 1 << 2;
export const AMDGPU_PTE_TMZ = 1 << 3;
export const AMDGPU_PTE_EXECUTABLE = 1 << 4;
export const AMDGPU_PTE_READABLE = 1 << 5;
export const AMDGPU_PTE_WRITEABLE = 1 << 6;

const MTYPE_SHIFT = 8;
/** AMDGPU_PTE_MTYPE_VG10_MASK / _NV10_MASK / _GFX12_MASK, at the model position. */
export const AMDGPU_PTE_MTYPE_MASK = 3 << MTYPE_SHIFT;
/** Hardware bit 51 (GFX9): partially resident texture. */
export const AMDGPU_PTE_PRT = 1 << 10;
/** Hardware bit 54 (GFX9): a PDE that acts as a PTE. */
export const AMDGPU_PDE_PTE = 1 << 11;
/** Hardware bit 56: translate further. */
export const AMDGPU_PTE_TF = 1 << 12;
/** Hardware bit 63 (GFX12, AMDGPU_PDE_PTE_GFX12): marks a leaf entry. */
export const AMDGPU_PTE_IS_PTE = 1 << 13;

/**
 * amdgpu_vm.h AMDGPU_VM_NORETRY_FLAGS: an invalid combination amdgpu_vm_handle_fault writes
 * for a compute VM whose fault could not be handled, turning the next retry into a no-retry
 * (fatal) fault.
 */
export const AMDGPU_VM_NORETRY_FLAGS = AMDGPU_PTE_EXECUTABLE | AMDGPU_PDE_PTE | AMDGPU_PTE_TF;

/** Memory types (soc15 MTYPE_* / AMDGPU_VM_MTYPE_*): the cache policy of a mapping. */
export const AMDGPU_MTYPE_NC = 0;
export const AMDGPU_MTYPE_RW = 1;
export const AMDGPU_MTYPE_CC = 2;
export const AMDGPU_MTYPE_UC = 3;
export type AmdgpuMtype =
  typeof AMDGPU_MTYPE_NC | typeof AMDGPU_MTYPE_RW | typeof AMDGPU_MTYPE_CC | typeof AMDGPU_MTYPE_UC;

export const MTYPE_NAMES: Readonly<Record<AmdgpuMtype, string>> = {
  [AMDGPU_MTYPE_NC]: 'NC',
  [AMDGPU_MTYPE_RW]: 'RW',
  [AMDGPU_MTYPE_CC]: 'CC',
  [AMDGPU_MTYPE_UC]: 'UC',
};

/** AMDGPU_PTE_MTYPE_VG10(m) at the model position. */
export function AMDGPU_PTE_MTYPE(m: AmdgpuMtype): number {
  return m << MTYPE_SHIFT;
}

export function amdgpu_pte_mtype(flags: number): AmdgpuMtype {
  return ((flags & AMDGPU_PTE_MTYPE_MASK) >>> MTYPE_SHIFT) as AmdgpuMtype;
}

/** Where the pages of a mapping live, relative to the mapping GPU. */
export type AmdgpuPteDomain = 'system' | 'vram-local' | 'vram-remote';

/** Inputs of the SVM PTE-flag computation (attribute flags already reduced to booleans). */
export interface AmdgpuSvmPteInput {
  readonly domain: AmdgpuPteDomain;
  /** COHERENT | EXT_COHERENT set. */
  readonly coherent: boolean;
  /** EXT_COHERENT set. */
  readonly ext_coherent: boolean;
  /** GPU_EXEC set. */
  readonly gpu_exec: boolean;
  /** GPU_RO set, or the mapping context is read-only (read-only VMA). */
  readonly read_only: boolean;
}

/** amdgpu.mtype_local module parameter: 0 (default) RW, 1 NC, 2 CC. */
export interface AmdgpuMtypeParams {
  readonly amdgpu_mtype_local: number;
}

export const AMDGPU_MTYPE_PARAMS_DEFAULT: AmdgpuMtypeParams = { amdgpu_mtype_local: 0 };

function is_gc_943_family(gc: number): boolean {
  return gc === IP_VERSION(9, 4, 3) || gc === IP_VERSION(9, 4, 4) || gc === IP_VERSION(9, 5, 0);
}

function mtype_local_943(ext_coherent: boolean, p: AmdgpuMtypeParams): AmdgpuMtype {
  if (ext_coherent) return AMDGPU_MTYPE_CC;
  if (p.amdgpu_mtype_local === 1) return AMDGPU_MTYPE_NC;
  if (p.amdgpu_mtype_local === 2) return AMDGPU_MTYPE_CC;
  return AMDGPU_MTYPE_RW;
}

/**
 * The MTYPE table (RFC V1 patch 07 `amdgpu_svm_range_attr_pte_flags` for system memory, the
 * v8 patch 07 rules for VRAM; rfc-series.md §3.2). Christian König asked for this switch to
 * live in the IP-specific code, so the GPU model owns it and the SVM layer calls it.
 */
export function amdgpu_svm_mtype(
  ip: AmdgpuIpInfo,
  input: AmdgpuSvmPteInput,
  params: AmdgpuMtypeParams = AMDGPU_MTYPE_PARAMS_DEFAULT,
): AmdgpuMtype {
  const gc = ip.gc;
  const { coherent, ext_coherent, domain } = input;
  const uc_or_nc = coherent ? AMDGPU_MTYPE_UC : AMDGPU_MTYPE_NC;
  if (gc === IP_VERSION(9, 4, 1) || gc === IP_VERSION(9, 4, 2)) {
    if (domain === 'vram-local') return coherent ? AMDGPU_MTYPE_CC : AMDGPU_MTYPE_RW;
    return uc_or_nc;
  }
  if (is_gc_943_family(gc)) {
    const local = mtype_local_943(ext_coherent, params);
    if (domain === 'vram-local') return local;
    // v8: remote VRAM is NC unless ext-coherent, which is UC (the KFD baseline also makes
    // non-hive remote VRAM UC below 9.5.0; the RFC does not).
    if (domain === 'vram-remote') return ext_coherent ? AMDGPU_MTYPE_UC : AMDGPU_MTYPE_NC;
    if (ip.is_app_apu) {
      if (ip.num_possible_nodes <= 1) return local;
      return ext_coherent ? AMDGPU_MTYPE_UC : AMDGPU_MTYPE_NC;
    }
    return gc < IP_VERSION(9, 5, 0) || ext_coherent ? AMDGPU_MTYPE_UC : AMDGPU_MTYPE_NC;
  }
  if (gc === IP_VERSION(12, 0, 0) || gc === IP_VERSION(12, 0, 1)) return AMDGPU_MTYPE_NC;
  // 11.0.0-11.0.4, 11.5.0-11.5.3 and every other version.
  return uc_or_nc;
}

/**
 * The whole PTE flag word of an SVM mapping (RFC V1 patch 07 `amdgpu_svm_range_attr_pte_flags`,
 * with the v8 memory-location rules): VALID, SYSTEM and SNOOPED for system memory (snoop is
 * always on there; local VRAM drops both), IS_PTE from GC 12, the MTYPE of the table above,
 * EXECUTABLE on GPU_EXEC, READABLE always, WRITEABLE unless read-only.
 */
export function amdgpu_svm_pte_flags(
  ip: AmdgpuIpInfo,
  input: AmdgpuSvmPteInput,
  params: AmdgpuMtypeParams = AMDGPU_MTYPE_PARAMS_DEFAULT,
): number {
  let pte = AMDGPU_PTE_VALID;
  if (input.domain === 'system') pte |= AMDGPU_PTE_SYSTEM | AMDGPU_PTE_SNOOPED;
  if (ip.gc >= IP_VERSION(12, 0, 0)) pte |= AMDGPU_PTE_IS_PTE;
  // amdgpu_gmc_get_vm_pte: the mapping's EXECUTABLE bit and MTYPE enter the PTE.
  if (input.gpu_exec) pte |= AMDGPU_PTE_EXECUTABLE;
  pte |= AMDGPU_PTE_MTYPE(amdgpu_svm_mtype(ip, input, params));
  pte |= AMDGPU_PTE_READABLE;
  if (!input.read_only) pte |= AMDGPU_PTE_WRITEABLE;
  return pte;
}

/** "VALID|SYSTEM|SNOOPED|READABLE|WRITEABLE MTYPE=UC": for traces and test messages. */
export function amdgpu_pte_flags_string(flags: number): string {
  const names: [number, string][] = [
    [AMDGPU_PTE_VALID, 'VALID'],
    [AMDGPU_PTE_SYSTEM, 'SYSTEM'],
    [AMDGPU_PTE_SNOOPED, 'SNOOPED'],
    [AMDGPU_PTE_TMZ, 'TMZ'],
    [AMDGPU_PTE_EXECUTABLE, 'EXECUTABLE'],
    [AMDGPU_PTE_READABLE, 'READABLE'],
    [AMDGPU_PTE_WRITEABLE, 'WRITEABLE'],
    [AMDGPU_PTE_PRT, 'PRT'],
    [AMDGPU_PDE_PTE, 'PDE_PTE'],
    [AMDGPU_PTE_TF, 'TF'],
    [AMDGPU_PTE_IS_PTE, 'IS_PTE'],
  ];
  const set = names.filter(([b]) => (flags & b) !== 0).map(([, n]) => n);
  return `${set.join('|') || '0'} MTYPE=${MTYPE_NAMES[amdgpu_pte_mtype(flags)]}`;
}

/**
 * PTE flags of an SVM mapping from its attributes (RFC V1 patch 07
 * `amdgpu_svm_range_attr_pte_flags`, "WA/POC: a simple pte flags func";
 * shared/spec/rfc-series.md §3.2). The MTYPE switch per GC IP version lives with the GPU
 * model (src/amdgpu/pte.ts amdgpu_svm_mtype), as Christian König asked for IP-specific code;
 * this file reduces the attribute flags to its inputs. V1 maps system memory only.
 */
import { AMDGPU_PTE_WRITEABLE, amdgpu_svm_pte_flags, type AmdgpuPteDomain } from '../pte.js';
import type { amdgpu_svm } from './amdgpu_svm.js';
import type { amdgpu_svm_attrs } from './attr_types.js';
import { AMDGPU_SVM_FLAGS } from './uapi.js';

/**
 * amdgpu_svm_range_attr_pte_flags (V1 patch 07): VALID | SYSTEM | SNOOPED (snoop always on),
 * IS_PTE from GC 12, the MTYPE of the IP's table ("coherent" = COHERENT | EXT_COHERENT),
 * EXECUTABLE on GPU_EXEC, READABLE always, WRITEABLE unless GPU_RO. `read_only` is the V3
 * parameter (a read-only mapping context); V1 strips WRITEABLE in the mapping loop instead.
 * `domain` is V1's 'system' always (the v8 VRAM rules are for the migration option).
 */
export function amdgpu_svm_range_attr_pte_flags(
  svm: amdgpu_svm,
  attrs: Readonly<amdgpu_svm_attrs>,
  read_only = false,
  domain: AmdgpuPteDomain = 'system',
): number {
  const flags = attrs.flags;
  const F = AMDGPU_SVM_FLAGS;
  return amdgpu_svm_pte_flags(svm.adev.ip, {
    domain,
    coherent: (flags & (F.COHERENT | F.EXT_COHERENT)) !== 0,
    ext_coherent: (flags & F.EXT_COHERENT) !== 0,
    gpu_exec: (flags & F.GPU_EXEC) !== 0,
    read_only: (flags & F.GPU_RO) !== 0 || read_only,
  });
}

/** PTE flags of a range's VRAM entries (`migration: true`): own VRAM and a peer's (P2P). */
export interface amdgpu_svm_vram_pte_flags {
  readonly local: number;
  readonly remote: number;
}

/**
 * v8 amdgpu_svm_range_attr_pte_flags for VRAM pages (`migration: true`, clarifications §6):
 * the same attribute flags with domain 'vram-local' for the GPU's own VRAM (no SYSTEM, no
 * snoop, local MTYPE) and 'vram-remote' for a peer's reached over P2P (remote MTYPE);
 * read-only when the system-memory flags `sys_pte_flags` lack WRITEABLE.
 */
export function amdgpu_svm_range_vram_pte_flags(
  svm: amdgpu_svm,
  attr_flags: number,
  sys_pte_flags: number,
): amdgpu_svm_vram_pte_flags {
  const read_only = (sys_pte_flags & AMDGPU_PTE_WRITEABLE) === 0;
  const attrs = { flags: attr_flags } as amdgpu_svm_attrs;
  return {
    local: amdgpu_svm_range_attr_pte_flags(svm, attrs, read_only, 'vram-local'),
    remote: amdgpu_svm_range_attr_pte_flags(svm, attrs, read_only, 'vram-remote'),
  };
}

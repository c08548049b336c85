/**
 * The SVM attribute layer's types and pure helpers (RFC amdgpu_svm_attr.h, patch 03, and the
 * helper half of amdgpu_svm_attr.c, V1 patch 04 / V3 patch 04; shared/spec/rfc-series.md
 * §2.1, §2.2, §2.6): the variant switch, the access enum, flag masks, change triggers, the
 * attribute struct, defaults and the VRAM-preference tests. Overview: attr.ts.
 */
import type { RwSemaphore } from '../../sim/locks.js';
import {
  AMDGPU_SVM_FLAGS,
  AMDGPU_SVM_LOCATION_SYSMEM,
  AMDGPU_SVM_LOCATION_UNDEFINED,
} from './uapi.js';

declare module '../../sim/trace.js' {
  interface TraceEventMap {
    'svm.attr.set': {
      gpu: string;
      start: number;
      last: number;
      nattr: number;
      ret: number;
      retries: number;
    };
    'svm.attr.change': { gpu: string; start: number; last: number; trigger: number };
    'svm.attr.retry': { gpu: string; start: number; last: number; retries: number };
    'svm.attr.get': { gpu: string; start: number; last: number; nattr: number; ret: number };
    'svm.attr.clear': { gpu: string; start: number; last: number; ret: number };
  }
}

/**
 * Which RFC code the attribute layer runs. 'v1': the V1 code (17 Mar; also carried by the V2
 * mails), design `rfc-v1`. 'v3': the code posted as V3 (20 Apr), "the V2 design", `rfc-v2`.
 * SIM: the kernel has one version compiled in; the model keeps both behind this switch.
 */
export type amdgpu_svm_attr_variant = 'v1' | 'v3';

/** The attribute-layer variant a design (designs.ts) runs, undefined for other designs. */
export function amdgpu_svm_attr_variant_of_design(
  design: string,
): amdgpu_svm_attr_variant | undefined {
  if (design === 'rfc-v1') return 'v1';
  if (design === 'rfc-v2') return 'v3';
  return undefined;
}

/**
 * SIM: ULONG_MAX as a page number. The kernel's is 2^64-1; pages are JS numbers here, so the
 * largest exact integer stands for it (far above any 57-bit VA's page number).
 */
export const AMDGPU_SVM_ULONG_MAX = Number.MAX_SAFE_INTEGER;

/** enum amdgpu_svm_attr_access (patch 03): "one fd one svm one GPU so no bit map". */
export const AMDGPU_SVM_ACCESS_NONE = 0;
export const AMDGPU_SVM_ACCESS_ENABLE = 1;
export const AMDGPU_SVM_ACCESS_IN_PLACE = 2;
export type amdgpu_svm_attr_access =
  | typeof AMDGPU_SVM_ACCESS_NONE
  | typeof AMDGPU_SVM_ACCESS_ENABLE
  | typeof AMDGPU_SVM_ACCESS_IN_PLACE;

const F = AMDGPU_SVM_FLAGS;
/** AMDGPU_SVM_PTE_FLAG_MASK (patch 03): flags that change the PTE bits. */
export const AMDGPU_SVM_PTE_FLAG_MASK = F.COHERENT | F.EXT_COHERENT | F.GPU_RO | F.GPU_EXEC;
/** AMDGPU_SVM_MAPPING_FLAG_MASK (patch 03): flags that change how and when the range maps. */
export const AMDGPU_SVM_MAPPING_FLAG_MASK =
  F.HOST_ACCESS | F.HIVE_LOCAL | F.GPU_READ_MOSTLY | F.GPU_ALWAYS_MAPPED;
/** AMDGPU_SVM_VALID_FLAG_MASK (patch 05): the eight UAPI flags. */
export const AMDGPU_SVM_VALID_FLAG_MASK = 0xff;

/** enum amdgpu_svm_attr_change_trigger (patch 03; RANGE_SPLIT and PREFETCH are V3 only). */
export const AMDGPU_SVM_ATTR_TRIGGER_ACCESS_CHANGE = 1 << 0;
export const AMDGPU_SVM_ATTR_TRIGGER_PTE_FLAG_CHANGE = 1 << 1;
export const AMDGPU_SVM_ATTR_TRIGGER_MAPPING_FLAG_CHANGE = 1 << 2;
export const AMDGPU_SVM_ATTR_TRIGGER_LOCATION_CHANGE = 1 << 3;
export const AMDGPU_SVM_ATTR_TRIGGER_GRANULARITY_CHANGE = 1 << 4;
export const AMDGPU_SVM_ATTR_TRIGGER_ATTR_ONLY = 1 << 5;
export const AMDGPU_SVM_ATTR_TRIGGER_RANGE_SPLIT = 1 << 6;
export const AMDGPU_SVM_ATTR_TRIGGER_PREFETCH = 1 << 7;

/** The locations as the int32 fields hold them (UNDEFINED 0xffffffff reads back as -1). */
export const LOC_UNDEFINED_I32 = AMDGPU_SVM_LOCATION_UNDEFINED | 0;
export const LOC_SYSMEM_I32 = AMDGPU_SVM_LOCATION_SYSMEM | 0;

/** struct amdgpu_svm_attrs (patch 03). */
export interface amdgpu_svm_attrs {
  /** int32_t: a UAPI location cast to int32 (UNDEFINED = -1). */
  preferred_loc: number;
  /** int32_t, as preferred_loc. */
  prefetch_loc: number;
  /** uint32_t AMDGPU_SVM_FLAG_* bits. */
  flags: number;
  /** uint32_t log2 of the granularity in pages. */
  granularity: number;
  access: amdgpu_svm_attr_access;
}

/** struct interval_tree_node: an inclusive page interval [start, last]. */
export interface interval_tree_node {
  start: number;
  last: number;
}

/** struct amdgpu_svm_attr_range (patch 03): one node of the tree. */
export interface amdgpu_svm_attr_range {
  readonly it_node: interval_tree_node;
  attrs: amdgpu_svm_attrs;
  /** SIM: set by kmem_cache_free, so a later use of a stale pointer traps use-after-free. */
  freed: boolean;
}

/**
 * The fields of struct amdgpu_svm (patch 10) the attribute layer reads; the driver's struct
 * satisfies it.
 */
export interface amdgpu_svm_attr_svm {
  readonly adev: { readonly name: string };
  /** svm->svm_lock: held for write around every range-layer apply (set_range step 5). */
  readonly svm_lock: RwSemaphore;
  readonly xnack_enabled: boolean;
  /** u8, see amdgpu_svm_attr_default_granularity. */
  readonly default_granularity: number;
  /** adev->apu_prefer_gtt. SIM: no preset is an APU, so it is absent (false) in practice. */
  readonly apu_prefer_gtt?: boolean;
}

/** The amdgpu.svm_default_granularity module parameter's default (9: 2 MiB). */
export const AMDGPU_SVM_DEFAULT_GRANULARITY_PARAM = 9;

/** amdgpu_svm_init_with_ops (V1/V3 patch 10): min_t(u8, param, 0x3f in V1 / 0x1B in V3). */
export function amdgpu_svm_attr_default_granularity(
  variant: amdgpu_svm_attr_variant,
  param = AMDGPU_SVM_DEFAULT_GRANULARITY_PARAM,
): number {
  return Math.min(param & 0xff, variant === 'v1' ? 0x3f : 0x1b);
}

/** attr_set_default (V1 patch 04) / amdgpu_svm_attr_set_default (V3 patch 04). */
export function attr_set_default(svm: amdgpu_svm_attr_svm): amdgpu_svm_attrs {
  return {
    preferred_loc: LOC_UNDEFINED_I32,
    prefetch_loc: LOC_UNDEFINED_I32,
    granularity: svm.default_granularity,
    flags: F.HOST_ACCESS | F.COHERENT,
    access: svm.xnack_enabled ? AMDGPU_SVM_ACCESS_ENABLE : AMDGPU_SVM_ACCESS_NONE,
  };
}
export const amdgpu_svm_attr_set_default = attr_set_default;

/** amdgpu_svm_attr_equal (V1 patch 04) / attr_equal (V3 patch 04). */
export function attr_equal(a: amdgpu_svm_attrs, b: amdgpu_svm_attrs): boolean {
  return (
    a.flags === b.flags &&
    a.preferred_loc === b.preferred_loc &&
    a.prefetch_loc === b.prefetch_loc &&
    a.granularity === b.granularity &&
    a.access === b.access
  );
}

/** amdgpu_svm_attr_devmem_possible (V3 patch 04). */
export function amdgpu_svm_attr_devmem_possible(
  svm: amdgpu_svm_attr_svm,
  attrs: amdgpu_svm_attrs,
): boolean {
  if (svm.apu_prefer_gtt === true) return false;
  return attrs.preferred_loc !== LOC_SYSMEM_I32;
}

/** amdgpu_svm_attr_prefer_vram (V3 patch 04). */
export function amdgpu_svm_attr_prefer_vram(
  svm: amdgpu_svm_attr_svm,
  attrs: amdgpu_svm_attrs,
): boolean {
  if (!amdgpu_svm_attr_devmem_possible(svm, attrs)) return false;
  const gpu = (loc: number) => loc !== LOC_UNDEFINED_I32 && loc !== LOC_SYSMEM_I32;
  return gpu(attrs.preferred_loc) || gpu(attrs.prefetch_loc);
}

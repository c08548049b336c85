/**
 * The UAPI side of SET_ATTR (V1 and V3 patch 05; shared/spec/rfc-series.md §1.2, §2.2, §2.3):
 * per-attribute validation, applying UAPI attributes to struct amdgpu_svm_attrs, and the
 * change trigger computed from old and new attributes.
 */
import { EINVAL } from '../../sim/errno.js';
import {
  AMDGPU_SVM_ACCESS_ENABLE,
  AMDGPU_SVM_ACCESS_IN_PLACE,
  AMDGPU_SVM_ACCESS_NONE,
  AMDGPU_SVM_ATTR_TRIGGER_ACCESS_CHANGE,
  AMDGPU_SVM_ATTR_TRIGGER_ATTR_ONLY,
  AMDGPU_SVM_ATTR_TRIGGER_GRANULARITY_CHANGE,
  AMDGPU_SVM_ATTR_TRIGGER_LOCATION_CHANGE,
  AMDGPU_SVM_ATTR_TRIGGER_MAPPING_FLAG_CHANGE,
  AMDGPU_SVM_ATTR_TRIGGER_PREFETCH,
  AMDGPU_SVM_ATTR_TRIGGER_PTE_FLAG_CHANGE,
  AMDGPU_SVM_MAPPING_FLAG_MASK,
  AMDGPU_SVM_PTE_FLAG_MASK,
  AMDGPU_SVM_VALID_FLAG_MASK,
  LOC_SYSMEM_I32,
  LOC_UNDEFINED_I32,
  type amdgpu_svm_attr_variant,
  type amdgpu_svm_attrs,
} from './attr_types.js';
import {
  AMDGPU_SVM_ATTR,
  AMDGPU_SVM_FLAGS,
  AMDGPU_SVM_LOCATION_UNDEFINED,
  type drm_amdgpu_svm_attribute,
} from './uapi.js';

const A = AMDGPU_SVM_ATTR;

/**
 * amdgpu_svm_attr_set_validate (patch 05) with its attr_check_* helpers. SIM: takes the
 * variant, since V3's attr_check_flags also rejects GPU_ALWAYS_MAPPED. ACCESS-type values are
 * GPU ids: only 0 and 0xffffffff are rejected and the id does not pick the GPU (one fd, one
 * svm, one GPU). GRANULARITY is not checked; amdgpu_svm_attr_apply clamps it.
 */
export function amdgpu_svm_attr_set_validate(
  variant: amdgpu_svm_attr_variant,
  attr: Readonly<drm_amdgpu_svm_attribute>,
): number {
  const v = attr.value >>> 0;
  switch (attr.type) {
    case A.PREFERRED_LOC:
      return 0;
    case A.PREFETCH_LOC:
      return v === AMDGPU_SVM_LOCATION_UNDEFINED ? -EINVAL : 0;
    case A.ACCESS:
    case A.ACCESS_IN_PLACE:
    case A.NO_ACCESS:
      return v === 0 || v === AMDGPU_SVM_LOCATION_UNDEFINED ? -EINVAL : 0;
    case A.SET_FLAGS:
    case A.CLR_FLAGS:
      if (v & ~AMDGPU_SVM_VALID_FLAG_MASK) return -EINVAL;
      // V3: "AMDGPU_SVM_FLAG_GPU_ALWAYS_MAPPED is not supported yet"
      if (variant === 'v3' && v & AMDGPU_SVM_FLAGS.GPU_ALWAYS_MAPPED) return -EINVAL;
      return 0;
    case A.GRANULARITY:
      return 0;
    default:
      return -EINVAL;
  }
}

/** amdgpu_svm_attr_apply (patch 05): apply UAPI attributes in order; unknown types ignored. */
export function amdgpu_svm_attr_apply(
  attrs: amdgpu_svm_attrs,
  pattrs: readonly Readonly<drm_amdgpu_svm_attribute>[],
): void {
  for (const attr of pattrs) {
    const v = attr.value >>> 0;
    switch (attr.type) {
      case A.PREFERRED_LOC:
        attrs.preferred_loc = v | 0;
        break;
      case A.PREFETCH_LOC:
        attrs.prefetch_loc = v | 0;
        break;
      case A.ACCESS:
        attrs.access = AMDGPU_SVM_ACCESS_ENABLE;
        break;
      case A.ACCESS_IN_PLACE:
        attrs.access = AMDGPU_SVM_ACCESS_IN_PLACE;
        break;
      case A.NO_ACCESS:
        attrs.access = AMDGPU_SVM_ACCESS_NONE;
        break;
      case A.SET_FLAGS:
        attrs.flags = (attrs.flags | v) >>> 0;
        break;
      case A.CLR_FLAGS:
        attrs.flags = (attrs.flags & ~v) >>> 0;
        break;
      case A.GRANULARITY:
        attrs.granularity = Math.min(v, 0x3f);
        break;
      default:
        break;
    }
  }
}

/**
 * attr_change_ctx_trigger (V1 patch 05, V3 patch 04). V1: LOCATION_CHANGE on either location.
 * V3: LOCATION_CHANGE on preferred_loc only, and PREFETCH whenever the new prefetch_loc is a
 * GPU, changed or not. ATTR_ONLY when nothing else is set.
 */
export function attr_change_ctx_trigger(
  variant: amdgpu_svm_attr_variant,
  prev: amdgpu_svm_attrs,
  next: amdgpu_svm_attrs,
): number {
  let trigger = 0;
  const changed_flags = prev.flags ^ next.flags;
  if (prev.access !== next.access) trigger |= AMDGPU_SVM_ATTR_TRIGGER_ACCESS_CHANGE;
  if (changed_flags & AMDGPU_SVM_PTE_FLAG_MASK) trigger |= AMDGPU_SVM_ATTR_TRIGGER_PTE_FLAG_CHANGE;
  if (changed_flags & AMDGPU_SVM_MAPPING_FLAG_MASK)
    trigger |= AMDGPU_SVM_ATTR_TRIGGER_MAPPING_FLAG_CHANGE;
  if (
    prev.preferred_loc !== next.preferred_loc ||
    (variant === 'v1' && prev.prefetch_loc !== next.prefetch_loc)
  )
    trigger |= AMDGPU_SVM_ATTR_TRIGGER_LOCATION_CHANGE;
  if (prev.granularity !== next.granularity) trigger |= AMDGPU_SVM_ATTR_TRIGGER_GRANULARITY_CHANGE;
  if (
    variant === 'v3' &&
    next.prefetch_loc !== LOC_UNDEFINED_I32 &&
    next.prefetch_loc !== LOC_SYSMEM_I32
  )
    trigger |= AMDGPU_SVM_ATTR_TRIGGER_PREFETCH;
  return trigger || AMDGPU_SVM_ATTR_TRIGGER_ATTR_ONLY;
}

/** attr_has_access (patch 05): the request grants access (ACCESS or ACCESS_IN_PLACE). */
export function attr_has_access(attrs: readonly Readonly<drm_amdgpu_svm_attribute>[]): boolean {
  return attrs.some((a) => a.type === A.ACCESS || a.type === A.ACCESS_IN_PLACE);
}

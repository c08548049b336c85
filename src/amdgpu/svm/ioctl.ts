/**
 * DRM_IOCTL_AMDGPU_GEM_SVM (RFC V1 patch 11 `amdgpu_gem_svm_ioctl`, patch 05
 * `amdgpu_svm_attr_set` / `_validate_range_vma`; shared/spec/rfc-series.md §1.2): decode
 * the argument, copy the attribute array from user memory, validate in the kernel's order and
 * dispatch SET_ATTR / GET_ATTR to the attribute layer, whose range-layer hooks are the
 * design's. Byte addresses exist only here; everything below takes page numbers.
 */
import type { MmStruct } from '../../mm/mm_types.js';
import { VM_IO, VM_MIXEDMAP, VM_PFNMAP } from '../../mm/consts.js';
import { mmap_read_lock, mmap_read_unlock } from '../../mm/mm_struct.js';
import { vma_lookup } from '../../mm/vma.js';
import { EFAULT, EINVAL, EOPNOTSUPP } from '../../sim/errno.js';
import { down_write, up_write } from '../../sim/locks.js';
import { getSim } from '../../sim/scheduler.js';
import type { Co } from '../../sim/task.js';
import type { amdgpu_fpriv } from '../amdgpu.js';
import { amdgpu_svm_is_enabled, amdgpu_vm_svm, type amdgpu_svm } from './amdgpu_svm.js';
import { amdgpu_svm_attr_get } from './attr_get.js';
import { amdgpu_svm_attr_set, type amdgpu_svm_attr_set_ops } from './attr_set.js';
import { AMDGPU_SVM_ULONG_MAX } from './attr_types.js';
import { amdgpu_svm_migration_enabled, amdgpu_svm_range_migrate } from './migrate.js';
import {
  AMDGPU_SVM_ATTR,
  AMDGPU_SVM_LOCATION_SYSMEM,
  AMDGPU_SVM_MAX_ATTRS,
  AMDGPU_SVM_OP_GET_ATTR,
  AMDGPU_SVM_OP_SET_ATTR,
  SVM_ATTRIBUTE_SIZE,
  decode_attrs,
  decode_gem_svm,
  encode_attrs,
  type UserMemory,
  type drm_amdgpu_svm_attribute,
} from './uapi.js';
import './events.js';

const PAGE_MASK_LOW = 0xfffn;
const U64 = 1n << 64n;

/**
 * The page interval of [start, start + size) as the C computes it on unsigned 64-bit values:
 * start >> PAGE_SHIFT and (start + size - 1) >> PAGE_SHIFT, wrapping. SIM: a page number
 * above AMDGPU_SVM_ULONG_MAX stands at ULONG_MAX (rejected by validate_range_vma).
 */
export function amdgpu_svm_page_interval(
  start: bigint,
  size: bigint,
): { start_page: number; last_page: number } {
  const last = (((start + size - 1n) % U64) + U64) % U64;
  const clamp = (p: bigint): number =>
    p > BigInt(AMDGPU_SVM_ULONG_MAX) ? AMDGPU_SVM_ULONG_MAX : Number(p);
  return { start_page: clamp(start >> 12n), last_page: clamp(last >> 12n) };
}

/**
 * The mm half of amdgpu_svm_attr_validate_range_vma (V1 patch 05): no mm -> -EFAULT; under
 * mmap_read_lock every page in a VMA, none of them VM_IO|VM_PFNMAP|VM_MIXEDMAP, else
 * -EFAULT (V1; the V3 amdgpu_svm_check_vma says -EOPNOTSUPP for device VMAs).
 */
export function* amdgpu_svm_validate_range_mm(
  svm: amdgpu_svm,
  start_page: number,
  last_page: number,
): Co<number> {
  const mm: MmStruct | null = svm.mm;
  if (!mm) return -EFAULT;
  const device_vma = VM_IO | VM_PFNMAP | VM_MIXEDMAP;
  const end = last_page + 1;
  let start = start_page;
  let ret = 0;
  yield* mmap_read_lock(mm);
  while (start < end) {
    const vma = vma_lookup(mm, start);
    if (!vma) {
      ret = -EFAULT;
      break;
    }
    if (vma.vm_flags & device_vma) {
      ret = svm.design.device_vma_errno;
      break;
    }
    start = Math.min(end, vma.vm_end);
  }
  mmap_read_unlock(mm);
  return ret;
}

/** The range-layer hooks amdgpu_svm_attr_set gets from the design. */
export function amdgpu_svm_attr_set_ops_of(svm: amdgpu_svm): amdgpu_svm_attr_set_ops {
  return {
    validate_range: (s, l) => amdgpu_svm_validate_range_mm(svm, s, l),
    flush: () => svm.design.flush(svm),
    apply: (change) => svm.design.apply_attr_change(svm, change),
  };
}

/**
 * amdgpu_svm_set_attr (V1 patch 11): flush the workers first ("reduce the probability of
 * failure": find_or_insert takes mmap_lock itself, so the ioctl cannot hold it throughout),
 * then the attribute layer's SET with its retry loop.
 */
function* amdgpu_svm_set_attr(
  svm: amdgpu_svm,
  start: bigint,
  size: bigint,
  attrs: readonly drm_amdgpu_svm_attribute[],
): Co<number> {
  yield* svm.design.sync_work(svm);
  const { start_page, last_page } = amdgpu_svm_page_interval(start, size);
  const tree = svm.attr_tree;
  if (!tree) return -EINVAL;
  const ret = yield* amdgpu_svm_attr_set(
    tree,
    start_page,
    last_page,
    attrs,
    amdgpu_svm_attr_set_ops_of(svm),
  );
  if (ret) return ret;
  // `migration: true` (v8, as KFD's svm_range_trigger_migration): a PREFETCH_LOC sysmem
  // request moves the interval's VRAM pages back; neither RFC raises a trigger for it.
  const to_sysmem = attrs.some(
    (a) => a.type === AMDGPU_SVM_ATTR.PREFETCH_LOC && a.value === AMDGPU_SVM_LOCATION_SYSMEM,
  );
  if (to_sysmem && amdgpu_svm_migration_enabled(svm)) {
    yield* down_write(svm.svm_lock);
    yield* amdgpu_svm_range_migrate(svm, start_page, last_page + 1, 'ram', 0);
    up_write(svm.svm_lock);
  }
  return 0;
}

/** amdgpu_svm_get_attr (V1 patch 11). */
function* amdgpu_svm_get_attr(
  svm: amdgpu_svm,
  start: bigint,
  size: bigint,
  attrs: drm_amdgpu_svm_attribute[],
): Co<number> {
  const { start_page, last_page } = amdgpu_svm_page_interval(start, size);
  const tree = svm.attr_tree;
  if (!tree) return -EINVAL;
  return yield* amdgpu_svm_attr_get(tree, start_page, last_page, attrs);
}

/**
 * amdgpu_svm_copy_attrs (V1 patch 11): nattr 0 or above AMDGPU_SVM_MAX_ATTRS, or a NULL
 * attrs_ptr, is -EINVAL; memdup_user of the array, -EFAULT on a bad pointer.
 */
function amdgpu_svm_copy_attrs(
  nattr: number,
  attrs_ptr: bigint,
  user: UserMemory,
): drm_amdgpu_svm_attribute[] | number {
  if (!nattr || nattr > AMDGPU_SVM_MAX_ATTRS) return -EINVAL;
  if (!attrs_ptr) return -EINVAL;
  const bytes = user.copy_from_user(attrs_ptr, nattr * SVM_ATTRIBUTE_SIZE);
  if (typeof bytes === 'number') return bytes;
  return decode_attrs(bytes, nattr);
}

/**
 * amdgpu_gem_svm_ioctl (V1 patch 11): -EOPNOTSUPP without an SVM instance; start or size not
 * page aligned, or zero, -EINVAL; the attribute copy; then SET_ATTR, GET_ATTR (results copied
 * back, -EFAULT if that fails) or -EINVAL for an unknown operation.
 */
export function* amdgpu_gem_svm_ioctl(
  fpriv: amdgpu_fpriv,
  arg: Uint8Array,
  user: UserMemory,
): Co<number> {
  const args = decode_gem_svm(arg);
  const vm = fpriv.vm;
  const sim = getSim();
  sim.account('svm_ioctls', 1, 'ioctl_entry', fpriv.adev.name);
  const svm = amdgpu_vm_svm(vm);
  if (!amdgpu_svm_is_enabled(vm) || !svm) return -EOPNOTSUPP;
  if (args.start_addr & PAGE_MASK_LOW || args.size & PAGE_MASK_LOW) return -EINVAL;
  if (!args.start_addr || !args.size) return -EINVAL;
  const attrs = amdgpu_svm_copy_attrs(args.nattr, args.attrs_ptr, user);
  if (typeof attrs === 'number') return attrs;
  let ret: number;
  switch (args.operation) {
    case AMDGPU_SVM_OP_SET_ATTR:
      ret = yield* amdgpu_svm_set_attr(svm, args.start_addr, args.size, attrs);
      break;
    case AMDGPU_SVM_OP_GET_ATTR:
      ret = yield* amdgpu_svm_get_attr(svm, args.start_addr, args.size, attrs);
      if (!ret && user.copy_to_user(args.attrs_ptr, encode_attrs(attrs))) ret = -EFAULT;
      break;
    default:
      ret = -EINVAL;
      break;
  }
  sim.trace.emit('svm.ioctl', {
    gpu: fpriv.adev.name,
    op: args.operation,
    start: Number(args.start_addr >> 12n),
    npages: Number(args.size >> 12n),
    ret,
  });
  return ret;
}

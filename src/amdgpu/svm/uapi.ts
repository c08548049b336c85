/**
 * The DRM_AMDGPU_GEM_SVM UAPI as patch 01 of the RFC adds it to
 * include/uapi/drm/amdgpu_drm.h (V1 to V3 share the hunk; shared/spec/rfc-series.md §1.1),
 * with the binary layout of its two structs and a little-endian codec. u64 fields are
 * bigint, as they cross the user/kernel boundary.
 */
import { EFAULT } from '../../sim/errno.js';

/** DRM_AMDGPU_GEM_SVM: the ioctl number after DRM_AMDGPU_GEM_LIST_HANDLES (0x19). */
export const DRM_AMDGPU_GEM_SVM = 0x1a;

export const AMDGPU_SVM_OP_SET_ATTR = 0;
export const AMDGPU_SVM_OP_GET_ATTR = 1;

/** AMDGPU_SVM_MAX_ATTRS: the most attributes one call may carry. */
export const AMDGPU_SVM_MAX_ATTRS = 64;

export const AMDGPU_SVM_FLAGS = {
  HOST_ACCESS: 0x01,
  COHERENT: 0x02,
  HIVE_LOCAL: 0x04,
  GPU_RO: 0x08,
  GPU_EXEC: 0x10,
  GPU_READ_MOSTLY: 0x20,
  GPU_ALWAYS_MAPPED: 0x40,
  EXT_COHERENT: 0x80,
} as const;
export type SvmFlagName = keyof typeof AMDGPU_SVM_FLAGS;
/** Every defined flag bit. */
export const AMDGPU_SVM_FLAG_MASK = 0xff;

export const AMDGPU_SVM_ATTR = {
  PREFERRED_LOC: 0,
  PREFETCH_LOC: 1,
  ACCESS: 2,
  ACCESS_IN_PLACE: 3,
  NO_ACCESS: 4,
  SET_FLAGS: 5,
  CLR_FLAGS: 6,
  GRANULARITY: 7,
} as const;
export type SvmAttrName = keyof typeof AMDGPU_SVM_ATTR;

export const AMDGPU_SVM_LOCATION_SYSMEM = 0;
export const AMDGPU_SVM_LOCATION_UNDEFINED = 0xffffffff;

export function svmAttrName(type: number): SvmAttrName | undefined {
  for (const [k, v] of Object.entries(AMDGPU_SVM_ATTR)) if (v === type) return k as SvmAttrName;
  return undefined;
}

export function isSvmAttrName(s: string): s is SvmAttrName {
  return Object.prototype.hasOwnProperty.call(AMDGPU_SVM_ATTR, s);
}

export function isSvmFlagName(s: string): s is SvmFlagName {
  return Object.prototype.hasOwnProperty.call(AMDGPU_SVM_FLAGS, s);
}

/** Flag names set in `bits` (defined flags only). */
export function svmFlagNames(bits: number): SvmFlagName[] {
  return (Object.keys(AMDGPU_SVM_FLAGS) as SvmFlagName[]).filter(
    (n) => (bits & AMDGPU_SVM_FLAGS[n]) !== 0,
  );
}

/** struct drm_amdgpu_svm_attribute { __u32 type; __u32 value; } */
export interface drm_amdgpu_svm_attribute {
  type: number;
  value: number;
}
export const SVM_ATTRIBUTE_SIZE = 8;

/**
 * struct drm_amdgpu_gem_svm { __u64 start_addr; __u64 size; __u32 operation; __u32 nattr;
 * __u64 attrs_ptr; }: 32 bytes, no padding.
 */
export interface drm_amdgpu_gem_svm {
  start_addr: bigint;
  size: bigint;
  operation: number;
  nattr: number;
  attrs_ptr: bigint;
}
export const GEM_SVM_SIZE = 32;

const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = 0xffffffff;

function checkU64(name: string, v: bigint): void {
  if (v < 0n || v > U64_MAX) throw new RangeError(`${name} ${v} does not fit in __u64`);
}
function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > U32_MAX) {
    throw new RangeError(`${name} ${v} does not fit in __u32`);
  }
}

export function encode_gem_svm(a: drm_amdgpu_gem_svm): Uint8Array {
  checkU64('start_addr', a.start_addr);
  checkU64('size', a.size);
  checkU32('operation', a.operation);
  checkU32('nattr', a.nattr);
  checkU64('attrs_ptr', a.attrs_ptr);
  const buf = new Uint8Array(GEM_SVM_SIZE);
  const dv = new DataView(buf.buffer);
  dv.setBigUint64(0, a.start_addr, true);
  dv.setBigUint64(8, a.size, true);
  dv.setUint32(16, a.operation, true);
  dv.setUint32(20, a.nattr, true);
  dv.setBigUint64(24, a.attrs_ptr, true);
  return buf;
}

export function decode_gem_svm(buf: Uint8Array): drm_amdgpu_gem_svm {
  if (buf.byteLength < GEM_SVM_SIZE) {
    throw new RangeError(`struct drm_amdgpu_gem_svm needs ${GEM_SVM_SIZE} bytes`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    start_addr: dv.getBigUint64(0, true),
    size: dv.getBigUint64(8, true),
    operation: dv.getUint32(16, true),
    nattr: dv.getUint32(20, true),
    attrs_ptr: dv.getBigUint64(24, true),
  };
}

export function encode_attrs(attrs: readonly drm_amdgpu_svm_attribute[]): Uint8Array {
  const buf = new Uint8Array(attrs.length * SVM_ATTRIBUTE_SIZE);
  const dv = new DataView(buf.buffer);
  attrs.forEach((a, i) => {
    checkU32(`attrs[${i}].type`, a.type);
    checkU32(`attrs[${i}].value`, a.value);
    dv.setUint32(i * SVM_ATTRIBUTE_SIZE, a.type, true);
    dv.setUint32(i * SVM_ATTRIBUTE_SIZE + 4, a.value, true);
  });
  return buf;
}

export function decode_attrs(buf: Uint8Array, nattr: number): drm_amdgpu_svm_attribute[] {
  if (buf.byteLength < nattr * SVM_ATTRIBUTE_SIZE) {
    throw new RangeError(`${nattr} attributes need ${nattr * SVM_ATTRIBUTE_SIZE} bytes`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: drm_amdgpu_svm_attribute[] = [];
  for (let i = 0; i < nattr; i++) {
    out.push({
      type: dv.getUint32(i * SVM_ATTRIBUTE_SIZE, true),
      value: dv.getUint32(i * SVM_ATTRIBUTE_SIZE + 4, true),
    });
  }
  return out;
}

/**
 * SIM: the user memory an ioctl argument pointer points into. Page contents in the model are
 * one 32-bit value per page, so byte buffers that userspace passes by pointer (the attribute
 * array) live here instead, each at its own user address; copy_from_user / copy_to_user of
 * any other address fail with -EFAULT, as an unmapped pointer would.
 */
export class UserMemory {
  private readonly buffers = new Map<bigint, Uint8Array>();
  private next = 0x7e00_0000_0000n;

  /** Place `bytes` at a fresh user address and return it. */
  alloc(bytes: Uint8Array): bigint {
    const at = this.next;
    this.next += BigInt(Math.max(4096, Math.ceil(bytes.byteLength / 4096) * 4096));
    this.buffers.set(at, bytes);
    return at;
  }

  free(at: bigint): void {
    this.buffers.delete(at);
  }

  private find(ptr: bigint, len: number): { buf: Uint8Array; off: number } | null {
    for (const [at, buf] of this.buffers) {
      if (ptr >= at && ptr + BigInt(len) <= at + BigInt(buf.byteLength))
        return { buf, off: Number(ptr - at) };
    }
    return null;
  }

  /** copy_from_user: the bytes, or -EFAULT. */
  copy_from_user(ptr: bigint, len: number): Uint8Array | number {
    if (len === 0) return new Uint8Array(0);
    const f = this.find(ptr, len);
    return f ? f.buf.slice(f.off, f.off + len) : -EFAULT;
  }

  /** copy_to_user: 0, or -EFAULT. */
  copy_to_user(ptr: bigint, bytes: Uint8Array): number {
    if (bytes.byteLength === 0) return 0;
    const f = this.find(ptr, bytes.byteLength);
    if (!f) return -EFAULT;
    f.buf.set(bytes, f.off);
    return 0;
  }
}

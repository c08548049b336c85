import { describe, expect, it } from 'vitest';
import { amdgpu_driver_open_kms } from '../../../src/amdgpu/device.js';
import type { amdgpu_fpriv } from '../../../src/amdgpu/amdgpu.js';
import { amdgpu_svm_page_interval } from '../../../src/amdgpu/svm/ioctl.js';
import {
  AMDGPU_SVM_ATTR as A,
  AMDGPU_SVM_FLAGS as F,
  AMDGPU_SVM_LOCATION_SYSMEM,
  AMDGPU_SVM_LOCATION_UNDEFINED,
  AMDGPU_SVM_OP_GET_ATTR as GET,
  AMDGPU_SVM_OP_SET_ATTR as SET,
  UserMemory,
  type drm_amdgpu_svm_attribute,
} from '../../../src/amdgpu/svm/uapi.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../../src/mm/consts.js';
import { do_mmap } from '../../../src/mm/mmap.js';
import { EFAULT, EINVAL, EOPNOTSUPP, errnoName } from '../../../src/sim/errno.js';
import { counter, ioctl, machine, mmap, run, type IoctlArgs } from './harness.js';

const GPU0 = 0x1000;
const access: drm_amdgpu_svm_attribute[] = [{ type: A.ACCESS, value: GPU0 }];

/** copy_to_user always fails (a user buffer that became read-only). */
class ReadOnlyUser extends UserMemory {
  override copy_to_user(): number {
    return -EFAULT;
  }
}

describe('amdgpu_gem_svm_ioctl: validation order and errno (rfc-series §1.2)', () => {
  const m = machine();
  const buf = run(m, () => mmap(m, 16, 1));
  const io = run(m, function* () {
    return yield* do_mmap(m.proc.mm, {
      npages: 4,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
      io: true,
    });
  });
  const B = BigInt(buf) << 12n;
  const SZ = 16n << 12n;
  const call = (a: Partial<IoctlArgs>): number =>
    run(m, () => ioctl(m, { op: SET, start: B, size: SZ, attrs: access, ...a })).r;

  const cases: [string, Partial<IoctlArgs>, number][] = [
    ['start not page aligned', { start: B + 8n }, -EINVAL],
    ['size not page aligned', { size: SZ - 1n }, -EINVAL],
    ['start 0', { start: 0n }, -EINVAL],
    ['size 0', { size: 0n }, -EINVAL],
    ['nattr 0', { nattr: 0 }, -EINVAL],
    ['nattr above AMDGPU_SVM_MAX_ATTRS', { nattr: 65 }, -EINVAL],
    ['attrs_ptr NULL', { ptr: 0n }, -EINVAL],
    ['attrs_ptr unmapped (memdup_user)', { ptr: 0x1234_5000n }, -EFAULT],
    ['unknown operation', { op: 7 }, -EINVAL],
    [
      'PREFETCH_LOC undefined',
      { attrs: [{ type: A.PREFETCH_LOC, value: AMDGPU_SVM_LOCATION_UNDEFINED }] },
      -EINVAL,
    ],
    ['ACCESS gpu id 0', { attrs: [{ type: A.ACCESS, value: 0 }] }, -EINVAL],
    [
      'ACCESS_IN_PLACE undefined',
      { attrs: [{ type: A.ACCESS_IN_PLACE, value: AMDGPU_SVM_LOCATION_UNDEFINED }] },
      -EINVAL,
    ],
    ['NO_ACCESS gpu id 0', { attrs: [{ type: A.NO_ACCESS, value: 0 }] }, -EINVAL],
    [
      'SET_FLAGS outside the eight flags',
      { attrs: [{ type: A.SET_FLAGS, value: 0x100 }] },
      -EINVAL,
    ],
    [
      'CLR_FLAGS outside the eight flags',
      { attrs: [{ type: A.CLR_FLAGS, value: 0x8000 }] },
      -EINVAL,
    ],
    ['unknown attribute type', { attrs: [{ type: 8, value: 1 }] }, -EINVAL],
    ['range wraps past 2^64 (start > last)', { start: (1n << 64n) - 4096n, size: 8192n }, -EINVAL],
    ['range not covered by a VMA', { size: SZ + 4096n }, -EFAULT],
    ['range in a hole', { start: B - (64n << 12n), size: 4096n }, -EFAULT],
    ['VM_IO | VM_PFNMAP VMA (V1: -EFAULT)', { start: BigInt(io) << 12n, size: 4096n }, -EFAULT],
    // Order: each check wins over the later ones.
    ['unaligned start before a NULL attrs_ptr', { start: B + 1n, ptr: 0n }, -EINVAL],
    ['bad pointer before an unknown operation', { op: 9, ptr: 0x999_0000n }, -EFAULT],
    [
      'bad attribute before the VMA check',
      { size: SZ + 4096n, attrs: [{ type: 99, value: 0 }] },
      -EINVAL,
    ],
    ['GET: unknown type', { op: GET, attrs: [{ type: 42, value: 0 }] }, -EINVAL],
    ['GET: copy_to_user fails', { op: GET, user: new ReadOnlyUser() }, -EFAULT],
    ['SET: valid', {}, 0],
    [
      'SET: every valid attribute at once',
      {
        attrs: [
          { type: A.PREFERRED_LOC, value: AMDGPU_SVM_LOCATION_SYSMEM },
          { type: A.PREFETCH_LOC, value: GPU0 },
          { type: A.ACCESS_IN_PLACE, value: GPU0 },
          { type: A.SET_FLAGS, value: F.GPU_EXEC | F.GPU_ALWAYS_MAPPED },
          { type: A.CLR_FLAGS, value: F.HOST_ACCESS },
          { type: A.GRANULARITY, value: 0xff },
        ],
      },
      0,
    ],
  ];
  it.each(cases)('%s', (_name, a, want) => {
    if (a.user) {
      // The attribute array must still be readable for GET to reach copy_to_user.
      const u = a.user;
      const r = run(m, () =>
        ioctl(m, { op: SET, start: B, size: SZ, attrs: access, ...a, user: u }),
      );
      expect(errnoName(r.r)).toBe(errnoName(want));
      return;
    }
    expect(errnoName(call(a))).toBe(errnoName(want));
  });

  it('-EOPNOTSUPP on a render node whose VM has no SVM instance (not a compute VM)', () => {
    const other = m.world.newProcess('other', null);
    const f = run(m, () => amdgpu_driver_open_kms(m.world.device('gpu0'), other.mm));
    expect(typeof f).not.toBe('number');
    const r = run(m, () =>
      ioctl(m, { op: SET, start: B, size: SZ, attrs: access, file: f as amdgpu_fpriv }),
    );
    expect(errnoName(r.r)).toBe('EOPNOTSUPP');
    expect(-EOPNOTSUPP).toBe(r.r);
  });

  it('counts every call (svm_ioctls, cost ioctl_entry)', () => {
    const before = counter(m, 'svm_ioctls@gpu0');
    call({ start: 0n });
    expect(counter(m, 'svm_ioctls@gpu0')).toBe(before + 1);
  });
});

describe('SET_ATTR and GET_ATTR round trip', () => {
  it('GET returns what SET stored, and the defaults of V1 over unregistered pages', () => {
    const m = machine();
    const buf = run(m, () => mmap(m, 32, 1));
    const B = BigInt(buf) << 12n;
    const set = run(m, () =>
      ioctl(m, {
        op: SET,
        start: B,
        size: 16n << 12n,
        attrs: [
          { type: A.PREFERRED_LOC, value: AMDGPU_SVM_LOCATION_SYSMEM },
          { type: A.SET_FLAGS, value: F.GPU_EXEC },
          { type: A.GRANULARITY, value: 4 },
        ],
      }),
    );
    expect(set.r).toBe(0);
    const q = [
      { type: A.PREFERRED_LOC, value: 0 },
      { type: A.SET_FLAGS, value: 0 },
      { type: A.GRANULARITY, value: 0 },
      { type: A.ACCESS, value: GPU0 },
    ];
    const got = run(m, () => ioctl(m, { op: GET, start: B, size: 16n << 12n, attrs: q }));
    expect(got.r).toBe(0);
    expect(got.out).toEqual([
      { type: A.PREFERRED_LOC, value: AMDGPU_SVM_LOCATION_SYSMEM },
      { type: A.SET_FLAGS, value: F.HOST_ACCESS | F.COHERENT | F.GPU_EXEC },
      { type: A.GRANULARITY, value: 4 },
      { type: A.NO_ACCESS, value: GPU0 },
    ]);
    // Pages 16..31 were never set: V1 answers the defaults (XNACK off: NO_ACCESS, gran 9).
    const dflt = run(m, () =>
      ioctl(m, { op: GET, start: B + (16n << 12n), size: 16n << 12n, attrs: q }),
    );
    expect(dflt.out).toEqual([
      { type: A.PREFERRED_LOC, value: AMDGPU_SVM_LOCATION_UNDEFINED },
      { type: A.SET_FLAGS, value: F.HOST_ACCESS | F.COHERENT },
      { type: A.GRANULARITY, value: 9 },
      { type: A.NO_ACCESS, value: GPU0 },
    ]);
  });

  it('computes the page interval as the C does on u64 values', () => {
    expect(amdgpu_svm_page_interval(0x1000n, 0x2000n)).toEqual({ start_page: 1, last_page: 2 });
    const wrap = amdgpu_svm_page_interval((1n << 64n) - 4096n, 8192n);
    expect(wrap.last_page).toBeLessThan(wrap.start_page);
  });
});

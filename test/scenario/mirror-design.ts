/**
 * A test-only design, "test-mirror": SET_ATTR with ACCESS faults the range in on the CPU and
 * maps those frames into the GPU VM, with no notifier at all. It lets runner tests drive GPU
 * steps before the real drivers, and it is deliberately wrong: a later munmap, COW or reclaim
 * leaves the GPU on the old frame, which the oracle must catch.
 */
import type { amdgpu_fpriv } from '../../src/amdgpu/amdgpu.js';
import {
  AMDGPU_PTE_READABLE,
  AMDGPU_PTE_SNOOPED,
  AMDGPU_PTE_SYSTEM,
  AMDGPU_PTE_VALID,
  AMDGPU_PTE_WRITEABLE,
} from '../../src/amdgpu/pte.js';
import { amdgpu_vm_lock_pd, amdgpu_vm_unlock_pd } from '../../src/amdgpu/vm.js';
import { amdgpu_vm_update_pdes, amdgpu_vm_update_range } from '../../src/amdgpu/vm_pt.js';
import { registerDesign, registerDriver } from '../../src/amdgpu/svm/designs.js';
import {
  AMDGPU_SVM_ATTR,
  AMDGPU_SVM_OP_SET_ATTR,
  decode_attrs,
  decode_gem_svm,
  encode_attrs,
  type UserMemory,
} from '../../src/amdgpu/svm/uapi.js';
import { mm_pte_pfn } from '../../src/mm/access.js';
import { FAULT_FLAG_WRITE } from '../../src/mm/consts.js';
import { handle_mm_fault } from '../../src/mm/fault.js';
import type { MmStruct } from '../../src/mm/mm_types.js';
import { mmap_read_lock, mmap_read_unlock } from '../../src/mm/mm_struct.js';
import { vma_lookup } from '../../src/mm/vma.js';
import { EFAULT } from '../../src/sim/errno.js';
import type { Co } from '../../src/sim/task.js';

function* mirror(fpriv: amdgpu_fpriv, start: number, npages: number): Co<number> {
  const mm = fpriv.mm as MmStruct;
  const pfns: number[] = [];
  yield* mmap_read_lock(mm);
  for (let i = 0; i < npages; i++) {
    const vma = vma_lookup(mm, start + i);
    if (!vma) {
      mmap_read_unlock(mm);
      return -EFAULT;
    }
    yield* handle_mm_fault(vma, start + i, FAULT_FLAG_WRITE);
    pfns.push(mm_pte_pfn(mm, start + i));
  }
  mmap_read_unlock(mm);
  const { adev, vm } = fpriv;
  yield* amdgpu_vm_lock_pd(vm);
  const flags =
    AMDGPU_PTE_VALID |
    AMDGPU_PTE_SYSTEM |
    AMDGPU_PTE_SNOOPED |
    AMDGPU_PTE_READABLE |
    AMDGPU_PTE_WRITEABLE;
  let r = yield* amdgpu_vm_update_range(
    adev,
    vm,
    false,
    false,
    true,
    false,
    null,
    start,
    start + npages - 1,
    flags,
    0,
    0,
    null,
    pfns,
    null,
  );
  if (!r) r = yield* amdgpu_vm_update_pdes(adev, vm, false);
  amdgpu_vm_unlock_pd(vm);
  return r;
}

registerDesign({
  name: 'test-mirror',
  description: 'test only',
  defaultXnack: false,
  options: {
    noisy: { description: 'SET_ATTR maps nothing', default: false },
    liar: { description: 'GET_ATTR answers PREFERRED_LOC wrongly', default: false },
  },
});

/** Option `noisy`: SET_ATTR succeeds but maps nothing (a planted driver bug). */
let mapsNothing = false;
/** Option `liar`: GET_ATTR returns a wrong preferred location (a planted driver bug). */
let lies = false;
/** The last value SET_ATTR gave each attribute type (GET echoes it: uniform ranges only). */
const stored = new Map<number, number>();

registerDriver('test-mirror', {
  install(env) {
    mapsNothing = env.options['noisy'] === true;
    lies = env.options['liar'] === true;
    stored.clear();
  },
  *ioctl(fpriv: amdgpu_fpriv, arg: Uint8Array, user: UserMemory): Co<number> {
    const a = decode_gem_svm(arg);
    const bytes = user.copy_from_user(a.attrs_ptr, a.nattr * 8);
    if (typeof bytes === 'number') return bytes;
    const attrs = decode_attrs(bytes, a.nattr);
    if (a.operation !== AMDGPU_SVM_OP_SET_ATTR) {
      const out = attrs.map((x) => ({
        type: x.type,
        value:
          x.type === AMDGPU_SVM_ATTR.PREFERRED_LOC && lies
            ? 0x1234
            : (stored.get(x.type) ?? 0xffffffff),
      }));
      return user.copy_to_user(a.attrs_ptr, encode_attrs(out));
    }
    for (const x of attrs) stored.set(x.type, x.value);
    if (mapsNothing || !attrs.some((x) => x.type === AMDGPU_SVM_ATTR.ACCESS)) return 0;
    return yield* mirror(fpriv, Number(a.start_addr >> 12n), Number(a.size >> 12n));
  },
});

/** A design with no driver at all: svm steps must say so clearly. */
registerDesign({
  name: 'test-nodriver',
  description: 'test only: no driver',
  defaultXnack: false,
  options: {},
});

/**
 * The amdgpu_svm core (rfc-series §5.1-§5.4): creation from amdgpu_vm_make_compute (one
 * instance per GPU VM), kref and PASID lookup, close and fini, defaults, and the V1 fault
 * handler's answers.
 */
import { describe, expect, it } from 'vitest';
import {
  AMDGPU_SVM_CHUNK_SIZES,
  AMDGPU_SVM_NOTIFIER_SIZE_PAGES,
  amdgpu_svm_close,
  amdgpu_svm_lookup_by_pasid,
  amdgpu_svm_put,
  amdgpu_svm_ranges,
} from '../../../src/amdgpu/svm/amdgpu_svm.js';
import { amdgpu_svm_handle_fault } from '../../../src/amdgpu/svm/v1/fault.js';
import { v1_work } from '../../../src/amdgpu/svm/v1/work_types.js';
import { EAGAIN, EFAULT, EOPNOTSUPP } from '../../../src/sim/errno.js';
import { atomic_set, kref_read } from '../../../src/sim/kref.js';
import {
  checkTeardown,
  counter,
  exit,
  exitAndCheck,
  fill,
  fpriv,
  machine,
  mapped,
  mmap,
  run,
  svmOf,
} from './harness.js';

describe('amdgpu_svm_init from amdgpu_vm_make_compute', () => {
  it('creates one instance per GPU VM, published in vm.svm, with the RFC parameters', () => {
    const m = machine('{ design: rfc-v1, xnack: off, gpus: 2 }');
    const a = svmOf(m, 'gpu0');
    const b = svmOf(m, 'gpu1');
    expect(a).not.toBe(b);
    expect(a.vm).toBe(fpriv(m, 'gpu0').vm);
    expect(a.gpusvm.mm).toBe(b.gpusvm.mm);
    expect(a.gpusvm.mm).toBe(m.proc.mm);
    expect(kref_read(a.refcount)).toBe(1);
    expect(a.default_granularity).toBe(9);
    expect(a.xnack_enabled).toBe(false);
    expect(a.gpusvm.chunk_sizes).toEqual(AMDGPU_SVM_CHUNK_SIZES);
    expect(a.gpusvm.notifier_size).toBe(AMDGPU_SVM_NOTIFIER_SIZE_PAGES);
    expect(a.gpusvm.lock_dep_map).toBe(a.svm_lock);
    expect(a.attr_tree?.variant).toBe('v1');
    expect(v1_work(a).gc_wq.name).toBe('amdgpu_svm_range');
    expect(v1_work(a).restore_wq.ordered).toBe(true);
    exitAndCheck(m);
  });

  it('takes the scenario XNACK mode (SIM: V1 forces it off)', () => {
    const m = machine('{ design: rfc-v1, xnack: on }');
    expect(svmOf(m).xnack_enabled).toBe(true);
    exitAndCheck(m);
  });
});

describe('kref, PASID lookup, close and fini', () => {
  it('amdgpu_svm_lookup_by_pasid takes a reference; an unknown PASID finds nothing', () => {
    const m = machine();
    const svm = svmOf(m);
    const adev = m.world.device('gpu0');
    const got = run(m, function* () {
      const s = amdgpu_svm_lookup_by_pasid(adev, svm.vm.pasid);
      const refs = s ? kref_read(s.refcount) : 0;
      amdgpu_svm_put(s);
      const none = amdgpu_svm_lookup_by_pasid(adev, 0xfff0);
      yield* [];
      return { same: s === svm, refs, none };
    });
    expect(got).toEqual({ same: true, refs: 2, none: null });
    expect(kref_read(svm.refcount)).toBe(1);
    exitAndCheck(m);
  });

  it('close sets exiting once; the process exit frees everything', () => {
    const m = machine();
    const svm = svmOf(m);
    run(m, () => amdgpu_svm_close(svm.vm));
    expect(svm.exiting.value).toBe(1);
    run(m, () => amdgpu_svm_close(svm.vm));
    expect(svm.exiting.value).toBe(1);
    exitAndCheck(m);
    expect(svm.refcount.released).toBe(true);
    expect(svm.vm.svm).toBe(null);
  });

  it('a reference held across fini keeps the struct until the last put', () => {
    const m = machine();
    const svm = svmOf(m);
    const adev = m.world.device('gpu0');
    const held = run(m, function* () {
      yield* [];
      return amdgpu_svm_lookup_by_pasid(adev, svm.vm.pasid);
    });
    exit(m);
    expect(svm.vm.svm).toBe(null);
    expect(svm.refcount.released).toBe(false);
    expect(() => checkTeardown(m)).toThrow(/1 amdgpu_svm instances not freed/);
    amdgpu_svm_put(held);
    expect(svm.refcount.released).toBe(true);
    checkTeardown(m);
  });
});

describe('amdgpu_svm_handle_fault (V1)', () => {
  it('XNACK on: maps the faulting page through the attribute tree (a 4 KiB range)', () => {
    const m = machine('{ design: rfc-v1, xnack: on }');
    const buf = run(m, () => mmap(m, 64));
    run(m, () => fill(m, buf, 64, (i) => i));
    const adev = m.world.device('gpu0');
    const pasid = svmOf(m).vm.pasid;
    const r = run(m, () => amdgpu_svm_handle_fault(adev, pasid, buf + 5, 0, true));
    expect(r).toBe(0);
    expect(mapped(m, buf + 5, 1)).toBe(1);
    expect(mapped(m, buf, 64)).toBe(1);
    expect(amdgpu_svm_ranges(svmOf(m)).map((x) => x.itree.last - x.itree.start + 1)).toEqual([1]);
    expect(counter(m, 'svm_fault_handler_entries@gpu0')).toBe(1);
    exitAndCheck(m);
  });

  it('XNACK on: a page without a VMA is -EFAULT', () => {
    const m = machine('{ design: rfc-v1, xnack: on }');
    const buf = run(m, () => mmap(m, 4));
    const adev = m.world.device('gpu0');
    const r = run(m, () => amdgpu_svm_handle_fault(adev, svmOf(m).vm.pasid, buf + 600, 0, false));
    expect(r).toBe(-EFAULT);
    exitAndCheck(m);
  });

  it('XNACK off: -EOPNOTSUPP; exiting: -EAGAIN; unknown PASID: -EOPNOTSUPP', () => {
    const m = machine();
    const adev = m.world.device('gpu0');
    const svm = svmOf(m);
    const buf = run(m, () => mmap(m, 4));
    expect(run(m, () => amdgpu_svm_handle_fault(adev, svm.vm.pasid, buf, 0, false))).toBe(
      -EOPNOTSUPP,
    );
    expect(run(m, () => amdgpu_svm_handle_fault(adev, 0xfff0, buf, 0, false))).toBe(-EOPNOTSUPP);
    atomic_set(svm.exiting, 1);
    expect(run(m, () => amdgpu_svm_handle_fault(adev, svm.vm.pasid, buf, 0, false))).toBe(-EAGAIN);
    atomic_set(svm.exiting, 0);
    // Every answer dropped the lookup's reference.
    expect(kref_read(svm.refcount)).toBe(1);
    exitAndCheck(m);
  });
});

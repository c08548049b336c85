import { describe, expect, it } from 'vitest';
import { EBUSY, EOPNOTSUPP, Trap, type Co } from '../../src/sim/index.js';
import {
  AMDGPU_PTE_VALID,
  TLB_FLUSH_HEAVYWEIGHT,
  TLB_FLUSH_LEGACY,
  amdgpu_driver_open_kms,
  amdgpu_driver_postclose_kms,
  amdgpu_pasid_alloc,
  amdgpu_pasid_free,
  amdgpu_pasids_in_use,
  amdgpu_vm_count_mapped,
  amdgpu_vm_evictable,
  amdgpu_vm_flush_compute_tlb,
  amdgpu_vm_handle_fault,
  amdgpu_vm_pasid_load,
  amdgpu_vm_pte_flags,
  amdgpu_vm_pte_pfn,
  amdgpu_vm_update_pdes,
  amdgpu_vm_update_range,
  amdgpu_vm_validate,
  kfd_process_teardown,
  type amdgpu_device,
  type amdgpu_fpriv,
} from '../../src/amdgpu/index.js';
import {
  RW,
  clearPages,
  frames,
  makeWorld,
  mapPages,
  openProcess,
  runMain,
  vmOf,
  withPd,
} from './helpers.js';

describe('PASIDs and the PASID -> VM lookup', () => {
  it('every (process, GPU) VM has its own PASID, found through its device only', () => {
    const w = makeWorld(2);
    const [g0, g1] = w.sys.devices as [amdgpu_device, amdgpu_device];
    runMain(w, function* (): Co {
      const a = yield* openProcess(w, true);
      const b = yield* openProcess(w, true);
      const vms = [vmOf(a, g0), vmOf(a, g1), vmOf(b, g0), vmOf(b, g1)];
      // Cyclic allocation from 1.
      expect(vms.map((v) => v.pasid)).toEqual([1, 2, 3, 4]);
      for (const vm of vms) {
        expect(amdgpu_vm_pasid_load(vm.adev, vm.pasid)).toBe(vm);
        const other = vm.adev === g0 ? g1 : g0;
        expect(amdgpu_vm_pasid_load(other, vm.pasid)).toBeUndefined();
      }
      // A fault for an unknown PASID is not handled and changes nothing.
      expect(yield* amdgpu_vm_handle_fault(g0, 999, 8, 0, 100, 0, false)).toBe(false);
      yield* kfd_process_teardown(a);
      expect(amdgpu_vm_pasid_load(g0, 1)).toBeUndefined();
      expect(amdgpu_vm_pasid_load(g0, 3)).toBe(vms[2]);
      expect(amdgpu_pasids_in_use()).toBe(2);
      // A freed PASID is not reused at once.
      const c = yield* openProcess(w, true);
      expect(vmOf(c, g0).pasid).toBe(5);
    });
  });

  it('amdgpu_pasid_alloc wraps around and reports exhaustion', () => {
    makeWorld();
    expect(amdgpu_pasid_alloc(0)).toBeLessThan(0);
    const got = [amdgpu_pasid_alloc(2), amdgpu_pasid_alloc(2), amdgpu_pasid_alloc(2)];
    expect(got).toEqual([1, 2, 3]);
    expect(amdgpu_pasid_alloc(2)).toBe(-28); // -ENOSPC
    amdgpu_pasid_free(2);
    expect(amdgpu_pasid_alloc(2)).toBe(2);
  });

  it('one render-node file per process per GPU; close frees the VM and the PASID', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const mm = {};
      const f = (yield* amdgpu_driver_open_kms(w.gpu0, mm)) as amdgpu_fpriv;
      expect(yield* amdgpu_driver_open_kms(w.gpu0, mm)).toBe(-EBUSY);
      const pasid = f.vm.pasid;
      yield* amdgpu_driver_postclose_kms(f);
      expect(f.vm.dead).toBe(true);
      expect(amdgpu_vm_pasid_load(w.gpu0, pasid)).toBeUndefined();
      expect(amdgpu_pasids_in_use()).toBe(0);
    });
  });
});

describe('amdgpu_vm_update_range and amdgpu_vm_update_pdes', () => {
  it('maps with pages_addr or a contiguous segment, clears, and counts PTE writes', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, true);
      const vm = vmOf(p, w.gpu0);
      const f = frames(w, [1, 2, 3]);
      expect(yield* mapPages(w.gpu0, vm, 510, f)).toBe(0); // spans two PTBs
      expect([510, 511, 512].map((pg) => amdgpu_vm_pte_pfn(vm, pg))).toEqual(f);
      expect(amdgpu_vm_pte_flags(vm, 511)).toBe(RW);
      expect(amdgpu_vm_count_mapped(vm, 500, 20)).toBe(3);
      expect(w.sim.counters.get('pte_writes')).toBe(3);
      expect(w.sim.counters.get('pte_writes@gpu0')).toBe(3);
      expect(w.sim.counters.get('pde_writes@gpu0')).toBe(2);
      expect(yield* clearPages(w.gpu0, vm, 511, 2, false)).toBe(0);
      expect(amdgpu_vm_count_mapped(vm, 500, 20)).toBe(1);
      expect(amdgpu_vm_pte_flags(vm, 512)).toBe(0);
      // Unlocked clears of never-mapped space write nothing.
      const before = w.sim.counters.get('pte_writes');
      yield* clearPages(w.gpu0, vm, 1 << 20, 4096, false);
      expect(w.sim.counters.get('pte_writes')).toBe(before);
    });
  });

  it('a new PTB is unreachable by the walker until update_pdes writes its PDE', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, true);
      const vm = vmOf(p, w.gpu0);
      const [f] = frames(w, [9]);
      yield* withPd(vm, function* () {
        yield* amdgpu_vm_update_range(
          w.gpu0,
          vm,
          false,
          false,
          false,
          true,
          null,
          7,
          7,
          RW,
          0,
          0,
          null,
          [f as number],
          null,
        );
      });
      expect(amdgpu_vm_pte_flags(vm, 7)).toBe(0);
      expect(vm.relocated.size).toBe(1);
      yield* mapPages(w.gpu0, vm, 8, frames(w, [1])); // same PTB: update_pdes now
      expect(amdgpu_vm_pte_flags(vm, 7) & AMDGPU_PTE_VALID).toBe(AMDGPU_PTE_VALID);
    });
  });

  it('a contiguous segment maps vram_base + offset + i', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, true);
      const vm = vmOf(p, w.gpu0);
      const base = frames(w, [0, 0, 0, 0])[0] as number;
      yield* withPd(vm, function* () {
        yield* amdgpu_vm_update_range(
          w.gpu0,
          vm,
          false,
          false,
          false,
          true,
          null,
          40,
          42,
          RW,
          1,
          base,
          null,
          null,
          null,
        );
      });
      expect([40, 41, 42].map((pg) => amdgpu_vm_pte_pfn(vm, pg))).toEqual([
        base + 1,
        base + 2,
        base + 3,
      ]);
    });
  });

  it('a locked update without the page-directory lock is a lockdep bug', () => {
    const w = makeWorld();
    let trapped: unknown;
    try {
      runMain(w, function* (): Co {
        const p = yield* openProcess(w, true);
        const vm = vmOf(p, w.gpu0);
        yield* amdgpu_vm_update_range(
          w.gpu0,
          vm,
          false,
          false,
          false,
          true,
          null,
          1,
          1,
          RW,
          0,
          0,
          null,
          [1],
          null,
        );
      });
    } catch (e) {
      trapped = e;
    }
    expect(trapped).toBeInstanceOf(Trap);
    expect((trapped as Trap).kind).toBe('bug');
    expect((trapped as Trap).message).toContain('reservation_ww_class_mutex');
  });

  it('page tables being evicted: updates fail with -EBUSY until validated', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, true);
      const vm = vmOf(p, w.gpu0);
      expect(amdgpu_vm_evictable(vm)).toBe(true);
      expect(yield* mapPages(w.gpu0, vm, 1, frames(w, [1]))).toBe(-EBUSY);
      expect(yield* clearPages(w.gpu0, vm, 1, 1, true)).toBe(-EBUSY);
      yield* amdgpu_vm_validate(vm);
      expect(yield* mapPages(w.gpu0, vm, 1, frames(w, [1]))).toBe(0);
    });
  });

  it('TLB flush counting (clarifications.md §2): map with flush + compute flush = 2', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, true);
      const vm = vmOf(p, w.gpu0);
      yield* mapPages(w.gpu0, vm, 1, frames(w, [1, 2]), RW, true);
      yield* amdgpu_vm_flush_compute_tlb(w.gpu0, vm, TLB_FLUSH_HEAVYWEIGHT, w.gpu0.xcc_mask);
      expect(w.sim.counters.get('tlb_flushes@gpu0')).toBe(2);
      // Nothing updated since: the compute flush is skipped.
      yield* amdgpu_vm_flush_compute_tlb(w.gpu0, vm, TLB_FLUSH_LEGACY, w.gpu0.xcc_mask);
      expect(w.sim.counters.get('tlb_flushes')).toBe(2);
      // Notifier style: two cleared ranges with flush, then one more flush = 3.
      yield* clearPages(w.gpu0, vm, 1, 1, true);
      yield* clearPages(w.gpu0, vm, 2, 1, true);
      yield* amdgpu_vm_flush_compute_tlb(w.gpu0, vm, TLB_FLUSH_HEAVYWEIGHT, w.gpu0.xcc_mask);
      expect(w.sim.counters.get('tlb_flushes')).toBe(5);
      // Each flush charged the tlb_flush cost (4 us) to this task.
      expect(w.sim.now()).toBeGreaterThanOrEqual(5 * 4_000);
    });
  });

  it('scales: one update maps 4M pages (16 GiB) and the walker view counts them', () => {
    const w = makeWorld();
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, true);
      const vm = vmOf(p, w.gpu0);
      const n = 4 * 1024 * 1024;
      yield* withPd(vm, function* () {
        const start = 1 << 24;
        const r = yield* amdgpu_vm_update_range(
          w.gpu0,
          vm,
          false,
          false,
          false,
          true,
          null,
          start,
          start + n - 1,
          RW,
          0,
          1 << 20,
          null,
          null,
          null,
        );
        expect(r).toBe(0);
        expect(yield* amdgpu_vm_update_pdes(w.gpu0, vm, false)).toBe(0);
      });
      expect(vm.pt.size).toBe(n / 512);
      expect(amdgpu_vm_count_mapped(vm, 1 << 24, n)).toBe(n);
      expect(w.sim.counters.get('pte_writes')).toBe(n);
    });
  });
});

describe('compute VMs and the SVM hooks', () => {
  it('make_compute calls the SVM init hook and propagates its error; fini calls fini', () => {
    const w = makeWorld();
    const calls: string[] = [];
    w.sys.hooks.svm_ops = {
      *init(adev, vm) {
        calls.push(`init ${adev.name} ${vm.pasid}`);
        vm.svm = { owner: 'svm' };
        return 0;
      },
      *fini(adev, vm) {
        calls.push(`fini ${adev.name} ${vm.pasid}`);
        vm.svm = null;
      },
    };
    runMain(w, function* (): Co {
      const p = yield* openProcess(w, true);
      expect(vmOf(p, w.gpu0).is_compute_context).toBe(true);
      yield* kfd_process_teardown(p);
      w.sys.hooks.svm_ops = {
        *init() {
          return -EOPNOTSUPP;
        },
      };
      let err = 0;
      try {
        yield* openProcess(w, true);
      } catch (e) {
        err = Number(String(e).match(/-?\d+/)?.[0]);
      }
      expect(err).toBe(-EOPNOTSUPP);
    });
    expect(calls).toEqual(['init gpu0 1', 'fini gpu0 1']);
  });
});

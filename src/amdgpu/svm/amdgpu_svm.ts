/**
 * The amdgpu_svm core (RFC V1 patches 02, 10 and 11, amdgpu_svm.[ch];
 * shared/spec/rfc-series.md §5.1-§5.3): struct amdgpu_svm wrapping drm_gpusvm, its kref, the
 * PASID lookup, init from amdgpu_vm_make_compute, close and fini. One instance per GPU VM,
 * so one per (process, GPU): "one fd one svm one GPU".
 *
 * What differs between designs (the mapping loop, the notifier, the workers, the fault
 * handler, XNACK handling) is behind {@link amdgpu_svm_design}; this file is written once.
 */
import {
  LONG_MAX,
  drm_gpusvm,
  drm_gpusvm_driver_set_lock,
  drm_gpusvm_for_each_notifier,
  drm_gpusvm_for_each_range,
  drm_gpusvm_fini,
  drm_gpusvm_init,
  type drm_device,
  type drm_gpusvm_notifier,
  type drm_gpusvm_ops,
  type drm_gpusvm_range,
} from '../../drm/index.js';
import type { MmStruct, MmuNotifierRange } from '../../mm/mm_types.js';
import {
  Atomic,
  Kref,
  atomic_set,
  atomic_xchg,
  kref_get,
  kref_init,
  kref_put,
} from '../../sim/kref.js';
import { RwSemaphore, down_write, up_write } from '../../sim/locks.js';
import { might_alloc } from '../../sim/reclaim.js';
import { getSim } from '../../sim/scheduler.js';
import type { Co } from '../../sim/task.js';
import { trap } from '../../sim/trap.js';
import type { amdgpu_device, amdgpu_vm } from '../amdgpu.js';
import { TLB_FLUSH_HEAVYWEIGHT } from '../gmc.js';
import { amdgpu_pasids_lock, amdgpu_pasids_unlock, amdgpu_vm_pasid_load } from '../pasid.js';
import { amdgpu_vm_flush_compute_tlb } from '../vm_pt.js';
import type { amdgpu_svm_attr_change } from './attr_set.js';
import {
  amdgpu_svm_attr_tree_create,
  amdgpu_svm_attr_tree_destroy,
  type amdgpu_svm_attr_tree,
} from './attr_tree.js';
import { amdgpu_svm_attr_default_granularity, type amdgpu_svm_attr_variant } from './attr_types.js';
import { amdgpu_svm_range_alloc, amdgpu_svm_range_free } from './amdgpu_svm_range.js';
import type { SvmDriverEnv } from './designs.js';
import './events.js';

/** AMDGPU_SVM_DEFAULT_SVM_NOTIFIER_SIZE (V1 patch 10), 512 MiB, in pages. */
export const AMDGPU_SVM_NOTIFIER_SIZE_PAGES = (512 * 1024 * 1024) / 4096;
/** amdgpu_svm_chunk_sizes (V1 patch 10): SZ_2M, SZ_64K, SZ_4K, in pages. */
export const AMDGPU_SVM_CHUNK_SIZES: readonly number[] = [512, 16, 1];
/**
 * adev->vm_manager.max_pfn: the GPU VA window drm_gpusvm_init gets. SIM: the 48-bit GPU VA
 * (256 TiB) amdgpu_vm_adjust_size gives GFX9 and later, as a page count.
 */
export const AMDGPU_SVM_GPU_VA_PAGES = 2 ** 36;

/**
 * What a design plugs into the shared core. V1 (rfc-v1) supplies the V1 range layer,
 * notifier, GC and restore workers and fault handler; a later design supplies its own.
 */
export interface amdgpu_svm_design {
  readonly name: string;
  /** Which attribute-layer code the design runs (attr.ts). */
  readonly attr_variant: amdgpu_svm_attr_variant;
  /** validate_range_vma's errno for a VM_IO|VM_PFNMAP|VM_MIXEDMAP VMA. */
  readonly device_vma_errno: number;
  /** svm->xnack_enabled, from the detected default and the scenario's XNACK mode. */
  xnack_enabled(adev: amdgpu_device, scenario_xnack: boolean): boolean;
  /** Set up the design's workers (and callbacks) before the gpusvm exists. 0 or -errno. */
  work_init(svm: amdgpu_svm): number;
  /** Tear the workers down (fini, after drm_gpusvm_fini). */
  work_fini(svm: amdgpu_svm): Co;
  /** Wait for the workers (before SET_ATTR and in close). */
  sync_work(svm: amdgpu_svm): Co;
  /** The SET_ATTR retry loop's flush. */
  flush(svm: amdgpu_svm): Co;
  /** drm_gpusvm_ops.invalidate: notifier_lock held for write. */
  invalidate(svm: amdgpu_svm, notifier: drm_gpusvm_notifier, mmu_range: MmuNotifierRange): Co;
  /** amdgpu_svm_range_apply_attr_change: svm_lock held for write. */
  apply_attr_change(svm: amdgpu_svm, change: Readonly<amdgpu_svm_attr_change>): Co<number>;
  /** amdgpu_svm_handle_fault: 0 when handled. `addr` is a page number. */
  handle_fault(
    adev: amdgpu_device,
    pasid: number,
    addr: number,
    ts: number,
    write_fault: boolean,
  ): Co<number>;
}

/** SIM: one machine's driver state: the design, the scenario's env and per-GPU devices. */
export interface amdgpu_svm_ctx {
  readonly design: amdgpu_svm_design;
  readonly env: SvmDriverEnv;
  /** adev_to_drm(adev): the drm_device (and DMA device) of each GPU. */
  drm_of(adev: amdgpu_device): drm_device;
  /** amdgpu_svm instances allocated and not yet released (teardown check). */
  live: number;
}

/** struct drm_gpusvm embedded in struct amdgpu_svm (container_of: to_amdgpu_svm). */
export class amdgpu_svm_gpusvm extends drm_gpusvm {
  constructor(readonly svm: amdgpu_svm) {
    super();
  }
}

/**
 * struct amdgpu_svm (V1 patch 02). The design's worker state (V1: workqueues, lists,
 * gc_lock, eviction counters, begin/end_restore) hangs off `work`. SIM: the C keeps those
 * fields in this struct; here the design owns their type.
 */
export class amdgpu_svm {
  readonly gpusvm: amdgpu_svm_gpusvm;
  readonly refcount = new Kref('amdgpu_svm');
  /** The attribute tree; its own mutex protects it (attr.ts). */
  attr_tree: amdgpu_svm_attr_tree | null = null;
  /**
   * svm->svm_lock, the drm_gpusvm driver lock: held for write around every range-tree edit
   * (find_or_insert, range_remove, fini), the mapping loop, the GC's unmap processing, the
   * restore pass and the fault handler. Never taken in the notifier. Order: svm_lock ->
   * attr_tree->lock, svm_lock -> mmap_lock, svm_lock -> PD lock -> notifier_lock.
   */
  readonly svm_lock = new RwSemaphore('&svm->svm_lock');
  /** atomic_t exiting: set once by close; the notifier and the workers stop queueing. */
  readonly exiting = new Atomic(0);
  default_granularity = 0;
  xnack_enabled = false;
  /** svm->flush_tlb: amdgpu_svm_flush_tlb_compute for compute VMs. */
  flush_tlb: (svm: amdgpu_svm) => Co<number> = amdgpu_svm_flush_tlb_compute;
  /** The design's worker state (set by design.work_init). */
  work: object | null = null;

  constructor(
    readonly adev: amdgpu_device,
    readonly vm: amdgpu_vm,
    readonly ctx: amdgpu_svm_ctx,
  ) {
    this.gpusvm = new amdgpu_svm_gpusvm(this);
  }

  get design(): amdgpu_svm_design {
    return this.ctx.design;
  }

  /** The process's mm (svm->gpusvm.mm), set by drm_gpusvm_init. */
  get mm(): MmStruct | null {
    return this.gpusvm.mm;
  }
}

/** to_amdgpu_svm: container_of the embedded drm_gpusvm. */
export function to_amdgpu_svm(gpusvm: drm_gpusvm): amdgpu_svm {
  return (gpusvm as amdgpu_svm_gpusvm).svm;
}

/** amdgpu_svm_invalidate (V1 patch 10): drm_gpusvm_ops.invalidate into the design. */
function* amdgpu_svm_invalidate(
  gpusvm: drm_gpusvm,
  notifier: drm_gpusvm_notifier,
  mmu_range: MmuNotifierRange,
): Co {
  const svm = to_amdgpu_svm(gpusvm);
  yield* svm.design.invalidate(svm, notifier, mmu_range);
}

/** amdgpu_gpusvm_ops (V1 patch 10). */
export const amdgpu_gpusvm_ops: drm_gpusvm_ops = {
  range_alloc: amdgpu_svm_range_alloc,
  range_free: amdgpu_svm_range_free,
  invalidate: amdgpu_svm_invalidate,
};

/** amdgpu_svm_release (V1 patch 10): the last reference frees the struct. */
function amdgpu_svm_release(svm: amdgpu_svm): void {
  svm.ctx.live--;
  getSim().trace.emit('svm.lifecycle', {
    gpu: svm.adev.name,
    pasid: svm.vm.pasid,
    action: 'release',
  });
}

/** amdgpu_svm_get: a reference for code that outlives the caller's (SIM: lookup uses it). */
export function amdgpu_svm_get(svm: amdgpu_svm): amdgpu_svm {
  kref_get(svm.refcount);
  return svm;
}

/** amdgpu_svm_put (V1 patch 11). */
export function amdgpu_svm_put(svm: amdgpu_svm | null): void {
  if (svm) kref_put(svm.refcount, () => amdgpu_svm_release(svm));
}

/** The SVM instance a VM's `svm` field holds (amdgpu cannot name the type). */
export function amdgpu_vm_svm(vm: amdgpu_vm): amdgpu_svm | null {
  return vm.svm instanceof amdgpu_svm ? vm.svm : null;
}

/**
 * amdgpu_svm_lookup_by_pasid (V1 patch 11; §5.3): under the PASID xarray lock, the VM's SVM
 * instance with a reference taken, or null. The caller drops it with amdgpu_svm_put.
 */
export function amdgpu_svm_lookup_by_pasid(adev: amdgpu_device, pasid: number): amdgpu_svm | null {
  let svm: amdgpu_svm | null = null;
  amdgpu_pasids_lock(adev);
  const vm = amdgpu_vm_pasid_load(adev, pasid);
  const s = vm ? amdgpu_vm_svm(vm) : null;
  if (s) svm = amdgpu_svm_get(s);
  amdgpu_pasids_unlock(adev);
  return svm;
}

/** amdgpu_svm_flush_tlb_compute (V1 patch 10): a heavyweight flush on every XCC. */
export function amdgpu_svm_flush_tlb_compute(svm: amdgpu_svm): Co<number> {
  return amdgpu_vm_flush_compute_tlb(svm.adev, svm.vm, TLB_FLUSH_HEAVYWEIGHT, svm.adev.xcc_mask);
}

/**
 * current->mm at amdgpu_vm_make_compute. SIM: the init hook gets no task context of the
 * process, so the mm is the one whose render-node file owns the VM.
 */
function amdgpu_svm_vm_mm(adev: amdgpu_device, vm: amdgpu_vm): MmStruct | null {
  for (const f of adev.files.values()) if (f.vm === vm) return f.mm as MmStruct;
  return null;
}

/**
 * amdgpu_svm_init_with_ops (V1 patch 10): allocate and publish the VM's instance. Nothing to
 * do when the VM has one. SIM: svm->xnack_enabled comes from the design (V1 forces it off;
 * the model takes the scenario's mode, see v1/index.ts).
 */
export function* amdgpu_svm_init_with_ops(
  ctx: amdgpu_svm_ctx,
  adev: amdgpu_device,
  vm: amdgpu_vm,
  flush_tlb: (svm: amdgpu_svm) => Co<number>,
): Co<number> {
  if (vm.svm) return 0;
  const design = ctx.design;
  const mm = amdgpu_svm_vm_mm(adev, vm);
  if (!mm) trap('bug', `amdgpu_svm_init: no process owns the VM of ${adev.name}`);
  might_alloc('GFP_KERNEL'); // kzalloc
  const svm = new amdgpu_svm(adev, vm, ctx);
  ctx.live++;
  kref_init(svm.refcount);
  svm.default_granularity = amdgpu_svm_attr_default_granularity(design.attr_variant);
  svm.xnack_enabled = design.xnack_enabled(adev, ctx.env.xnack);
  svm.flush_tlb = flush_tlb;
  atomic_set(svm.exiting, 0);

  let ret = design.work_init(svm);
  if (ret) return err_free(ret);
  svm.attr_tree = amdgpu_svm_attr_tree_create(svm, design.attr_variant);
  // SIM: the name carries the GPU ("AMDGPU SVM" in the RFC) so traces tell instances apart;
  // the scenario's system.chunk_sizes / notifier_size stand for the RFC's constants (their
  // defaults are the same values), so a scenario can shrink ranges.
  const chunks = ctx.env.chunkSizes.length ? ctx.env.chunkSizes : AMDGPU_SVM_CHUNK_SIZES;
  ret = drm_gpusvm_init(
    svm.gpusvm,
    `AMDGPU SVM ${adev.name}`,
    ctx.drm_of(adev),
    mm,
    0,
    AMDGPU_SVM_GPU_VA_PAGES,
    ctx.env.notifierSize || AMDGPU_SVM_NOTIFIER_SIZE_PAGES,
    amdgpu_gpusvm_ops,
    chunks,
    chunks.length,
  );
  if (ret) {
    // err_attr_tree_destroy:
    yield* amdgpu_svm_attr_tree_destroy(svm.attr_tree);
    // err_range_work_fini:
    yield* design.work_fini(svm);
    return err_free(ret);
  }
  drm_gpusvm_driver_set_lock(svm.gpusvm, svm.svm_lock);
  vm.svm = svm;
  getSim().trace.emit('svm.lifecycle', { gpu: adev.name, pasid: vm.pasid, action: 'init' });
  return 0;

  function err_free(r: number): number {
    ctx.live--;
    return r;
  }
}

/**
 * amdgpu_svm_init (V1 patch 10): called from amdgpu_vm_make_compute, so every instance is a
 * compute one ("graphics svm init maybe different").
 */
export function* amdgpu_svm_init(
  ctx: amdgpu_svm_ctx,
  adev: amdgpu_device,
  vm: amdgpu_vm,
): Co<number> {
  return yield* amdgpu_svm_init_with_ops(ctx, adev, vm, amdgpu_svm_flush_tlb_compute);
}

/**
 * amdgpu_svm_close (V1 patch 10): set `exiting` once, then wait for the workers. Nothing is
 * queued afterwards (enqueue and the workers check `exiting`).
 */
export function* amdgpu_svm_close(vm: amdgpu_vm): Co {
  const svm = amdgpu_vm_svm(vm);
  if (!svm) return;
  if (atomic_xchg(svm.exiting, 1)) return;
  getSim().trace.emit('svm.lifecycle', { gpu: svm.adev.name, pasid: vm.pasid, action: 'close' });
  yield* svm.design.sync_work(svm);
}

/**
 * amdgpu_svm_fini (V1 patch 10): close, drm_gpusvm_fini under svm_lock (every range and
 * notifier goes), the workers, the attribute tree; unpublish and drop the creation reference.
 */
export function* amdgpu_svm_fini(vm: amdgpu_vm): Co {
  const svm = amdgpu_vm_svm(vm);
  if (!svm) return;
  yield* amdgpu_svm_close(vm);
  yield* down_write(svm.svm_lock);
  yield* drm_gpusvm_fini(svm.gpusvm);
  up_write(svm.svm_lock);
  yield* svm.design.work_fini(svm);
  yield* amdgpu_svm_attr_tree_destroy(svm.attr_tree);
  getSim().trace.emit('svm.lifecycle', { gpu: svm.adev.name, pasid: vm.pasid, action: 'fini' });
  vm.svm = null;
  amdgpu_svm_put(svm);
}

/** amdgpu_svm_is_enabled (V1 patch 11). */
export function amdgpu_svm_is_enabled(vm: amdgpu_vm): boolean {
  return vm.svm !== null;
}

/** Every range of the instance, in address order (tests, traces and leak reports). */
export function amdgpu_svm_ranges(svm: amdgpu_svm): drm_gpusvm_range[] {
  const out: drm_gpusvm_range[] = [];
  for (const notifier of drm_gpusvm_for_each_notifier(svm.gpusvm, 0, LONG_MAX))
    for (const range of drm_gpusvm_for_each_range(notifier, 0, LONG_MAX)) out.push(range);
  return out;
}

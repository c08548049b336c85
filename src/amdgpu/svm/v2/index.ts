/**
 * The `rfc-v2` design: the series' second design, the code posted as "[RFC V3 00/12]" on
 * 20 Apr 2026 (shared/spec/rfc-series.md §0, "the V2 design"): fault-driven with XNACK on.
 * Importing this module registers its driver (designs.ts registerDriver). No VRAM migration:
 * V3 hard-codes devmem_possible = false (clarifications.md §6); the option `migration: true`
 * adds v8's (migrate.ts: prefetch in map_attr_range, preferred location in map_fault).
 *
 * Overview
 * - What V2 plugs into the shared core (amdgpu_svm_design): work_init / work_fini / flush /
 *   sync_work are the GC (gc.ts), invalidate the two-phase notifier (notifier.ts),
 *   apply_attr_change the PREFETCH / RANGE_SPLIT dispatch (attr_change.ts), handle_fault the
 *   fault handler (fault.ts). The shared core gives the struct, kref, PASID lookup, init and
 *   fini order, the ioctl and its validation, the range struct, PTE flags and the PD lock.
 * - range.ts: is_valid, PTE zap, per-entry range update, find_or_insert bounded by the
 *   attribute node, get_pages (evict on -EOPNOTSUPP), update_mapping, map_attr_range
 *   (prefetch), map_interval.
 * - notifier.ts: UNMAP checkpoint timestamp; pass 1 zaps every GPU-mapped range in the
 *   interval and flushes the TLB once; pass 2 DMA-unmaps and, on UNMAP, marks the range
 *   unmapped and queues it to the GC. invalidate_interval for RANGE_SPLIT; range removal.
 * - gc.ts: the garbage collector (clear the unmapped pages' attributes, remove the whole
 *   range: discard-and-refault), its work item, and the synchronous run at the start of
 *   every fault attempt.
 * - work_types.ts: the V3 fields (work_lock, GC, checkpoint_ts, validate_timestamp), the
 *   constants and the counters; events.ts: trace events.
 * - Counters (`@gpuN`): svm_fault_handler_entries (cost fault_handler_entry), svm_faults_stale,
 *   svm_faults_deduped, svm_faults_valid, svm_faults_no_vma, svm_faults_denied,
 *   svm_attrs_synthesised, svm_fault_retries, svm_fault_eagain, svm_get_pages_errors,
 *   svm_ranges_mapped, svm_ranges_zapped, svm_ranges_split_removed, svm_gc_ranges,
 *   svm_gc_ranges_in_fault, gc_work_runs (cost gc_work_run); ranges_created / _removed come
 *   from drm_gpusvm, tlb_flushes / pte_writes from amdgpu.
 *
 * Locking rules
 * - svm_lock (write): the fault handler from its attribute lookup to the end of map_fault,
 *   the GC (worker and fault path), SET's apply (prefetch, invalidate_interval). Never in the
 *   notifier. svm_lock -> attr_tree->lock; svm_lock -> mmap_lock (permission check,
 *   unregistered attributes, find_or_insert, get_pages); svm_lock -> PD lock -> notifier_lock.
 * - notifier_lock: write in the notifier; read (with memalloc_noreclaim) in is_valid and
 *   around update_mapping's check-and-program, so page-table allocation there cannot recurse
 *   into reclaim.
 * - work_lock (spinlock): the GC list and the ranges' queue fields; taken in the notifier
 *   under notifier_lock and by the GC.
 * - checkpoint_ts: READ_ONCE / WRITE_ONCE, no lock (notifier writes, handler reads and clears).
 * - validate_timestamp, pte_flags, attr_flags: written under svm_lock by update_mapping;
 *   gpu_mapped also cleared by the notifier under notifier_lock.
 * - The attribute node the fault path and SET's apply use is read under svm_lock without the
 *   tree mutex, as in the RFC (SET changes the tree under the tree mutex alone): the fault
 *   path checks it still holds the page right before find_or_insert (fix below); a use of a
 *   node the GC freed traps `use-after-free`.
 *
 * Known limits (SIM)
 * - XNACK: V3 takes amdgpu_svm_default_xnack_enabled(adev) and fails init with -EOPNOTSUPP
 *   when it is off. The model evaluates that detection with the scenario's XNACK mode as the
 *   boot-time amdgpu.noretry (gfx906 needs noretry=0, as the series was tested on MI60), so
 *   `xnack: off` fails init on every GPU; amdgpu_vm_make_compute propagates it (V3 patch 12).
 * - The ioctl's lazy amdgpu_svm_init (V3) is the shared ioctl's -EOPNOTSUPP without an
 *   instance: the model creates instances in amdgpu_vm_make_compute, so both give the same.
 * - The notifier zaps the whole range where the RFC clamps the zap to the event (a fix; the
 *   option `v3_clamped_zap` restores the RFC's flaw, see notifier.ts).
 * - The notifier does not queue again a range the GC has dequeued and is removing (a fix; the
 *   option `v3_gc_requeue` restores the RFC's double removal, see notifier.ts).
 * - map_fault returns -EAGAIN when the attribute node the handler looked up no longer holds the
 *   page or was freed (its own GC, or a concurrent SET_ATTR split it), so the handler looks it
 *   up again (a fix; the option `v3_stale_attr_node` restores the RFC's use of the stale node,
 *   see fault.ts).
 * - invalidate_interval's removal of a range also drops the range's pending GC work (a fix;
 *   the option `v3_split_remove_queued` restores the RFC's double removal, see notifier.ts).
 * - The notifier and invalidate_interval pass flush_tlb = false to their unlocked PTE clears
 *   and bump vm->tlb_seq (range.ts amdgpu_svm_v2_tlb_seq_bump), then flush once.
 * - ktime_get_boottime starts 60 s before virtual time 0 (work_types.ts).
 * - One IH ring stands for ih1 / ih_soft in the checkpoint capture.
 * - The handler's unbounded -EAGAIN retry traps `livelock` after 1000 rounds.
 * - As in V3, attributes are cleared only for UNMAP-queued ranges: the attribute nodes of
 *   memory that never had a range (or whose range a RANGE_SPLIT removed) survive its munmap.
 */
import { EOPNOTSUPP } from '../../../sim/errno.js';
import type { Co } from '../../../sim/task.js';
import type { amdgpu_device } from '../../amdgpu.js';
import { amdgpu_svm_default_xnack_enabled } from '../../ip.js';
import type { amdgpu_svm, amdgpu_svm_design } from '../amdgpu_svm.js';
import { getDesign, registerDesign, registerDriver } from '../designs.js';
import { amdgpu_svm_make_driver } from '../driver.js';
import { amdgpu_svm_range_apply_attr_change } from './attr_change.js';
import { amdgpu_svm_handle_fault } from './fault.js';
import { amdgpu_svm_gc_fini, amdgpu_svm_gc_flush, amdgpu_svm_gc_init } from './gc.js';
import { amdgpu_svm_range_invalidate } from './notifier.js';
import {
  AMDGPU_SVM_V2_OPT_CLAMPED_ZAP,
  AMDGPU_SVM_V2_OPT_GC_REQUEUE,
  AMDGPU_SVM_V2_OPT_SPLIT_REMOVE_QUEUED,
  AMDGPU_SVM_V2_OPT_STALE_ATTR_NODE,
} from './work_types.js';

/**
 * svm->xnack_enabled for the V2 design (V3 patch 10 amdgpu_svm_default_xnack_enabled).
 * SIM: the scenario's XNACK mode stands for amdgpu.noretry (see the overview).
 */
export function amdgpu_svm_v2_xnack_enabled(adev: amdgpu_device, scenario_xnack: boolean): boolean {
  return (
    scenario_xnack && amdgpu_svm_default_xnack_enabled({ ip: adev.ip, gmc: { noretry: false } })
  );
}

/**
 * The part of amdgpu_svm_init_with_ops (V3 patch 10) after the XNACK detection: refuse XNACK
 * off ("amdgpu SVM is not supported with xnack off mode temporarily"), then amdgpu_svm_gc_init.
 */
export function amdgpu_svm_v2_work_init(svm: amdgpu_svm): number {
  if (!svm.xnack_enabled) return -EOPNOTSUPP;
  return amdgpu_svm_gc_init(svm);
}

/** The V2 design's entry points for the shared core. */
export const amdgpu_svm_design_v2: amdgpu_svm_design = {
  name: 'rfc-v2',
  attr_variant: 'v3',
  // amdgpu_svm_check_vma (V3 patch 04): a VM_IO | VM_PFNMAP | VM_MIXEDMAP VMA.
  device_vma_errno: -EOPNOTSUPP,
  xnack_enabled: amdgpu_svm_v2_xnack_enabled,
  work_init: amdgpu_svm_v2_work_init,
  work_fini: amdgpu_svm_gc_fini,
  // V3: amdgpu_svm_set_attr and amdgpu_svm_close call amdgpu_svm_gc_flush.
  sync_work: amdgpu_svm_gc_flush,
  // The SET_ATTR retry loop's flush (V3 patch 05): amdgpu_svm_gc_flush.
  flush: (svm: amdgpu_svm): Co => amdgpu_svm_gc_flush(svm),
  invalidate: amdgpu_svm_range_invalidate,
  apply_attr_change: amdgpu_svm_range_apply_attr_change,
  handle_fault: amdgpu_svm_handle_fault,
};

/**
 * The design's options (DESIGN.md "Design variants": a known-flaw variant puts back one flaw).
 * SIM: designs.ts registers `rfc-v2` with no options and offers no way for a driver module to
 * declare its own, so the registration is repeated here with the shared ones kept.
 */
function amdgpu_svm_v2_register_options(): void {
  const info = getDesign('rfc-v2');
  if (!info) return;
  registerDesign({
    ...info,
    options: {
      ...info.options,
      [AMDGPU_SVM_V2_OPT_CLAMPED_ZAP]: {
        description:
          'Known flaw of the RFC (V3; still in the later postings checked): the notifier zaps only the pages the event covers, ' +
          'while the whole range loses gpu_mapped and its DMA mapping and, on UNMAP, is ' +
          "discarded: the rest of the range's PTEs stay valid with nothing to invalidate them.",
        default: false,
      },
      [AMDGPU_SVM_V2_OPT_GC_REQUEUE]: {
        description:
          'Known flaw of the RFC (V3; still in the later postings checked): an UNMAP over a range the GC has dequeued but not ' +
          'yet removed (the exit UNMAP right after a munmap) queues it again, and the GC removes ' +
          'it twice.',
        default: false,
      },
      [AMDGPU_SVM_V2_OPT_STALE_ATTR_NODE]: {
        description:
          'Known flaw of the RFC (V3): the fault handler keeps using the attribute node it looked ' +
          "up after map_fault's garbage collection or a concurrent SET_ATTR split or freed it " +
          '(-EINVAL fatal faults on valid addresses, use after free).',
        default: false,
      },
      [AMDGPU_SVM_V2_OPT_SPLIT_REMOVE_QUEUED]: {
        description:
          'Known flaw of the RFC (V3; still in the later postings checked): a RANGE_SPLIT removes a range that a concurrent ' +
          'munmap queued to the GC, and the GC removes it again.',
        default: false,
      },
    },
  });
}

amdgpu_svm_v2_register_options();
registerDriver('rfc-v2', amdgpu_svm_make_driver(amdgpu_svm_design_v2));

export * from './attr_change.js';
export * from './fault.js';
export * from './gc.js';
export * from './notifier.js';
export * from './range.js';
export * from './work_types.js';

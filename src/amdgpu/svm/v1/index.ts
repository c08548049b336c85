/**
 * The `rfc-v1` design: the V1 code of the RFC (17 Mar 2026, "[RFC/POC PATCH 00/12] POC SVM
 * implementation in AMDGPU based on drm_gpusvm"; shared/seed/rfc-v1-cover-letter.txt).
 * Importing this module registers its driver (designs.ts registerDriver).
 *
 * What V1 plugs into the shared core: the mapping loop and the attribute-change dispatcher
 * (map.ts), the rebuild after destroy (rebuild.ts), the three-case notifier (notifier.ts),
 * the GC and ordered restore workers with KFD quiesce/resume (queue.ts, workers.ts) and the
 * fault handler (fault.ts).
 *
 * XNACK: V1 computes amdgpu_svm_default_xnack_enabled and then forces it off ("WA/POC:
 * force to disable xnack"). SIM: the model takes the scenario's XNACK mode instead, on a GPU
 * that can retry faults, so that `rfc-v1` with `xnack: on` runs the V1 XNACK-on paths (the
 * fault handler, the clearing notifier) as far as V1 goes; with `xnack: off` it is V1 as
 * posted.
 */
import { EFAULT } from '../../../sim/errno.js';
import type { amdgpu_device } from '../../amdgpu.js';
import type { amdgpu_svm_design } from '../amdgpu_svm.js';
import { registerDriver } from '../designs.js';
import { amdgpu_svm_make_driver } from '../driver.js';
import { amdgpu_svm_handle_fault } from './fault.js';
import { amdgpu_svm_range_apply_attr_change } from './map.js';
import { amdgpu_svm_range_invalidate } from './notifier.js';
import {
  amdgpu_svm_range_flush,
  amdgpu_svm_range_sync_work,
  amdgpu_svm_range_work_fini,
  amdgpu_svm_range_work_init,
} from './workers.js';

/** The V1 design's entry points for the shared core. */
export const amdgpu_svm_design_v1: amdgpu_svm_design = {
  name: 'rfc-v1',
  attr_variant: 'v1',
  device_vma_errno: -EFAULT,
  xnack_enabled(_adev: amdgpu_device, scenario_xnack: boolean): boolean {
    // V1: amdgpu_svm_default_xnack_enabled(adev), then "force to disable xnack".
    // SIM: the scenario's mode, which is also the KFD process's (see the overview).
    return scenario_xnack;
  },
  work_init: amdgpu_svm_range_work_init,
  work_fini: amdgpu_svm_range_work_fini,
  sync_work: amdgpu_svm_range_sync_work,
  flush: amdgpu_svm_range_flush,
  invalidate: amdgpu_svm_range_invalidate,
  apply_attr_change: amdgpu_svm_range_apply_attr_change,
  handle_fault: amdgpu_svm_handle_fault,
};

registerDriver('rfc-v1', amdgpu_svm_make_driver(amdgpu_svm_design_v1));

export * from './fault.js';
export * from './flaws.js';
export * from './map.js';
export * from './notifier.js';
export * from './queue.js';
export * from './rebuild.js';
export * from './work_types.js';
export * from './workers.js';

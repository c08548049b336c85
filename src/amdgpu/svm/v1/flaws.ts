/**
 * The known-flaw variants of `rfc-v1` (DESIGN.md "Design variants"; designs.ts declares them
 * as options, default false). Each puts back exactly one flaw the review names, so that the
 * explorer can find it; the trap always comes from the oracle or lockdep, never from the
 * variant itself. Where each is placed:
 * - `flaw-eviction-lock` (spec §7.5, patch 02): map.ts amdgpu_svm_range_map_commit, fault path.
 * - `flaw-unlocked-commit` (spec §7.5, patch 07): map.ts amdgpu_svm_range_map_commit, and the
 *   notifier_lock assertion of ../amdgpu_svm_gpu.ts amdgpu_svm_range_update_gpu_range.
 * - `flaw-no-tlb-flush` (clarifications.md §2): notifier.ts and ../amdgpu_svm_gpu.ts
 *   amdgpu_svm_range_gpu_unmap_in_notifier.
 * - `flaw-alloc-under-notifier-lock` (spec §7.5, patches 02 and 07): map.ts
 *   amdgpu_svm_range_map_commit.
 * - `flaw-early-resume` (spec §4.1): workers.ts amdgpu_svm_range_restore_worker.
 */
import type { amdgpu_svm } from '../amdgpu_svm.js';

export const FLAW_EVICTION_LOCK = 'flaw-eviction-lock';
export const FLAW_UNLOCKED_COMMIT = 'flaw-unlocked-commit';
export const FLAW_NO_TLB_FLUSH = 'flaw-no-tlb-flush';
export const FLAW_ALLOC_UNDER_NOTIFIER_LOCK = 'flaw-alloc-under-notifier-lock';
export const FLAW_EARLY_RESUME = 'flaw-early-resume';

/** Is the design option `name` on for this machine (system.options, defaults filled in)? */
export function amdgpu_svm_flaw(svm: amdgpu_svm, name: string): boolean {
  return svm.ctx.env.options[name] === true;
}

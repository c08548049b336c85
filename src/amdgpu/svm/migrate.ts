/**
 * The design option `migration: true` (clarifications.md §6): VRAM migration as the v8
 * series added it (Junhua Shen's migration patches), on the drm_pagemap device memory of
 * devmem.ts, shared by `rfc-v1` and `rfc-v2`. With the option off nothing here runs.
 *
 * - init: amdgpu_svm_devmem_init per GPU with the design's drm_device, and the VRAM leak check.
 * - Mapping contexts get device_private_page_owner = the VRAM's pgmap owner and allow_mixed
 *   (a range may hold VRAM and system pages; the PTE update splits segments where the
 *   protocol changes). By default the owner is adev: hmm returns this GPU's VRAM pages in
 *   place and migrates another GPU's to system memory (their pagemap's migrate_to_ram), and
 *   a move between GPUs bounces through system memory (v6.18's selection).
 * - `select-device-private` (needs `migration`): the newer multi-device drm_pagemap. The
 *   GPUs share one owner (a peer group); hmm returns a peer's VRAM pages in place, mapped
 *   P2P with the 'vram-remote' flags, and a migration moves pages from a peer's VRAM
 *   straight into this GPU's (MIGRATE_VMA_SELECT_DEVICE_PRIVATE, source_peer_migrates;
 *   counted as migrated_pages_dev_to_dev), never through system memory.
 * - A gpusvm range is migrated whole, before get_pages: to this GPU's VRAM when a prefetch
 *   names this GPU or, on a GPU fault, when the preferred location is this GPU, device memory
 *   is possible and the access is not ACCESS_IN_PLACE; back to system memory when a prefetch
 *   names sysmem. A failed migration (VRAM full after the helper's single evict-once retry,
 *   a non-anonymous VMA) maps the pages where they are: never a loop.
 * - Counters: svm_migrations_to_vram / svm_migrations_to_ram (scope GPU: successful range
 *   migrations the design asked for), svm_migration_fallbacks (failed ones, mapped in place);
 *   migrated_pages_* and svm_vram_evictions come from mm/migrate_device and devmem.ts.
 */
import type { drm_gpusvm_ctx } from '../../drm/index.js';
import type { MmSystem } from '../../mm/index.js';
import { getSim } from '../../sim/scheduler.js';
import type { Co } from '../../sim/task.js';
import type { amdgpu_device } from '../amdgpu.js';
import type { amdgpu_svm, amdgpu_svm_ctx } from './amdgpu_svm.js';
import {
  AMDGPU_SVM_ACCESS_IN_PLACE,
  LOC_SYSMEM_I32,
  amdgpu_svm_attr_devmem_possible,
  type amdgpu_svm_attrs,
} from './attr_types.js';
import {
  amdgpu_svm_devmem_init,
  amdgpu_svm_devmem_leaks,
  amdgpu_svm_devmem_owner,
  amdgpu_svm_migrate_to_ram,
  amdgpu_svm_migrate_to_vram,
} from './devmem.js';

/** The design option's name (`system.options`). */
export const AMDGPU_SVM_OPT_MIGRATION = 'migration';
/** The newer device-private selection between GPUs (`system.options`; needs migration). */
export const AMDGPU_SVM_OPT_SELECT_DEVICE_PRIVATE = 'select-device-private';

export const SVM_MIGRATIONS_TO_VRAM = 'svm_migrations_to_vram';
export const SVM_MIGRATIONS_TO_RAM = 'svm_migrations_to_ram';
export const SVM_MIGRATION_FALLBACKS = 'svm_migration_fallbacks';

/** Whether the machine runs with `migration: true`. */
export function amdgpu_svm_migration_enabled(svm: amdgpu_svm): boolean {
  return svm.ctx.env.options[AMDGPU_SVM_OPT_MIGRATION] === true;
}

/**
 * v8 migration init (after Xe xe_devm_add per tile): device memory on every GPU with the
 * design's drm_device (so device_map knows the GPU's own DMA device), and the leak check.
 */
export function amdgpu_svm_migration_install(
  ctx: amdgpu_svm_ctx,
  devices: Iterable<amdgpu_device>,
  mmsys: MmSystem,
): void {
  if (ctx.env.options[AMDGPU_SVM_OPT_MIGRATION] !== true) return;
  const peer = ctx.env.options[AMDGPU_SVM_OPT_SELECT_DEVICE_PRIVATE] === true;
  for (const adev of devices) amdgpu_svm_devmem_init(adev, mmsys, ctx.drm_of(adev), peer);
  ctx.env.leakChecks.push(() => amdgpu_svm_devmem_leaks(mmsys));
}

/**
 * v8 / Xe xe_svm_handle_pagefault's ctx: device_private_page_owner = the GPU's pgmap owner
 * (Xe: xe_svm_devm_owner, newest xe_svm_private_page_owner: the peer group) and
 * allow_mixed. Adds nothing with the option off.
 */
export function amdgpu_svm_migration_ctx(svm: amdgpu_svm, ctx: drm_gpusvm_ctx): drm_gpusvm_ctx {
  if (!amdgpu_svm_migration_enabled(svm)) return ctx;
  ctx.device_private_page_owner = amdgpu_svm_devmem_owner(svm.ctx.env.mm, svm.adev);
  ctx.allow_mixed = true;
  return ctx;
}

/** Where a design wants a range before mapping it; null: leave the pages where they are. */
export type amdgpu_svm_migrate_target = 'vram' | 'ram' | null;

/**
 * v8 amdgpu_svm_range_migrate decision: `prefetch` follows prefetch_loc (this GPU -> VRAM,
 * sysmem -> system memory); `fault` follows preferred_loc (this GPU, device memory possible,
 * not ACCESS_IN_PLACE -> VRAM). SIM: a location naming another GPU leaves the pages alone
 * (this instance migrates into its own GPU only; with select-device-private it maps pages
 * already in that GPU's VRAM over P2P).
 */
export function amdgpu_svm_migrate_target_of(
  svm: amdgpu_svm,
  attrs: Readonly<amdgpu_svm_attrs>,
  kind: 'prefetch' | 'fault',
): amdgpu_svm_migrate_target {
  if (!amdgpu_svm_migration_enabled(svm)) return null;
  const own = svm.adev.gpu_id | 0;
  if (kind === 'prefetch') {
    if (attrs.prefetch_loc === own) return 'vram';
    if (attrs.prefetch_loc === LOC_SYSMEM_I32) return 'ram';
    return null;
  }
  if (attrs.access === AMDGPU_SVM_ACCESS_IN_PLACE) return null;
  if (!amdgpu_svm_attr_devmem_possible(svm, attrs)) return null;
  return attrs.preferred_loc === own ? 'vram' : null;
}

/**
 * v8 amdgpu_svm_range_migrate (Xe xe_svm_alloc_vram before get_pages): move pages
 * [start, end) to `target`. 0 when moved (or already there), else the error after which the
 * caller maps in place. Called with svm_lock held, without mmap_lock.
 */
export function* amdgpu_svm_range_migrate(
  svm: amdgpu_svm,
  start: number,
  end: number,
  target: amdgpu_svm_migrate_target,
  timeslice_ms: number,
): Co<number> {
  const mm = svm.mm;
  if (!target || !mm || end <= start) return 0;
  const sim = getSim();
  const gpu = svm.adev.name;
  const ret =
    target === 'vram'
      ? yield* amdgpu_svm_migrate_to_vram(svm.adev, mm, start, end - start, timeslice_ms)
      : yield* amdgpu_svm_migrate_to_ram(null, mm, start, end - start);
  if (ret) sim.counters.add(SVM_MIGRATION_FALLBACKS, 1, gpu);
  else sim.counters.add(target === 'vram' ? SVM_MIGRATIONS_TO_VRAM : SVM_MIGRATIONS_TO_RAM, 1, gpu);
  sim.trace.emit('svm.migrate', { gpu, start, end, target, ret });
  return ret;
}

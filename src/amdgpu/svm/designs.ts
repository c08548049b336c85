/**
 * The design registry (DESIGN.md "Design variants"): every design the scenario format can
 * name with `system.design`, its XNACK default and the options it declares
 * (`system.options`). A design's driver registers itself here when its module loads, so a
 * scenario naming a design whose driver is not built says so instead of running nothing.
 */
import type { amdgpu_fpriv } from '../amdgpu.js';
import type { AmdgpuSystem } from '../device.js';
import type { MmSystem } from '../../mm/mm_types.js';
import type { Co } from '../../sim/task.js';
import type { UserMemory } from './uapi.js';

/** The `migration` option both designs declare (migrate.ts; clarifications.md §6). */
const MIGRATION_OPTION: DesignOption = {
  description: 'VRAM migration as the v8 series added it (clarifications.md §6)',
  default: false,
};

/**
 * The newer device-private selection between GPUs (migrate.ts, devmem.ts; drm-gpusvm.md
 * §6.3, §7.8). Only meaningful with migration, so it requires it.
 */
const SELECT_DEVICE_PRIVATE_OPTION: DesignOption = {
  description:
    'With migration: the newer multi-device drm_pagemap (drm-gpusvm.md §6.3, §7.8). The GPUs ' +
    'share one pagemap owner (a peer group, as an XGMI hive), migrate_to_devmem selects ' +
    'device-private pages (MIGRATE_VMA_SELECT_DEVICE_PRIVATE, source_peer_migrates) so a move ' +
    "between GPUs does not bounce through system memory, and a GPU maps a peer's VRAM in place " +
    'over P2P. Off: the v6.18 selection of the RFC base.',
  default: false,
  requires: 'migration',
};

export interface DesignOption {
  readonly description: string;
  readonly default: boolean;
  /** Another option this one only works with (the file is invalid when it is off). */
  readonly requires?: string;
}

/** What a design's driver gets when a machine is built. */
export interface SvmDriverEnv {
  readonly amdgpu: AmdgpuSystem;
  readonly mm: MmSystem;
  /** The design options of `system.options`, defaults filled in. */
  readonly options: Readonly<Record<string, boolean>>;
  /** `system.xnack`: the process's XNACK mode. */
  readonly xnack: boolean;
  /** `system.chunk_sizes` in pages (drm_gpusvm_init's chunk sizes). */
  readonly chunkSizes: readonly number[];
  /** `system.notifier_size` in pages. */
  readonly notifierSize: number;
  /** Where the driver adds its teardown checks (ranges, DMA mappings, references left). */
  readonly leakChecks: (() => string[])[];
}

/** A design's SVM driver: the entry points the rest of the system calls. */
export interface SvmDesignDriver {
  /** Register the driver's hooks (amdgpu_vm_make_compute, fault handler, fini) on the GPUs. */
  install(env: SvmDriverEnv): void;
  /**
   * DRM_IOCTL_AMDGPU_GEM_SVM on `fpriv`'s render node: `arg` is the encoded
   * struct drm_amdgpu_gem_svm, `user` the process's memory that attrs_ptr points into.
   * 0 or -errno; GET_ATTR writes its results back through `user`.
   */
  ioctl(fpriv: amdgpu_fpriv, arg: Uint8Array, user: UserMemory): Co<number>;
}

export interface DesignInfo {
  readonly name: string;
  readonly description: string;
  /** XNACK mode when the scenario does not say (SCENARIO-FORMAT.md: off for rfc-v1, on for rfc-v2). */
  readonly defaultXnack: boolean;
  /** Boolean design options (`system.options`); an option not listed is an invalid file. */
  readonly options: Readonly<Record<string, DesignOption>>;
  /** The driver, once built; a design without one cannot run svm.* or ioctl steps. */
  driver?: SvmDesignDriver;
}

const designs = new Map<string, DesignInfo>();

/** Attach a driver to a registered design (the driver module does this when it loads). */
export function registerDriver(name: string, driver: SvmDesignDriver): void {
  const d = designs.get(name);
  if (!d) throw new Error(`no design ${name}`);
  d.driver = driver;
}

export function registerDesign(info: DesignInfo): void {
  designs.set(info.name, info);
}

export function getDesign(name: string): DesignInfo | undefined {
  return designs.get(name);
}

export function designNames(): string[] {
  return [...designs.keys()].sort();
}

registerDesign({
  name: 'rfc-v1',
  description:
    "The RFC V1 cover letter's design: SET_ATTR maps eagerly; XNACK-off eviction quiesces the " +
    'KFD queues and the restore worker remaps; partial munmap removes overlapping ranges and ' +
    'the GC worker rebuilds the survivors from the attribute tree.',
  defaultXnack: false,
  // Known-flaw variants (DESIGN.md "Design variants"): each puts back one flaw the review
  // names, for the explorer to find; v1/flaws.ts says where each one is placed.
  options: {
    migration: MIGRATION_OPTION,
    'select-device-private': SELECT_DEVICE_PRIVATE_OPTION,
    'flaw-eviction-lock': {
      description:
        'The v8 lock attempt (spec §7.5, patch 02: Honglei tried vm->eviction_lock and hit an ABBA ' +
        'deadlock): the fault path holds the VM eviction lock around its notifier-locked ' +
        'section while the notifier holds notifier_lock and the PTE zap takes the eviction ' +
        'lock. Expected trap: lock-order (or deadlock).',
      default: false,
    },
    'flaw-unlocked-commit': {
      description:
        'Spec §7.5, patch 07 (amdgpu_svm_range_is_valid, "the valid state looses meaning as soon ' +
        'as the lock is dropped"): validity is checked under notifier_lock, the lock is dropped, ' +
        'and the PTEs are written afterwards. Expected trap: stale-gpu-mapping.',
      default: false,
    },
    'flaw-no-tlb-flush': {
      description:
        "Clarifications §2 (the notifier's flushes): the notifier clears PTEs without the TLB " +
        "flush, neither the per-range update's flush nor the explicit flush after the loop. " +
        'Expected trap: stale-gpu-mapping.',
      default: false,
    },
    'flaw-alloc-under-notifier-lock': {
      description:
        'Spec §7.5, patch 02 ("you can\'t allocate memory under that lock when it is held in the ' +
        'MMU notifier") and patch 07 (memalloc_noreclaim): the mapping commit takes notifier_lock ' +
        'without memalloc_noreclaim_save, so a page-table allocation under it may enter reclaim ' +
        '(GFP_KERNEL). Expected trap: reclaim-lock.',
      default: false,
    },
    'flaw-early-resume': {
      description:
        'Spec §4.1 (V1 restore worker; the eviction-count compare-and-exchange): the XNACK-off ' +
        'restore worker resumes the KFD queues before every evicted range is remapped. ' +
        'Expected trap: stale-gpu-mapping (or fatal-gpu-fault).',
      default: false,
    },
  },
});

registerDesign({
  name: 'rfc-v2',
  description:
    "The series' second design (code posted as V3): fault-driven with XNACK on, ranges bounded " +
    'by attribute ranges, two-phase notifier, GC only, discard-and-refault on partial munmap.',
  defaultXnack: true,
  options: { migration: MIGRATION_OPTION, 'select-device-private': SELECT_DEVICE_PRIVATE_OPTION },
});

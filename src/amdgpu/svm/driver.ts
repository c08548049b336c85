/**
 * The glue between a design and the machine (RFC V1 patch 12: the amdgpu_vm hooks and the
 * ioctl table entry): install registers amdgpu_svm_init / close+fini / handle_fault as the
 * GPUs' svm_ops, gives each GPU its drm_device (and DMA device), and adds the driver's
 * teardown checks. Written once; each design calls amdgpu_svm_make_driver with its ops.
 */
import { DmaDevice, dma_leaks } from '../../dma/mapping.js';
import type { drm_device } from '../../drm/index.js';
import { getSim } from '../../sim/scheduler.js';
import type { amdgpu_device } from '../amdgpu.js';
import {
  amdgpu_svm_fini,
  amdgpu_svm_init,
  type amdgpu_svm_ctx,
  type amdgpu_svm_design,
} from './amdgpu_svm.js';
import { SVM_RANGES_LIVE } from './amdgpu_svm_range.js';
import type { SvmDesignDriver, SvmDriverEnv } from './designs.js';
import { amdgpu_gem_svm_ioctl } from './ioctl.js';
import { amdgpu_svm_migration_install } from './migrate.js';

/** One machine's driver context: the design, the env and a drm_device per GPU. */
function amdgpu_svm_ctx_create(
  design: amdgpu_svm_design,
  env: SvmDriverEnv,
  drms: Map<amdgpu_device, drm_device>,
): amdgpu_svm_ctx {
  return {
    design,
    env,
    live: 0,
    drm_of(adev: amdgpu_device): drm_device {
      let d = drms.get(adev);
      if (!d) {
        d = { name: adev.name, dev: new DmaDevice(adev.name, adev.phys) };
        drms.set(adev, d);
      }
      return d;
    },
  };
}

/** What the driver leaves behind after every process exited (oracle 6). */
function amdgpu_svm_leaks(ctx: amdgpu_svm_ctx, drms: Map<amdgpu_device, drm_device>): string[] {
  const left: string[] = [];
  if (ctx.live > 0) left.push(`${ctx.live} amdgpu_svm instances not freed`);
  const ranges = getSim().counters.get(SVM_RANGES_LIVE);
  if (ranges > 0) left.push(`${ranges} amdgpu_svm_range objects not freed`);
  for (const [adev, { dev }] of drms) {
    if (dev.mapped > 0) {
      const first = dma_leaks(dev)
        .slice(0, 4)
        .map((l) => l.pfn);
      left.push(`${dev.mapped} DMA mappings on ${adev.name} (frames ${first.join(', ')}...)`);
    }
  }
  return left;
}

/** A design's SvmDesignDriver: hooks on install, amdgpu_gem_svm_ioctl for the ioctl. */
export function amdgpu_svm_make_driver(design: amdgpu_svm_design): SvmDesignDriver {
  return {
    install(env: SvmDriverEnv): void {
      const drms = new Map<amdgpu_device, drm_device>();
      const ctx = amdgpu_svm_ctx_create(design, env, drms);
      const ops = env.amdgpu.hooks.svm_ops;
      ops.init = (adev, vm) => amdgpu_svm_init(ctx, adev, vm);
      // amdgpu_vm_fini calls amdgpu_svm_close then amdgpu_svm_fini (fini closes too).
      ops.fini = (_adev, vm) => amdgpu_svm_fini(vm);
      ops.handle_fault = (adev, pasid, addr, ts, write_fault) =>
        design.handle_fault(adev, pasid, addr, ts, write_fault);
      env.leakChecks.push(() => amdgpu_svm_leaks(ctx, drms));
      // `migration: true` (clarifications §6): VRAM as drm_pagemap device memory per GPU.
      amdgpu_svm_migration_install(ctx, env.amdgpu.devices, env.mm);
    },
    ioctl: amdgpu_gem_svm_ioctl,
  };
}

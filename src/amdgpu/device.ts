/**
 * GPU devices and their render nodes: the system's GPUs built from presets
 * (amdgpu_device_init, reduced) and the per-process render-node file that owns a VM
 * (amdgpu_kms.c amdgpu_driver_open_kms / amdgpu_driver_postclose_kms).
 */
import type { PhysMem } from '../mm/phys.js';
import { EBUSY } from '../sim/errno.js';
import type { Co } from '../sim/task.js';
import { AmdgpuHooks, amdgpu_device, amdgpu_fpriv, amdgpu_vm } from './amdgpu.js';
import {
  AMDGPU_PRESETS,
  amdgpu_gmc_noretry_default,
  isAmdgpuPreset,
  type AmdgpuIpInfo,
  type AmdgpuPresetName,
} from './ip.js';
import { amdgpu_pasid_alloc, amdgpu_pasid_free } from './pasid.js';
import { amdgpu_vm_fini, amdgpu_vm_init } from './vm.js';

/** Default VRAM per GPU: 16 GiB of 4 KiB pages (SCENARIO-FORMAT.md). */
export const AMDGPU_DEFAULT_VRAM_PAGES = (16 * 1024 * 1024 * 1024) / 4096;

/** KFD topology gpu_id of the GPU at `index` (SCENARIO-FORMAT.md: 0x1000 + N). */
export const AMDGPU_GPU_ID_BASE = 0x1000;

/** PASID width amdgpu_driver_open_kms asks amdgpu_pasid_alloc for. */
export const AMDGPU_PASID_BITS = 16;

export interface AmdgpuDeviceOptions {
  /** Default gpu<index>. */
  readonly name?: string;
  /** A preset name or explicit IP facts; default gfx943. */
  readonly ip?: AmdgpuPresetName | AmdgpuIpInfo;
  /** VRAM size in pages; default 16 GiB. */
  readonly vram_pages?: number;
  /** The amdgpu.noretry module parameter; default per IP (amdgpu_gmc_noretry_set). */
  readonly noretry?: boolean;
}

function ip_of(ip: AmdgpuDeviceOptions['ip']): AmdgpuIpInfo {
  if (ip === undefined) return AMDGPU_PRESETS.gfx943;
  if (typeof ip === 'string') {
    if (!isAmdgpuPreset(ip)) throw new RangeError(`unknown GPU preset '${String(ip)}'`);
    return AMDGPU_PRESETS[ip];
  }
  return ip;
}

/**
 * SIM: the GPUs of one simulated machine, with the hooks the layers above register (SVM ops,
 * access and fault observers). What Linux keeps in globals (the device list) lives here.
 */
export class AmdgpuSystem {
  readonly hooks = new AmdgpuHooks();
  readonly devices: readonly amdgpu_device[];

  constructor(
    readonly phys: PhysMem,
    gpus: number | readonly AmdgpuDeviceOptions[] = 1,
  ) {
    const list: readonly AmdgpuDeviceOptions[] =
      typeof gpus === 'number' ? Array.from({ length: gpus }, () => ({})) : gpus;
    this.devices = list.map((o, index) => {
      const ip = ip_of(o.ip);
      return new amdgpu_device(
        index,
        o.name ?? `gpu${index}`,
        AMDGPU_GPU_ID_BASE + index,
        ip,
        phys,
        this.hooks,
        o.noretry ?? amdgpu_gmc_noretry_default(ip.gc),
        o.vram_pages ?? AMDGPU_DEFAULT_VRAM_PAGES,
      );
    });
  }

  /** The device named `name` (gpu0, ...). */
  device(name: string): amdgpu_device | undefined {
    return this.devices.find((d) => d.name === name);
  }

  /** The device with KFD gpu_id `id`. */
  deviceById(id: number): amdgpu_device | undefined {
    return this.devices.find((d) => d.gpu_id === id);
  }
}

/**
 * amdgpu_driver_open_kms: a process opens the GPU's render node; the file gets a PASID and a
 * fresh VM published under it. SIM: one file per process per GPU (-EBUSY for a second open).
 */
export function* amdgpu_driver_open_kms(
  adev: amdgpu_device,
  mm: object,
): Co<amdgpu_fpriv | number> {
  if (adev.files.has(mm)) return -EBUSY;
  const pasid = amdgpu_pasid_alloc(AMDGPU_PASID_BITS);
  if (pasid < 0) return pasid;
  const vm = new amdgpu_vm(adev);
  const r = amdgpu_vm_init(adev, vm, pasid);
  if (r) {
    amdgpu_pasid_free(pasid);
    return r;
  }
  const fpriv = new amdgpu_fpriv(adev, mm, vm);
  adev.files.set(mm, fpriv);
  return fpriv;
}

/** amdgpu_driver_postclose_kms: the last close of the file: the VM goes, then its PASID. */
export function* amdgpu_driver_postclose_kms(fpriv: amdgpu_fpriv): Co {
  const adev = fpriv.adev;
  const pasid = fpriv.vm.pasid;
  yield* amdgpu_vm_fini(adev, fpriv.vm);
  if (pasid) amdgpu_pasid_free(pasid);
  if (adev.files.get(fpriv.mm) === fpriv) adev.files.delete(fpriv.mm);
}

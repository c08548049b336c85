/**
 * GPU presets and the IP-version rules that depend on them: the GC IP version, XNACK
 * capability and default, and the noretry default. Presets and their XNACK columns are
 * shared/spec/clarifications.md §5; the rules are the kernel's (cited per function).
 */

/** IP_VERSION(maj, min, rev) (amdgpu_discovery.h): comparable as a plain number. */
export function IP_VERSION(maj: number, min: number, rev: number): number {
  return maj * 0x10000 + min * 0x100 + rev;
}

/** "9.4.3" for IP_VERSION(9, 4, 3). */
export function ip_version_string(v: number): string {
  return `${Math.floor(v / 0x10000)}.${Math.floor(v / 0x100) % 0x100}.${v % 0x100}`;
}

export type AmdgpuPresetName = 'gfx943' | 'gfx1100' | 'gfx906';

/** The IP facts of one GPU model: what amdgpu reads from IP discovery. */
export interface AmdgpuIpInfo {
  readonly name: string;
  readonly product: string;
  /** GC_HWIP version (amdgpu_ip_version(adev, GC_HWIP, 0)). */
  readonly gc: number;
  /** adev->flags & AMD_IS_APU. The presets are all dGPUs. */
  readonly is_app_apu: boolean;
  /** num_possible_nodes() as seen by the MTYPE rules for APUs. */
  readonly num_possible_nodes: number;
  /** Compute dies (XCCs) in the default partition mode: adev->gfx.xcc_mask has this many bits. */
  readonly num_xcc: number;
  /** Whether the hardware can retry faults at all (SOC15 below GC 10.1.1). */
  readonly xnack_capable: boolean;
}

/** The presets of clarifications.md §5 (at least these; the scenario format names them). */
export const AMDGPU_PRESETS: Readonly<Record<AmdgpuPresetName, AmdgpuIpInfo>> = {
  gfx943: {
    name: 'gfx943',
    product: 'MI300X',
    gc: IP_VERSION(9, 4, 3),
    is_app_apu: false,
    num_possible_nodes: 1,
    num_xcc: 8,
    xnack_capable: true,
  },
  gfx906: {
    name: 'gfx906',
    product: 'MI60',
    gc: IP_VERSION(9, 4, 0),
    is_app_apu: false,
    num_possible_nodes: 1,
    num_xcc: 1,
    xnack_capable: true,
  },
  gfx1100: {
    name: 'gfx1100',
    product: 'W7900',
    gc: IP_VERSION(11, 0, 0),
    is_app_apu: false,
    num_possible_nodes: 1,
    num_xcc: 1,
    xnack_capable: false,
  },
};

export function isAmdgpuPreset(s: string): s is AmdgpuPresetName {
  return Object.prototype.hasOwnProperty.call(AMDGPU_PRESETS, s);
}

/**
 * Default of the noretry module parameter (amdgpu_gmc.c amdgpu_gmc_noretry_set with
 * amdgpu_noretry = -1): retry faults are off by default on 9.0.1, 9.3.0, 9.4.0, 9.4.1, 9.4.2
 * and from 10.3.0 on.
 */
export function amdgpu_gmc_noretry_default(gc: number): boolean {
  return (
    gc === IP_VERSION(9, 0, 1) ||
    gc === IP_VERSION(9, 3, 0) ||
    gc === IP_VERSION(9, 4, 0) ||
    gc === IP_VERSION(9, 4, 1) ||
    gc === IP_VERSION(9, 4, 2) ||
    gc >= IP_VERSION(10, 3, 0)
  );
}

/**
 * The RFC's XNACK detection (rfc-series.md §5.2, `amdgpu_svm_default_xnack_enabled`):
 * false below GC 9.0.1; true for 9.4.2, 9.4.3, 9.4.4 and 9.5.0; false from 10.1.1 on;
 * otherwise !noretry. SIM: no SR-IOV, so amdgpu_sriov_xnack_support() always holds.
 * It only reads IP facts, so it lives with them; the SVM layer calls it.
 */
export function amdgpu_svm_default_xnack_enabled(adev: {
  readonly ip: AmdgpuIpInfo;
  readonly gmc: { readonly noretry: boolean };
}): boolean {
  const gc = adev.ip.gc;
  if (gc < IP_VERSION(9, 0, 1)) return false;
  if (
    gc === IP_VERSION(9, 4, 2) ||
    gc === IP_VERSION(9, 4, 3) ||
    gc === IP_VERSION(9, 4, 4) ||
    gc === IP_VERSION(9, 5, 0)
  ) {
    return true;
  }
  if (gc >= IP_VERSION(10, 1, 1)) return false;
  return !adev.gmc.noretry;
}

/**
 * KFD_SUPPORT_XNACK_PER_PROCESS (kfd_priv.h): GPUs whose retry mode is chosen per process
 * (9.4.2, 9.4.3, 9.4.4, 9.5.0). SIM: 9.4.0 (gfx906) is included, so that a process may switch
 * XNACK on there as the scenario format allows ("XNACK capable"); the kernel would need the
 * amdgpu.noretry=0 module parameter at boot instead (the series' V2 design was tested that way).
 */
export function kfd_support_xnack_per_process(ip: AmdgpuIpInfo): boolean {
  const gc = ip.gc;
  return (
    gc === IP_VERSION(9, 4, 0) ||
    gc === IP_VERSION(9, 4, 2) ||
    gc === IP_VERSION(9, 4, 3) ||
    gc === IP_VERSION(9, 4, 4) ||
    gc === IP_VERSION(9, 5, 0)
  );
}

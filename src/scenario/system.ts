/**
 * The `system:` block resolved against its defaults and the command-line overrides
 * (SCENARIO-FORMAT.md "Top level", "Command-line overrides"), and the checks that need the
 * resolved system: known design and options, GPU presets and names, XNACK capability, cost
 * names, chunk sizes. Problems are reported at their place in the file.
 */
import { AMDGPU_PRESETS, isAmdgpuPreset, type AmdgpuPresetName } from '../amdgpu/ip.js';
import { designNames, getDesign, type DesignInfo } from '../amdgpu/svm/designs.js';
import { isCostName } from '../sim/costs.js';
import type { Issue, Scenario, Step } from './loader.js';
import { GPU_STEP_KINDS } from './steps.js';
import type { LocationSpec } from './values.js';

export interface GpuConfig {
  readonly name: string;
  readonly ip: AmdgpuPresetName;
  readonly vram: bigint;
  /** 0x1000 + position: what the UAPI carries. */
  readonly gpuId: number;
}

export interface ResolvedSystem {
  readonly design: string;
  readonly xnack: boolean;
  readonly gpus: readonly GpuConfig[];
  readonly ram: bigint;
  readonly vaBits: 47 | 56;
  readonly chunkSizes: readonly bigint[];
  readonly notifierSize: bigint;
  readonly costs: Readonly<Record<string, number>>;
  readonly seed: number;
  readonly policy: 'timed' | 'random' | 'pct';
  readonly options: Readonly<Record<string, boolean>>;
}

/** Command-line overrides of `svmsim run` (they replace the matching `system` keys). */
export interface SystemOverrides {
  design?: string | undefined;
  xnack?: boolean | undefined;
  gpus?: number | undefined;
  seed?: number | undefined;
  policy?: 'timed' | 'random' | 'pct' | undefined;
  /** Cost-table entries in ns, over the file's system.costs (names checked by the caller). */
  costs?: Readonly<Record<string, number>> | undefined;
  /** Design options over the file's system.options (checked against the design here). */
  options?: Readonly<Record<string, boolean>> | undefined;
}

const GiB = 1024n ** 3n;
export const DEFAULT_GPU_ID_BASE = 0x1000;

type Resolved = { ok: true; system: ResolvedSystem } | { ok: false; issues: Issue[] };

export function resolveSystem(s: Scenario, o: SystemOverrides = {}): Resolved {
  const issues: Issue[] = [];
  const add = (path: (string | number)[], message: string): void => {
    issues.push({ file: s.file, ...s.posOf(path), message: `${path.join('.')}: ${message}` });
  };
  const spec = s.system;
  const design = o.design ?? spec.design ?? 'rfc-v1';
  const info = getDesign(design);
  if (!info)
    add(['system', 'design'], `unknown design '${design}' (known: ${designNames().join(', ')})`);
  const xnack = o.xnack ?? spec.xnack ?? info?.defaultXnack ?? false;

  const gpus: GpuConfig[] = [];
  const count = o.gpus ?? (typeof spec.gpus === 'number' ? spec.gpus : undefined);
  if (count !== undefined || spec.gpus === undefined) {
    for (let i = 0; i < (count ?? 1); i++) {
      gpus.push({ name: `gpu${i}`, ip: 'gfx943', vram: 16n * GiB, gpuId: DEFAULT_GPU_ID_BASE + i });
    }
  } else if (Array.isArray(spec.gpus)) {
    spec.gpus.forEach((g, i) => {
      const ip = g.ip ?? 'gfx943';
      if (!isAmdgpuPreset(ip)) {
        add(
          ['system', 'gpus', i, 'ip'],
          `unknown GPU preset '${ip}' (known: ${Object.keys(AMDGPU_PRESETS).join(', ')})`,
        );
      }
      if (gpus.some((x) => x.name === g.name))
        add(['system', 'gpus', i, 'name'], `GPU name '${g.name}' is used twice`);
      gpus.push({
        name: g.name,
        ip: isAmdgpuPreset(ip) ? ip : 'gfx943',
        vram: g.vram ?? 16n * GiB,
        gpuId: DEFAULT_GPU_ID_BASE + i,
      });
    });
  }
  if (xnack) {
    gpus.forEach((g, i) => {
      if (!AMDGPU_PRESETS[g.ip].xnack_capable) {
        add(
          ['system', 'gpus', i],
          `xnack: on needs XNACK-capable GPUs, and ${g.name} (${g.ip}) is not`,
        );
      }
    });
  }
  const costs: Record<string, number> = {};
  for (const [name, ns] of Object.entries(spec.costs ?? {})) {
    if (!isCostName(name))
      add(['system', 'costs', name], `unknown cost '${name}' (see 'svmsim costs')`);
    costs[name] = ns;
  }
  Object.assign(costs, o.costs ?? {});
  const chunkSizes = spec.chunk_sizes ?? [2n * 1024n * 1024n, 64n * 1024n, 4096n];
  chunkSizes.forEach((c, i) => {
    if (c < 4096n || (c & (c - 1n)) !== 0n)
      add(['system', 'chunk_sizes', i], `chunk size ${c} is not a power of two of at least 4 KiB`);
    const prev = chunkSizes[i - 1];
    if (prev !== undefined && c >= prev)
      add(['system', 'chunk_sizes', i], 'chunk sizes must be in descending order');
  });
  if (chunkSizes.at(-1) !== 4096n)
    add(['system', 'chunk_sizes'], 'the last chunk size must be 4KiB (drm_gpusvm_init)');
  const notifierSize = spec.notifier_size ?? 512n * 1024n * 1024n;
  if (notifierSize < 4096n || (notifierSize & (notifierSize - 1n)) !== 0n) {
    add(['system', 'notifier_size'], 'the notifier size must be a power of two of at least 4 KiB');
  }
  const options: Record<string, boolean> = {};
  for (const [name, v] of Object.entries(spec.options ?? {})) {
    const decl = info?.options[name];
    if (info && !decl) {
      add(['system', 'options', name], noOption(info, name));
    } else if (typeof v !== 'boolean') {
      add(['system', 'options', name], `option '${name}' takes true or false`);
    } else {
      options[name] = v;
    }
  }
  for (const [name, v] of Object.entries(o.options ?? {})) {
    if (info && !info.options[name]) {
      add(['system', 'design'], `--option ${name}: ${noOption(info, name)}`);
    } else {
      options[name] = v;
    }
  }
  if (info) for (const [n, d] of Object.entries(info.options)) options[n] ??= d.default;
  for (const [name, d] of Object.entries(info?.options ?? {})) {
    if (d.requires && options[name] && !options[d.requires])
      add(['system', 'options', name], `option '${name}' needs '${d.requires}: true'`);
  }
  checkGpuNames(s, new Set(gpus.map((g) => g.name)), add);
  if (issues.length)
    return { ok: false, issues: issues.sort((a, b) => a.line - b.line || a.col - b.col) };
  return {
    ok: true,
    system: {
      design,
      xnack,
      gpus,
      ram: spec.ram ?? 64n * GiB,
      vaBits: spec.va_bits === 56 ? 56 : 47,
      chunkSizes,
      notifierSize,
      costs,
      seed: o.seed ?? spec.seed ?? 1,
      policy: o.policy ?? spec.policy ?? 'timed',
      options,
    },
  };
}

/** The error for an option the design does not declare, with the ones it does. */
function noOption(info: DesignInfo, name: string): string {
  const known = Object.keys(info.options);
  const list = known.length ? ` (known: ${known.join(', ')})` : ' (it declares none)';
  return `design ${info.name} has no option '${name}'${list}`;
}

/** Every GPU a step names (its `gpu` field and GPU-valued locations) must exist. */
function checkGpuNames(
  s: Scenario,
  names: Set<string>,
  add: (p: (string | number)[], m: string) => void,
): void {
  const known = [...names].join(', ');
  const checkLoc = (loc: LocationSpec | undefined, path: (string | number)[]): void => {
    if (loc?.kind === 'gpu' && !names.has(loc.name))
      add(path, `unknown GPU '${loc.name}' (this system has ${known})`);
  };
  const visit = (steps: readonly Step[], base: (string | number)[]): void => {
    for (const st of steps) {
      const p = [...base, st.index, st.kind];
      const f = st.f as Record<string, unknown>;
      if (typeof f['gpu'] === 'string' && !names.has(f['gpu'])) {
        add([...p, 'gpu'], `unknown GPU '${f['gpu']}' (this system has ${known})`);
      }
      if (st.kind === 'svm.set')
        st.f.attrs.forEach((a, i) => checkLoc(a.value, [...p, 'attrs', i]));
      if (st.kind === 'ioctl')
        [...(st.f.attrs ?? []), ...(st.f.expect_attrs ?? [])].forEach((a) =>
          checkLoc(a.value, [...p, 'attrs']),
        );
      if (st.kind === 'svm.get') {
        st.f.attrs.forEach((q, i) => checkLoc(q.gpu, [...p, 'attrs', i]));
        for (const g of Object.keys(st.f.expect?.ACCESS ?? {}))
          checkLoc({ kind: 'gpu', name: g }, [...p, 'expect', 'ACCESS', g]);
        checkLoc(st.f.expect?.PREFERRED_LOC, [...p, 'expect', 'PREFERRED_LOC']);
        checkLoc(st.f.expect?.PREFETCH_LOC, [...p, 'expect', 'PREFETCH_LOC']);
      }
      if (st.kind === 'where' && st.f.expect !== 'sysmem' && !names.has(st.f.expect)) {
        add([...p, 'expect'], `expected sysmem or a GPU name (this system has ${known})`);
      }
      if (GPU_STEP_KINDS.has(st.kind) && f['gpu'] === undefined && !names.has('gpu0')) {
        add(p, `no gpu given and this system has no gpu0 (it has ${known})`);
      }
      if (st.children) visit(st.children, [...p, 'steps']);
    }
  };
  s.threads.forEach((t) => visit(t.steps, [...t.path]));
}

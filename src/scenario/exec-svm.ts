/**
 * SVM steps (SCENARIO-FORMAT.md "SVM attributes"): svm.set and svm.get build the
 * DRM_AMDGPU_GEM_SVM ioctl from names; `ioctl` passes raw values. All go through the
 * design's driver with the argument encoded as the UAPI struct and the attribute array in
 * the process's user memory.
 */
import {
  AMDGPU_SVM_ATTR,
  AMDGPU_SVM_LOCATION_SYSMEM,
  AMDGPU_SVM_LOCATION_UNDEFINED,
  AMDGPU_SVM_OP_GET_ATTR,
  AMDGPU_SVM_OP_SET_ATTR,
  UserMemory,
  decode_attrs,
  encode_attrs,
  encode_gem_svm,
  svmAttrName,
  svmFlagNames,
  type drm_amdgpu_svm_attribute,
} from '../amdgpu/svm/uapi.js';
import type { Co } from '../sim/task.js';
import type { StepCtx } from './context.js';
import type { Step } from './loader.js';
import type { LocationSpec } from './values.js';
import { StepFailed } from './world.js';

type S<K extends Step['kind']> = Extract<Step, { kind: K }>;

const userMem = new WeakMap<object, UserMemory>();

/** The UAPI value of a location or GPU: sysmem 0, undefined 0xffffffff, a GPU its gpu_id. */
export function locationValue(ctx: StepCtx, loc: LocationSpec): number {
  switch (loc.kind) {
    case 'sysmem':
      return AMDGPU_SVM_LOCATION_SYSMEM;
    case 'undefined':
      return AMDGPU_SVM_LOCATION_UNDEFINED;
    case 'raw':
      return loc.value;
    case 'gpu':
      return ctx.world.device(loc.name).gpu_id;
  }
}

/**
 * Issue the ioctl on the step GPU's render node: 0 or -errno; `attrs` are updated in place
 * with what GET_ATTR wrote back.
 */
function* gemSvm(
  ctx: StepCtx,
  gpu: string,
  op: number,
  start: bigint,
  size: bigint,
  attrs: drm_amdgpu_svm_attribute[] | null,
  nattr: number,
): Co<{ r: number; out: drm_amdgpu_svm_attribute[] }> {
  const driver = ctx.world.design.driver;
  if (!driver) {
    throw new StepFailed(
      '',
      `design ${ctx.world.design.name} has no SVM driver built yet; svm.* and ioctl steps need one`,
    );
  }
  yield* ctx.world.ensureKfd(ctx.proc);
  const dev = ctx.world.device(gpu);
  const fpriv = dev.files.get(ctx.proc.mm);
  if (!fpriv) throw new StepFailed(`an open render node of ${gpu}`, 'none');
  let user = userMem.get(ctx.proc);
  if (!user) {
    user = new UserMemory();
    userMem.set(ctx.proc, user);
  }
  const buf = attrs ? encode_attrs(attrs) : null;
  const ptr = buf ? user.alloc(buf) : 0n;
  const arg = encode_gem_svm({ start_addr: start, size, operation: op, nattr, attrs_ptr: ptr });
  const r = yield* driver.ioctl(fpriv, arg, user);
  const out = buf ? decode_attrs(buf, attrs?.length ?? 0) : [];
  if (buf) user.free(ptr);
  return { r, out };
}

export function* exec_svm_set(ctx: StepCtx, st: S<'svm.set'>): Co<number> {
  const attrs = st.f.attrs.map((a) => ({
    type: AMDGPU_SVM_ATTR[a.type],
    value: locationValue(ctx, a.value),
  }));
  const at = ctx.proc.addr(st.f.at);
  const gpu = st.f.gpu ?? 'gpu0';
  const { r } = yield* gemSvm(ctx, gpu, AMDGPU_SVM_OP_SET_ATTR, at, st.f.size, attrs, attrs.length);
  if (r === 0) trackSet(ctx, gpu, at, st.f.size, attrs);
  return r;
}

function pageSpan(at: bigint, size: bigint): { start: number; end: number } {
  return { start: Number(at >> 12n), end: Number((at + size + 4095n) >> 12n) };
}

/** Oracle bookkeeping of a successful SET_ATTR: access grants and the stored attributes. */
function trackSet(
  ctx: StepCtx,
  gpu: string,
  at: bigint,
  size: bigint,
  attrs: drm_amdgpu_svm_attribute[],
): void {
  const { start, end } = pageSpan(at, size);
  const g = ctx.oracle.grantsOf(ctx.proc, gpu);
  const named = attrs.flatMap((a) => {
    const name = svmAttrName(a.type);
    return name ? [{ name, value: a.value }] : [];
  });
  for (const { name } of named) {
    if (name === 'ACCESS' || name === 'ACCESS_IN_PLACE') g.grant(start, end - start);
    if (name === 'NO_ACCESS') g.revoke(start, end - start);
  }
  ctx.oracle.attrsOf(ctx.proc, gpu).set(start, end, named);
}

/** Oracle 4 on a successful GET_ATTR: each answer against what SET_ATTR stored. */
function checkGet(
  ctx: StepCtx,
  gpu: string,
  at: bigint,
  size: bigint,
  asked: drm_amdgpu_svm_attribute[],
  got: drm_amdgpu_svm_attribute[],
): void {
  const { start, end } = pageSpan(at, size);
  const shadow = ctx.oracle.attrsOf(ctx.proc, gpu);
  got.forEach((a, i) => {
    const q = svmAttrName(asked[i]?.type ?? -1);
    if (q) shadow.check(start, end, q, a.type, a.value, svmAttrName(a.type) ?? String(a.type));
  });
}

const ACCESS_NAMES = ['ACCESS', 'ACCESS_IN_PLACE', 'NO_ACCESS'] as const;

export function* exec_svm_get(ctx: StepCtx, st: S<'svm.get'>): Co<number> {
  const attrs = st.f.attrs.map((q) => ({
    type: AMDGPU_SVM_ATTR[q.type],
    value: q.gpu ? locationValue(ctx, q.gpu) : 0,
  }));
  const gpu = st.f.gpu ?? 'gpu0';
  const at = ctx.proc.addr(st.f.at);
  const { r, out } = yield* gemSvm(
    ctx,
    gpu,
    AMDGPU_SVM_OP_GET_ATTR,
    at,
    st.f.size,
    attrs,
    attrs.length,
  );
  if (r) return r;
  checkGet(ctx, gpu, at, st.f.size, attrs, out);
  const e = st.f.expect;
  if (!e) return 0;
  out.forEach((a, i) => {
    const q = st.f.attrs[i];
    const name = svmAttrName(a.type) ?? `type ${a.type}`;
    if (q?.gpu) {
      const gpuName = q.gpu.kind === 'gpu' ? q.gpu.name : '';
      const want = e.ACCESS?.[gpuName];
      if (want !== undefined && name !== want)
        throw new StepFailed(`ACCESS of ${gpuName} = ${want}`, name);
      if (!(ACCESS_NAMES as readonly string[]).includes(name))
        throw new StepFailed('an access type back', name);
      return;
    }
    const check = (want: number | undefined, show: (v: number) => string): void => {
      if (want !== undefined && want !== a.value)
        throw new StepFailed(`${name} = ${show(want)}`, show(a.value));
    };
    const flags = (v: number): string => `[${svmFlagNames(v).join(', ')}]`;
    const loc = (v: number): string =>
      v === 0 ? 'sysmem' : v === 0xffffffff ? 'undefined' : `0x${v.toString(16)}`;
    if (name === 'PREFERRED_LOC' && e.PREFERRED_LOC)
      check(locationValue(ctx, e.PREFERRED_LOC), loc);
    if (name === 'PREFETCH_LOC' && e.PREFETCH_LOC) check(locationValue(ctx, e.PREFETCH_LOC), loc);
    if (name === 'GRANULARITY') check(e.GRANULARITY, String);
    if ((name === 'SET_FLAGS' || name === 'CLR_FLAGS') && e[name] !== undefined) {
      const want = e[name];
      if (((want ?? 0) & 0xff) !== (a.value & 0xff))
        throw new StepFailed(`${name} = ${flags(want ?? 0)}`, flags(a.value));
    }
  });
  return 0;
}

export function* exec_ioctl(ctx: StepCtx, st: S<'ioctl'>): Co<number> {
  const f = st.f;
  const op =
    f.op === 'SET_ATTR'
      ? AMDGPU_SVM_OP_SET_ATTR
      : f.op === 'GET_ATTR'
        ? AMDGPU_SVM_OP_GET_ATTR
        : f.op;
  const attrs = (f.attrs ?? []).map((a) => ({ type: a.type, value: locationValue(ctx, a.value) }));
  const nattr = f.nattr ?? attrs.length;
  const passAttrs = f.attrs_ptr === null ? null : attrs;
  const start = ctx.proc.addr(f.start);
  const { r, out } = yield* gemSvm(ctx, f.gpu ?? 'gpu0', op, start, f.size, passAttrs, nattr);
  if (r === 0 && op === AMDGPU_SVM_OP_SET_ATTR)
    trackSet(ctx, f.gpu ?? 'gpu0', start, f.size, attrs);
  if (r === 0 && op === AMDGPU_SVM_OP_GET_ATTR && passAttrs)
    checkGet(ctx, f.gpu ?? 'gpu0', start, f.size, attrs, out);
  if (r === 0 && f.expect_attrs) {
    const want = f.expect_attrs.map((a) => ({ type: a.type, value: locationValue(ctx, a.value) }));
    const show = (l: drm_amdgpu_svm_attribute[]): string =>
      JSON.stringify(l.map((a) => [svmAttrName(a.type) ?? a.type, a.value]));
    if (show(want) !== show(out)) throw new StepFailed(show(want), show(out));
  }
  return r;
}

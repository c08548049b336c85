/**
 * Step kinds of SCENARIO-FORMAT.md "Steps", one zod schema each. A step is a map with
 * exactly one key (its kind); the key's value holds the fields, `label` and `expect_errno`
 * among them. Unknown fields are errors.
 */
import { z } from 'zod';
import {
  isSvmAttrName,
  isSvmFlagName,
  AMDGPU_SVM_ATTR,
  type SvmAttrName,
} from '../amdgpu/svm/uapi.js';
import {
  parsed,
  zAddr,
  zCounters,
  zEngine,
  zErrnoSet,
  zExpectValues,
  zFlags,
  zInt,
  zLocation,
  zName,
  zOnOff,
  zProt,
  zSize,
  zTime,
  zValue,
} from './fields.js';
import { describe, parseFlags, parseLocation, type LocationSpec, type Parsed } from './values.js';

const common = { label: z.string().optional(), expect_errno: zErrnoSet.optional() };
const gpuCommon = {
  ...common,
  gpu: zName.optional(),
  expect_fault: z.boolean().optional(),
  fault_at: zAddr.optional(),
};
const kernel = { ...gpuCommon, engine: zEngine.optional(), repeat: zInt(1, 1_000_000).optional() };
const range = { at: zAddr, size: zSize };

/** An attribute and its argument; flags and granularity are raw numbers. */
export interface AttrArg {
  readonly type: SvmAttrName;
  readonly value: LocationSpec;
}

function attrArg(name: string, raw: unknown): Parsed<AttrArg> {
  if (!isSvmAttrName(name)) {
    return {
      ok: false,
      error: `unknown attribute '${name}' (known: ${Object.keys(AMDGPU_SVM_ATTR).join(', ')})`,
    };
  }
  if (name === 'SET_FLAGS' || name === 'CLR_FLAGS' || name === 'GRANULARITY') {
    const f = name === 'GRANULARITY' ? zInt(0, 0xffffffff).safeParse(raw) : undefined;
    if (f && !f.success)
      return { ok: false, error: `${name}: ${f.error.issues[0]?.message ?? 'invalid'}` };
    const r = f?.success ? { ok: true as const, value: f.data } : parseFlags(raw);
    return r.ok
      ? { ok: true, value: { type: name, value: { kind: 'raw', value: r.value } } }
      : { ok: false, error: `${name}: ${r.error}` };
  }
  const loc = parseLocation(raw);
  return loc.ok
    ? { ok: true, value: { type: name, value: loc.value } }
    : { ok: false, error: `${name}: ${loc.error}` };
}

/** svm.set attrs: a map, or a list of one-key maps (to repeat a type). */
const zAttrs = parsed((raw): Parsed<AttrArg[]> => {
  const entries: [string, unknown][] = [];
  if (Array.isArray(raw)) {
    for (const [i, item] of (raw as unknown[]).entries()) {
      if (
        !item ||
        typeof item !== 'object' ||
        Array.isArray(item) ||
        Object.keys(item).length !== 1
      ) {
        return { ok: false, error: `attrs item ${i}: expected a map with one attribute` };
      }
      entries.push(...Object.entries(item));
    }
  } else if (raw && typeof raw === 'object') {
    entries.push(...Object.entries(raw));
  } else {
    return {
      ok: false,
      error: `expected a map of attributes or a list of one-key maps, got ${describe(raw)}`,
    };
  }
  const out: AttrArg[] = [];
  for (const [k, v] of entries) {
    const a = attrArg(k, v);
    if (!a.ok) return a;
    out.push(a.value);
  }
  return { ok: true, value: out };
});

/** A query of svm.get: a type name, or `{ ACCESS: gpu0 }` (any access-family type). */
export type AttrQuery = { type: SvmAttrName; gpu?: LocationSpec };

const ACCESS_TYPES = new Set<string>(['ACCESS', 'ACCESS_IN_PLACE', 'NO_ACCESS']);

const zQueries = parsed((raw): Parsed<AttrQuery[]> => {
  if (!Array.isArray(raw))
    return { ok: false, error: `expected a list of queries, got ${describe(raw)}` };
  const out: AttrQuery[] = [];
  for (const [i, q] of (raw as unknown[]).entries()) {
    if (typeof q === 'string' && isSvmAttrName(q) && !ACCESS_TYPES.has(q)) {
      out.push({ type: q });
      continue;
    }
    if (q && typeof q === 'object' && !Array.isArray(q) && Object.keys(q).length === 1) {
      const [k, v] = Object.entries(q as Record<string, unknown>)[0] ?? ['', undefined];
      const gpu = parseLocation(v);
      if (isSvmAttrName(k) && ACCESS_TYPES.has(k) && gpu.ok) {
        out.push({ type: k, gpu: gpu.value });
        continue;
      }
    }
    return {
      ok: false,
      error: `query ${i}: expected an attribute name or { ACCESS: gpuN }, got ${describe(q)}`,
    };
  }
  return { ok: true, value: out };
});

/** svm.get expect: each queried type's answer. */
const zGetExpect = z.strictObject({
  PREFERRED_LOC: zLocation.optional(),
  PREFETCH_LOC: zLocation.optional(),
  SET_FLAGS: zFlags.optional(),
  CLR_FLAGS: zFlags.optional(),
  GRANULARITY: zInt(0, 0xffffffff).optional(),
  ACCESS: z.record(zName, z.enum(['ACCESS', 'ACCESS_IN_PLACE', 'NO_ACCESS'])).optional(),
});

/** ioctl attrs / expect_attrs: `[type, value]` pairs, names or integers. */
export interface RawAttr {
  readonly type: number;
  readonly value: LocationSpec;
}

const zRawAttrs = parsed((raw): Parsed<RawAttr[]> => {
  if (!Array.isArray(raw))
    return { ok: false, error: `expected a list of [type, value] pairs, got ${describe(raw)}` };
  const out: RawAttr[] = [];
  for (const [i, pair] of (raw as unknown[]).entries()) {
    if (!Array.isArray(pair) || pair.length !== 2)
      return { ok: false, error: `item ${i}: expected [type, value]` };
    const [t, v] = pair as [unknown, unknown];
    let type: number | undefined;
    if (typeof t === 'string' && isSvmAttrName(t)) type = AMDGPU_SVM_ATTR[t];
    else if (typeof t === 'bigint' && t >= 0n && t <= 0xffffffffn) type = Number(t);
    if (type === undefined)
      return { ok: false, error: `item ${i}: unknown attribute type ${describe(t)}` };
    const flagLike = Array.isArray(v) || (typeof v === 'string' && isSvmFlagName(v));
    const val: Parsed<LocationSpec> = flagLike
      ? (() => {
          const f = parseFlags(v);
          return f.ok ? { ok: true, value: { kind: 'raw', value: f.value } } : f;
        })()
      : parseLocation(v);
    if (!val.ok) return { ok: false, error: `item ${i}: ${val.error}` };
    out.push({ type, value: val.value });
  }
  return { ok: true, value: out };
});

/** Fields of every step kind. `fork.steps` is checked recursively by the loader. */
export const STEP_SCHEMAS = {
  mmap: z.strictObject({
    ...common,
    as: zName.optional(),
    size: zSize,
    prot: zProt.optional(),
    shared: z.boolean().optional(),
    file: zName.optional(),
    at: zAddr.optional(),
    hint: zAddr.optional(),
    align: zSize.optional(),
    kind: z.enum(['heap', 'stack']).optional(),
    io: z.boolean().optional(),
  }),
  munmap: z.strictObject({ ...common, ...range }),
  mprotect: z.strictObject({ ...common, ...range, prot: zProt }),
  mremap: z.strictObject({
    ...common,
    ...range,
    new_size: zSize,
    as: zName.optional(),
    fixed: zAddr.optional(),
    dontunmap: z.boolean().optional(),
  }),
  madvise: z.strictObject({ ...common, ...range, advice: z.literal('dontneed') }),
  write: z.strictObject({ ...common, ...range, value: zValue }),
  read: z.strictObject({ ...common, ...range, expect: zExpectValues.optional() }),
  'file.read': z.strictObject({
    ...common,
    file: zName,
    offset: zSize,
    size: zSize,
    expect: zExpectValues.optional(),
  }),
  'file.write': z.strictObject({
    ...common,
    file: zName,
    offset: zSize,
    size: zSize,
    value: zValue,
  }),
  fork: z.strictObject({ ...common, as: zName, steps: z.array(z.unknown()).optional() }),
  exit: z.strictObject({ ...common, code: zInt(0, 255).optional() }),
  wait: z.strictObject({
    ...common,
    process: zName,
    expect_exit: z
      .union([
        zInt(0, 255),
        z.string().regex(/^SIG[A-Z0-9]+$/, 'expected an exit code or a signal name'),
      ])
      .optional(),
  }),
  kill: z.strictObject({
    ...common,
    process: zName,
    signal: z
      .string()
      .regex(/^SIG[A-Z0-9]+$/)
      .optional(),
  }),
  reclaim: z.strictObject({ ...common, ...range }),
  migrate_pages: z.strictObject({ ...common, ...range }),
  'svm.set': z.strictObject({ ...common, gpu: zName.optional(), ...range, attrs: zAttrs }),
  'svm.get': z.strictObject({
    ...common,
    gpu: zName.optional(),
    ...range,
    attrs: zQueries,
    expect: zGetExpect.optional(),
  }),
  ioctl: z.strictObject({
    ...common,
    gpu: zName.optional(),
    op: z.union([z.enum(['SET_ATTR', 'GET_ATTR']), zInt(0, 0xffffffff)]),
    start: zAddr,
    size: zSize,
    attrs: zRawAttrs.optional(),
    nattr: zInt(0, 0xffffffff).optional(),
    attrs_ptr: z.null().optional(),
    expect_attrs: zRawAttrs.optional(),
  }),
  'gpu.read': z.strictObject({ ...kernel, ...range, expect: zExpectValues.optional() }),
  'gpu.write': z.strictObject({ ...kernel, ...range, value: zValue }),
  'gpu.atomic': z.strictObject({
    ...kernel,
    ...range,
    add: zValue,
    expect: zExpectValues.optional(),
  }),
  'gpu.copy': z.strictObject({ ...kernel, from: zAddr, to: zAddr, size: zSize }),
  'gpu.mapped': z.strictObject({ ...gpuCommon, ...range, expect: z.enum(['all', 'none']) }),
  where: z.strictObject({ ...common, ...range, expect: zName }),
  'queue.create': z.strictObject({ ...gpuCommon, engine: zEngine.optional() }),
  'queue.destroy': z.strictObject({ ...gpuCommon, engine: zEngine.optional() }),
  'xnack.set': z.strictObject({ ...common, value: zOnOff }),
  'xnack.get': z.strictObject({ ...common, expect: zOnOff.optional() }),
  settle: z.strictObject({ ...common }),
  sleep: z.strictObject({ ...common, time: zTime }),
  barrier: z.strictObject({ ...common, name: zName }),
  expect_counters: zCounters,
} as const;

export type StepKind = keyof typeof STEP_SCHEMAS;
export const STEP_KINDS = Object.keys(STEP_SCHEMAS) as StepKind[];

export function isStepKind(s: string): s is StepKind {
  return Object.prototype.hasOwnProperty.call(STEP_SCHEMAS, s);
}

/** Steps whose kernel runs on a GPU. */
export const GPU_STEP_KINDS: ReadonlySet<StepKind> = new Set<StepKind>([
  'gpu.read',
  'gpu.write',
  'gpu.atomic',
  'gpu.copy',
  'gpu.mapped',
  'queue.create',
  'queue.destroy',
]);

/** Steps that need the SVM driver (issue svm-v1). */
export const SVM_STEP_KINDS: ReadonlySet<StepKind> = new Set<StepKind>([
  'svm.set',
  'svm.get',
  'ioctl',
]);

export type StepFields<K extends StepKind> = z.output<(typeof STEP_SCHEMAS)[K]>;

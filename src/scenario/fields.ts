/**
 * zod field types for scenario files, built on the value parsers of values.ts so that every
 * error message says what the format expects.
 */
import { z } from 'zod';
import { errnoByName } from '../sim/errno.js';
import {
  describe,
  parseAddress,
  parseExpectValues,
  parseFlags,
  parseLocation,
  parseSize,
  parseTime,
  parseValue,
  type Parsed,
} from './values.js';

/** A field parsed by `parse`; missing is an error unless wrapped in `.optional()`. */
export function parsed<T>(parse: (raw: unknown) => Parsed<T>) {
  return z.unknown().transform((raw, ctx): T => {
    if (raw === undefined) {
      ctx.addIssue({ code: 'custom', message: 'required' });
      return z.NEVER;
    }
    const r = parse(raw);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.error });
      return z.NEVER;
    }
    return r.value;
  });
}

export const zSize = parsed(parseSize);
export const zAddr = parsed(parseAddress);
export const zValue = parsed(parseValue);
export const zExpectValues = parsed(parseExpectValues);
export const zTime = parsed(parseTime);
export const zLocation = parsed(parseLocation);
export const zFlags = parsed(parseFlags);

/** A whole number (YAML gives bigint) within [min, max]. */
export function zInt(min = 0, max = Number.MAX_SAFE_INTEGER) {
  return parsed((raw): Parsed<number> => {
    const n =
      typeof raw === 'bigint'
        ? raw
        : typeof raw === 'number' && Number.isInteger(raw)
          ? BigInt(raw)
          : undefined;
    if (n === undefined)
      return { ok: false, error: `expected a whole number, got ${describe(raw)}` };
    if (n < BigInt(min) || n > BigInt(max)) {
      return { ok: false, error: `${n} is outside ${min}..${max}` };
    }
    return { ok: true, value: Number(n) };
  });
}

export const zName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'expected a name (letters, digits, _ . -)');

/** on | off; YAML booleans are accepted too. */
export const zOnOff = parsed((raw): Parsed<boolean> => {
  if (raw === 'on' || raw === true) return { ok: true, value: true };
  if (raw === 'off' || raw === false) return { ok: true, value: false };
  return { ok: false, error: `expected on or off, got ${describe(raw)}` };
});

/** expect_errno: a name, or a list of acceptable outcomes where OK means success. 0 = OK. */
export const zErrnoSet = parsed((raw): Parsed<number[]> => {
  const list = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  if (list.length === 0) return { ok: false, error: 'expected an errno name or a list of them' };
  const out: number[] = [];
  for (const item of list) {
    if (item === 'OK') {
      out.push(0);
      continue;
    }
    const e = typeof item === 'string' ? errnoByName(item) : undefined;
    if (e === undefined) {
      return {
        ok: false,
        error: `unknown errno ${describe(item)} (use names such as EINVAL, EFAULT, or OK)`,
      };
    }
    out.push(e);
  }
  return { ok: true, value: out };
});

export const zProt = z.enum(['rw', 'r', 'none', 'rwx']);
export const zEngine = z.enum(['compute', 'sdma']);

/** A counter expectation: `{ min: N }`, `{ max: N }`, `{ eq: N }` or a combination. */
export interface CounterExpect {
  min?: number | undefined;
  max?: number | undefined;
  eq?: number | undefined;
}

export const zCounters = z.record(
  z.string().min(1),
  z
    .strictObject({ min: zInt().optional(), max: zInt().optional(), eq: zInt().optional() })
    .refine(
      (c) => c.min !== undefined || c.max !== undefined || c.eq !== undefined,
      'expected min, max or eq',
    ),
);

/**
 * Value syntax of scenario files (SCENARIO-FORMAT.md "Values"): sizes, addresses with bound
 * names and arithmetic, page values, times, locations and flags. Each parser returns the
 * parsed value or a string that says what is wrong; the loader attaches the position.
 * Integers arrive from the YAML parser as bigint (so 57-bit addresses stay exact).
 */
import { AMDGPU_SVM_FLAGS, isSvmFlagName } from '../amdgpu/svm/uapi.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };
const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const err = <T>(error: string): Parsed<T> => ({ ok: false, error });

const UNITS: Readonly<Record<string, bigint>> = {
  b: 1n,
  kib: 1024n,
  mib: 1024n ** 2n,
  gib: 1024n ** 3n,
  tib: 1024n ** 4n,
  page: 4096n,
  pages: 4096n,
};

function intOf(raw: unknown): bigint | undefined {
  if (typeof raw === 'bigint') return raw;
  if (typeof raw === 'number' && Number.isInteger(raw)) return BigInt(raw);
  if (typeof raw === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(raw.trim())) return BigInt(raw.trim());
  return undefined;
}

/** Size: bytes, or `N B|KiB|MiB|GiB|TiB|pages` (`16 pages`, `2MiB`, `4096`, `0x1000`). */
export function parseSize(raw: unknown): Parsed<bigint> {
  const n = intOf(raw);
  if (n !== undefined) return n < 0n ? err(`size ${n} is negative`) : ok(n);
  if (typeof raw !== 'string') return err(`expected a size, got ${describe(raw)}`);
  const m = /^\s*(0x[0-9a-f]+|\d+)\s*([a-z]+)\s*$/i.exec(raw);
  const unit = m?.[2]?.toLowerCase();
  const factor = unit === undefined ? undefined : UNITS[unit];
  if (!m || factor === undefined) {
    return err(`invalid size '${raw}' (use a byte count or N B|KiB|MiB|GiB|TiB|pages)`);
  }
  return ok(BigInt(m[1] ?? '0') * factor);
}

/** A term of an address expression: a bound name or a byte count. */
export type AddrTerm = { sign: 1 | -1; name: string } | { sign: 1 | -1; bytes: bigint };
/** Address: `0x7f0000000000`, `buf`, `buf + 6 pages`, `buf - 4096`. */
export interface AddrExpr {
  readonly terms: readonly AddrTerm[];
  readonly text: string;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function parseAddress(raw: unknown): Parsed<AddrExpr> {
  const n = intOf(raw);
  if (n !== undefined) return ok({ terms: [{ sign: 1, bytes: n }], text: `0x${n.toString(16)}` });
  if (typeof raw !== 'string' || raw.trim() === '') {
    return err(`expected an address, got ${describe(raw)}`);
  }
  const parts = raw.split(/\s*([+-])\s*/);
  const terms: AddrTerm[] = [];
  let sign: 1 | -1 = 1;
  for (let i = 0; i < parts.length; i++) {
    const p = (parts[i] ?? '').trim();
    if (i % 2 === 1) {
      sign = p === '-' ? -1 : 1;
      continue;
    }
    if (p === '') return err(`invalid address '${raw}': missing term`);
    if (i === 0 && NAME_RE.test(p) && !/^\d/.test(p)) {
      terms.push({ sign, name: p });
      continue;
    }
    const size = parseSize(p);
    if (size.ok) terms.push({ sign, bytes: size.value });
    else if (NAME_RE.test(p)) terms.push({ sign, name: p });
    else return err(`invalid address '${raw}': '${p}' is neither a bound name nor a size`);
  }
  return ok({ terms, text: raw.trim() });
}

/** Page value: an integer 0..0xffffffff, or `index` / `index+N` (page i holds i or N+i). */
export type ValueSpec = { index: false; v: number } | { index: true; plus: number };

export function parseValue(raw: unknown): Parsed<ValueSpec> {
  const n = intOf(raw);
  if (n !== undefined) {
    return n >= 0n && n <= 0xffffffffn
      ? ok({ index: false, v: Number(n) })
      : err(`value ${n} is outside 0..0xffffffff`);
  }
  if (typeof raw === 'string') {
    const m = /^\s*index\s*(?:\+\s*(0x[0-9a-f]+|\d+))?\s*$/i.exec(raw);
    if (m) {
      const plus = m[1] === undefined ? 0n : BigInt(m[1]);
      if (plus > 0xffffffffn) return err(`index offset ${plus} is outside 0..0xffffffff`);
      return ok({ index: true, plus: Number(plus) });
    }
  }
  return err(`expected a value 0..0xffffffff, 'index' or 'index+N', got ${describe(raw)}`);
}

/** The value that page `i` of a step holds under `spec`. */
export function valueAt(spec: ValueSpec, i: number): number {
  return spec.index ? (spec.plus + i) >>> 0 : spec.v;
}

/** An expectation of page values: one value for every page, or a list with one per page. */
export function parseExpectValues(raw: unknown): Parsed<ValueSpec | ValueSpec[]> {
  if (!Array.isArray(raw)) return parseValue(raw);
  const out: ValueSpec[] = [];
  for (const [i, r] of raw.entries()) {
    const v = parseValue(r);
    if (!v.ok) return err(`item ${i}: ${v.error}`);
    out.push(v.value);
  }
  return ok(out);
}

const TIME_UNITS: Readonly<Record<string, number>> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };

/** Time: `N ns|us|ms|s`; a plain number is ns. Result in ns. */
export function parseTime(raw: unknown): Parsed<number> {
  const n = intOf(raw);
  if (n !== undefined) return ok(Number(n));
  if (typeof raw === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s)\s*$/.exec(raw);
    if (m) return ok(Number(m[1]) * (TIME_UNITS[m[2] ?? 'ns'] ?? 1));
  }
  return err(`invalid time ${describe(raw)} (use N ns|us|ms|s)`);
}

/** Location: `sysmem`, `undefined`, a GPU name, or a raw integer sent as is. */
export type LocationSpec =
  { kind: 'sysmem' | 'undefined' } | { kind: 'gpu'; name: string } | { kind: 'raw'; value: number };

export function parseLocation(raw: unknown): Parsed<LocationSpec> {
  const n = intOf(raw);
  if (n !== undefined) {
    return n >= 0n && n <= 0xffffffffn
      ? ok({ kind: 'raw', value: Number(n) })
      : err(`location ${n} does not fit in 32 bits`);
  }
  if (raw === 'sysmem' || raw === 'undefined') return ok({ kind: raw });
  if (typeof raw === 'string' && NAME_RE.test(raw)) return ok({ kind: 'gpu', name: raw });
  return err(
    `expected a location (sysmem, undefined, a GPU name or an integer), got ${describe(raw)}`,
  );
}

/** Flags: a list of flag names or a raw integer. */
export function parseFlags(raw: unknown): Parsed<number> {
  const n = intOf(raw);
  if (n !== undefined) {
    return n >= 0n && n <= 0xffffffffn ? ok(Number(n)) : err(`flags ${n} do not fit in 32 bits`);
  }
  const list = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list))
    return err(`expected a list of flag names or an integer, got ${describe(raw)}`);
  let bits = 0;
  for (const f of list) {
    if (typeof f !== 'string' || !isSvmFlagName(f)) {
      return err(
        `unknown flag ${describe(f)} (known: ${Object.keys(AMDGPU_SVM_FLAGS).join(', ')})`,
      );
    }
    bits |= AMDGPU_SVM_FLAGS[f];
  }
  return ok(bits);
}

export function describe(raw: unknown): string {
  if (raw === null || raw === undefined) return 'nothing';
  if (typeof raw === 'string') return `'${raw}'`;
  if (typeof raw === 'bigint' || typeof raw === 'number' || typeof raw === 'boolean')
    return String(raw);
  return Array.isArray(raw) ? 'a list' : 'a map';
}

/**
 * Oracle 4 (DESIGN.md): GET_ATTR returns what SET_ATTR stored, and unmapping one part never
 * changes the attributes of another. The shadow keeps, per process and GPU instance, the
 * attribute values userspace set explicitly on each page span (what it never set, and what was
 * unmapped, is unknown: defaults differ by design). A GET over pages whose queried attribute
 * is known must return it, merged as every design merges (differing locations read as
 * UNDEFINED, granularity as the minimum, flags as AND / inverse OR). A wrong answer traps
 * `data-mismatch`: the attributes are data the kernel keeps for userspace.
 */
import { AMDGPU_SVM_LOCATION_UNDEFINED, type SvmAttrName } from '../amdgpu/svm/uapi.js';
import { trap } from '../sim/trap.js';

type Access = 'ACCESS' | 'ACCESS_IN_PLACE' | 'NO_ACCESS';

interface Known {
  pref?: number;
  prefetch?: number;
  gran?: number;
  access?: Access;
  /** Flag bits known set / known clear. */
  set: number;
  clr: number;
}

interface Seg {
  start: number;
  end: number;
  a: Known;
}

export class AttrShadow {
  private segs: Seg[] = [];

  /** Split so that `at` is a segment boundary. */
  private cut(at: number): void {
    const i = this.segs.findIndex((s) => s.start < at && at < s.end);
    const s = this.segs[i];
    if (!s) return;
    this.segs.splice(
      i,
      1,
      { start: s.start, end: at, a: { ...s.a } },
      { start: at, end: s.end, a: { ...s.a } },
    );
  }

  /** A successful SET_ATTR of `attrs` ([type, value] in UAPI numbers) over pages [start, end). */
  set(start: number, end: number, attrs: readonly { name: SvmAttrName; value: number }[]): void {
    this.cut(start);
    this.cut(end);
    for (let p = start; p < end;) {
      const s = this.segs.find((x) => x.start <= p && p < x.end);
      const next = this.segs.filter((x) => x.start > p).reduce((m, x) => Math.min(m, x.start), end);
      if (!s) this.segs.push({ start: p, end: Math.min(next, end), a: { set: 0, clr: 0 } });
      p = s ? s.end : Math.min(next, end);
    }
    this.segs.sort((x, y) => x.start - y.start);
    for (const s of this.segs) {
      if (s.start < start || s.end > end) continue;
      for (const { name, value } of attrs) apply(s.a, name, value);
    }
  }

  /** munmap: what the pages had is no longer known. */
  forget(start: number, end: number): void {
    this.cut(start);
    this.cut(end);
    this.segs = this.segs.filter((s) => s.end <= start || s.start >= end);
  }

  /**
   * Check a GET_ATTR answer for one query over [start, end): `type` and `value` as the kernel
   * wrote them back. Nothing is checked where any page's attribute is unknown.
   */
  check(
    start: number,
    end: number,
    query: SvmAttrName,
    type: number,
    value: number,
    typeName: string,
  ): void {
    const cover = this.segs.filter((s) => s.end > start && s.start < end);
    let covered = start;
    for (const s of cover) {
      if (s.start > covered) return;
      covered = s.end;
    }
    if (covered < end || cover.length === 0) return;
    const fail = (what: string, want: string, got: string): never =>
      trap(
        'data-mismatch',
        `GET_ATTR ${what} over pages 0x${start.toString(16)}-0x${(end - 1).toString(16)} returned ${got}, but SET_ATTR stored ${want}`,
        { query, type, value },
      );
    const all = <T>(f: (a: Known) => T | undefined): T[] | null => {
      const vals = cover.map((s) => f(s.a));
      return vals.every((v) => v !== undefined) ? vals : null;
    };
    if (query === 'PREFERRED_LOC' || query === 'PREFETCH_LOC') {
      const v = all((a) => (query === 'PREFERRED_LOC' ? a.pref : a.prefetch));
      if (!v) return;
      const want = v.every((x) => x === v[0]) ? (v[0] as number) : AMDGPU_SVM_LOCATION_UNDEFINED;
      if (value !== want) fail(query, `0x${want.toString(16)}`, `0x${value.toString(16)}`);
    } else if (query === 'GRANULARITY') {
      const v = all((a) => a.gran);
      if (v && value !== Math.min(...v)) fail(query, String(Math.min(...v)), String(value));
    } else if (query === 'SET_FLAGS' || query === 'CLR_FLAGS') {
      // SET_FLAGS answers the AND of every page's flags, CLR_FLAGS the inverse of their OR.
      const allSet = cover.reduce((m, s) => m & s.a.set, 0xff);
      const anySet = cover.reduce((m, s) => m | s.a.set, 0);
      const allClr = cover.reduce((m, s) => m & s.a.clr, 0xff);
      const anyClr = cover.reduce((m, s) => m | s.a.clr, 0);
      const bad =
        query === 'SET_FLAGS'
          ? (value & allSet) !== allSet || (value & anyClr) !== 0
          : (value & anySet) !== 0 || (value & allClr) !== allClr;
      if (bad) {
        fail(
          query,
          `flags set 0x${allSet.toString(16)}, clear 0x${anyClr.toString(16)}`,
          `0x${(value >>> 0).toString(16)}`,
        );
      }
    } else {
      const v = all((a) => a.access);
      if (v && v.every((x) => x === v[0]) && typeName !== v[0])
        fail('access', v[0] ?? '', typeName);
    }
  }
}

function apply(a: Known, name: SvmAttrName, value: number): void {
  switch (name) {
    case 'PREFERRED_LOC':
      a.pref = value;
      break;
    case 'PREFETCH_LOC':
      a.prefetch = value;
      break;
    case 'GRANULARITY':
      a.gran = Math.min(value, 0x3f);
      break;
    case 'SET_FLAGS':
      a.set |= value & 0xff;
      a.clr &= ~value;
      break;
    case 'CLR_FLAGS':
      a.clr |= value & 0xff;
      a.set &= ~value;
      break;
    case 'ACCESS':
    case 'ACCESS_IN_PLACE':
    case 'NO_ACCESS':
      a.access = name;
      break;
  }
}

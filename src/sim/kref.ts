/**
 * Reference counts and atomics (include/linux/kref.h, atomic.h). One task runs at a time,
 * so atomics are plain numbers; they exist to keep ported code line for line. A kref that
 * dropped to zero is dead: any later get or put traps `use-after-free`, and so does
 * {@link kref_assert_live}, which model code calls where C would dereference the object.
 */
import { trap } from './trap.js';

export class Kref {
  refcount = 1;
  released = false;
  constructor(readonly name: string) {}
}

export function kref_init(k: Kref): void {
  k.refcount = 1;
  k.released = false;
}

export function kref_read(k: Kref): number {
  return k.refcount;
}

export function kref_get(k: Kref): void {
  if (k.refcount <= 0) trap('use-after-free', `kref_get on released ${k.name}`);
  k.refcount++;
}

/** kref_get_unless_zero: false when the object is already being released. */
export function kref_get_unless_zero(k: Kref): boolean {
  if (k.refcount <= 0) return false;
  k.refcount++;
  return true;
}

/** kref_put: calls `release` when the count drops to zero; true if it did. */
export function kref_put(k: Kref, release: () => void): boolean {
  if (k.refcount <= 0) trap('use-after-free', `kref_put on released ${k.name}`);
  if (--k.refcount === 0) {
    k.released = true;
    release();
    return true;
  }
  return false;
}

export function kref_assert_live(k: Kref, what = 'access'): void {
  if (k.released || k.refcount <= 0) trap('use-after-free', `${what} of released ${k.name}`);
}

/** atomic_t / atomic64_t. */
export class Atomic {
  constructor(public value = 0) {}
}

export function atomic_read(a: Atomic): number {
  return a.value;
}
export function atomic_set(a: Atomic, v: number): void {
  a.value = v;
}
export function atomic_inc(a: Atomic): void {
  a.value++;
}
export function atomic_dec(a: Atomic): void {
  a.value--;
}
export function atomic_inc_return(a: Atomic): number {
  return ++a.value;
}
export function atomic_dec_return(a: Atomic): number {
  return --a.value;
}
export function atomic_add(a: Atomic, n: number): void {
  a.value += n;
}
/** atomic_cmpxchg: stores `nv` when the value is `old`; returns the value it found. */
export function atomic_cmpxchg(a: Atomic, old: number, nv: number): number {
  const v = a.value;
  if (v === old) a.value = nv;
  return v;
}
export function atomic_xchg(a: Atomic, nv: number): number {
  const v = a.value;
  a.value = nv;
  return v;
}

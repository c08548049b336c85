/**
 * Array helpers for the runtime's hot paths (lock release, lockdep's held list).
 */

/** Remove a[i], keeping the order: a.splice(i, 1) without the array of removed elements. */
export function array_del<T>(a: T[], i: number): void {
  for (let j = i + 1; j < a.length; j++) a[j - 1] = a[j] as T;
  a.pop();
}

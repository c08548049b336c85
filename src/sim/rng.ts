/**
 * Seeded random numbers (pure-rand's xoroshiro128+). Model code and policies never use the
 * platform's random source: every draw comes from a stream derived from the run's seed, so
 * the same seed gives the same run. Independent streams (scheduler policy, workload
 * generators) keep a change in one from shifting the draws of the other.
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/** FNV-1a of a string, to derive a stream seed from a name. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

export class Rng {
  private readonly gen: RandomGenerator;

  constructor(seed: number, stream = '') {
    this.gen = xoroshiro128plus((seed ^ hashName(stream)) | 0);
  }

  /** Uniform integer in [from, to], both included. */
  int(from: number, to: number): number {
    return uniformInt(this.gen, from, to);
  }

  /** Uniform index in [0, n). */
  below(n: number): number {
    return n <= 1 ? 0 : uniformInt(this.gen, 0, n - 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return uniformInt(this.gen, 0, 0xffff) < p * 0x10000;
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = a[i] as T;
      a[i] = a[j] as T;
      a[j] = t;
    }
    return a;
  }
}

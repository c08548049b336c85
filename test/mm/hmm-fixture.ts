/**
 * Fixture of the hmm-tests port (tools/testing/selftests/mm/hmm-tests.c): one process, two
 * mirror devices (hmm_dmirror0/1, device-private), buffers of HMM_BUFFER_SIZE = 1024 pages.
 * Page i holding i stands for the selftest's `ptr[i] = i` over int words.
 */
import { expect } from 'vitest';
import { Sim, type Co } from '../../src/sim/index.js';
import {
  MmSystem,
  cpu_read_range,
  cpu_write_range,
  mm_alloc,
  type MmStruct,
} from '../../src/mm/index.js';
import { DmirrorDevice, type DmirrorCmd } from './dmirror.js';

export const HMM_BUFFER_PAGES = 1024;
/** read_pmd_pagesize() in pages. */
export const PMD_PAGES = 512;

export interface Hmm {
  sim: Sim;
  sys: MmSystem;
  mm: MmStruct;
  dev0: DmirrorDevice;
  dev1: DmirrorDevice;
}

export function hmm_fixture(
  opts: { policy?: 'timed' | 'random' | 'pct'; seed?: number } = {},
): Hmm {
  const sim = new Sim({ policy: opts.policy ?? 'timed', seed: opts.seed ?? 1 });
  const sys = new MmSystem({ ram_pages: 1 << 16 });
  const mm = mm_alloc(sys, { name: 'hmm-tests' });
  return {
    sim,
    sys,
    mm,
    dev0: new DmirrorDevice(sys, 'hmm_dmirror0'),
    dev1: new DmirrorDevice(sys, 'hmm_dmirror1'),
  };
}

/** struct hmm_buffer as the ioctl sees it. */
export function buffer(addr: number, npages: number): DmirrorCmd {
  return { addr, npages, mirror: new Uint32Array(npages), cpages: 0, faults: 0 };
}

/** `-i` as the int the selftest stores. */
export const neg = (i: number): number => -i >>> 0;

/** CPU stores of f(i) to page i of [ptr, ptr + n). */
export function* init(mm: MmStruct, ptr: number, n: number, f: (i: number) => number): Co {
  expect(yield* cpu_write_range(mm, ptr, n, f)).toBe(0);
}

/** CPU loads of [ptr, ptr + n); each page i must hold f(i). */
export function* check(mm: MmStruct, ptr: number, n: number, f: (i: number) => number): Co {
  const out = new Uint32Array(n);
  expect(yield* cpu_read_range(mm, ptr, n, out)).toBe(0);
  expect_pages(out, f);
}

export function expect_pages(a: Uint32Array, f: (i: number) => number): void {
  const bad: number[] = [];
  for (let i = 0; i < a.length && bad.length < 4; i++) if (a[i] !== f(i) >>> 0) bad.push(i);
  expect(bad.map((i) => [i, a[i]])).toEqual([]);
}

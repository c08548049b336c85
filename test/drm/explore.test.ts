/**
 * The reference driver (refdrv.ts, the Xe pattern) under the random and PCT policies,
 * racing munmap (partial unmap of a range), mprotect, reclaim and NUMA migration, and, with
 * VRAM, device migration both ways. In every schedule: every GPU access and a periodic
 * checker find each mirrored entry pointing at the frame the CPU maps (DESIGN.md coherence
 * rule), the data survives, and teardown leaves no DMA mapping, device mapping, range or
 * VRAM page. A driver with a known flaw (no pages_valid check before binding) is caught.
 */
import { describe, expect, it } from 'vitest';
import { Trap, join, sleep, type Co, type PolicyName } from '../../src/sim/index.js';
import {
  PROT_READ,
  PROT_WRITE,
  cpu_read,
  cpu_read_range,
  cpu_write_range,
  do_mprotect,
  do_munmap,
  migrate_pages,
  mmput,
  reclaim,
} from '../../src/mm/index.js';
import { drm_pagemap_populate_mm } from '../../src/drm/index.js';
import { machine, mmap, run } from './fixture.js';
import { TestVram } from './devmem.js';
import { RefDriver } from './refdrv.js';

const B = 0x10000;
const N = 64;
/** The pages munmapped during the run. */
const HOLE: [number, number] = [B + 40, B + 48];
const f = (vpn: number) => 0x5000 + vpn - B;
const inHole = (vpn: number) => vpn >= HOLE[0] && vpn < HOLE[1];

interface Outcome {
  decisions: number;
  faults: number;
  retries: number;
  accesses: number;
  removed: number;
}

function schedule(
  policy: PolicyName,
  seed: number,
  o: { vram?: boolean; flaw?: boolean; replay?: string } = {},
): Outcome {
  const m = machine({
    ...(o.replay !== undefined ? { replay: o.replay } : {}),
    policy,
    seed,
    trace: false,
    steps: 350 /* about the decisions of one run */,
  });
  const out = run(m, function* () {
    const vram = o.vram ? new TestVram(m, 256) : null;
    const drv = new RefDriver(m, {
      chunks: [16, 4, 1],
      notifier_size: 32,
      vram,
      check_pages_threshold: 4,
      flaw_skip_pages_valid: o.flaw ?? false,
    });
    yield* mmap(m.mm, N, { addr: B });
    expect(yield* cpu_write_range(m.mm, B, N, (i) => f(B + i))).toBe(0);
    let done = false;
    const tasks = [
      m.sim.spawn('gpu', function* () {
        for (let k = 0; k < 32; k++) {
          const vpn = B + ((k * 13 + seed) % N);
          const v = yield* drv.gpu_read(vpn);
          if (v < 0) expect(inHole(vpn)).toBe(true);
          else expect(v).toBe(f(vpn));
        }
      }),
      m.sim.spawn('munmap', function* () {
        yield* sleep(20_000);
        expect(yield* do_munmap(m.mm, HOLE[0], HOLE[1] - HOLE[0])).toBe(0);
      }),
      m.sim.spawn('mprotect', function* () {
        yield* sleep(10_000);
        expect(yield* do_mprotect(m.mm, B + 8, 8, PROT_READ)).toBe(0);
        yield* sleep(30_000);
        expect(yield* do_mprotect(m.mm, B + 8, 8, PROT_READ | PROT_WRITE)).toBe(0);
      }),
      m.sim.spawn('reclaim', function* () {
        yield* sleep(15_000);
        yield* reclaim(m.mm, B + 16, 16);
      }),
      m.sim.spawn('migrate', function* () {
        yield* sleep(5_000);
        yield* migrate_pages(m.mm, B, 32);
        if (!vram) return;
        yield* drm_pagemap_populate_mm(vram.dpagemap, B + 48, B + 64, m.mm, 0);
        expect(yield* cpu_read(m.mm, B + 50)).toBe(f(B + 50));
      }),
    ];
    const checker = m.sim.spawn('checker', function* (): Co {
      while (!done) {
        drv.check_all();
        yield* sleep(500);
      }
    });
    for (const t of tasks) yield* join(t);
    done = true;
    yield* join(checker);
    drv.check_all();
    // Data: everything still mapped reads back as written, wherever it went meanwhile.
    const vals = new Uint32Array(N);
    expect(yield* cpu_read_range(m.mm, B, HOLE[0] - B, vals)).toBe(0);
    expect(yield* cpu_read_range(m.mm, HOLE[1], B + N - HOLE[1], vals)).toBe(0);
    // Teardown: the device closes, then the process exits.
    yield* drv.fini();
    expect(m.drm.dev.mapped).toBe(0);
    expect(drv.gpusvm.root).toHaveLength(0);
    yield* mmput(m.mm);
    if (vram) {
      expect(vram.device_mapped).toBe(0);
      expect(vram.region.used).toBe(0);
      expect(vram.released).toBe(vram.allocations.length);
    }
    return { ...drv.stats };
  });
  return { decisions: m.sim.decisions, ...out };
}

function explore(policy: PolicyName, seeds: number, o: { vram?: boolean } = {}): Outcome {
  const total: Outcome = { decisions: 0, faults: 0, retries: 0, accesses: 0, removed: 0 };
  for (let seed = 1; seed <= seeds; seed++) {
    let r: Outcome;
    try {
      r = schedule(policy, seed, o);
    } catch (e) {
      if (e instanceof Trap) e.message += ` (policy ${policy}, seed ${seed}, replay ${e.replay})`;
      throw e;
    }
    for (const k of Object.keys(total) as (keyof Outcome)[]) total[k] += r[k];
  }
  return total;
}

describe('reference driver under exploration', () => {
  for (const policy of ['random', 'pct'] as const) {
    it(`${policy}: 150 schedules, system memory: coherent, data intact, clean teardown`, () => {
      const t = explore(policy, 150);
      expect(t.accesses).toBeGreaterThan(150 * 20);
      expect(t.retries).toBeGreaterThan(0); // the races did happen
      expect(t.removed).toBeGreaterThan(0); // partial unmaps went through the GC
    });
    it(`${policy}: 100 schedules with VRAM migration both ways`, () => {
      const t = explore(policy, 100, { vram: true });
      expect(t.accesses).toBeGreaterThan(100 * 20);
    });
  }

  it('a driver that binds without pages_valid is caught (stale-gpu-mapping)', () => {
    let found: Trap | null = null;
    for (let seed = 1; seed <= 200 && !found; seed++) {
      for (const policy of ['random', 'pct'] as const) {
        try {
          schedule(policy, seed, { flaw: true });
        } catch (e) {
          if (!(e instanceof Trap)) throw e;
          found = e;
          break;
        }
      }
    }
    expect(found?.kind).toBe('stale-gpu-mapping');
    // The replay string reproduces the finding exactly (kept as a regression).
    let again: Trap | null = null;
    try {
      schedule('replay', 1, { flaw: true, replay: found?.replay ?? '' });
    } catch (e) {
      if (!(e instanceof Trap)) throw e;
      again = e;
    }
    expect(again?.message).toBe(found?.message);
  });
});

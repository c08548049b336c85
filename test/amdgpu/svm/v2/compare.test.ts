/**
 * The V1 / V2 difference on partial munmap (spec §3.4, §6 "Partial munmap"), in counters:
 * scenarios/rfc-v2/partial-munmap-compare.yaml run with design rfc-v1 (its default XNACK off)
 * and rfc-v2 (XNACK on). V1's GC worker destroys the overlapping range and rebuilds the
 * survivors eagerly, before the GPU touches them; V2's GC only discards the range and the
 * survivors come back lazily, one retry fault per new range. Counters are split at the munmap
 * step with the trace: ranges created by which task, and retry faults.
 */
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../../../src/scenario/runner.js';
import type { TraceEvent } from '../../../../src/sim/trace.js';
import { runFile, stepBegin, traceOf } from './harness.js';

/** Step 4 of main is the munmap; step 6 the gpu.mapped check of the hole after settling. */
const MUNMAP_STEP = 4;
const SURVIVOR_READ_STEP = 7;

interface Split {
  /** drm_gpusvm ranges created after the munmap, before the GPU reads the survivors. */
  rebuilt_before_read: number;
  /** ... and while / after the GPU reads them. */
  created_by_faults: number;
  /** GPU retry faults after the munmap. */
  faults_after_munmap: number;
  /** Ranges removed after the munmap (before exit). */
  removed_after_munmap: number;
  /** TLB flushes from the munmap to the survivors' read. */
  flushes_munmap_to_read: number;
}

/** A counter at the end of a run (0 when it never moved). */
function c(r: RunResult, name: string): number {
  return r.counters[name] ?? 0;
}

function split(ev: readonly TraceEvent[]): Split {
  const m = stepBegin(ev, 'main', MUNMAP_STEP);
  const r = stepBegin(ev, 'main', SURVIVOR_READ_STEP);
  // The end of the last step of main: before the exit's teardown.
  const exit = ev.findLastIndex((e) => e.kind === 'scenario.step' && e['thread'] === 'main');
  const count = (from: number, to: number, f: (e: TraceEvent) => boolean): number =>
    ev.slice(from, to).filter(f).length;
  const insert = (e: TraceEvent): boolean => e.kind === 'drm.gpusvm_range_insert';
  return {
    rebuilt_before_read: count(m, r, insert),
    created_by_faults: count(r, exit, insert),
    faults_after_munmap: count(
      m,
      exit,
      (e) => e.kind === 'amdgpu.gpu_fault' && e['outcome'] === 'retry',
    ),
    removed_after_munmap: count(m, exit, (e) => e.kind === 'drm.gpusvm_range_remove'),
    flushes_munmap_to_read: count(m, r, (e) => e.kind === 'amdgpu.tlb_flush'),
  };
}

describe('partial munmap: V1 rebuilds eagerly, V2 refaults lazily', () => {
  const v1 = runFile('partial-munmap-compare.yaml', {
    overrides: { design: 'rfc-v1' },
    trace: true,
  });
  const v2 = runFile('partial-munmap-compare.yaml', {
    overrides: { design: 'rfc-v2' },
    trace: true,
  });

  it('passes in both designs, with no oracle violation', () => {
    expect(v1.reason).toBe('');
    expect(v2.reason).toBe('');
  });

  it('V1: the GC worker rebuilds the 16 surviving 64 KiB ranges before the GPU needs them', () => {
    const s = split(traceOf(v1));
    expect(s).toMatchObject({
      rebuilt_before_read: 16,
      created_by_faults: 0,
      faults_after_munmap: 0,
      removed_after_munmap: 1,
    });
    expect(c(v1, 'gpu_faults_retry')).toBe(0);
    expect(c(v1, 'restore_work_runs')).toBeGreaterThan(0);
    expect(c(v1, 'queue_quiesce')).toBe(1);
    expect(c(v1, 'queue_resume')).toBe(1);
    // Who created the rebuilt ranges: V1's workers, not a fault handler.
    const ev = traceOf(v1);
    const from = stepBegin(ev, 'main', MUNMAP_STEP);
    const to = stepBegin(ev, 'main', SURVIVOR_READ_STEP);
    const tasks = new Set(
      ev
        .slice(from, to)
        .filter((e) => e.kind === 'drm.gpusvm_range_insert')
        .map((e) => e.task),
    );
    expect([...tasks].every((t) => t.startsWith('kworker/'))).toBe(true);
  });

  it('V2: the GC only discards; the survivors refault, one fault per new range', () => {
    const s = split(traceOf(v2));
    expect(s).toMatchObject({
      rebuilt_before_read: 0,
      created_by_faults: 16,
      faults_after_munmap: 16,
      removed_after_munmap: 1,
      flushes_munmap_to_read: 1,
    });
    // Two faults for the first mapping of the 4 MiB, sixteen for the survivors.
    expect(c(v2, 'gpu_faults_retry')).toBe(18);
    expect(c(v2, 'svm_fault_handler_entries')).toBe(18);
    expect(c(v2, 'restore_work_runs')).toBe(0);
    expect(c(v2, 'queue_quiesce')).toBe(0);
  });

  it('both build the same ranges in the end; V2 pays faults, V1 pays quiesce and flushes', () => {
    expect(c(v1, 'ranges_created')).toBe(c(v2, 'ranges_created'));
    expect(c(v1, 'hmm_range_fault_pages')).toBe(c(v2, 'hmm_range_fault_pages'));
    expect(c(v2, 'tlb_flushes')).toBeLessThan(c(v1, 'tlb_flushes'));
  });
});

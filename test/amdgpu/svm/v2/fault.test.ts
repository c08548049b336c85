/**
 * The V2 fault handler step by step (spec §5.4, clarifications §3 and §7): the exact timed
 * outcome of each scenarios/rfc-v2 file (the files keep bounds that hold on every schedule),
 * the trace order that shows which step decided, and direct calls for what the format cannot
 * reach (no context, exiting, the filter's direction, XNACK off).
 */
import { describe, expect, it } from 'vitest';
import { amdgpu_ih_ring_push } from '../../../../src/amdgpu/ih.js';
import {
  amdgpu_svm_capture_checkpoint_ts,
  amdgpu_svm_design_v2,
  amdgpu_svm_handle_fault,
  amdgpu_svm_v2_xnack_enabled,
  v2_work,
} from '../../../../src/amdgpu/svm/v2/index.js';
import { EAGAIN, EOPNOTSUPP } from '../../../../src/sim/errno.js';
import { atomic_set } from '../../../../src/sim/kref.js';
import type { TraceEvent } from '../../../../src/sim/trace.js';
import {
  counter,
  fill,
  machine,
  mmapAnon,
  run,
  runFile,
  runText,
  svmOf,
  traceOf,
} from './harness.js';

const steps = (ev: readonly TraceEvent[], step?: string): TraceEvent[] =>
  ev.filter((e) => e.kind === 'svm.v2.fault' && (step === undefined || e['step'] === step));

describe('the timed outcome of each scenario', () => {
  it('fault-map-basic: one fault maps a whole 2 MiB range, nothing is mapped at SET_ATTR', () => {
    const r = runFile('fault-map-basic.yaml', { trace: true });
    expect(r.reason).toBe('');
    expect(r.counters).toMatchObject({
      gpu_faults_retry: 2,
      svm_fault_handler_entries: 2,
      ranges_created: 2,
      svm_ranges_mapped: 2,
    });
    expect(steps(traceOf(r)).map((e) => e['step'])).toEqual(['mapped', 'mapped']);
  });

  it('stale-fault-checkpoint: the fault queued behind the checkpoint is dropped, its replay maps', () => {
    const r = runFile('stale-fault-checkpoint.yaml', { trace: true });
    expect(r.reason).toBe('');
    const ev = traceOf(r);
    const ckpt = ev.filter((e) => e.kind === 'svm.v2.checkpoint');
    expect(ckpt).toHaveLength(1);
    // The dropped fault is the one whose timestamp the checkpoint recorded (ts == checkpoint).
    const stale = steps(ev, 'stale');
    expect(stale).toHaveLength(1);
    const page = stale[0]?.['page'];
    const raised = ev.filter(
      (e) => e.kind === 'amdgpu.gpu_fault' && e['outcome'] === 'retry' && e['page'] === page,
    );
    expect(raised).toHaveLength(2);
    expect(Math.floor((raised[0]?.t ?? 0) / 10)).toBe(ckpt[0]?.['ts']);
    // After the drop, the replay is handled: mapped.
    const after = steps(ev).filter((e) => e['page'] === page);
    expect(after.map((e) => e['step'])).toEqual(['stale', 'mapped']);
  });

  it('dedupe-2ms: six deduped refaults, then the mapping once 2 ms have passed', () => {
    const r = runFile('dedupe-2ms.yaml', { trace: true });
    expect(r.reason).toBe('');
    expect(r.counters['svm_faults_deduped']).toBe(6);
    expect(r.counters['gpu_faults_retry']).toBe(9);
    const ev = traceOf(r);
    const d = steps(ev, 'deduped');
    const mapped = steps(ev, 'mapped');
    const last = mapped[mapped.length - 1];
    const prev = mapped[mapped.length - 2];
    // Every dedupe is within 2 ms of the previous mapping; the last mapping is after it.
    for (const e of d) expect(e.t - (prev?.t ?? 0)).toBeLessThan(2_000_000);
    expect((last?.t ?? 0) - (prev?.t ?? 0)).toBeGreaterThanOrEqual(2_000_000);
  });

  it('is-valid-skip: the fault that waited for the prefetch finds its range valid', () => {
    const r = runFile('is-valid-skip.yaml', { trace: true });
    expect(r.reason).toBe('');
    const ev = traceOf(r);
    expect(steps(ev).map((e) => e['step'])).toEqual(['valid']);
    // No get_pages for it: the eight of the prefetch only.
    expect(r.counters['gpusvm_get_pages_calls']).toBe(8);
  });

  it('attr-bounds and default-attrs-unregistered: node bounds and synthesised nodes', () => {
    const a = runFile('attr-bounds.yaml');
    expect(a.reason).toBe('');
    expect(a.counters['ranges_created']).toBe(3);
    expect(a.counters['hmm_range_fault_pages']).toBe(512 + 16 + 16);
    const d = runFile('default-attrs-unregistered.yaml');
    expect(d.reason).toBe('');
    expect(d.counters['svm_attrs_synthesised']).toBe(3);
  });

  it('vma-permission: each refused fault is one -EPERM and one fatal VM fault', () => {
    const r = runFile('vma-permission.yaml', { trace: true });
    expect(r.reason).toBe('');
    const denied = steps(traceOf(r), 'denied');
    expect(denied.map((e) => e['ret'])).toEqual([-1, -1, -1]);
    expect(r.counters['gpu_faults_fatal']).toBe(3);
  });

  it('get-pages-error: three get_pages per fault, acknowledged with 0 until the job timeout', () => {
    const r = runFile('get-pages-error.yaml', { trace: true });
    expect(r.reason).toBe('');
    const entries = r.counters['svm_fault_handler_entries'] ?? 0;
    // One fault for `ok`; every other one takes three attempts, two retries.
    expect(r.counters['svm_fault_retries']).toBe(2 * (entries - 1));
    expect(r.counters['svm_get_pages_errors']).toBe(3 * (entries - 1));
    expect(steps(traceOf(r), 'get-pages').every((e) => e['ret'] === -14)).toBe(true);
    expect(r.counters['gpu_job_timeouts']).toBe(1);
  });

  it('no-vma: acknowledged with 0 each time; nothing created for it', () => {
    const r = runFile('no-vma.yaml');
    expect(r.reason).toBe('');
    expect(r.counters['svm_faults_no_vma']).toBe(
      (r.counters['svm_fault_handler_entries'] ?? 0) - 1,
    );
  });

  it('eagain-retry: three -EAGAIN attempts, the handler retries through the filter, then maps', () => {
    const r = runFile('eagain-retry.yaml', { trace: true });
    expect(r.reason).toBe('');
    expect(r.counters['svm_fault_retries']).toBe(2);
    expect(r.counters['svm_fault_eagain']).toBe(1);
    expect(r.counters['svm_fault_handler_entries']).toBe(1);
    expect(steps(traceOf(r)).map((e) => e['step'])).toEqual([
      'synthesised',
      'retry',
      'retry',
      'eagain',
      'mapped',
    ]);
    expect(r.counters['gpusvm_get_pages_calls']).toBe(4);
  });

  it('gc-in-fault: the handler collects the unmapped range before the worker runs', () => {
    const r = runFile('gc-in-fault.yaml', { trace: true });
    expect(r.reason).toBe('');
    const gc = traceOf(r).filter((e) => e.kind === 'svm.v2.gc');
    expect(gc[0]?.['in_fault']).toBe(true);
    expect(gc[0]?.task).toBe('irq/gpu0');
  });
});

describe('direct calls', () => {
  it('no SVM context for the PASID: -EOPNOTSUPP; exiting: -EAGAIN', () => {
    const m = machine();
    const svm = svmOf(m);
    expect(run(m, () => amdgpu_svm_handle_fault(svm.adev, 4242, 100, 1, false))).toBe(-EOPNOTSUPP);
    atomic_set(svm.exiting, 1);
    expect(run(m, () => amdgpu_svm_handle_fault(svm.adev, svm.vm.pasid, 100, 1, false))).toBe(
      -EAGAIN,
    );
    atomic_set(svm.exiting, 0);
    expect(counter(m, 'svm_fault_handler_entries')).toBe(2);
  });

  it('the checkpoint filter drops faults at or before the checkpoint and clears it after', () => {
    const m = machine();
    const svm = svmOf(m);
    const w = v2_work(svm);
    const page = run(m, function* () {
      const p = yield* mmapAnon(m, 16, 16);
      yield* fill(m, p, 16, () => 1);
      return p;
    });
    const fault = (ts: number): number =>
      run(m, () => amdgpu_svm_handle_fault(svm.adev, svm.vm.pasid, page, ts, false));
    w.checkpoint_ts = 1000;
    expect(fault(1000)).toBe(0);
    expect(fault(999)).toBe(0);
    expect(counter(m, 'svm_faults_stale')).toBe(2);
    expect(w.checkpoint_ts).toBe(1000);
    expect(counter(m, 'ranges_created')).toBe(0);
    expect(fault(1001)).toBe(0);
    expect(w.checkpoint_ts).toBe(0);
    expect(counter(m, 'svm_faults_stale')).toBe(2);
    expect(counter(m, 'svm_ranges_mapped')).toBe(1);
  });

  it('the notifier records a checkpoint only when the IH ring holds unprocessed entries', () => {
    const m = machine();
    const svm = svmOf(m);
    const ih = svm.adev.irq.ih;
    run(m, function* () {
      amdgpu_svm_capture_checkpoint_ts(svm);
      expect(v2_work(svm).checkpoint_ts).toBe(0);
      const e = { pasid: 99, vmid: 8, node_id: 0, addr: 1, timestamp: 777, write_fault: false };
      amdgpu_ih_ring_push(ih, e);
      amdgpu_svm_capture_checkpoint_ts(svm);
      expect(v2_work(svm).checkpoint_ts).toBe(777);
      ih.rptr = ih.wptr; // drained
      amdgpu_ih_ring_push(ih, { ...e, timestamp: 900 });
      ih.rptr = ih.wptr;
      amdgpu_svm_capture_checkpoint_ts(svm);
      expect(v2_work(svm).checkpoint_ts).toBe(777);
      yield* [];
    });
  });

  it('XNACK: -EOPNOTSUPP when off (the process gets no GPU VM), on for gfx943 and gfx906', () => {
    const r = runText(
      'name: x\nsystem: { design: rfc-v2, xnack: off }\nsteps:\n  - mmap: { as: b, size: 1 page }\n' +
        '  - svm.set: { at: b, size: 1 page, attrs: { ACCESS: gpu0 } }\n',
    );
    expect(r.pass).toBe(false);
    expect(r.failure?.kind).toBe('process start');
    expect(r.failure?.actual).toBe('EOPNOTSUPP');
    const m = machine('{ design: rfc-v2, gpus: [{ name: gpu0, ip: gfx906 }] }');
    const svm = svmOf(m);
    expect(svm.xnack_enabled).toBe(true);
    expect(amdgpu_svm_v2_xnack_enabled(svm.adev, false)).toBe(false);
    expect(amdgpu_svm_design_v2.attr_variant).toBe('v3');
    expect(svm.attr_tree?.variant).toBe('v3');
    expect(svm.default_granularity).toBe(9);
  });
});

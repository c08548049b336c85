/**
 * Known flaws of the RFC's V2 design (code posted as V3) that the model fixes by default, and
 * the design options that put each one back (DESIGN.md "Design variants"). For each: the
 * default design passes, the option reproduces the failure the RFC code would have.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explore } from '../../../../src/explore/explore.js';
import { parseScenario } from '../../../../src/scenario/loader.js';
import { runScenario } from '../../../../src/scenario/runner.js';
import { SCENARIO_DIR, runText } from './harness.js';

function withOption(text: string, option: string | null): string {
  const opts = option ? `, options: { ${option}: true }` : '';
  return text.replace('SYSTEM', `{ design: rfc-v2, gpus: [{ name: gpu0, ip: gfx943 }]${opts} }`);
}

describe('v3_clamped_zap: the notifier zaps only the pages the event covers', () => {
  const text = `name: clamped-zap
system: SYSTEM
steps:
  - mmap: { as: buf, size: 2MiB, align: 2MiB }
  - write: { at: buf, size: 2MiB, value: index }
  - gpu.read: { at: buf, size: 2MiB, expect: index }
  - munmap: { at: buf + 1MiB, size: 1MiB }
  - settle
  - madvise: { at: buf, size: 1 page, advice: dontneed }
  - gpu.read: { at: buf, size: 2 pages, expect: [0, 1] }
`;

  it('default: the survivors are zapped with the range and refault after the GC', () => {
    const r = runText(withOption(text, null));
    expect(r.reason).toBe('');
    expect(r.counters['gpu_faults_retry']).toBe(2);
  });

  it('RFC: survivors keep valid PTEs that nothing invalidates; the GPU reads a freed frame', () => {
    const r = runText(withOption(text, 'v3_clamped_zap'));
    expect(r.trap?.kind).toBe('stale-gpu-mapping');
  });

  it('RFC: a partial munmap leaves the survivors mapped, so they never refault', () => {
    const file = readFileSync(join(SCENARIO_DIR, 'partial-munmap-refault.yaml'), 'utf8');
    const text = file.replace(
      'ip: gfx943 }] }',
      'ip: gfx943 }], options: { v3_clamped_zap: true } }',
    );
    expect(text).not.toBe(file);
    const r = runScenario(parseScenario(text, 'partial-munmap-refault.yaml'));
    expect(r.reason).toMatch(/step 8 \(gpu\.mapped\).*expected none of 256 pages mapped.*got 256/);
  });
});

describe('v3_gc_requeue: an UNMAP queues again a range the GC is removing', () => {
  // mremap unmaps the old range twice (MMU_NOTIFY_UNMAP from the move and from the unmap of
  // the old VMA): the second can reach ranges the GC worker has dequeued and not yet removed.
  const text = `name: gc-requeue
system: SYSTEM
steps:
  - mmap: { as: data, size: 16 pages }
  - write: { at: data, size: 16 pages, value: index }
  - gpu.read: { at: data, size: 16 pages, expect: index }
  - mmap: { as: target, size: 16 pages, prot: none }
  - mremap: { at: data, size: 16 pages, new_size: 16 pages, fixed: target, as: moved }
  - read: { at: moved, size: 16 pages, expect: index }
`;

  it('RFC: the GC removes a range twice (a WARN on the missing notifier)', () => {
    const r = explore(parseScenario(withOption(text, 'v3_gc_requeue'), 'x.yaml'), {
      policy: 'random',
      schedules: 200,
    });
    expect(r.findings.length).toBe(1);
    expect(r.findings[0]?.result.trap?.kind).toBe('bug');
    expect(r.findings[0]?.result.reason).toMatch(/drm_gpusvm_range_remove: no notifier/);
  });

  it('default: no finding on 200 schedules', () => {
    const r = explore(parseScenario(withOption(text, null), 'x.yaml'), {
      policy: 'random',
      schedules: 200,
    });
    expect(r.findings).toEqual([]);
    expect(r.explored).toBe(200);
  });
});

describe('v3_stale_attr_node: map_fault keeps the node its GC split or freed', () => {
  // The GC worker takes 20 ms to start and a fault 5 ms, so the fault path's garbage
  // collection is the one that processes the munmap (timed schedule).
  const split = `name: stale-node
system: SYSTEM
steps:
  - mmap: { as: m, size: 2MiB, align: 2MiB }
  - write: { at: m, size: 2MiB, value: index }
  - svm.set: { at: m, size: 2MiB, attrs: { ACCESS: gpu0 } }
  - gpu.read: { at: m, size: 1 page, expect: 0 }
  - munmap: { at: m + 512KiB, size: 512KiB }
  - gpu.read: { at: m + 1536KiB, size: 1 page, expect: 384 }
`;
  const freed = `name: freed-node
system: SYSTEM
steps:
  - mmap: { as: n, size: 64KiB, align: 64KiB }
  - svm.set: { at: n, size: 64KiB, attrs: { ACCESS: gpu0 } }
  - gpu.read: { at: n, size: 1 page, expect: 0 }
  - munmap: { at: n, size: 64KiB }
  - gpu.read: { at: n, size: 1 page, expect_fault: true, fault_at: n }
`;
  const slowGc = (t: string): string =>
    t.replace(
      'ip: gfx943 }]',
      'ip: gfx943 }], costs: { gc_work_run: 20ms, fault_handler_entry: 5ms }',
    );

  it('default: the handler looks the node up again (-EAGAIN) and maps the survivor', () => {
    const r = runText(slowGc(withOption(split, null)));
    expect(r.reason).toBe('');
    expect(r.counters['svm_gc_ranges_in_fault']).toBe(1);
    expect(r.counters['svm_fault_eagain']).toBe(1);
  });

  it('RFC: find_or_insert bounded by the stale node fails -EINVAL, a fatal VM fault', () => {
    const r = runText(slowGc(withOption(split, 'v3_stale_attr_node')));
    expect(r.reason).toMatch(/step 5 \(gpu\.read\).*vm-fault \(noretry\)/);
  });

  it('default: a fault on just-unmapped memory ends at the job timeout, no use after free', () => {
    const r = runText(slowGc(withOption(freed, null)));
    expect(r.reason).toBe('');
  });

  it('RFC: a fault racing a splitting SET_ATTR fails -EINVAL on a valid address', () => {
    const file = readFileSync(join(SCENARIO_DIR, 'race-fault-vs-split.yaml'), 'utf8');
    const flawed = file.replace(
      'ip: gfx943 }] }',
      'ip: gfx943 }], options: { v3_stale_attr_node: true } }',
    );
    expect(flawed).not.toBe(file);
    const r = explore(parseScenario(flawed, 'race.yaml'), { policy: 'random', schedules: 300 });
    expect(r.findings.length).toBe(1);
    expect(r.findings[0]?.result.reason).toMatch(/vm-fault \(noretry\)/);
  });

  it('RFC: the same fault uses the node the GC freed', () => {
    const r = runText(slowGc(withOption(freed, 'v3_stale_attr_node')));
    expect(r.trap?.kind).toBe('use-after-free');
  });
});

describe('v3_split_remove_queued: a RANGE_SPLIT removes a range the GC will remove again', () => {
  const file = readFileSync(join(SCENARIO_DIR, 'race-split-vs-munmap.yaml'), 'utf8');
  const flawed = file.replace(
    'ip: gfx943 }] }',
    'ip: gfx943 }], options: { v3_split_remove_queued: true } }',
  );

  it('RFC: random schedules find the double removal', () => {
    expect(flawed).not.toBe(file);
    const r = explore(parseScenario(flawed, 'race.yaml'), { policy: 'random', schedules: 50 });
    expect(r.findings.length).toBe(1);
    expect(r.findings[0]?.result.reason).toMatch(/trap bug: WARN_ON\(removing an interval/);
  });
});

import { describe, expect, it } from 'vitest';
import { run } from './harness.js';

describe('runner: CPU and address-space steps', () => {
  it('runs mmap in every form, munmap, mprotect, madvise, mremap and file steps', () => {
    const r = run(`
name: cpu-steps
steps:
  - mmap: { as: a, size: 8 pages, align: 2MiB }
  - mmap: { as: h, size: 4 pages, hint: 0x200000000, kind: heap }
  - mmap: { as: f, size: 4 pages, at: 0x300000000 }
  - mmap: { as: ro, size: 1 pages, prot: r }
  - mmap: { as: io, size: 1 pages, io: true }
  - mmap: { as: sh, size: 2 pages, shared: true, file: data }
  - write: { at: a, size: 8 pages, value: index+10 }
  - read: { at: a + 3 pages, size: 2 pages, expect: [13, 14] }
  - write: { at: ro, size: 4096, value: 1, expect_errno: EFAULT }
  - mprotect: { at: a, size: 1 pages, prot: r }
  - write: { at: a, size: 1, value: 9, expect_errno: EFAULT, label: read-only now }
  - madvise: { at: a + 1 pages, size: 1 pages, advice: dontneed }
  - read: { at: a + 1 pages, size: 1 pages, expect: 0 }
  - mremap: { at: a + 4 pages, size: 4 pages, new_size: 4 pages, as: moved, fixed: 0x400000000 }
  - read: { at: moved, size: 4 pages, expect: index+14 }
  - read: { at: a + 4 pages, size: 4096, expect_errno: EFAULT }
  - mremap: { at: moved, size: 4 pages, new_size: 8 pages, as: grown }
  - read: { at: grown, size: 8 pages, expect: [14, 15, 16, 17, 0, 0, 0, 0] }
  - mremap: { at: grown, size: 8 pages, new_size: 8 pages, as: twin, dontunmap: true, fixed: 0x500000000 }
  - read: { at: grown, size: 1 pages, expect: 0 }
  - read: { at: twin, size: 1 pages, expect: 14 }
  - write: { at: sh, size: 2 pages, value: 77 }
  - file.read: { file: data, offset: 0, size: 2 pages, expect: 77 }
  - file.write: { file: data, offset: 4096, size: 4096, value: 5 }
  - read: { at: sh + 1 pages, size: 4096, expect: 5 }
  - munmap: { at: sh, size: 2 pages }
  - file.read: { file: data, offset: 0, size: 2 pages, expect: [77, 5] }
  - munmap: { at: a + 1, size: 4096, expect_errno: EINVAL }
  - munmap: { at: f, size: 4 pages }
  - reclaim: { at: h, size: 4 pages }
  - read: { at: h, size: 4 pages, expect: 0 }
  - write: { at: h, size: 4 pages, value: index }
  - reclaim: { at: h, size: 4 pages }
  - migrate_pages: { at: twin, size: 1 pages }
  - read: { at: h, size: 4 pages, expect: index, label: back from swap }
  - read: { at: twin, size: 1 pages, expect: 14, label: after migration }
  - settle
  - sleep: { time: 2ms }
  - expect_counters: { cpu_faults: { min: 1 } }
`);
    expect(r.reason).toBe('');
    expect(r.pass).toBe(true);
    expect(r.time).toBeGreaterThanOrEqual(2_000_000);
  });

  it('reports the first failing step with file, index, label, expected and actual', () => {
    const r = run(`
name: failing
steps:
  - mmap: { as: a, size: 2 pages }
  - write: { at: a, size: 2 pages, value: 3 }
  - read: { at: a, size: 2 pages, expect: [3, 4], label: second page wrong }
  - read: { at: a, size: 2 pages, expect: 99, label: never reached }
`);
    expect(r.pass).toBe(false);
    expect(r.failure).toMatchObject({
      thread: 'main',
      index: 2,
      kind: 'read',
      label: 'second page wrong',
      line: 6,
      col: 5,
    });
    expect(r.reason).toMatch(
      /^test\.yaml:6:5: step 2 \(read, "second page wrong"\) of main: expected page 1 = 0x4/,
    );
    const e = run(
      'name: e\nsteps:\n  - munmap: { at: 0x1000, size: 4096, expect_errno: EINVAL }\n',
    );
    expect(e.reason).toBe('test.yaml:3:5: step 0 (munmap) of main: expected EINVAL, got success');
    const u = run(
      'name: u\nthreads:\n  a: [{ munmap: { at: buf, size: 4096 } }]\n  b: [{ mmap: { as: buf, size: 4096 } }]\n',
    );
    expect(u.reason).toMatch(/expected 'buf' to be bound, got 'buf' is not bound yet/);
  });
});

describe('runner: processes and threads', () => {
  it('forks, waits with exit codes and signals, exits and kills', () => {
    const r = run(`
name: procs
steps:
  - mmap: { as: buf, size: 4 pages }
  - write: { at: buf, size: 4 pages, value: 1 }
  - fork:
      as: kid
      steps:
        - write: { at: buf, size: 2 pages, value: 2 }
        - read: { at: buf, size: 4 pages, expect: [2, 2, 1, 1] }
        - exit: { code: 3 }
        - write: { at: buf, size: 4 pages, value: 9, label: not reached after exit }
  - wait: { process: kid, expect_exit: 3 }
  - read: { at: buf, size: 4 pages, expect: 1 }
  - fork:
      as: sleeper
      steps:
        - sleep: { time: 1s }
        - sleep: { time: 1s }
  - kill: { process: sleeper }
  - wait: { process: sleeper, expect_exit: SIGKILL }
  - fork: { as: quiet }
  - wait: { process: quiet, expect_exit: 0 }
`);
    expect(r.reason).toBe('');
  });

  it('runs threads concurrently and orders them with barriers', () => {
    const r = run(`
name: barrier
threads:
  one:
    - mmap: { as: x, size: 4096 }
    - write: { at: x, size: 4096, value: 1 }
    - barrier: { name: b }
    - barrier: { name: c }
    - read: { at: x, size: 4096, expect: 2 }
  two:
    - barrier: { name: b }
    - read: { at: x, size: 4096, expect: 1 }
    - write: { at: x, size: 4096, value: 2 }
    - barrier: { name: c }
`);
    expect(r.reason).toBe('');
  });

  it('checks expect.counters after settling', () => {
    const r = run(
      'name: c\nsteps: [{ mmap: { as: a, size: 4096 } }, { write: { at: a, size: 4096, value: 1 } }]\nexpect: { counters: { cpu_faults: { eq: 7 } } }\n',
    );
    expect(r.reason).toBe('expect.counters: expected cpu_faults = 7, got cpu_faults = 1');
  });
});

describe('runner: GPU steps', () => {
  const sys = 'system: { design: test-mirror, xnack: off }';
  it('reads, writes, atomics, copies, checks mappings and placement through a mirror', () => {
    const r = run(`
name: gpu
${sys}
steps:
  - mmap: { as: buf, size: 8 pages }
  - write: { at: buf, size: 8 pages, value: index }
  - gpu.mapped: { at: buf, size: 8 pages, expect: none }
  - svm.set: { at: buf, size: 8 pages, attrs: { ACCESS: gpu0 } }
  - gpu.mapped: { at: buf, size: 8 pages, expect: all }
  - gpu.read: { at: buf, size: 8 pages, expect: index }
  - gpu.write: { at: buf, size: 2 pages, value: 100, engine: sdma }
  - gpu.atomic: { at: buf, size: 2 pages, add: 5, expect: 100 }
  - read: { at: buf, size: 2 pages, expect: 105 }
  - gpu.copy: { from: buf, to: buf + 4 pages, size: 2 pages }
  - read: { at: buf + 4 pages, size: 2 pages, expect: 105 }
  - gpu.read: { at: buf, size: 4096, repeat: 3, expect: 105 }
  - where: { at: buf, size: 8 pages, expect: sysmem }
  - xnack.get: { expect: off }
  - xnack.set: { value: on, expect_errno: EBUSY, label: queues exist }
  - queue.destroy: {}
  - queue.destroy: { engine: sdma }
  - xnack.set: { value: on }
  - xnack.get: { expect: on }
  - queue.create: { engine: sdma }
`);
    expect(r.reason).toBe('');
    expect(r.counters['gpu_access_pages']).toBeGreaterThan(0);
  });

  it('expects unrecoverable faults with fault_at, and fails on unexpected ones', () => {
    const ok = run(`
name: f
${sys}
steps:
  - mmap: { as: buf, size: 4 pages }
  - gpu.read: { at: buf + 1 pages, size: 4096, expect_fault: true, fault_at: buf + 1 pages }
  - gpu.read: { at: buf, size: 4096, expect_fault: true, fault_at: buf + 2 pages, label: wrong page }
`);
    expect(ok.reason).toMatch(
      /step 2 \(gpu.read, "wrong page"\) of main: expected the fault at page 0x[0-9a-f]+, got a fault at page/,
    );
    const bad = run(
      `name: g\n${sys}\nsteps:\n  - mmap: { as: buf, size: 4 pages }\n  - gpu.write: { at: buf, size: 4096, value: 1 }\n`,
    );
    expect(bad.reason).toMatch(
      /expected no unrecoverable GPU fault, got vm-fault \(not-present\) on a write of page/,
    );
  });

  it('reports a design without a driver clearly', () => {
    const r = run(
      'name: d\nsystem: { design: test-nodriver }\nsteps:\n  - mmap: { as: b, size: 4096 }\n  - svm.set: { at: b, size: 4096, attrs: { ACCESS: gpu0 } }\n',
    );
    expect(r.reason).toMatch(
      /design test-nodriver has no SVM driver built yet; svm\.\* and ioctl steps need one/,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { ScenarioError, parseScenario, type Scenario } from '../../src/scenario/loader.js';

function issuesOf(text: string): string[] {
  try {
    parseScenario(text, 'f.yaml');
  } catch (e) {
    if (e instanceof ScenarioError) return e.issues.map((i) => `${i.line}:${i.col} ${i.message}`);
    throw e;
  }
  throw new Error('expected the file to be invalid');
}

const VALID = `
name: partial-munmap
system: { design: rfc-v1, xnack: off, gpus: 2, costs: { tlb_flush: 4us }, va_bits: 56 }
steps:
  - mmap: { as: buf, size: 4MiB, align: 2MiB }
  - write: { at: buf, size: 4MiB, value: index }
  - svm.set: { at: buf, size: 4MiB, attrs: { ACCESS: gpu0, SET_FLAGS: [COHERENT, GPU_RO] } }
  - munmap: { at: buf + 1MiB - 4096, size: 16 pages, label: hole }
  - read: { at: buf, size: 2 pages, expect: [1, index+7] }
  - ioctl: { op: GET_ATTR, start: 0x7f0000000000, size: 4096, attrs: [[ACCESS, gpu0], [5, 0x3]] }
  - svm.get: { at: buf, size: 4096, attrs: [GRANULARITY, { ACCESS: gpu1 }], expect: { ACCESS: { gpu1: NO_ACCESS } } }
  - settle
  - sleep: { time: 1.5ms }
  - expect_counters: { tlb_flushes: { min: 1, max: 9 } }
expect:
  violations: [stale-gpu-mapping]
  counters: { hmm_range_fault_pages: { eq: 0 } }
`;

describe('scenario loader', () => {
  it('parses every value form of the format', () => {
    const s: Scenario = parseScenario(VALID, 'f.yaml');
    expect(s.name).toBe('partial-munmap');
    expect(s.system).toMatchObject({
      design: 'rfc-v1',
      xnack: false,
      gpus: 2,
      va_bits: 56,
      costs: { tlb_flush: 4000 },
    });
    const steps = s.threads[0]?.steps ?? [];
    expect(steps.map((x) => x.kind)).toEqual([
      'mmap',
      'write',
      'svm.set',
      'munmap',
      'read',
      'ioctl',
      'svm.get',
      'settle',
      'sleep',
      'expect_counters',
    ]);
    expect(steps[0]?.pos).toEqual({ line: 5, col: 5 });
    const munmap = steps[3];
    if (munmap?.kind !== 'munmap') throw new Error('munmap expected');
    expect(munmap.f.at.terms).toEqual([
      { sign: 1, name: 'buf' },
      { sign: 1, bytes: 1048576n },
      { sign: -1, bytes: 4096n },
    ]);
    expect(munmap.f.size).toBe(65536n);
    expect(munmap.f.label).toBe('hole');
    const set = steps[2];
    if (set?.kind !== 'svm.set') throw new Error('svm.set expected');
    expect(set.f.attrs).toEqual([
      { type: 'ACCESS', value: { kind: 'gpu', name: 'gpu0' } },
      { type: 'SET_FLAGS', value: { kind: 'raw', value: 0x0a } },
    ]);
    const read = steps[4];
    if (read?.kind !== 'read') throw new Error('read expected');
    expect(read.f.expect).toEqual([
      { index: false, v: 1 },
      { index: true, plus: 7 },
    ]);
    const sleep = steps[8];
    if (sleep?.kind !== 'sleep') throw new Error('sleep expected');
    expect(sleep.f.time).toBe(1_500_000);
    expect(s.expect).toEqual({
      violations: ['stale-gpu-mapping'],
      counters: { hmm_range_fault_pages: { eq: 0 } },
    });
  });

  it('parses threads, forks with child steps and JSON files', () => {
    const s = parseScenario(
      `{"name": "j", "threads": {"a": [{"mmap": {"as": "x", "size": 4096}}, {"fork": {"as": "kid", "steps": [{"write": {"at": "x", "size": 4096, "value": 1}}]}}], "b": [{"wait": {"process": "kid", "expect_exit": 0}}]}}`,
      'f.json',
    );
    expect(s.threads.map((t) => t.name)).toEqual(['a', 'b']);
    const fork = s.threads[0]?.steps[1];
    expect(fork?.children?.map((c) => c.kind)).toEqual(['write']);
  });

  it('reports every problem with its line and column, and nothing runs', () => {
    const issues = issuesOf(`name: bad
system: { gpus: 0, policy: fast, colour: red }
steps:
  - mmap: { as: buf, size: 2 MB }
  - munmap: { at: buf, size: 4096, extra: 1 }
  - frobnicate: {}
  - read: { at: buf, size: 4096, expect: index+x }
  - svm.set: { at: buf, size: 4096, attrs: { ACCES: gpu0 } }
  - write: { at: buf, size: 4096, value: 1, expect_errno: [OK, ENOPE] }
  - mprotect: { at: buf, size: 4096, prot: rwz }
  - sleep: { time: 5 parsecs }
  - svm.set: { at: buf, size: 4096, attrs: { SET_FLAGS: [SHINY] } }
  - [1, 2]
`);
    expect(issues).toEqual([
      '2:17 system.gpus: 0 is outside 1..64',
      '2:28 system.policy: expected one of timed, random, pct',
      "2:42 system.colour: unknown field 'colour'",
      "4:28 steps[0].mmap.size: invalid size '2 MB' (use a byte count or N B|KiB|MiB|GiB|TiB|pages)",
      "5:43 steps[1].munmap.extra: unknown field 'extra'",
      expect.stringMatching(/^6:17 steps\[2\]\.frobnicate: unknown step kind 'frobnicate'/),
      "7:42 steps[3].read.expect: expected a value 0..0xffffffff, 'index' or 'index+N', got 'index+x'",
      expect.stringMatching(/^8:44 steps\[4\]\.svm\.set\.attrs: unknown attribute 'ACCES'/),
      "9:59 steps[5].write.expect_errno: unknown errno 'ENOPE' (use names such as EINVAL, EFAULT, or OK)",
      '10:44 steps[6].mprotect.prot: expected one of rw, r, none, rwx',
      "11:20 steps[7].sleep.time: invalid time '5 parsecs' (use N ns|us|ms|s)",
      expect.stringMatching(/^12:44 steps\[8\]\.svm\.set\.attrs: SET_FLAGS: unknown flag 'SHINY'/),
      '13:5 steps[9]: a step is a map with exactly one key (the step kind), got a list',
    ]);
  });

  it('checks names, processes, barriers and steps/threads', () => {
    expect(
      issuesOf(`name: n
threads:
  a:
    - munmap: { at: bf + 4096, size: 4096 }
    - wait: { process: nobody }
    - barrier: { name: b1 }
    - barrier: { name: b1 }
`),
    ).toEqual([
      "4:21 threads.a[0].munmap.at: 'bf' is not bound by any 'as:' in this file",
      "5:24 threads.a[1].wait.process: 'nobody' is not a child created by a fork step",
      "7:24 threads.a[3].barrier.name: thread 'a' names barrier 'b1' twice",
    ]);
    expect(issuesOf('name: n\nsteps: []\nthreads: { a: [] }\n')).toEqual([
      "1:1 a file has either 'steps' or 'threads', never both",
    ]);
    expect(issuesOf('name: n\n')).toEqual([
      "1:1 a scenario needs 'steps', 'threads' or 'workload'",
    ]);
    expect(issuesOf('steps: [settle]\n')).toEqual([
      '1:1 name: required'.replace(
        'required',
        'Invalid input: expected string, received undefined',
      ),
    ]);
    expect(issuesOf('name: [1\n')[0]).toMatch(/^2:1 Flow sequence/);
    expect(issuesOf('name: a\nname: b\nsteps: []\n')[0]).toMatch(/^2:1 Map keys must be unique/);
  });
});

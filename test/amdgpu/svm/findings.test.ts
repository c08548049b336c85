/**
 * Flaws of the V1 code that the oracle finds in the model (kept as regressions of the
 * design under study, not of the model: each test asserts that rfc-v1 still shows it).
 */
import { describe, expect, it } from 'vitest';
import '../../../src/amdgpu/svm/index.js';
import { parseScenario } from '../../../src/scenario/loader.js';
import { runScenario } from '../../../src/scenario/runner.js';

function run(text: string, policy?: 'random', seed?: number) {
  const s = parseScenario(text, 'finding.yaml');
  return runScenario(s, policy ? { overrides: { policy, seed: seed ?? 1 } } : {});
}

describe('rfc-v1 findings', () => {
  it('attributes that split a range: the last segment mapped decides the whole range (fatal fault)', () => {
    // V1 ranges are chunked by fault address and VMA, not by attribute bounds
    // (find_or_insert gets [vma_start, end)), and update_gpu_range programs the whole range.
    // GPU_RO on the first half remaps the whole 2 MiB range read-only, so a GPU write to the
    // second half, writable for userspace and with XNACK off, is an unrecoverable fault.
    const r = run(`name: ro-half
system: { design: rfc-v1, xnack: off }
steps:
  - mmap: { as: buf, size: 2MiB, align: 2MiB }
  - svm.set: { at: buf, size: 2MiB, attrs: { ACCESS: gpu0 } }
  - svm.set: { at: buf, size: 1MiB, attrs: { SET_FLAGS: [GPU_RO] } }
  - gpu.write: { at: buf + 1MiB, size: 1 pages, value: 1 }
`);
    expect(r.trap?.kind).toBe('fatal-gpu-fault');
    expect(r.trap?.message).toMatch(/write fault \(permission\)/);
  });

  it('an eviction and a partial munmap queued on one range: attributes lost, stale PTEs kept', () => {
    // amdgpu_svm_range_enqueue widens one pending interval per range for both ops; UNMAP moves
    // the range to the GC list, and the GC clears the attributes of the whole accumulated
    // interval: [evicted .. unmapped], survivors included. GET_ATTR then disagrees with SET.
    const text = `name: pending-interval
system: { design: rfc-v1, xnack: off }
steps:
  - mmap: { as: buf, size: 2MiB, align: 2MiB }
  - write: { at: buf, size: 2MiB, value: index }
  - svm.set: { at: buf, size: 2MiB, attrs: { ACCESS: gpu0 } }
  - reclaim: { at: buf, size: 8 pages }
  - munmap: { at: buf + 1MiB, size: 1MiB }
  - settle
  - svm.get: { at: buf, size: 1MiB, attrs: [{ ACCESS: gpu0 }] }
`;
    const r = run(text);
    expect(r.trap?.message).toMatch(/returned NO_ACCESS, but SET_ATTR stored ACCESS/);
    // Worse: the survivors are not rebuilt (access NONE now), but remove_overlaps leaves
    // their PTEs, and the eviction kept those of the reclaimed pages (XNACK off). Once the
    // restore resumes the queues, the GPU reads a swapped-out page's old frame.
    const g = run(text.replace(/ {2}- svm\.get.*\n/, '  - gpu.read: { at: buf, size: 1 pages }\n'));
    expect(g.trap?.kind).toBe('stale-gpu-mapping');
    expect(g.trap?.message).toMatch(/the CPU maps a swapped-out page there/);
  });
});

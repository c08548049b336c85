/**
 * Property test of the attribute layer, both variants: a random sequence of SET (sometimes
 * asking for a retry) and clear_pages, checked against a naive per-page shadow model. After
 * every step the tree is sorted and disjoint and covers exactly the pages the shadow says;
 * GET of every single page and of random ranges answers what the shadow merges to.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EAGAIN, EINVAL, RwSemaphore, Sim, type Co } from '../../../src/sim/index.js';
import {
  AMDGPU_SVM_ACCESS_ENABLE,
  AMDGPU_SVM_ACCESS_IN_PLACE,
  AMDGPU_SVM_ACCESS_NONE,
  amdgpu_svm_attr_clear_pages,
  amdgpu_svm_attr_default_granularity,
  amdgpu_svm_attr_get,
  amdgpu_svm_attr_set,
  amdgpu_svm_attr_tree_create,
  type amdgpu_svm_attr_set_ops,
  type amdgpu_svm_attr_tree,
  type amdgpu_svm_attr_variant,
  type amdgpu_svm_attrs,
} from '../../../src/amdgpu/svm/attr.js';
import {
  AMDGPU_SVM_ATTR as A,
  AMDGPU_SVM_FLAGS as F,
  type drm_amdgpu_svm_attribute,
} from '../../../src/amdgpu/svm/uapi.js';

const PAGES = 48;
const GPU = 0x1000;

type Op =
  | { kind: 'set'; start: number; len: number; req: drm_amdgpu_svm_attribute[]; eagain: boolean }
  | { kind: 'clear'; start: number; len: number }
  | { kind: 'get'; start: number; len: number };

const attrArb: fc.Arbitrary<drm_amdgpu_svm_attribute> = fc.oneof(
  fc.record({
    type: fc.constant<number>(A.PREFERRED_LOC),
    value: fc.constantFrom(0, 0xffffffff, GPU, GPU + 1),
  }),
  fc.record({ type: fc.constant<number>(A.PREFETCH_LOC), value: fc.constantFrom(0, GPU, GPU + 1) }),
  fc.record({
    type: fc.constantFrom<number>(A.ACCESS, A.ACCESS_IN_PLACE, A.NO_ACCESS),
    value: fc.constantFrom(GPU, GPU + 1),
  }),
  fc.record({
    type: fc.constantFrom<number>(A.SET_FLAGS, A.CLR_FLAGS),
    // Every flag but GPU_ALWAYS_MAPPED, which V3 rejects.
    value: fc.integer({ min: 0, max: 0xff }).map((x) => x & ~F.GPU_ALWAYS_MAPPED),
  }),
  fc.record({ type: fc.constant<number>(A.GRANULARITY), value: fc.constantFrom(0, 2, 9, 9, 0x50) }),
);

const spanArb = fc
  .tuple(fc.integer({ min: 0, max: PAGES - 1 }), fc.integer({ min: 1, max: 16 }))
  .map(([start, len]) => ({ start, len: Math.min(len, PAGES - start) }));

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .tuple(spanArb, fc.array(attrArb, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([s, req, eagain]): Op => ({ kind: 'set', ...s, req, eagain })),
  },
  { weight: 2, arbitrary: spanArb.map((s): Op => ({ kind: 'clear', ...s })) },
  { weight: 2, arbitrary: spanArb.map((s): Op => ({ kind: 'get', ...s })) },
);

// ---- the naive model ----------------------------------------------------------------------

function naiveApply(a: amdgpu_svm_attrs, req: readonly drm_amdgpu_svm_attribute[]): void {
  for (const { type, value } of req) {
    if (type === A.PREFERRED_LOC) a.preferred_loc = value | 0;
    else if (type === A.PREFETCH_LOC) a.prefetch_loc = value | 0;
    else if (type === A.ACCESS) a.access = AMDGPU_SVM_ACCESS_ENABLE;
    else if (type === A.ACCESS_IN_PLACE) a.access = AMDGPU_SVM_ACCESS_IN_PLACE;
    else if (type === A.NO_ACCESS) a.access = AMDGPU_SVM_ACCESS_NONE;
    else if (type === A.SET_FLAGS) a.flags |= value;
    else if (type === A.CLR_FLAGS) a.flags &= ~value;
    else if (type === A.GRANULARITY) a.granularity = Math.min(value, 63);
  }
}

const same = (a: amdgpu_svm_attrs, b: amdgpu_svm_attrs): boolean =>
  JSON.stringify(a) === JSON.stringify(b);

/** The GET answer for [PREFERRED, PREFETCH, ACCESS, SET_FLAGS, CLR_FLAGS, GRANULARITY]. */
function naiveGet(list: amdgpu_svm_attrs[]): number[] {
  const all = <K extends keyof amdgpu_svm_attrs>(k: K): boolean =>
    list.every((a) => a[k] === list[0]?.[k]);
  const first = list[0] as amdgpu_svm_attrs;
  const access = all('access') ? first.access : AMDGPU_SVM_ACCESS_NONE;
  const and = list.reduce((x, a) => x & a.flags, 0xff);
  const or = list.reduce((x, a) => x | a.flags, 0);
  return [
    all('preferred_loc') ? first.preferred_loc >>> 0 : 0xffffffff,
    all('prefetch_loc') ? first.prefetch_loc >>> 0 : 0xffffffff,
    [A.NO_ACCESS, A.ACCESS, A.ACCESS_IN_PLACE][access] as number,
    and,
    ~or >>> 0,
    Math.min(...list.map((a) => a.granularity)),
  ];
}

// ---- the run ------------------------------------------------------------------------------

function checkTree(tree: amdgpu_svm_attr_tree, shadow: (amdgpu_svm_attrs | undefined)[]): void {
  let prevLast = -1;
  const covered = new Array<amdgpu_svm_attrs | undefined>(PAGES).fill(undefined);
  for (const n of tree.tree) {
    expect(n.freed).toBe(false);
    expect(n.it_node.start).toBeGreaterThan(prevLast);
    expect(n.it_node.last).toBeGreaterThanOrEqual(n.it_node.start);
    prevLast = n.it_node.last;
    for (let p = n.it_node.start; p <= n.it_node.last; p++) covered[p] = n.attrs;
  }
  expect(prevLast).toBeLessThan(PAGES);
  for (let p = 0; p < PAGES; p++) {
    expect(covered[p] === undefined, `page ${p} covered`).toBe(shadow[p] === undefined);
    const c = covered[p];
    const s = shadow[p];
    if (c && s) expect(c, `page ${p}`).toEqual(s);
  }
}

function* getAnswer(tree: amdgpu_svm_attr_tree, s: number, l: number): Co<[number, number[]]> {
  const q = [A.PREFERRED_LOC, A.PREFETCH_LOC, A.ACCESS, A.SET_FLAGS, A.CLR_FLAGS, A.GRANULARITY];
  const out = q.map((type) => ({ type, value: 0 }));
  const r = yield* amdgpu_svm_attr_get(tree, s, l, out);
  return [r, out.map((a, i) => (i === 2 ? a.type : a.value))];
}

function runSequence(variant: amdgpu_svm_attr_variant, xnack: boolean, ops: Op[]): void {
  const sim = new Sim();
  const svm = {
    adev: { name: 'gpu0' },
    svm_lock: new RwSemaphore('&svm->svm_lock'),
    xnack_enabled: xnack,
    default_granularity: amdgpu_svm_attr_default_granularity(variant),
  };
  const tree = amdgpu_svm_attr_tree_create(svm, variant);
  const defaults: amdgpu_svm_attrs = {
    preferred_loc: -1,
    prefetch_loc: -1,
    flags: F.HOST_ACCESS | F.COHERENT,
    granularity: 9,
    access: xnack ? AMDGPU_SVM_ACCESS_ENABLE : AMDGPU_SVM_ACCESS_NONE,
  };
  const shadow = new Array<amdgpu_svm_attrs | undefined>(PAGES).fill(undefined);
  let eagain = false;
  const setOps: amdgpu_svm_attr_set_ops = {
    *validate_range(): Co<number> {
      return 0;
    },
    *flush(): Co {},
    *apply(): Co<number> {
      if (!eagain) return 0;
      eagain = false;
      return -EAGAIN;
    },
  };
  const expectGet = (s: number, l: number, got: [number, number[]]): void => {
    const pages = shadow.slice(s, l + 1);
    if (variant === 'v3' && pages.every((a) => a === undefined)) {
      expect(got[0]).toBe(-EINVAL);
      return;
    }
    expect(got).toEqual([0, naiveGet(pages.map((a) => a ?? defaults))]);
  };

  sim.spawn('main', function* (): Co {
    for (const op of ops) {
      const last = op.start + op.len - 1;
      if (op.kind === 'set') {
        eagain = op.eagain;
        expect(yield* amdgpu_svm_attr_set(tree, op.start, last, op.req, setOps)).toBe(0);
        for (let p = op.start; p <= last; p++) {
          const next = { ...(shadow[p] ?? defaults) };
          naiveApply(next, op.req);
          const noNode = variant === 'v1' && shadow[p] === undefined && same(next, defaults);
          if (!noNode) shadow[p] = next;
        }
      } else if (op.kind === 'clear') {
        expect(yield* amdgpu_svm_attr_clear_pages(tree, op.start, last)).toBe(0);
        for (let p = op.start; p <= last; p++) shadow[p] = undefined;
      } else {
        expectGet(op.start, last, yield* getAnswer(tree, op.start, last));
      }
      checkTree(tree, shadow);
    }
    for (let p = 0; p < PAGES; p++) expectGet(p, p, yield* getAnswer(tree, p, p));
  });
  sim.run();
}

describe('attribute layer against a per-page shadow model', () => {
  it.each<amdgpu_svm_attr_variant>(['v1', 'v3'])('%s', (variant) => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(opArb, { maxLength: 30 }), (xnack, ops) => {
        runSequence(variant, xnack, ops);
      }),
      { numRuns: 200 },
    );
  });
});

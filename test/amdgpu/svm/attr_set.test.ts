/**
 * SET_ATTR in the attribute layer, both variants (shared/spec/rfc-series.md §1.2, §2.2, §2.3):
 * validation, range checks, holes and nodes, splits, triggers, the -EAGAIN retry loop, -ENOMEM.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  EAGAIN,
  EFAULT,
  EINVAL,
  ENOMEM,
  EOPNOTSUPP,
  RwSemaphore,
  Sim,
  Trap,
  lockdep_assert_held,
  type Co,
} from '../../../src/sim/index.js';
import {
  AMDGPU_SVM_ACCESS_ENABLE,
  AMDGPU_SVM_ACCESS_IN_PLACE,
  AMDGPU_SVM_ACCESS_NONE,
  AMDGPU_SVM_ATTR_TRIGGER_ACCESS_CHANGE as ACC,
  AMDGPU_SVM_ATTR_TRIGGER_ATTR_ONLY as ONLY,
  AMDGPU_SVM_ATTR_TRIGGER_GRANULARITY_CHANGE as GRAN,
  AMDGPU_SVM_ATTR_TRIGGER_LOCATION_CHANGE as LOC,
  AMDGPU_SVM_ATTR_TRIGGER_MAPPING_FLAG_CHANGE as MAP,
  AMDGPU_SVM_ATTR_TRIGGER_PREFETCH as PF,
  AMDGPU_SVM_ATTR_TRIGGER_PTE_FLAG_CHANGE as PTE,
  AMDGPU_SVM_ATTR_TRIGGER_RANGE_SPLIT as SPLIT,
  AMDGPU_SVM_ATTR_SET_MAX_RETRIES,
  AMDGPU_SVM_ULONG_MAX,
  ATTR_NODES_COUNTER,
  amdgpu_svm_attr_apply,
  amdgpu_svm_attr_default_granularity,
  amdgpu_svm_attr_range_cache,
  amdgpu_svm_attr_set,
  amdgpu_svm_attr_set_validate,
  amdgpu_svm_attr_tree_create,
  amdgpu_svm_attr_variant_of_design,
  attr_change_ctx_trigger,
  attr_set_default,
  type amdgpu_svm_attr_change,
  type amdgpu_svm_attr_set_ops,
  type amdgpu_svm_attr_tree,
  type amdgpu_svm_attr_variant,
  type amdgpu_svm_attrs,
} from '../../../src/amdgpu/svm/attr.js';
import {
  AMDGPU_SVM_ATTR,
  AMDGPU_SVM_FLAGS as F,
  type SvmAttrName,
  type drm_amdgpu_svm_attribute,
} from '../../../src/amdgpu/svm/uapi.js';

// ---- harness ----------------------------------------------------------------------------

const GPU = 0x1000;
const UNDEF = -1;

interface H {
  sim: Sim;
  svm: {
    adev: { name: string };
    svm_lock: RwSemaphore;
    xnack_enabled: boolean;
    default_granularity: number;
  };
  tree: amdgpu_svm_attr_tree;
  ops: amdgpu_svm_attr_set_ops;
  applied: amdgpu_svm_attr_change[];
  validated: [number, number][];
  script: number[];
  validateRet: number;
  flushes: number;
}

function setup(variant: amdgpu_svm_attr_variant, xnack = variant === 'v3'): H {
  const sim = new Sim({ trace: true });
  const svm = {
    adev: { name: 'gpu0' },
    svm_lock: new RwSemaphore('&svm->svm_lock'),
    xnack_enabled: xnack,
    default_granularity: amdgpu_svm_attr_default_granularity(variant),
  };
  const tree = amdgpu_svm_attr_tree_create(svm, variant);
  const ops: amdgpu_svm_attr_set_ops = {
    *validate_range(st: number, l: number): Co<number> {
      h.validated.push([st, l]);
      return h.validateRet;
    },
    *flush(): Co {
      h.flushes++;
    },
    *apply(c: Readonly<amdgpu_svm_attr_change>): Co<number> {
      lockdep_assert_held(svm.svm_lock, 'write');
      expect(tree.lock.owner).toBeNull();
      h.applied.push({ ...c, prev_attrs: { ...c.prev_attrs }, new_attrs: { ...c.new_attrs } });
      return h.script.shift() ?? 0;
    },
  };
  const h: H = {
    sim,
    svm,
    tree,
    ops,
    applied: [],
    validated: [],
    script: [],
    validateRet: 0,
    flushes: 0,
  };
  return h;
}

function run<T>(h: H, body: () => Co<T>): T {
  const t = h.sim.spawn('main', body);
  h.sim.run();
  if (!t.done) throw new Error('main did not finish');
  return t.result as T;
}

type Req = [SvmAttrName | number, number][];
function uattrs(req: Req): drm_amdgpu_svm_attribute[] {
  return req.map(([t, v]) => ({ type: typeof t === 'number' ? t : AMDGPU_SVM_ATTR[t], value: v }));
}

function set(h: H, start: number, last: number, req: Req): number {
  return run(h, () => amdgpu_svm_attr_set(h.tree, start, last, uattrs(req), h.ops));
}

/** Nodes as [start, last, attrs]. */
function nodes(h: H): [number, number, amdgpu_svm_attrs][] {
  return h.tree.tree.map((n) => [n.it_node.start, n.it_node.last, { ...n.attrs }]);
}
function spans(h: H): [number, number][] {
  return h.tree.tree.map((n) => [n.it_node.start, n.it_node.last]);
}

function defaults(h: H, over: Partial<amdgpu_svm_attrs> = {}): amdgpu_svm_attrs {
  return { ...attr_set_default(h.svm), ...over };
}

/** Triggers of every segment that had one (ATTR_ONLY included), from the trace. */
function triggers(h: H): number[] {
  return h.sim.trace
    .events()
    .filter((e) => e.kind === 'svm.attr.change')
    .map((e) => e['trigger'] as number);
}

function clearTrace(h: H): number {
  return h.sim.trace.events().length;
}
function triggersSince(h: H, mark: number): number[] {
  return h.sim.trace
    .events()
    .slice(mark)
    .filter((e) => e.kind === 'svm.attr.change')
    .map((e) => e['trigger'] as number);
}

afterEach(() => {
  amdgpu_svm_attr_range_cache.should_fail = null;
});

const VARIANTS: amdgpu_svm_attr_variant[] = ['v1', 'v3'];

// ---- validation ---------------------------------------------------------------------------

describe('amdgpu_svm_attr_set_validate (§1.2)', () => {
  const A = AMDGPU_SVM_ATTR;
  //           type                value        v1        v3
  const table: [string, number, number, number, number][] = [
    ['PREFERRED_LOC sysmem', A.PREFERRED_LOC, 0, 0, 0],
    ['PREFERRED_LOC undefined', A.PREFERRED_LOC, 0xffffffff, 0, 0],
    ['PREFERRED_LOC gpu', A.PREFERRED_LOC, GPU, 0, 0],
    ['PREFETCH_LOC sysmem', A.PREFETCH_LOC, 0, 0, 0],
    ['PREFETCH_LOC gpu', A.PREFETCH_LOC, GPU, 0, 0],
    ['PREFETCH_LOC undefined', A.PREFETCH_LOC, 0xffffffff, -EINVAL, -EINVAL],
    ['ACCESS gpu', A.ACCESS, GPU, 0, 0],
    ['ACCESS other gpu id', A.ACCESS, 0x1234, 0, 0],
    ['ACCESS 0', A.ACCESS, 0, -EINVAL, -EINVAL],
    ['ACCESS 0xffffffff', A.ACCESS, 0xffffffff, -EINVAL, -EINVAL],
    ['ACCESS_IN_PLACE gpu', A.ACCESS_IN_PLACE, GPU, 0, 0],
    ['ACCESS_IN_PLACE 0', A.ACCESS_IN_PLACE, 0, -EINVAL, -EINVAL],
    ['ACCESS_IN_PLACE 0xffffffff', A.ACCESS_IN_PLACE, 0xffffffff, -EINVAL, -EINVAL],
    ['NO_ACCESS gpu', A.NO_ACCESS, GPU, 0, 0],
    ['NO_ACCESS 0', A.NO_ACCESS, 0, -EINVAL, -EINVAL],
    ['NO_ACCESS 0xffffffff', A.NO_ACCESS, 0xffffffff, -EINVAL, -EINVAL],
    ['SET_FLAGS 0', A.SET_FLAGS, 0, 0, 0],
    ['SET_FLAGS all but ALWAYS_MAPPED', A.SET_FLAGS, 0xbf, 0, 0],
    ['SET_FLAGS GPU_ALWAYS_MAPPED', A.SET_FLAGS, F.GPU_ALWAYS_MAPPED, 0, -EINVAL],
    ['SET_FLAGS all eight', A.SET_FLAGS, 0xff, 0, -EINVAL],
    ['SET_FLAGS bit 8', A.SET_FLAGS, 0x100, -EINVAL, -EINVAL],
    ['SET_FLAGS bit 31', A.SET_FLAGS, 0x80000000, -EINVAL, -EINVAL],
    ['CLR_FLAGS all but ALWAYS_MAPPED', A.CLR_FLAGS, 0xbf, 0, 0],
    ['CLR_FLAGS GPU_ALWAYS_MAPPED', A.CLR_FLAGS, F.GPU_ALWAYS_MAPPED, 0, -EINVAL],
    ['CLR_FLAGS bit 8', A.CLR_FLAGS, 0x100, -EINVAL, -EINVAL],
    ['GRANULARITY 0', A.GRANULARITY, 0, 0, 0],
    ['GRANULARITY 0xffffffff (clamped on apply)', A.GRANULARITY, 0xffffffff, 0, 0],
    ['unknown type 8', 8, 0, -EINVAL, -EINVAL],
    ['unknown type 0xffffffff', 0xffffffff, 1, -EINVAL, -EINVAL],
  ];
  it.each(table)('%s', (_name, type, value, v1, v3) => {
    expect(amdgpu_svm_attr_set_validate('v1', { type, value })).toBe(v1);
    expect(amdgpu_svm_attr_set_validate('v3', { type, value })).toBe(v3);
    for (const variant of VARIANTS) {
      const h = setup(variant);
      const r = set(h, 0, 9, [[type, value]]);
      const want = variant === 'v1' ? v1 : v3;
      expect(r).toBe(want);
      // Attribute validation comes before the range check: a bad one never reaches the hook.
      expect(h.validated).toEqual(want ? [] : [[0, 9]]);
      if (want) expect(h.tree.tree).toEqual([]);
    }
  });

  it.each(VARIANTS)('%s: the first invalid attribute of a list fails the whole call', (v) => {
    const h = setup(v);
    expect(
      set(h, 0, 9, [
        ['ACCESS', GPU],
        ['PREFETCH_LOC', 0xffffffff],
      ]),
    ).toBe(-EINVAL);
    expect(h.tree.tree).toEqual([]);
    expect(h.applied).toEqual([]);
  });
});

describe('range validation (validate_range_vma)', () => {
  it.each(VARIANTS)('%s: start > last and last == ULONG_MAX are -EINVAL before the hook', (v) => {
    const h = setup(v);
    expect(set(h, 10, 9, [['ACCESS', GPU]])).toBe(-EINVAL);
    expect(set(h, 0, AMDGPU_SVM_ULONG_MAX, [['ACCESS', GPU]])).toBe(-EINVAL);
    expect(h.validated).toEqual([]);
  });

  it.each(VARIANTS)('%s: the hook sees the page range and its errno is returned', (v) => {
    for (const e of [-EFAULT, -EOPNOTSUPP]) {
      const h = setup(v);
      h.validateRet = e;
      expect(set(h, 3, 7, [['ACCESS', GPU]])).toBe(e);
      expect(h.validated).toEqual([[3, 7]]);
      expect(h.tree.tree).toEqual([]);
      expect(h.applied).toEqual([]);
    }
  });
});

// ---- attr_apply ---------------------------------------------------------------------------

describe('amdgpu_svm_attr_apply (§2.3)', () => {
  const base = (): amdgpu_svm_attrs => ({
    preferred_loc: UNDEF,
    prefetch_loc: UNDEF,
    flags: F.HOST_ACCESS | F.COHERENT,
    granularity: 9,
    access: AMDGPU_SVM_ACCESS_NONE,
  });
  const cases: [string, Req, Partial<amdgpu_svm_attrs>][] = [
    ['SET_FLAGS ors', [['SET_FLAGS', F.GPU_RO | F.GPU_EXEC]], { flags: 0x1b }],
    ['CLR_FLAGS and-nots', [['CLR_FLAGS', F.COHERENT | F.GPU_RO]], { flags: F.HOST_ACCESS }],
    [
      'SET then CLR of a flag clears it',
      [
        ['SET_FLAGS', F.GPU_RO],
        ['CLR_FLAGS', F.GPU_RO],
      ],
      {},
    ],
    [
      'CLR then SET of a flag sets it',
      [
        ['CLR_FLAGS', F.GPU_RO],
        ['SET_FLAGS', F.GPU_RO],
      ],
      { flags: 0xb },
    ],
    ['ACCESS -> ENABLE', [['ACCESS', GPU]], { access: AMDGPU_SVM_ACCESS_ENABLE }],
    [
      'ACCESS_IN_PLACE -> IN_PLACE',
      [['ACCESS_IN_PLACE', 7]],
      { access: AMDGPU_SVM_ACCESS_IN_PLACE },
    ],
    [
      'NO_ACCESS -> NONE',
      [
        ['ACCESS', GPU],
        ['NO_ACCESS', GPU],
      ],
      { access: AMDGPU_SVM_ACCESS_NONE },
    ],
    [
      'last access wins',
      [
        ['NO_ACCESS', GPU],
        ['ACCESS_IN_PLACE', GPU],
      ],
      { access: 2 },
    ],
    ['PREFERRED_LOC sysmem', [['PREFERRED_LOC', 0]], { preferred_loc: 0 }],
    ['PREFERRED_LOC int32 cast', [['PREFERRED_LOC', 0x80000000]], { preferred_loc: -0x80000000 }],
    ['PREFERRED_LOC undefined is -1', [['PREFERRED_LOC', 0xffffffff]], { preferred_loc: -1 }],
    ['PREFETCH_LOC gpu', [['PREFETCH_LOC', GPU]], { prefetch_loc: GPU }],
    ['GRANULARITY', [['GRANULARITY', 3]], { granularity: 3 }],
    ['GRANULARITY clamps at 0x3f', [['GRANULARITY', 0x40]], { granularity: 0x3f }],
    ['GRANULARITY u32 max clamps', [['GRANULARITY', 0xffffffff]], { granularity: 0x3f }],
    ['unknown types are ignored', [[42, 1]], {}],
  ];
  it.each(cases)('%s', (_n, req, want) => {
    const a = base();
    amdgpu_svm_attr_apply(a, uattrs(req));
    expect(a).toEqual({ ...base(), ...want });
  });
});

describe('defaults', () => {
  it('default granularity: min_t(u8, param, 0x3f) in V1, 0x1B in V3', () => {
    const t: [number, number, number][] = [
      [9, 9, 9],
      [0x1b, 0x1b, 0x1b],
      [0x1c, 0x1c, 0x1b],
      [0x3f, 0x3f, 0x1b],
      [0x40, 0x3f, 0x1b],
      [0x100, 0, 0],
      [0x109, 9, 9],
    ];
    for (const [p, v1, v3] of t) {
      expect(amdgpu_svm_attr_default_granularity('v1', p)).toBe(v1);
      expect(amdgpu_svm_attr_default_granularity('v3', p)).toBe(v3);
    }
    expect(amdgpu_svm_attr_default_granularity('v1')).toBe(9);
  });

  it('attr_set_default: UNDEFINED locations, HOST_ACCESS|COHERENT, access by XNACK', () => {
    const h = setup('v1', false);
    expect(attr_set_default(h.svm)).toEqual({
      preferred_loc: -1,
      prefetch_loc: -1,
      flags: F.HOST_ACCESS | F.COHERENT,
      granularity: 9,
      access: AMDGPU_SVM_ACCESS_NONE,
    });
    h.svm.xnack_enabled = true;
    expect(attr_set_default(h.svm).access).toBe(AMDGPU_SVM_ACCESS_ENABLE);
  });

  it('designs map to variants', () => {
    expect(amdgpu_svm_attr_variant_of_design('rfc-v1')).toBe('v1');
    expect(amdgpu_svm_attr_variant_of_design('rfc-v2')).toBe('v3');
    expect(amdgpu_svm_attr_variant_of_design('kfd')).toBeUndefined();
  });
});

// ---- holes, nodes, splits -------------------------------------------------------------------

describe('set over holes', () => {
  it('V1 creates no node when the result equals the defaults; V3 always does', () => {
    const v1 = setup('v1');
    expect(
      set(v1, 0, 9, [
        ['NO_ACCESS', GPU],
        ['GRANULARITY', 9],
      ]),
    ).toBe(0);
    expect(v1.tree.tree).toEqual([]);
    expect(triggers(v1)).toEqual([]);
    expect(v1.applied).toEqual([]);

    const v3 = setup('v3');
    expect(
      set(v3, 0, 9, [
        ['ACCESS', GPU],
        ['GRANULARITY', 9],
      ]),
    ).toBe(0);
    expect(nodes(v3)).toEqual([[0, 9, defaults(v3)]]);
    expect(triggers(v3)).toEqual([ONLY]);
    expect(v3.applied).toEqual([]); // ATTR_ONLY: no range-layer work
    expect(v3.sim.counters.get(ATTR_NODES_COUNTER)).toBe(1);
  });

  it.each(VARIANTS)(
    '%s: a non-default hole gets one node and a change against the defaults',
    (v) => {
      const h = setup(v);
      expect(set(h, 4, 7, [['SET_FLAGS', F.GPU_RO]])).toBe(0);
      const want = defaults(h, { flags: F.HOST_ACCESS | F.COHERENT | F.GPU_RO });
      expect(nodes(h)).toEqual([[4, 7, want]]);
      expect(h.applied).toEqual([
        {
          start: 4,
          last: 7,
          trigger: PTE,
          prev_attrs: defaults(h),
          new_attrs: want,
          attr_range: h.tree.tree[0],
        },
      ]);
    },
  );

  it.each(VARIANTS)('%s: a range across holes and nodes is cut at every node edge', (v) => {
    const h = setup(v);
    set(h, 10, 19, [['SET_FLAGS', F.GPU_EXEC]]);
    set(h, 30, 39, [['SET_FLAGS', F.GPU_EXEC]]);
    const n10 = h.tree.tree[0];
    const n30 = h.tree.tree[1];
    h.applied.length = 0;
    expect(set(h, 5, 45, [['SET_FLAGS', F.GPU_RO]])).toBe(0);
    const d = F.HOST_ACCESS | F.COHERENT;
    expect(nodes(h)).toEqual([
      [5, 9, defaults(h, { flags: d | F.GPU_RO })],
      [10, 19, defaults(h, { flags: d | F.GPU_RO | F.GPU_EXEC })],
      [20, 29, defaults(h, { flags: d | F.GPU_RO })],
      [30, 39, defaults(h, { flags: d | F.GPU_RO | F.GPU_EXEC })],
      [40, 45, defaults(h, { flags: d | F.GPU_RO })],
    ]);
    expect(h.tree.tree[1]).toBe(n10);
    expect(h.tree.tree[3]).toBe(n30);
    expect(h.applied.map((c) => [c.start, c.last, c.trigger])).toEqual([
      [5, 9, PTE],
      [10, 19, PTE],
      [20, 29, PTE],
      [30, 39, PTE],
      [40, 45, PTE],
    ]);
  });
});

describe('set over existing nodes: splits (node list exact)', () => {
  const d = F.HOST_ACCESS | F.COHERENT;
  //        name     start last  spans after                                 split
  const table: [string, number, number, [number, number][], boolean][] = [
    ['whole node (in place)', 10, 19, [[10, 19]], false],
    [
      'head',
      10,
      14,
      [
        [10, 14],
        [15, 19],
      ],
      true,
    ],
    [
      'tail',
      15,
      19,
      [
        [10, 14],
        [15, 19],
      ],
      true,
    ],
    [
      'middle',
      12,
      15,
      [
        [10, 11],
        [12, 15],
        [16, 19],
      ],
      true,
    ],
    [
      'one page',
      13,
      13,
      [
        [10, 12],
        [13, 13],
        [14, 19],
      ],
      true,
    ],
  ];
  describe.each(VARIANTS)('%s', (v) => {
    it.each(table)('%s', (_n, s, l, after, split) => {
      const h = setup(v);
      set(h, 10, 19, [['SET_FLAGS', F.GPU_EXEC]]);
      const orig = h.tree.tree[0];
      h.applied.length = 0;
      expect(set(h, s, l, [['SET_FLAGS', F.GPU_RO]])).toBe(0);
      expect(spans(h)).toEqual(after);
      for (const n of h.tree.tree) {
        const inside = n.it_node.start >= s && n.it_node.last <= l;
        expect(n.attrs.flags).toBe(d | F.GPU_EXEC | (inside ? F.GPU_RO : 0));
        // The original node is reused as the middle part.
        expect(n === orig).toBe(inside);
      }
      expect(h.sim.counters.get(ATTR_NODES_COUNTER)).toBe(after.length);
      const trigger = PTE | (v === 'v3' && split ? SPLIT : 0);
      expect(h.applied.map((c) => [c.start, c.last, c.trigger])).toEqual([[s, l, trigger]]);
      expect(h.applied[0]?.attr_range).toBe(orig);
    });
  });

  it.each(VARIANTS)('%s: adjacent equal nodes are never merged', (v) => {
    const h = setup(v);
    set(h, 0, 9, [['SET_FLAGS', F.GPU_RO]]);
    set(h, 10, 19, [['SET_FLAGS', F.GPU_RO]]);
    expect(spans(h)).toEqual([
      [0, 9],
      [10, 19],
    ]);
  });

  it.each(VARIANTS)('%s: unchanged attributes change nothing and call nothing', (v) => {
    const h = setup(v);
    set(h, 10, 19, [['SET_FLAGS', F.GPU_RO]]);
    const mark = clearTrace(h);
    h.applied.length = 0;
    expect(
      set(h, 12, 15, [
        ['SET_FLAGS', F.GPU_RO],
        ['GRANULARITY', 9],
      ]),
    ).toBe(0);
    expect(spans(h)).toEqual([[10, 19]]);
    expect(triggersSince(h, mark)).toEqual([]);
    expect(h.applied).toEqual([]);
  });
});

// ---- triggers -----------------------------------------------------------------------------

describe('change triggers (§2.2) on a whole node', () => {
  // The node starts as defaults + GPU_EXEC, access NONE, no prefetch.
  //            name                   request                                  v1        v3
  const table: [string, Req, number | null, number | null][] = [
    ['access gained (ACCESS)', [['ACCESS', GPU]], ACC, ACC],
    ['access gained (IN_PLACE)', [['ACCESS_IN_PLACE', GPU]], ACC, ACC],
    ['NO_ACCESS on NONE: unchanged', [['NO_ACCESS', GPU]], null, null],
    ['SET GPU_RO', [['SET_FLAGS', F.GPU_RO]], PTE, PTE],
    ['SET EXT_COHERENT', [['SET_FLAGS', F.EXT_COHERENT]], PTE, PTE],
    ['CLR COHERENT', [['CLR_FLAGS', F.COHERENT]], PTE, PTE],
    ['CLR GPU_EXEC', [['CLR_FLAGS', F.GPU_EXEC]], PTE, PTE],
    ['SET COHERENT (already set): unchanged', [['SET_FLAGS', F.COHERENT]], null, null],
    ['SET HIVE_LOCAL', [['SET_FLAGS', F.HIVE_LOCAL]], MAP, MAP],
    ['SET GPU_READ_MOSTLY', [['SET_FLAGS', F.GPU_READ_MOSTLY]], MAP, MAP],
    ['CLR HOST_ACCESS', [['CLR_FLAGS', F.HOST_ACCESS]], MAP, MAP],
    ['SET GPU_ALWAYS_MAPPED', [['SET_FLAGS', F.GPU_ALWAYS_MAPPED]], MAP, -EINVAL],
    ['SET GPU_RO|HIVE_LOCAL', [['SET_FLAGS', F.GPU_RO | F.HIVE_LOCAL]], PTE | MAP, PTE | MAP],
    ['PREFERRED_LOC sysmem', [['PREFERRED_LOC', 0]], LOC, LOC],
    ['PREFERRED_LOC gpu', [['PREFERRED_LOC', GPU]], LOC, LOC],
    ['PREFETCH_LOC sysmem', [['PREFETCH_LOC', 0]], LOC, ONLY],
    ['PREFETCH_LOC gpu', [['PREFETCH_LOC', GPU]], LOC, PF],
    ['GRANULARITY 0', [['GRANULARITY', 0]], GRAN, GRAN],
    ['GRANULARITY 9 (same): unchanged', [['GRANULARITY', 9]], null, null],
    [
      'everything at once',
      [
        ['ACCESS', GPU],
        ['SET_FLAGS', F.GPU_RO],
        ['PREFERRED_LOC', 0],
        ['GRANULARITY', 3],
      ],
      ACC | PTE | LOC | GRAN,
      ACC | PTE | LOC | GRAN,
    ],
  ];
  describe.each(VARIANTS)('%s (XNACK on, so no re-trigger)', (v) => {
    it.each(table)('%s', (_n, req, v1, v3) => {
      const want = v === 'v1' ? v1 : v3;
      const h = setup(v, true);
      set(h, 10, 19, [
        ['SET_FLAGS', F.GPU_EXEC],
        ['NO_ACCESS', GPU],
      ]);
      const mark = clearTrace(h);
      h.applied.length = 0;
      const r = set(h, 10, 19, req);
      if (want !== null && want < 0) {
        expect(r).toBe(want);
        return;
      }
      expect(r).toBe(0);
      expect(triggersSince(h, mark)).toEqual(want === null ? [] : [want]);
      const called = want !== null && want !== ONLY;
      expect(h.applied.length).toBe(called ? 1 : 0);
      if (called) expect(h.applied[0]?.trigger).toBe(want);
    });
  });

  it.each(VARIANTS)('%s: access lost (NO_ACCESS on ENABLE)', (v) => {
    const h = setup(v, true);
    set(h, 10, 19, [
      ['ACCESS', GPU],
      ['SET_FLAGS', F.GPU_EXEC],
    ]);
    h.applied.length = 0;
    expect(set(h, 10, 19, [['NO_ACCESS', GPU]])).toBe(0);
    expect(h.applied.map((c) => [c.trigger, c.prev_attrs.access, c.new_attrs.access])).toEqual([
      [ACC, AMDGPU_SVM_ACCESS_ENABLE, AMDGPU_SVM_ACCESS_NONE],
    ]);
  });

  it('attr_change_ctx_trigger of equal attributes is ATTR_ONLY (V3: unless prefetch is a GPU)', () => {
    const a: amdgpu_svm_attrs = {
      preferred_loc: -1,
      prefetch_loc: -1,
      flags: 3,
      granularity: 9,
      access: AMDGPU_SVM_ACCESS_ENABLE,
    };
    expect(attr_change_ctx_trigger('v1', a, { ...a })).toBe(ONLY);
    expect(attr_change_ctx_trigger('v3', a, { ...a })).toBe(ONLY);
    const p = { ...a, prefetch_loc: GPU };
    expect(attr_change_ctx_trigger('v1', p, { ...p })).toBe(ONLY);
    expect(attr_change_ctx_trigger('v3', p, { ...p })).toBe(PF);
    expect(attr_change_ctx_trigger('v1', a, p)).toBe(LOC);
    expect(attr_change_ctx_trigger('v3', p, a)).toBe(ONLY);
  });
});

describe('V3 PREFETCH and RANGE_SPLIT', () => {
  it('PREFETCH is sent whenever the new prefetch_loc is a GPU, even if unchanged', () => {
    const h = setup('v3');
    expect(set(h, 0, 9, [['PREFETCH_LOC', GPU]])).toBe(0);
    expect(h.applied.map((c) => c.trigger)).toEqual([PF]);
    // Prefetch unchanged but another attribute changes: PREFETCH again.
    expect(
      set(h, 0, 9, [
        ['PREFETCH_LOC', GPU],
        ['SET_FLAGS', F.GPU_RO],
      ]),
    ).toBe(0);
    expect(set(h, 0, 9, [['SET_FLAGS', F.GPU_EXEC]])).toBe(0);
    expect(h.applied.map((c) => c.trigger)).toEqual([PF, PTE | PF, PTE | PF]);
    // Nothing changes at all: set_existing returns early, no trigger.
    expect(set(h, 0, 9, [['PREFETCH_LOC', GPU]])).toBe(0);
    expect(h.applied.length).toBe(3);
    // A split of a prefetching node: the middle gets PREFETCH and RANGE_SPLIT.
    expect(set(h, 3, 5, [['GRANULARITY', 2]])).toBe(0);
    expect(h.applied[3]?.trigger).toBe(GRAN | PF | SPLIT);
  });

  it('RANGE_SPLIT is added to an otherwise attr-only change, so the range layer runs', () => {
    const h = setup('v3');
    set(h, 0, 9, [['SET_FLAGS', F.GPU_RO]]);
    h.applied.length = 0;
    expect(set(h, 0, 4, [['PREFETCH_LOC', 0]])).toBe(0);
    expect(h.applied.map((c) => [c.start, c.last, c.trigger])).toEqual([[0, 4, ONLY | SPLIT]]);
  });

  it('V1 never sends RANGE_SPLIT, PREFETCH or ATTR_ONLY', () => {
    const h = setup('v1');
    set(h, 0, 9, [['SET_FLAGS', F.GPU_RO]]);
    set(h, 0, 4, [['PREFETCH_LOC', 0]]);
    set(h, 2, 3, [['PREFETCH_LOC', GPU]]);
    expect(triggers(h)).toEqual([PTE, LOC, LOC]);
  });
});

describe('XNACK-off ACCESS re-trigger on unchanged attributes', () => {
  describe.each(VARIANTS)('%s', (v) => {
    it.each<[string, Req, boolean, boolean]>([
      ['ACCESS, XNACK off', [['ACCESS', GPU]], false, true],
      ['ACCESS_IN_PLACE on an IN_PLACE node, XNACK off', [['ACCESS_IN_PLACE', GPU]], false, true],
      ['NO_ACCESS, XNACK off', [['NO_ACCESS', GPU]], false, false],
      ['ACCESS, XNACK on', [['ACCESS', GPU]], true, false],
    ])('%s', (_n, req, xnack, retrigger) => {
      const h = setup(v, xnack);
      const grant = req[0]?.[0] === 'NO_ACCESS' ? 'NO_ACCESS' : (req[0]?.[0] as SvmAttrName);
      set(h, 10, 19, [
        [grant, GPU],
        ['SET_FLAGS', F.GPU_EXEC],
      ]);
      const node = h.tree.tree[0];
      const before = { ...node?.attrs };
      h.applied.length = 0;
      expect(set(h, 12, 15, req)).toBe(0);
      // No split: the node is untouched.
      expect(spans(h)).toEqual([[10, 19]]);
      if (!retrigger) {
        expect(h.applied).toEqual([]);
        return;
      }
      expect(h.applied.length).toBe(1);
      const c = h.applied[0] as amdgpu_svm_attr_change;
      expect(c.trigger).toBe(ACC);
      expect(c.prev_attrs).toEqual(before);
      expect(c.new_attrs).toEqual(before);
      expect(c.attr_range).toBe(node);
      // V1 reports the segment, V3 hands over the node (its bounds).
      expect([c.start, c.last]).toEqual(v === 'v1' ? [12, 15] : [10, 19]);
    });
  });
});

// ---- retry loop and errors ----------------------------------------------------------------

describe('the -EAGAIN retry loop', () => {
  it.each(VARIANTS)('%s: -EAGAIN finishes the walk, flushes, and retries', (v) => {
    const h = setup(v, false);
    h.script = [-EAGAIN];
    expect(set(h, 0, 9, [['ACCESS', GPU]])).toBe(0);
    expect(h.flushes).toBe(1);
    expect(spans(h)).toEqual([[0, 9]]);
    // Pass 1 created the node (ACCESS_CHANGE); the retry finds it unchanged, and XNACK off
    // re-triggers ACCESS_CHANGE with old == new.
    expect(h.applied.map((c) => [c.trigger, c.prev_attrs.access, c.new_attrs.access])).toEqual([
      [ACC, AMDGPU_SVM_ACCESS_NONE, AMDGPU_SVM_ACCESS_ENABLE],
      [ACC, AMDGPU_SVM_ACCESS_ENABLE, AMDGPU_SVM_ACCESS_ENABLE],
    ]);
    const retries = h.sim.trace.events().filter((e) => e.kind === 'svm.attr.retry');
    expect(retries.length).toBe(1);
    const done = h.sim.trace.events().filter((e) => e.kind === 'svm.attr.set');
    expect(done.at(-1)).toMatchObject({ ret: 0, retries: 1 });
  });

  it.each(VARIANTS)('%s: the segments after an -EAGAIN still run in the same pass', (v) => {
    const h = setup(v, true);
    set(h, 10, 19, [['SET_FLAGS', F.GPU_EXEC]]);
    h.applied.length = 0;
    h.script = [-EAGAIN, 0, -EAGAIN];
    expect(set(h, 0, 29, [['SET_FLAGS', F.GPU_RO]])).toBe(0);
    // Pass 1: three segments (-EAGAIN, 0, -EAGAIN). Pass 2: all unchanged, nothing sent.
    expect(h.applied.map((c) => [c.start, c.last])).toEqual([
      [0, 9],
      [10, 19],
      [20, 29],
    ]);
    expect(h.flushes).toBe(1);
  });

  it.each(VARIANTS)('%s: any other apply error ends SET at once', (v) => {
    const h = setup(v, true);
    set(h, 10, 19, [['SET_FLAGS', F.GPU_EXEC]]);
    h.applied.length = 0;
    h.script = [-EFAULT];
    expect(set(h, 0, 29, [['SET_FLAGS', F.GPU_RO]])).toBe(-EFAULT);
    expect(h.applied.length).toBe(1);
    expect(h.flushes).toBe(0);
    // The failing segment's node stays; the later segments were never reached.
    expect(spans(h)).toEqual([
      [0, 9],
      [10, 19],
    ]);
    expect(h.tree.tree[1]?.attrs.flags).toBe(F.HOST_ACCESS | F.COHERENT | F.GPU_EXEC);
  });

  it('an endless retry traps livelock past the bound', () => {
    const h = setup('v1', false);
    h.ops.apply = function* (): Co<number> {
      return -EAGAIN;
    };
    h.sim.spawn('main', () => amdgpu_svm_attr_set(h.tree, 0, 0, uattrs([['ACCESS', GPU]]), h.ops));
    let trap: unknown = null;
    try {
      h.sim.run();
    } catch (e) {
      trap = e;
    }
    expect(trap).toBeInstanceOf(Trap);
    expect((trap as Trap).kind).toBe('livelock');
    expect(h.flushes).toBe(AMDGPU_SVM_ATTR_SET_MAX_RETRIES);
  });
});

describe('-ENOMEM', () => {
  it.each(VARIANTS)('%s: a failed hole allocation leaves the tree unchanged', (v) => {
    const h = setup(v);
    amdgpu_svm_attr_range_cache.should_fail = () => true;
    expect(set(h, 0, 9, [['SET_FLAGS', F.GPU_RO]])).toBe(-ENOMEM);
    expect(h.tree.tree).toEqual([]);
    expect(h.applied).toEqual([]);
    expect(h.sim.counters.get(ATTR_NODES_COUNTER)).toBe(0);
  });

  describe.each(VARIANTS)('%s: a failed split allocation leaves the node as it was', (v) => {
    it.each<[string, number, number, number]>([
      ['head fails', 12, 15, 10],
      ['tail fails after the head was allocated', 12, 15, 16],
      ['tail-only split fails', 10, 15, 16],
    ])('%s', (_n, s, l, failStart) => {
      const h = setup(v);
      set(h, 10, 19, [['SET_FLAGS', F.GPU_EXEC]]);
      const node = h.tree.tree[0];
      const before = nodes(h);
      h.applied.length = 0;
      amdgpu_svm_attr_range_cache.should_fail = (start) => start === failStart;
      expect(set(h, s, l, [['SET_FLAGS', F.GPU_RO]])).toBe(-ENOMEM);
      expect(nodes(h)).toEqual(before);
      expect(h.tree.tree[0]).toBe(node);
      expect(h.applied).toEqual([]);
      expect(h.sim.counters.get(ATTR_NODES_COUNTER)).toBe(1);
    });
  });

  it.each(VARIANTS)('%s: segments before the failing one stay applied', (v) => {
    const h = setup(v);
    set(h, 10, 19, [['SET_FLAGS', F.GPU_EXEC]]);
    h.applied.length = 0;
    amdgpu_svm_attr_range_cache.should_fail = (start) => start === 20;
    expect(set(h, 10, 25, [['SET_FLAGS', F.GPU_RO]])).toBe(-ENOMEM);
    expect(spans(h)).toEqual([[10, 19]]);
    expect(h.tree.tree[0]?.attrs.flags).toBe(F.HOST_ACCESS | F.COHERENT | F.GPU_EXEC | F.GPU_RO);
    expect(h.applied.map((c) => [c.start, c.last])).toEqual([[10, 19]]);
  });
});

describe('trace', () => {
  it('one svm.attr.set per call with its result', () => {
    const h = setup('v1');
    set(h, 0, 9, [['ACCESS', GPU]]);
    set(h, 0, 9, [['ACCESS', 0]]);
    const ev = h.sim.trace
      .events()
      .filter((e) => e.kind.startsWith('svm.attr.'))
      .map((e) => [e.kind, e['ret'] ?? e['trigger']]);
    expect(ev).toEqual([
      ['svm.attr.change', ACC],
      ['svm.attr.set', 0],
      ['svm.attr.set', -EINVAL],
    ]);
  });
});

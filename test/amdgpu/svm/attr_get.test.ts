/**
 * GET_ATTR, clear_pages and the tree lookups of the attribute layer, both variants
 * (shared/spec/rfc-series.md §2.4, §2.5, §2.6).
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  EINVAL,
  ENOMEM,
  RwSemaphore,
  Sim,
  Trap,
  mutex_lock,
  mutex_unlock,
  type Co,
} from '../../../src/sim/index.js';
import {
  AMDGPU_SVM_ACCESS_ENABLE,
  AMDGPU_SVM_ACCESS_NONE,
  AMDGPU_SVM_ULONG_MAX,
  ATTR_NODES_COUNTER,
  amdgpu_svm_attr_clear_pages,
  amdgpu_svm_attr_default_granularity,
  amdgpu_svm_attr_devmem_possible,
  amdgpu_svm_attr_find_locked,
  amdgpu_svm_attr_get,
  amdgpu_svm_attr_get_bounds_locked,
  amdgpu_svm_attr_lookup_page_locked,
  amdgpu_svm_attr_prefer_vram,
  amdgpu_svm_attr_range_alloc,
  amdgpu_svm_attr_range_cache,
  amdgpu_svm_attr_range_insert_locked,
  amdgpu_svm_attr_set,
  amdgpu_svm_attr_tree_create,
  amdgpu_svm_attr_tree_destroy,
  attr_range_free,
  attr_set_default,
  type amdgpu_svm_attr_set_ops,
  type amdgpu_svm_attr_svm,
  type amdgpu_svm_attr_tree,
  type amdgpu_svm_attr_variant,
  type amdgpu_svm_attrs,
} from '../../../src/amdgpu/svm/attr.js';
import {
  AMDGPU_SVM_ATTR as A,
  AMDGPU_SVM_FLAGS as F,
  type SvmAttrName,
  type drm_amdgpu_svm_attribute,
} from '../../../src/amdgpu/svm/uapi.js';

// ---- harness ----------------------------------------------------------------------------

const GPU = 0x1000;
const VARIANTS: amdgpu_svm_attr_variant[] = ['v1', 'v3'];

interface H {
  sim: Sim;
  svm: amdgpu_svm_attr_svm & { xnack_enabled: boolean; apu_prefer_gtt?: boolean };
  tree: amdgpu_svm_attr_tree;
}

const OPS: amdgpu_svm_attr_set_ops = {
  *validate_range(): Co<number> {
    return 0;
  },
  *flush(): Co {},
  *apply(): Co<number> {
    return 0;
  },
};

function setup(variant: amdgpu_svm_attr_variant, xnack = variant === 'v3'): H {
  const sim = new Sim({ trace: true });
  const svm = {
    adev: { name: 'gpu0' },
    svm_lock: new RwSemaphore('&svm->svm_lock'),
    xnack_enabled: xnack,
    default_granularity: amdgpu_svm_attr_default_granularity(variant),
  };
  return { sim, svm, tree: amdgpu_svm_attr_tree_create(svm, variant) };
}

function run<T>(h: H, body: () => Co<T>): T {
  const t = h.sim.spawn('main', body);
  h.sim.run();
  if (!t.done) throw new Error('main did not finish');
  return t.result as T;
}

/** Run `fn` as a task holding the tree mutex. */
function locked<T>(h: H, fn: () => T): T {
  return run(h, function* (): Co<T> {
    yield* mutex_lock(h.tree.lock);
    const r = fn();
    mutex_unlock(h.tree.lock);
    return r;
  });
}

type Req = [SvmAttrName, number][];
function set(h: H, start: number, last: number, req: Req): void {
  const attrs = req.map(([t, v]) => ({ type: A[t], value: v }));
  const r = run(h, () => amdgpu_svm_attr_set(h.tree, start, last, attrs, OPS));
  if (r) throw new Error(`set failed: ${r}`);
}

const QUERY: SvmAttrName[] = [
  'PREFERRED_LOC',
  'PREFETCH_LOC',
  'ACCESS',
  'SET_FLAGS',
  'CLR_FLAGS',
  'GRANULARITY',
];

/** GET over [start, last]: the errno and the written-back array. */
function get(
  h: H,
  start: number,
  last: number,
  types: (SvmAttrName | number)[] = QUERY,
): { r: number; out: drm_amdgpu_svm_attribute[] } {
  const out = types.map((t) => ({ type: typeof t === 'number' ? t : A[t], value: 0x5a5a }));
  const r = run(h, () => amdgpu_svm_attr_get(h.tree, start, last, out));
  return { r, out };
}

/** The full answer as a record; ACCESS reports the type the kernel wrote. */
function answer(h: H, start: number, last: number): Record<string, number | string> {
  const { r, out } = get(h, start, last);
  expect(r).toBe(0);
  const [pref, pf, acc, setf, clrf, gran] = out;
  const accName = Object.entries(A).find(([, v]) => v === acc?.type)?.[0] ?? '?';
  return {
    PREFERRED_LOC: pref?.value ?? -1,
    PREFETCH_LOC: pf?.value ?? -1,
    ACCESS: accName,
    SET_FLAGS: setf?.value ?? -1,
    CLR_FLAGS: clrf?.value ?? -1,
    GRANULARITY: gran?.value ?? -1,
  };
}

function spans(h: H): [number, number][] {
  return h.tree.tree.map((n) => [n.it_node.start, n.it_node.last]);
}

afterEach(() => {
  amdgpu_svm_attr_range_cache.should_fail = null;
});

const D = F.HOST_ACCESS | F.COHERENT;

// ---- GET ----------------------------------------------------------------------------------

describe('amdgpu_svm_attr_get: no node in the range', () => {
  it('V1 answers the defaults (access by XNACK)', () => {
    for (const xnack of [false, true]) {
      const h = setup('v1', xnack);
      expect(answer(h, 0, 9)).toEqual({
        PREFERRED_LOC: 0xffffffff,
        PREFETCH_LOC: 0xffffffff,
        ACCESS: xnack ? 'ACCESS' : 'NO_ACCESS',
        SET_FLAGS: D,
        CLR_FLAGS: ~D >>> 0,
        GRANULARITY: 9,
      });
    }
  });

  it('V3 returns -EINVAL and writes nothing', () => {
    const h = setup('v3');
    set(h, 20, 29, [['SET_FLAGS', F.GPU_RO]]);
    const { r, out } = get(h, 0, 9);
    expect(r).toBe(-EINVAL);
    expect(out.every((a) => a.value === 0x5a5a)).toBe(true);
    // One page of a node is enough; the rest of the range counts as holes.
    expect(get(h, 0, 20).r).toBe(0);
  });
});

describe.each(VARIANTS)('amdgpu_svm_attr_get merges (%s)', (v) => {
  it('one node: its attributes', () => {
    const h = setup(v);
    set(h, 0, 9, [
      ['PREFERRED_LOC', 0],
      ['PREFETCH_LOC', GPU],
      ['ACCESS_IN_PLACE', GPU],
      ['SET_FLAGS', F.GPU_RO],
      ['GRANULARITY', 4],
    ]);
    expect(answer(h, 2, 5)).toEqual({
      PREFERRED_LOC: 0,
      PREFETCH_LOC: GPU,
      ACCESS: 'ACCESS_IN_PLACE',
      SET_FLAGS: D | F.GPU_RO,
      CLR_FLAGS: ~(D | F.GPU_RO) >>> 0,
      GRANULARITY: 4,
    });
  });

  it('mixed locations become UNDEFINED; equal ones stay', () => {
    const h = setup(v);
    set(h, 0, 9, [
      ['PREFERRED_LOC', 0],
      ['PREFETCH_LOC', GPU],
    ]);
    set(h, 10, 19, [
      ['PREFERRED_LOC', GPU],
      ['PREFETCH_LOC', GPU],
    ]);
    const a = answer(h, 5, 15);
    expect([a['PREFERRED_LOC'], a['PREFETCH_LOC']]).toEqual([0xffffffff, GPU]);
  });

  it('granularity is the minimum, flags are AND (SET_FLAGS) and ~OR (CLR_FLAGS)', () => {
    const h = setup(v);
    set(h, 0, 9, [
      ['GRANULARITY', 5],
      ['SET_FLAGS', F.GPU_RO | F.GPU_EXEC],
    ]);
    set(h, 10, 19, [
      ['GRANULARITY', 3],
      ['SET_FLAGS', F.GPU_EXEC],
      ['CLR_FLAGS', F.HOST_ACCESS],
    ]);
    const a = answer(h, 0, 19);
    expect(a['GRANULARITY']).toBe(3);
    expect(a['SET_FLAGS']).toBe(F.COHERENT | F.GPU_EXEC);
    expect(a['CLR_FLAGS']).toBe(~(D | F.GPU_RO | F.GPU_EXEC) >>> 0);
  });

  it('access: ENABLE -> ACCESS, IN_PLACE -> ACCESS_IN_PLACE, mixed -> NO_ACCESS', () => {
    const h = setup(v);
    set(h, 0, 9, [['ACCESS', GPU]]);
    set(h, 10, 19, [['ACCESS_IN_PLACE', GPU]]);
    set(h, 20, 29, [
      ['NO_ACCESS', GPU],
      ['SET_FLAGS', F.GPU_RO],
    ]);
    expect(answer(h, 0, 9)['ACCESS']).toBe('ACCESS');
    expect(answer(h, 10, 19)['ACCESS']).toBe('ACCESS_IN_PLACE');
    expect(answer(h, 20, 29)['ACCESS']).toBe('NO_ACCESS');
    expect(answer(h, 5, 15)['ACCESS']).toBe('NO_ACCESS');
  });

  it('holes count as the defaults', () => {
    const h = setup(v);
    set(h, 10, 19, [
      ['PREFERRED_LOC', 0],
      ['SET_FLAGS', F.GPU_RO],
      ['GRANULARITY', 2],
    ]);
    set(h, 30, 39, [
      ['PREFERRED_LOC', 0],
      ['SET_FLAGS', F.GPU_RO],
      ['GRANULARITY', 2],
    ]);
    // Only nodes: their common values.
    expect(answer(h, 10, 19)['PREFERRED_LOC']).toBe(0);
    // A hole between them (20..29) brings in UNDEFINED and the default flags.
    const a = answer(h, 10, 39);
    expect(a['PREFERRED_LOC']).toBe(0xffffffff);
    expect(a['SET_FLAGS']).toBe(D);
    expect(a['CLR_FLAGS']).toBe(~(D | F.GPU_RO) >>> 0);
    expect(a['GRANULARITY']).toBe(2);
    // Holes before and after count too.
    expect(answer(h, 5, 19)['PREFERRED_LOC']).toBe(0xffffffff);
    expect(answer(h, 30, 45)['PREFERRED_LOC']).toBe(0xffffffff);
    // Access of a hole is the default: NONE with XNACK off (V1), ENABLE with it on (V3).
    set(h, 10, 19, [['ACCESS', GPU]]);
    expect(answer(h, 10, 25)['ACCESS']).toBe(v === 'v1' ? 'NO_ACCESS' : 'ACCESS');
  });

  it('a location above 0x7fffffff round-trips through the int32 field', () => {
    const h = setup(v);
    set(h, 0, 0, [['PREFERRED_LOC', 0x80000000]]);
    expect(answer(h, 0, 0)['PREFERRED_LOC']).toBe(0x80000000);
  });

  it('an unknown query type is -EINVAL, after the slots before it were written', () => {
    const h = setup(v);
    set(h, 0, 9, [['PREFERRED_LOC', 0]]);
    for (const bad of [8, A.ACCESS_IN_PLACE, A.NO_ACCESS]) {
      const { r, out } = get(h, 0, 9, ['PREFERRED_LOC', bad, 'GRANULARITY']);
      expect(r).toBe(-EINVAL);
      expect(out.map((a) => a.value)).toEqual([0, 0x5a5a, 0x5a5a]);
    }
  });

  it('the ACCESS query value is left as the caller gave it', () => {
    const h = setup(v);
    set(h, 0, 9, [['ACCESS_IN_PLACE', GPU]]);
    const { out } = get(h, 0, 9, ['ACCESS']);
    expect(out).toEqual([{ type: A.ACCESS_IN_PLACE, value: 0x5a5a }]);
  });
});

// ---- clear_pages --------------------------------------------------------------------------

describe.each(VARIANTS)('amdgpu_svm_attr_clear_pages (%s)', (v) => {
  function clear(h: H, s: number, l: number): number {
    return run(h, () => amdgpu_svm_attr_clear_pages(h.tree, s, l));
  }
  function oneNode(): H {
    const h = setup(v);
    set(h, 10, 29, [['SET_FLAGS', F.GPU_RO]]);
    return h;
  }

  it('start > last is -EINVAL', () => {
    expect(clear(oneNode(), 5, 4)).toBe(-EINVAL);
  });

  it.each<[string, number, number, [number, number][]]>([
    [
      'inside: split into head and a new tail',
      15,
      19,
      [
        [10, 14],
        [20, 29],
      ],
    ],
    ['over the head', 5, 14, [[15, 29]]],
    ['over the tail', 25, 35, [[10, 24]]],
    ['exactly the node', 10, 29, []],
    ['around the node', 0, 100, []],
    ['in a hole', 30, 40, [[10, 29]]],
    ['first page', 10, 10, [[11, 29]]],
    ['last page', 29, 29, [[10, 28]]],
  ])('%s', (_n, s, l, after) => {
    const h = oneNode();
    const node = h.tree.tree[0];
    expect(clear(h, s, l)).toBe(0);
    expect(spans(h)).toEqual(after);
    for (const n of h.tree.tree) expect(n.attrs.flags).toBe(D | F.GPU_RO);
    // The head (or the trimmed node) is the original node; a split's tail is new.
    if (after.length > 0 && after[0]?.[0] === 10) expect(h.tree.tree[0]).toBe(node);
    if (after.length === 0) expect(node?.freed).toBe(true);
    expect(h.sim.counters.get(ATTR_NODES_COUNTER)).toBe(after.length);
  });

  it('clears across several nodes and keeps the attributes of the rest', () => {
    const h = setup(v);
    set(h, 0, 9, [['SET_FLAGS', F.GPU_RO]]);
    set(h, 10, 19, [['SET_FLAGS', F.GPU_EXEC]]);
    set(h, 20, 29, [['GRANULARITY', 1]]);
    set(h, 40, 49, [['GRANULARITY', 2]]);
    expect(clear(h, 5, 24)).toBe(0);
    expect(spans(h)).toEqual([
      [0, 4],
      [25, 29],
      [40, 49],
    ]);
    expect(h.tree.tree.map((n) => [n.attrs.flags, n.attrs.granularity])).toEqual([
      [D | F.GPU_RO, 9],
      [D, 1],
      [D, 2],
    ]);
  });

  it('-ENOMEM when the tail of a split cannot be allocated: the node is untouched', () => {
    const h = oneNode();
    const before = h.tree.tree.map((n) => ({ ...n.it_node }));
    amdgpu_svm_attr_range_cache.should_fail = () => true;
    expect(clear(h, 15, 19)).toBe(-ENOMEM);
    expect(h.tree.tree.map((n) => ({ ...n.it_node }))).toEqual(before);
    // Trims and removals need no allocation.
    expect(clear(h, 25, 40)).toBe(0);
    expect(spans(h)).toEqual([[10, 24]]);
  });

  it('a cleared range reads back as the defaults (V1) or -EINVAL (V3)', () => {
    const h = oneNode();
    clear(h, 10, 29);
    if (v === 'v1') expect(answer(h, 10, 29)['SET_FLAGS']).toBe(D);
    else expect(get(h, 10, 29).r).toBe(-EINVAL);
  });
});

// ---- lookups ------------------------------------------------------------------------------

describe('amdgpu_svm_attr_get_bounds_locked / find_locked (V3 patch 04)', () => {
  it('an empty tree is one hole [0, ULONG_MAX]', () => {
    const h = setup('v3');
    expect(locked(h, () => amdgpu_svm_attr_get_bounds_locked(h.tree, 5))).toEqual({
      range: null,
      start_page: 0,
      last_page: AMDGPU_SVM_ULONG_MAX,
    });
  });

  it.each<[number, [number, number] | null, number, number]>([
    [0, null, 0, 9],
    [9, null, 0, 9],
    [10, [10, 19], 10, 19],
    [15, [10, 19], 10, 19],
    [19, [10, 19], 10, 19],
    [20, null, 20, 29],
    [29, null, 20, 29],
    [30, [30, 39], 30, 39],
    [40, null, 40, AMDGPU_SVM_ULONG_MAX],
    [1e12, null, 40, AMDGPU_SVM_ULONG_MAX],
  ])('page %d', (page, node, start, last) => {
    const h = setup('v3');
    set(h, 10, 19, [['SET_FLAGS', F.GPU_RO]]);
    set(h, 30, 39, [['SET_FLAGS', F.GPU_RO]]);
    const b = locked(h, () => amdgpu_svm_attr_get_bounds_locked(h.tree, page));
    const f = locked(h, () => amdgpu_svm_attr_find_locked(h.tree, page));
    expect([b.start_page, b.last_page]).toEqual([start, last]);
    expect(b.range ? [b.range.it_node.start, b.range.it_node.last] : null).toEqual(node);
    expect(f).toBe(b.range);
  });

  it('V1 lookup_page_locked: node attributes or defaults, and how far they hold', () => {
    const h = setup('v1');
    set(h, 10, 19, [['SET_FLAGS', F.GPU_RO]]);
    const at = (p: number) => locked(h, () => amdgpu_svm_attr_lookup_page_locked(h.tree, p));
    expect(at(15)).toEqual({
      attrs: { ...attr_set_default(h.svm), flags: D | F.GPU_RO },
      range_last: 19,
    });
    expect(at(5)).toEqual({ attrs: attr_set_default(h.svm), range_last: 9 });
    expect(at(20)).toEqual({ attrs: attr_set_default(h.svm), range_last: AMDGPU_SVM_ULONG_MAX });
  });

  it('the _locked lookups assert the tree mutex', () => {
    const h = setup('v3');
    h.sim.spawn('main', function* (): Co {
      amdgpu_svm_attr_find_locked(h.tree, 0);
    });
    expect(() => h.sim.run()).toThrow(Trap);
  });
});

describe('devmem_possible / prefer_vram (V3 patch 04)', () => {
  const U = -1;
  it.each<[string, number, number, boolean, boolean]>([
    ['undefined / undefined', U, U, true, false],
    ['preferred sysmem', 0, U, false, false],
    ['preferred sysmem, prefetch gpu', 0, GPU, false, false],
    ['preferred gpu', GPU, U, true, true],
    ['prefetch gpu', U, GPU, true, true],
    ['prefetch sysmem', U, 0, true, false],
  ])('%s', (_n, preferred_loc, prefetch_loc, devmem, vram) => {
    const h = setup('v3');
    const a: amdgpu_svm_attrs = { ...attr_set_default(h.svm), preferred_loc, prefetch_loc };
    expect(amdgpu_svm_attr_devmem_possible(h.svm, a)).toBe(devmem);
    expect(amdgpu_svm_attr_prefer_vram(h.svm, a)).toBe(vram);
    const apu = { ...h.svm, apu_prefer_gtt: true };
    expect(amdgpu_svm_attr_devmem_possible(apu, a)).toBe(false);
    expect(amdgpu_svm_attr_prefer_vram(apu, a)).toBe(false);
  });
});

describe('fault-path insert (V3 patch 11 via range_alloc + range_insert_locked)', () => {
  it('a synthesised node fills part of a hole and is found by get_bounds', () => {
    const h = setup('v3');
    set(h, 0, 9, [['SET_FLAGS', F.GPU_RO]]);
    const node = locked(h, () => {
      const b = amdgpu_svm_attr_get_bounds_locked(h.tree, 600);
      expect([b.start_page, b.last_page]).toEqual([10, AMDGPU_SVM_ULONG_MAX]);
      const attrs = { ...attr_set_default(h.svm), preferred_loc: 0 };
      const r = amdgpu_svm_attr_range_alloc(512, 1023, attrs);
      if (!r) throw new Error('alloc');
      amdgpu_svm_attr_range_insert_locked(h.tree, r);
      return r;
    });
    expect(spans(h)).toEqual([
      [0, 9],
      [512, 1023],
    ]);
    expect(locked(h, () => amdgpu_svm_attr_get_bounds_locked(h.tree, 600)).range).toBe(node);
    expect(locked(h, () => amdgpu_svm_attr_get_bounds_locked(h.tree, 100))).toMatchObject({
      start_page: 10,
      last_page: 511,
    });
    expect(answer(h, 512, 1023)['PREFERRED_LOC']).toBe(0);
  });

  it('an overlapping insert traps bug; inserting a freed node traps use-after-free', () => {
    for (const [kind, body] of [
      [
        'bug',
        (h: H) => {
          const r = amdgpu_svm_attr_range_alloc(5, 12, attr_set_default(h.svm));
          if (r) amdgpu_svm_attr_range_insert_locked(h.tree, r);
        },
      ],
      [
        'use-after-free',
        (h: H) => {
          const r = amdgpu_svm_attr_range_alloc(50, 52, attr_set_default(h.svm));
          if (!r) return;
          attr_range_free(r);
          amdgpu_svm_attr_range_insert_locked(h.tree, r);
        },
      ],
    ] as const) {
      const h = setup('v3');
      set(h, 10, 19, [['SET_FLAGS', F.GPU_RO]]);
      h.sim.spawn('main', function* (): Co {
        yield* mutex_lock(h.tree.lock);
        body(h);
        mutex_unlock(h.tree.lock);
      });
      let trap: unknown = null;
      try {
        h.sim.run();
      } catch (e) {
        trap = e;
      }
      expect((trap as Trap).kind).toBe(kind);
    }
  });
});

describe('tree lifecycle and trace', () => {
  it.each(VARIANTS)('%s: destroy frees every node', (v) => {
    const h = setup(v);
    set(h, 0, 9, [['SET_FLAGS', F.GPU_RO]]);
    set(h, 20, 29, [['SET_FLAGS', F.GPU_RO]]);
    const all = [...h.tree.tree];
    run(h, () => amdgpu_svm_attr_tree_destroy(h.tree));
    expect(h.tree.tree).toEqual([]);
    expect(all.every((n) => n.freed)).toBe(true);
    expect(h.sim.counters.get(ATTR_NODES_COUNTER)).toBe(0);
  });

  it('set, get and clear each leave one event, in order', () => {
    const h = setup('v1');
    set(h, 0, 9, [['ACCESS', GPU]]);
    get(h, 0, 9);
    run(h, () => amdgpu_svm_attr_clear_pages(h.tree, 0, 4));
    const ev = h.sim.trace
      .events()
      .filter((e) => e.kind.startsWith('svm.attr.'))
      .map((e) => `${e.kind} ${String(e['start'])}-${String(e['last'])}`);
    expect(ev).toEqual([
      'svm.attr.change 0-9',
      'svm.attr.set 0-9',
      'svm.attr.get 0-9',
      'svm.attr.clear 0-4',
    ]);
  });

  it('defaults follow the svm: V1 XNACK off has access NONE, V3 ENABLE', () => {
    expect(attr_set_default(setup('v1').svm).access).toBe(AMDGPU_SVM_ACCESS_NONE);
    expect(attr_set_default(setup('v3').svm).access).toBe(AMDGPU_SVM_ACCESS_ENABLE);
  });
});

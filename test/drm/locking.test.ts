/**
 * The lock rules of drm_gpusvm (spec drm-gpusvm.md §5) as lockdep and assertions see them:
 * notifier_lock primed as taken under reclaim, the driver lock asserted by find_or_insert
 * and range_remove, and the notifier-side helpers asserting notifier_lock for write.
 */
import { describe, expect, it } from 'vitest';
import {
  Mutex,
  RwSemaphore,
  down_read,
  down_write,
  might_alloc,
  mutex_lock,
  mutex_unlock,
  up_read,
  up_write,
  type Co,
} from '../../src/sim/index.js';
import {
  MMU_NOTIFY_UNMAP,
  MmuNotifierRange,
  cpu_write_range,
  reclaim,
} from '../../src/mm/index.js';
import {
  drm_gpusvm,
  drm_gpusvm_driver_set_lock,
  drm_gpusvm_init,
  drm_gpusvm_range_find_or_insert,
  drm_gpusvm_range_pages_valid,
  drm_gpusvm_range_remove,
  drm_gpusvm_range_set_unmapped,
  drm_gpusvm_range_unmap_pages,
  type drm_gpusvm_range,
} from '../../src/drm/index.js';
import { locked, machine, mmap, run, runTrap, svm_init, type Svm } from './fixture.js';

const B = 0x10000;

function* a_range(svm: Svm, mm_start = B): Co<drm_gpusvm_range> {
  return (yield* locked(svm, () =>
    drm_gpusvm_range_find_or_insert(svm.gpusvm, mm_start, 0, 2 ** 36, {}),
  )) as drm_gpusvm_range;
}

describe('drm_gpusvm locking', () => {
  it('an allocation under notifier_lock is a reclaim-lock report (primed at init)', () => {
    const m = machine();
    const t = runTrap(m, function* () {
      const svm = svm_init(m);
      yield* down_read(svm.gpusvm.notifier_lock);
      might_alloc('GFP_KERNEL');
      up_read(svm.gpusvm.notifier_lock);
    });
    expect(t.kind).toBe('reclaim-lock');
    expect(t.message).toContain('drm_gpusvm->notifier_lock');
  });

  it('a driver lock taken in the invalidate callback is reported once reclaim runs it', () => {
    const m = machine();
    const t = runTrap(m, function* () {
      const lock = new Mutex('bad_driver_lock');
      const g = new drm_gpusvm();
      const ops = {
        *invalidate() {
          yield* mutex_lock(lock);
          mutex_unlock(lock);
        },
      };
      expect(drm_gpusvm_init(g, 'bad', m.drm, m.mm, 0, 2 ** 36, 1 << 17, ops, [16, 1], 2)).toBe(0);
      drm_gpusvm_driver_set_lock(g, lock);
      yield* mmap(m.mm, 16, { addr: B });
      expect(yield* cpu_write_range(m.mm, B, 16, 1)).toBe(0);
      yield* mutex_lock(lock);
      yield* drm_gpusvm_range_find_or_insert(g, B, 0, 2 ** 36, {}); // allocates under it
      mutex_unlock(lock);
      yield* reclaim(m.mm, B, 16); // reclaim -> notifier -> notifier_lock -> driver lock
    });
    expect(t.kind).toBe('reclaim-lock');
    expect(t.details['cycle']).toContain('bad_driver_lock');
  });

  it('find_or_insert without the driver lock: assertion', () => {
    const m = machine();
    const t = runTrap(m, function* () {
      const svm = svm_init(m);
      yield* mmap(m.mm, 16, { addr: B });
      yield* drm_gpusvm_range_find_or_insert(svm.gpusvm, B, 0, 2 ** 36, {});
    });
    expect(t.kind).toBe('bug');
    expect(t.message).toContain('lockdep_assert_held(driver_svm_lock, write)');
  });

  it('an rw_semaphore driver lock must be held for write, not read', () => {
    const m = machine();
    const t = runTrap(m, function* () {
      const g = new drm_gpusvm();
      const lock = new RwSemaphore('vm->lock');
      expect(
        drm_gpusvm_init(g, 'x', m.drm, m.mm, 0, 2 ** 36, 1 << 17, { *invalidate() {} }, [1], 1),
      ).toBe(0);
      drm_gpusvm_driver_set_lock(g, lock);
      yield* mmap(m.mm, 16, { addr: B });
      yield* down_write(lock);
      const r = (yield* drm_gpusvm_range_find_or_insert(g, B, 0, 2 ** 36, {})) as drm_gpusvm_range;
      up_write(lock);
      yield* down_read(lock);
      yield* drm_gpusvm_range_remove(g, r);
      up_read(lock);
    });
    expect(t.kind).toBe('bug');
    expect(t.message).toContain('lockdep_assert_held(vm->lock, write)');
  });

  it('the driver lock may be set only once', () => {
    const m = machine();
    const t = runTrap(m, function* () {
      const svm = svm_init(m);
      drm_gpusvm_driver_set_lock(svm.gpusvm, new Mutex('other'));
    });
    expect(t.kind).toBe('bug');
  });

  it('notifier-side helpers assert notifier_lock for write; pages_valid asserts it held', () => {
    const cases: [string, (svm: Svm, r: drm_gpusvm_range) => Co][] = [
      [
        'unmap_pages in_notifier',
        (svm, r) => drm_gpusvm_range_unmap_pages(svm.gpusvm, r, { in_notifier: true }),
      ],
      [
        'set_unmapped',
        function* (_svm, r) {
          drm_gpusvm_range_set_unmapped(
            r,
            new MmuNotifierRange(r.gpusvm.mm as never, 0, 1, MMU_NOTIFY_UNMAP, 1),
          );
        },
      ],
      [
        'range_pages_valid',
        function* (svm, r) {
          drm_gpusvm_range_pages_valid(svm.gpusvm, r);
        },
      ],
    ];
    for (const [name, f] of cases) {
      const m = machine();
      const t = runTrap(m, function* () {
        const svm = svm_init(m);
        yield* mmap(m.mm, 16, { addr: B });
        const r = yield* a_range(svm);
        yield* down_read(svm.gpusvm.notifier_lock); // read is not enough for the first two
        if (name === 'range_pages_valid') up_read(svm.gpusvm.notifier_lock);
        yield* f(svm, r);
      });
      expect([name, t.kind]).toEqual([name, 'bug']);
    }
  });

  it('the locking of one fault is clean under lockdep (driver lock, mmap_lock, notifier_lock)', () => {
    const m = machine();
    run(m, function* () {
      const svm = svm_init(m);
      yield* mmap(m.mm, 16, { addr: B });
      const r = yield* a_range(svm);
      expect(r).toBeDefined();
      yield* locked(svm, () => drm_gpusvm_range_remove(svm.gpusvm, r));
    });
  });
});

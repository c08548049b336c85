/** The dmirror migration ioctls: MIGRATE_TO_DEV, MIGRATE_TO_SYS, RELEASE (lib/test_hmm.c). */
import { EINVAL, ENOMEM, mutex_lock, mutex_unlock, type Co } from '../../src/sim/index.js';
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  MigrateVma,
  VM_READ,
  VM_WRITE,
  alloc_page,
  folio_trylock,
  is_zone_device_page,
  migrate_device_finalize,
  migrate_device_pages,
  migrate_device_range,
  migrate_pfn,
  migrate_pfn_to_page,
  migrate_vma_finalize,
  migrate_vma_pages,
  migrate_vma_setup,
  mmap_read_lock,
  mmap_read_unlock,
  mmget_not_zero,
  mmput,
  vma_lookup,
} from '../../src/mm/index.js';

import {
  devmem_fault_alloc_and_copy,
  dmirror_do_read,
  type Dmirror,
  type DmirrorCmd,
  type DmirrorDevice,
} from './dmirror_core.js';

/** dmirror_migrate_alloc_and_copy. */
function dmirror_migrate_alloc_and_copy(args: MigrateVma, d: Dmirror): void {
  const sys = d.mm.sys;
  for (let i = 0; i < args.npages; i++) {
    const src = args.src[i] as number;
    if (!(src & MIGRATE_PFN_MIGRATE)) continue;
    const spage = migrate_pfn_to_page(src);
    if (spage >= 0 && is_zone_device_page(sys, spage)) continue;
    const dpage = d.mdevice.alloc_page();
    if (dpage < 0) continue;
    sys.phys.write(dpage, spage >= 0 ? sys.phys.read(spage) : 0);
    d.mdevice.owner_of.set(dpage, d);
    let dst = migrate_pfn(dpage);
    if (src & MIGRATE_PFN_WRITE || (spage < 0 && args.vma.vm_flags & VM_WRITE))
      dst += MIGRATE_PFN_WRITE;
    args.dst[i] = dst;
  }
}

/** dmirror_migrate_finalize_and_map: mirror the new device pages. */
function* dmirror_migrate_finalize_and_map(args: MigrateVma, d: Dmirror): Co {
  yield* mutex_lock(d.mutex);
  for (let i = 0; i < args.npages; i++) {
    if (!((args.src[i] as number) & MIGRATE_PFN_MIGRATE)) continue;
    const dpage = migrate_pfn_to_page(args.dst[i] as number);
    if (dpage < 0) continue;
    d.pt.set(args.start + i, {
      pfn: dpage,
      write: ((args.dst[i] as number) & MIGRATE_PFN_WRITE) !== 0,
    });
  }
  mutex_unlock(d.mutex);
}

/** Walk [start, end) in 64-page pieces of readable vmas, as the migrate ioctls do. */
function* for_each_migrate_chunk(
  d: Dmirror,
  start: number,
  end: number,
  body: (vma: NonNullable<ReturnType<typeof vma_lookup>>, addr: number, next: number) => Co<number>,
): Co<number> {
  if (!mmget_not_zero(d.mm)) return -EINVAL;
  yield* mmap_read_lock(d.mm);
  let ret = 0;
  for (let addr = start; addr < end;) {
    const vma = vma_lookup(d.mm, addr);
    if (!vma || !(vma.vm_flags & VM_READ)) {
      ret = -EINVAL;
      break;
    }
    const next = Math.min(end, addr + 64, vma.vm_end);
    ret = yield* body(vma, addr, next);
    if (ret) break;
    addr = next;
  }
  mmap_read_unlock(d.mm);
  yield* mmput(d.mm);
  return ret;
}

/** HMM_DMIRROR_MIGRATE_TO_DEV; then reads the migrated data back into cmd.mirror. */
export function* dmirror_migrate_to_device(d: Dmirror, cmd: DmirrorCmd): Co<number> {
  const end = cmd.addr + cmd.npages;
  cmd.cpages = 0;
  const ret = yield* for_each_migrate_chunk(d, cmd.addr, end, function* (vma, addr, next) {
    const args = new MigrateVma({
      vma,
      start: addr,
      end: next,
      pgmap_owner: d.mdevice,
      flags: MIGRATE_VMA_SELECT_SYSTEM,
    });
    const r = yield* migrate_vma_setup(args);
    if (r) return r;
    dmirror_migrate_alloc_and_copy(args, d);
    yield* migrate_vma_pages(args);
    yield* dmirror_migrate_finalize_and_map(args, d);
    migrate_vma_finalize(args);
    return 0;
  });
  if (ret) return ret;
  yield* mutex_lock(d.mutex);
  const r = dmirror_do_read(d, cmd, cmd.addr, end);
  mutex_unlock(d.mutex);
  return r;
}

/** HMM_DMIRROR_MIGRATE_TO_SYS. */
export function* dmirror_migrate_to_system(d: Dmirror, cmd: DmirrorCmd): Co<number> {
  cmd.cpages = 0;
  return yield* for_each_migrate_chunk(
    d,
    cmd.addr,
    cmd.addr + cmd.npages,
    function* (vma, addr, next) {
      const args = new MigrateVma({
        vma,
        start: addr,
        end: next,
        pgmap_owner: d.mdevice,
        flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
      });
      const r = yield* migrate_vma_setup(args);
      if (r) return r;
      devmem_fault_alloc_and_copy(args, d, d.mm.sys);
      yield* migrate_vma_pages(args);
      for (let i = 0; i < args.npages; i++) {
        const s = args.src[i] as number;
        if (s & MIGRATE_PFN_VALID && s & MIGRATE_PFN_MIGRATE) cmd.cpages++;
      }
      migrate_vma_finalize(args);
      return 0;
    },
  );
}

/** HMM_DMIRROR_RELEASE: evict every device page to system memory (dmirror_device_evict_chunk). */
export function* dmirror_release_devmem(mdevice: DmirrorDevice): Co<number> {
  const sys = mdevice.sys;
  const n = mdevice.region.npages;
  const src = new Float64Array(n);
  const dst = new Float64Array(n);
  yield* migrate_device_range(sys, src, mdevice.region.base, n);
  for (let i = 0; i < n; i++) {
    const spage = migrate_pfn_to_page(src[i] as number);
    if (spage < 0 || !((src[i] as number) & MIGRATE_PFN_MIGRATE)) continue;
    const dpage = alloc_page(sys, 'GFP_KERNEL', sys.phys.read(spage));
    if (dpage < 0) return -ENOMEM;
    folio_trylock(sys, dpage);
    dst[i] = migrate_pfn(dpage);
  }
  yield* migrate_device_pages(sys, src, dst, n);
  migrate_device_finalize(sys, src, dst, n);
  return 0;
}

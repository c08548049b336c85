/**
 * The dmirror test driver's devices and open files (after lib/test_hmm.c): device-private
 * memory with its migrate_to_ram, the mirror page table and its interval notifier. The
 * ioctls are in dmirror.ts and dmirror_migrate.ts; tests import dmirror.ts.
 */
import { ENOENT, Mutex, mutex_lock, mutex_unlock, type Co } from '../../src/sim/index.js';
import {
  DevPagemap,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MMU_NOTIFY_MIGRATE,
  MigrateVma,
  MmuIntervalNotifier,
  ULONG_MAX_PAGES,
  VM_FAULT_SIGBUS,
  alloc_page,
  folio_trylock,
  is_device_private_page,
  memremap_pages,
  migrate_pfn,
  migrate_pfn_to_page,
  migrate_vma_finalize,
  migrate_vma_pages,
  migrate_vma_setup,
  mmu_interval_notifier_insert,
  mmu_interval_notifier_remove,
  mmu_interval_set_seq,
  mmu_notifier_range_blockable,
  type MmStruct,
  type MmSystem,
  type MmuIntervalNotifierOps,
  type PhysRegion,
  type VmFault,
} from '../../src/mm/index.js';

// test_hmm_uapi.h HMM_DMIRROR_PROT_*
export const PROT_ERROR = 0xff;
export const PROT_NONE = 0x00;
export const PROT_READ = 0x01;
export const PROT_WRITE = 0x02;
export const PROT_ZERO = 0x10;
export const PROT_DEV_PRIVATE_LOCAL = 0x20;
export const PROT_DEV_PRIVATE_REMOTE = 0x30;

/** struct hmm_dmirror_cmd (addr in pages; mirror = the user buffer `ptr`). */
export interface DmirrorCmd {
  addr: number;
  npages: number;
  mirror: Uint32Array;
  cpages: number;
  faults: number;
}

/** struct dmirror_device: a device with device-private memory. */
export class DmirrorDevice {
  readonly pgmap: DevPagemap;
  readonly region: PhysRegion;
  /** page->zone_device_data: the mirror that migrated each device frame. */
  readonly owner_of = new Map<number, Dmirror>();
  calloc = 0;
  cfree = 0;
  /** HMM_DMIRROR_FLAG_FAIL_ALLOC-like switch. */
  fail_alloc = false;

  constructor(
    readonly sys: MmSystem,
    readonly name: string,
    npages = 8192,
  ) {
    this.pgmap = new DevPagemap(
      'MEMORY_DEVICE_PRIVATE',
      {
        migrate_to_ram: (vmf) => dmirror_devmem_fault(this, vmf),
        page_free: (pfn) => {
          this.cfree++;
          this.owner_of.delete(pfn);
        },
      },
      this,
      `${name}.devmem`,
    );
    this.region = memremap_pages(sys, this.pgmap, npages);
  }

  /** dmirror_devmem_alloc_page: a locked device frame, or -1. */
  alloc_page(): number {
    if (this.fail_alloc) return -1;
    const pfn = this.sys.phys.alloc(this.region, 0);
    if (pfn < 0) return -1;
    folio_trylock(this.sys, pfn);
    this.calloc++;
    return pfn;
  }
}

/** struct dmirror: one open file of a device, mirroring one mm. */
export class Dmirror {
  /** The mirror page table: vpn -> frame and write permission (the xarray). */
  readonly pt = new Map<number, { pfn: number; write: boolean }>();
  readonly mutex = new Mutex('dmirror->mutex');
  readonly notifier = new MmuIntervalNotifier('dmirror');
  constructor(
    readonly mdevice: DmirrorDevice,
    readonly mm: MmStruct,
  ) {}
}

/** dmirror_interval_invalidate. */
const dmirror_min_ops: MmuIntervalNotifierOps = {
  *invalidate(mni, range, cur_seq): Co<boolean> {
    const d = mirror_of.get(mni);
    if (!d) return true;
    // Its own migrations are handled by the migration itself.
    if (range.event === MMU_NOTIFY_MIGRATE && range.owner === d.mdevice) return true;
    if (!mmu_notifier_range_blockable(range)) return false;
    yield* mutex_lock(d.mutex);
    mmu_interval_set_seq(mni, cur_seq);
    for (const vpn of [...d.pt.keys()]) if (vpn >= range.start && vpn < range.end) d.pt.delete(vpn);
    mutex_unlock(d.mutex);
    return true;
  },
};
const mirror_of = new WeakMap<MmuIntervalNotifier, Dmirror>();

/** dmirror_fops_open. */
export function* dmirror_open(mdevice: DmirrorDevice, mm: MmStruct): Co<Dmirror> {
  const d = new Dmirror(mdevice, mm);
  mirror_of.set(d.notifier, d);
  const ret = yield* mmu_interval_notifier_insert(
    d.notifier,
    mm,
    0,
    ULONG_MAX_PAGES,
    dmirror_min_ops,
  );
  if (ret) throw new Error(`dmirror_open: ${ret}`);
  return d;
}

/** dmirror_fops_release. */
export function* dmirror_close(d: Dmirror): Co {
  yield* mmu_interval_notifier_remove(d.notifier);
  d.pt.clear();
}

/** dmirror_do_read: copy mirrored pages to the buffer; -ENOENT at the first unmirrored one. */
export function dmirror_do_read(d: Dmirror, cmd: DmirrorCmd, start: number, end: number): number {
  const phys = d.mm.sys.phys;
  for (let vpn = start; vpn < end; vpn++) {
    const e = d.pt.get(vpn);
    if (!e) return -ENOENT;
    cmd.mirror[vpn - cmd.addr] = phys.read(e.pfn);
    cmd.cpages++;
  }
  return 0;
}

/** dmirror_devmem_fault_alloc_and_copy: device frames back to system frames. */
export function devmem_fault_alloc_and_copy(
  args: MigrateVma,
  d: Dmirror | undefined,
  sys: MmSystem,
): number {
  for (let i = 0; i < args.npages; i++) {
    const src = args.src[i] as number;
    const spage = migrate_pfn_to_page(src);
    if (spage < 0 || !(src & MIGRATE_PFN_MIGRATE)) continue;
    if (!is_device_private_page(sys, spage)) throw new Error('WARN: not a device page');
    const dpage = alloc_page(sys, 'GFP_KERNEL', sys.phys.read(spage));
    if (dpage < 0) continue;
    folio_trylock(sys, dpage);
    d?.pt.delete(args.start + i);
    args.dst[i] = migrate_pfn(dpage) + (src & MIGRATE_PFN_WRITE);
  }
  return 0;
}

/** dmirror_devmem_fault: the pagemap's migrate_to_ram (CPU fault on a device page). */
export function* dmirror_devmem_fault(mdevice: DmirrorDevice, vmf: VmFault): Co<number> {
  const d = mdevice.owner_of.get(vmf.page);
  const args = new MigrateVma({
    vma: vmf.vma,
    start: vmf.address,
    end: vmf.address + 1,
    pgmap_owner: mdevice,
    flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
    fault_page: vmf.page,
  });
  if (yield* migrate_vma_setup(args)) return VM_FAULT_SIGBUS;
  devmem_fault_alloc_and_copy(args, d, mdevice.sys);
  yield* migrate_vma_pages(args);
  migrate_vma_finalize(args);
  return 0;
}

/**
 * A mirror device on the model, after lib/test_hmm.c (behaviour only; own code): each open
 * "fd" mirrors one mm through an mmu interval notifier over the whole address space and a
 * software page table filled by hmm_range_fault; a device owns device-private memory
 * (a dev_pagemap) with migrate_to_ram, and can migrate to and from it, snapshot the CPU
 * page table and evict everything (RELEASE).
 *
 * Addresses are page numbers; each page holds one 32-bit value, so the mirror buffer is a
 * Uint32Array with one value per page.
 */
import {
  EBUSY,
  EINVAL,
  ENOENT,
  getSim,
  mutex_lock,
  mutex_unlock,
  type Co,
} from '../../src/sim/index.js';
import {
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  HMM_RANGE_DEFAULT_TIMEOUT,
  HmmRange,
  MmuIntervalNotifier,
  hmm_pfn_to_pfn,
  hmm_range_fault,
  is_device_private_page,
  is_zero_pfn,
  mmap_read_lock,
  mmap_read_unlock,
  mmget_not_zero,
  mmput,
  mmu_interval_notifier_insert,
  mmu_interval_notifier_remove,
  mmu_interval_read_begin,
  mmu_interval_read_retry,
  mmu_interval_set_seq,
  page_pgmap,
  type MmuIntervalNotifierOps,
  type MmuNotifierRange,
} from '../../src/mm/index.js';

import { dmirror_do_read, type Dmirror, type DmirrorCmd } from './dmirror_core.js';
import {
  PROT_DEV_PRIVATE_LOCAL,
  PROT_DEV_PRIVATE_REMOTE,
  PROT_ERROR,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  PROT_ZERO,
} from './dmirror_core.js';

export * from './dmirror_core.js';
export * from './dmirror_migrate.js';

/** dmirror_do_fault: store the snapshot in the mirror page table (mutex held). */
function dmirror_do_fault(d: Dmirror, range: HmmRange): number {
  for (let i = 0; i < range.end - range.start; i++) {
    const e = range.hmm_pfns[i] as number;
    if (e & HMM_PFN_ERROR || !(e & HMM_PFN_VALID)) throw new Error('WARN: invalid pfn after fault');
    d.pt.set(range.start + i, { pfn: hmm_pfn_to_pfn(e), write: (e & HMM_PFN_WRITE) !== 0 });
  }
  return 0;
}

/** dmirror_range_fault: the hmm_range_fault retry loop. */
function* dmirror_range_fault(d: Dmirror, range: HmmRange): Co<number> {
  const sim = getSim();
  const timeout = sim.now() + HMM_RANGE_DEFAULT_TIMEOUT;
  for (;;) {
    if (sim.now() > timeout) return -EBUSY;
    range.notifier_seq = yield* mmu_interval_read_begin(range.notifier);
    yield* mmap_read_lock(d.mm);
    const ret = yield* hmm_range_fault(range);
    mmap_read_unlock(d.mm);
    if (ret === -EBUSY) continue;
    if (ret) return ret;
    yield* mutex_lock(d.mutex);
    if (mmu_interval_read_retry(range.notifier, range.notifier_seq)) {
      mutex_unlock(d.mutex);
      continue;
    }
    break;
  }
  const ret = dmirror_do_fault(d, range);
  mutex_unlock(d.mutex);
  return ret;
}

/** dmirror_fault: hmm_range_fault in chunks of 64 pages. */
export function* dmirror_fault(d: Dmirror, start: number, end: number, write: boolean): Co<number> {
  if (!mmget_not_zero(d.mm)) return 0;
  let ret = 0;
  for (let addr = start; addr < end;) {
    const next = Math.min(addr + 64, end);
    const range = new HmmRange({
      notifier: d.notifier,
      start: addr,
      end: next,
      default_flags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
      dev_private_owner: d.mdevice,
    });
    ret = yield* dmirror_range_fault(d, range);
    if (ret) break;
    addr = next;
  }
  yield* mmput(d.mm);
  return ret;
}

function dmirror_do_write(d: Dmirror, cmd: DmirrorCmd, start: number, end: number): number {
  const phys = d.mm.sys.phys;
  for (let vpn = start; vpn < end; vpn++) {
    const e = d.pt.get(vpn);
    if (!e || !e.write) return -ENOENT;
    phys.write(e.pfn, cmd.mirror[vpn - cmd.addr] as number);
    cmd.cpages++;
  }
  return 0;
}

function* dmirror_rw(d: Dmirror, cmd: DmirrorCmd, write: boolean): Co<number> {
  const end = cmd.addr + cmd.npages;
  let start = cmd.addr;
  let ret: number;
  for (;;) {
    yield* mutex_lock(d.mutex);
    ret = write ? dmirror_do_write(d, cmd, start, end) : dmirror_do_read(d, cmd, start, end);
    mutex_unlock(d.mutex);
    if (ret !== -ENOENT) break;
    start = cmd.addr + cmd.cpages;
    ret = yield* dmirror_fault(d, start, end, write);
    if (ret) break;
    cmd.faults++;
  }
  return ret;
}

/** HMM_DMIRROR_READ: the device reads the pages into cmd.mirror. */
export function* dmirror_read(d: Dmirror, cmd: DmirrorCmd): Co<number> {
  cmd.cpages = 0;
  cmd.faults = 0;
  return yield* dmirror_rw(d, cmd, false);
}

/** HMM_DMIRROR_WRITE: the device writes cmd.mirror into the pages. */
export function* dmirror_write(d: Dmirror, cmd: DmirrorCmd): Co<number> {
  cmd.cpages = 0;
  cmd.faults = 0;
  return yield* dmirror_rw(d, cmd, true);
}

/** dmirror_mkentry: one SNAPSHOT byte. */
function dmirror_mkentry(d: Dmirror, e: number): number {
  if (e & HMM_PFN_ERROR) return PROT_ERROR;
  if (!(e & HMM_PFN_VALID)) return PROT_NONE;
  const sys = d.mm.sys;
  const pfn = hmm_pfn_to_pfn(e);
  let perm: number;
  if (is_device_private_page(sys, pfn)) {
    perm =
      page_pgmap(sys, pfn)?.owner === d.mdevice ? PROT_DEV_PRIVATE_LOCAL : PROT_DEV_PRIVATE_REMOTE;
  } else if (is_zero_pfn(pfn)) {
    perm = PROT_ZERO;
  } else {
    perm = PROT_NONE;
  }
  return perm | (e & HMM_PFN_WRITE ? PROT_WRITE : PROT_READ);
}

/** HMM_DMIRROR_SNAPSHOT: per-page protection bytes without faulting. */
export function* dmirror_snapshot(d: Dmirror, cmd: DmirrorCmd, perm: Uint8Array): Co<number> {
  cmd.cpages = 0;
  const snap: MmuIntervalNotifierOps = {
    *invalidate(mni, _range: MmuNotifierRange, cur_seq) {
      yield* mutex_lock(d.mutex);
      mmu_interval_set_seq(mni, cur_seq);
      mutex_unlock(d.mutex);
      return true;
    },
  };
  if (!mmget_not_zero(d.mm)) return -EINVAL;
  let ret = 0;
  for (let addr = cmd.addr; addr < cmd.addr + cmd.npages && !ret;) {
    const next = Math.min(addr + 64, cmd.addr + cmd.npages);
    const mni = new MmuIntervalNotifier('dmirror-snapshot');
    ret = yield* mmu_interval_notifier_insert(mni, d.mm, addr, next - addr, snap);
    const range = new HmmRange({
      notifier: mni,
      start: addr,
      end: next,
      dev_private_owner: d.mdevice,
    });
    for (;;) {
      if (ret) break;
      range.notifier_seq = yield* mmu_interval_read_begin(mni);
      yield* mmap_read_lock(d.mm);
      ret = yield* hmm_range_fault(range);
      mmap_read_unlock(d.mm);
      if (ret === -EBUSY) {
        ret = 0;
        continue;
      }
      if (ret) break;
      yield* mutex_lock(d.mutex);
      if (mmu_interval_read_retry(mni, range.notifier_seq)) {
        mutex_unlock(d.mutex);
        continue;
      }
      for (let i = 0; i < next - addr; i++)
        perm[addr - cmd.addr + i] = dmirror_mkentry(d, range.hmm_pfns[i] as number);
      mutex_unlock(d.mutex);
      cmd.cpages += next - addr;
      break;
    }
    yield* mmu_interval_notifier_remove(mni);
    addr = next;
  }
  yield* mmput(d.mm);
  return ret;
}

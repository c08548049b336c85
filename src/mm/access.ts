/**
 * CPU accesses of a user thread (the load/store side of arch/x86/mm/fault.c) and the
 * oracle's view of the CPU page table.
 *
 * An access that its pte allows reaches the frame directly and atomically (no lock, as a
 * load or store). Otherwise the thread faults: mmap_lock for read, the vma looked up again
 * (lock_mm_and_find_vma), access_error (SIGSEGV), handle_mm_fault, then the access is
 * retried. Results: 0 (or the value read) on success, -SIGSEGV, -SIGBUS, or -SIGKILL when
 * the fault ran out of memory (SIM: the faulting task is the OOM victim).
 * The thread may be preempted at each fault and every 512 pages of a range.
 */
import { getSim } from '../sim/scheduler.js';
import { cond_resched } from '../sim/locks.js';
import type { Co } from '../sim/task.js';
import { trap } from '../sim/trap.js';
import {
  FAULT_FLAG_WRITE,
  PTRS_PER_PTE,
  SIGBUS,
  SIGKILL,
  SIGSEGV,
  VM_ACCESS_FLAGS,
  VM_FAULT_ERROR,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_WRITE,
} from './consts.js';
import { do_anonymous_page, handle_mm_fault, pte_allows } from './fault.js';
import { mmap_read_lock, mmap_read_unlock } from './mm_struct.js';
import type { MmStruct, VmAreaStruct } from './mm_types.js';
import {
  PTE_DEVICE_PRIVATE,
  PTE_KIND_MASK,
  PTE_MIGRATION,
  PTE_NONE,
  PTE_PRESENT,
  PTE_SWAP,
  PTE_WRITE,
  type PteKind,
} from './pgtable.js';
import { find_vma, vma_is_anonymous, vma_lookup } from './vma.js';

/** Consecutive faults on one page before the access is declared a livelock. */
export const CPU_FAULT_RETRY_LIMIT = 100_000;

/** Where a failed access stopped. */
export interface CpuFaultInfo {
  vpn: number;
}

/** arch/x86/mm/fault.c access_error. */
function access_error(vma: VmAreaStruct, write: boolean): boolean {
  if (write) return !(vma.vm_flags & VM_WRITE);
  return !(vma.vm_flags & VM_ACCESS_FLAGS);
}

/**
 * The page fault of an access at `addr`: vm_fault_t. SIM: when the access runs on over
 * further untouched pages of the same anonymous vma and 2 MiB block (`end`), their faults
 * are taken under the same mmap_lock hold (do_anonymous_page for each, each counted as a
 * fault), which only removes lock round trips that nothing could observe between them.
 */
function* fault_in(mm: MmStruct, addr: number, end: number, write: boolean): Co<number> {
  yield* mmap_read_lock(mm);
  const vma = vma_lookup(mm, addr);
  let ret = VM_FAULT_SIGSEGV;
  if (vma && !access_error(vma, write)) {
    const hi = Math.min(end, vma.vm_end, (Math.floor(addr / PTRS_PER_PTE) + 1) * PTRS_PER_PTE);
    let a = addr;
    let failed = 0;
    if (write && vma_is_anonymous(vma)) {
      while (a < hi && mm.pgt.desc(a) === PTE_NONE) {
        failed = do_anonymous_page(vma, a, true) & VM_FAULT_ERROR;
        if (failed) break;
        a++;
      }
      getSim().account('cpu_faults', a - addr + (failed ? 1 : 0), 'cpu_fault');
    }
    // After progress, a later failure is met again, alone, when the access gets there.
    if (a > addr) ret = 0;
    else if (failed) ret = failed;
    else ret = yield* handle_mm_fault(vma, addr, write ? FAULT_FLAG_WRITE : 0);
  }
  mmap_read_unlock(mm);
  return ret;
}

function fault_signal(ret: number): number {
  if (ret & VM_FAULT_OOM) return -SIGKILL;
  if (ret & VM_FAULT_SIGBUS) return -SIGBUS;
  return -SIGSEGV;
}

function* cpu_access(
  mm: MmStruct,
  vpn: number,
  npages: number,
  write: boolean,
  visit: (i: number, pfn: number) => void,
  info?: CpuFaultInfo,
): Co<number> {
  const sim = getSim();
  let i = 0;
  let tries = 0;
  let done = 0;
  while (i < npages) {
    const addr = vpn + i;
    const vma = find_vma(mm, addr);
    let ret = VM_FAULT_SIGSEGV;
    if (vma && vma.vm_start <= addr && !access_error(vma, write)) {
      const hi = Math.min(npages, vma.vm_end - vpn);
      const start = i;
      while (i < hi && pte_allows(mm.pgt.desc(vpn + i), write)) {
        visit(i, mm.pgt.pfn(vpn + i));
        i++;
        if ((vpn + i) % PTRS_PER_PTE === 0) break;
      }
      done += i - start;
      if (i > start) {
        tries = 0;
        if (i < npages) yield* cond_resched();
        continue;
      }
      ret = yield* fault_in(mm, addr, vpn + npages, write);
    }
    if (ret & VM_FAULT_ERROR) {
      if (info) info.vpn = addr;
      sim.account('cpu_access_pages', done, 'cpu_access_page');
      return fault_signal(ret);
    }
    if (++tries > CPU_FAULT_RETRY_LIMIT) {
      trap('livelock', `CPU access to page ${addr} of ${mm.name} faulted ${tries} times`);
    }
  }
  sim.account('cpu_access_pages', done, 'cpu_access_page');
  return 0;
}

/** CPU loads of pages [vpn, vpn + npages) into out; 0 or a negative signal. */
export function* cpu_read_range(
  mm: MmStruct,
  vpn: number,
  npages: number,
  out: Uint32Array | number[],
  info?: CpuFaultInfo,
): Co<number> {
  const phys = mm.sys.phys;
  return yield* cpu_access(mm, vpn, npages, false, (i, pfn) => (out[i] = phys.read(pfn)), info);
}

/** CPU stores of value (or value(i)) to pages [vpn, vpn + npages); 0 or a negative signal. */
export function* cpu_write_range(
  mm: MmStruct,
  vpn: number,
  npages: number,
  value: number | ((i: number) => number),
  info?: CpuFaultInfo,
): Co<number> {
  const phys = mm.sys.phys;
  const visit =
    typeof value === 'number'
      ? (_i: number, pfn: number) => phys.write(pfn, value)
      : (i: number, pfn: number) => phys.write(pfn, value(i));
  return yield* cpu_access(mm, vpn, npages, true, visit, info);
}

/** One CPU load: the value (>= 0), or -SIGSEGV / -SIGBUS / -SIGKILL. */
export function* cpu_read(mm: MmStruct, vpn: number): Co<number> {
  const out = [0];
  const r = yield* cpu_read_range(mm, vpn, 1, out);
  return r < 0 ? r : (out[0] as number);
}

/** One CPU store: 0, or -SIGSEGV / -SIGBUS / -SIGKILL. */
export function* cpu_write(mm: MmStruct, vpn: number, value: number): Co<number> {
  return yield* cpu_write_range(mm, vpn, 1, value);
}

// ---- the oracle's view ------------------------------------------------------------------

/** PTE_NONE, PTE_PRESENT, PTE_SWAP, PTE_DEVICE_PRIVATE or PTE_MIGRATION at vpn. */
export function mm_pte_kind(mm: MmStruct, vpn: number): PteKind {
  return mm.pgt.kind(vpn);
}

/** No frame: pte_none. */
export const PTE_PFN_NONE = -1;
/** No frame: swapped out. */
export const PTE_PFN_SWAPPED = -2;

/**
 * The frame the CPU page table maps at vpn right now: a present page (the zero page is
 * pfn 0), the device-private frame of a device-private entry, or the frame of a migration
 * entry (the page being migrated); PTE_PFN_NONE or PTE_PFN_SWAPPED otherwise. O(1).
 */
export function mm_pte_pfn(mm: MmStruct, vpn: number): number {
  const d = mm.pgt.desc(vpn);
  switch (d & PTE_KIND_MASK) {
    case PTE_PRESENT:
    case PTE_DEVICE_PRIVATE:
    case PTE_MIGRATION:
      return mm.pgt.pfn(vpn);
    case PTE_SWAP:
      return PTE_PFN_SWAPPED;
    default:
      return PTE_PFN_NONE;
  }
}

/** Whether the entry at vpn allows writes (pte_write / writable device or migration entry). */
export function mm_pte_writable(mm: MmStruct, vpn: number): boolean {
  return (mm.pgt.desc(vpn) & PTE_WRITE) !== 0;
}

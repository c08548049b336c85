/**
 * hmm_range_fault (mm/hmm.c): snapshot the CPU page table over a range into hmm pfns,
 * faulting pages in on request, for a device to mirror.
 *
 * Contract (as in Linux): the caller holds mmap_lock (read) and has taken
 * range.notifier_seq = mmu_interval_read_begin(range.notifier); the result is valid only if
 * mmu_interval_read_retry(notifier, seq) is false under the driver lock afterwards.
 * Returns 0, -EBUSY (the notifier sequence moved: begin again), -EFAULT (no vma, a vma that
 * cannot be mirrored or read, or a fault that failed), -EPERM (write requested on a vma
 * without VM_WRITE), -EINVAL (empty range).
 *
 * Output per page: hmm_pfn_make(pfn, flags) with HMM_PFN_VALID, HMM_PFN_WRITE,
 * HMM_PFN_ERROR, HMM_PFN_DEVICE_PRIVATE (consts.ts explains the encoding). Device-private
 * pages whose pagemap owner is range.dev_private_owner are returned in place; any other
 * device-private page is migrated to RAM by the fault (its pagemap's migrate_to_ram) when a
 * fault is requested.
 */
import { EBUSY, EFAULT, EINVAL, EPERM } from '../sim/errno.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import { trap } from '../sim/trap.js';
import {
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_WRITE,
  HMM_PFN_DEVICE_PRIVATE,
  HMM_PFN_ERROR,
  HMM_PFN_FLAGS_SHIFT,
  HMM_PFN_INOUT_FLAGS,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  PTRS_PER_PTE,
  VM_FAULT_ERROR,
  VM_IO,
  VM_PFNMAP,
  VM_READ,
  VM_WRITE,
} from './consts.js';
import { handle_mm_fault } from './fault.js';
import { mmap_assert_locked } from './mm_struct.js';
import type { MmStruct, MmuIntervalNotifier, VmAreaStruct } from './mm_types.js';
import { mmu_interval_check_retry } from './mmu_notifier.js';
import { folio_wait_unlocked, page_pgmap } from './page.js';
import {
  PTE_DEVICE_PRIVATE,
  PTE_KIND_MASK,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_SPECIAL,
  PTE_WRITE,
} from './pgtable.js';
import { find_vma } from './vma.js';

const HMM_NEED_FAULT = 1;
const HMM_NEED_WRITE_FAULT = 2;
const HMM_NEED_ALL_BITS = HMM_NEED_FAULT | HMM_NEED_WRITE_FAULT;
const MUL = 1 << HMM_PFN_FLAGS_SHIFT;
/** SIM: walks of one call (each after a fault made progress) before it is a livelock. */
export const HMM_WALK_LIMIT = 100_000;

export interface HmmRangeInit {
  notifier: MmuIntervalNotifier;
  notifier_seq?: number;
  start: number;
  end: number;
  hmm_pfns?: Float64Array;
  default_flags?: number;
  pfn_flags_mask?: number;
  dev_private_owner?: object | null;
}

/** struct hmm_range. start/end are page numbers; hmm_pfns has end - start entries. */
export class HmmRange {
  notifier: MmuIntervalNotifier;
  notifier_seq: number;
  start: number;
  end: number;
  hmm_pfns: Float64Array;
  default_flags: number;
  pfn_flags_mask: number;
  dev_private_owner: object | null;
  constructor(init: HmmRangeInit) {
    this.notifier = init.notifier;
    this.notifier_seq = init.notifier_seq ?? 0;
    this.start = init.start;
    this.end = init.end;
    this.hmm_pfns = init.hmm_pfns ?? new Float64Array(Math.max(0, init.end - init.start));
    this.default_flags = init.default_flags ?? 0;
    this.pfn_flags_mask = init.pfn_flags_mask ?? 0;
    this.dev_private_owner = init.dev_private_owner ?? null;
  }
}

interface HmmVmaWalk {
  readonly range: HmmRange;
  readonly mm: MmStruct;
  last: number;
}

/** mm/hmm.c hmm_pte_need_fault. */
function hmm_pte_need_fault(range: HmmRange, pfn_req_flags: number, cpu_flags: number): number {
  const req = (pfn_req_flags & range.pfn_flags_mask) | range.default_flags;
  if (!(req & HMM_PFN_REQ_FAULT)) return 0;
  if (req & HMM_PFN_REQ_WRITE && !(cpu_flags & HMM_PFN_WRITE))
    return HMM_NEED_FAULT | HMM_NEED_WRITE_FAULT;
  if (!(cpu_flags & HMM_PFN_VALID)) return HMM_NEED_FAULT;
  return 0;
}

/** mm/hmm.c hmm_range_need_fault over pages [start, end). */
function hmm_range_need_fault(range: HmmRange, start: number, end: number, cpu: number): number {
  if (!((range.default_flags | range.pfn_flags_mask) & HMM_PFN_REQ_FAULT)) return 0;
  let required = 0;
  for (let a = start; a < end; a++) {
    required |= hmm_pte_need_fault(range, range.hmm_pfns[a - range.start] as number, cpu);
    if (required === HMM_NEED_ALL_BITS) break;
  }
  return required;
}

/** mm/hmm.c hmm_pfns_fill: keep the in/out flags, set `cpu_flags` (no pfn). */
function hmm_pfns_fill(range: HmmRange, start: number, end: number, cpu_flags: number): void {
  const p = range.hmm_pfns;
  for (let a = start; a < end; a++) {
    const i = a - range.start;
    p[i] = ((p[i] as number) & HMM_PFN_INOUT_FLAGS) | cpu_flags;
  }
}

/** mm/hmm.c hmm_vma_fault: fault [addr, end) in and return -EBUSY to re-walk. */
function* hmm_vma_fault(
  walk: HmmVmaWalk,
  vma: VmAreaStruct,
  addr: number,
  end: number,
  required: number,
): Co<number> {
  let flags = FAULT_FLAG_REMOTE;
  walk.last = addr;
  if (required & HMM_NEED_WRITE_FAULT) {
    if (!(vma.vm_flags & VM_WRITE)) return -EPERM;
    flags |= FAULT_FLAG_WRITE;
  }
  for (let a = addr; a < end; a++) {
    if ((yield* handle_mm_fault(vma, a, flags)) & VM_FAULT_ERROR) return -EFAULT;
  }
  return -EBUSY;
}

/**
 * mm/hmm.c hmm_vma_walk_pmd + hmm_vma_handle_pte over one 2 MiB block [start, end) of a vma.
 */
function* hmm_vma_walk_pmd(
  walk: HmmVmaWalk,
  vma: VmAreaStruct,
  start: number,
  end: number,
): Co<number> {
  const range = walk.range;
  const leaf = walk.mm.pgt.leaf(start);
  if (!leaf || leaf.used === 0) {
    // pmd_none: hmm_vma_walk_hole with a vma.
    const required = hmm_range_need_fault(range, start, end, 0);
    if (required) return yield* hmm_vma_fault(walk, vma, start, end, required);
    hmm_pfns_fill(range, start, end, 0);
    return 0;
  }
  const pfns = range.hmm_pfns;
  const owner = range.dev_private_owner;
  const sys = walk.mm.sys;
  for (let addr = start; addr < end; addr++) {
    const i = addr - range.start;
    const o = addr % PTRS_PER_PTE;
    const d = leaf.desc[o] as number;
    const pfn = leaf.pfn[o] as number;
    const req = pfns[i] as number;
    const inout = req & HMM_PFN_INOUT_FLAGS;
    const kind = d & PTE_KIND_MASK;
    let out = inout;
    let required = 0;
    if (kind === PTE_PRESENT) {
      const cpu = HMM_PFN_VALID | (d & PTE_WRITE ? HMM_PFN_WRITE : 0);
      required = hmm_pte_need_fault(range, req, cpu);
      if (!required && d & PTE_SPECIAL) {
        // !vm_normal_page && !is_zero_pfn
        if (hmm_pte_need_fault(range, req, 0)) return -EFAULT;
        out = inout | HMM_PFN_ERROR;
      } else if (!required) {
        out = pfn * MUL + inout + cpu;
      }
    } else if (
      kind === PTE_DEVICE_PRIVATE &&
      owner !== null &&
      page_pgmap(sys, pfn)?.owner === owner
    ) {
      const cpu = HMM_PFN_VALID | HMM_PFN_DEVICE_PRIVATE | (d & PTE_WRITE ? HMM_PFN_WRITE : 0);
      out = pfn * MUL + inout + cpu;
    } else {
      required = hmm_pte_need_fault(range, req, 0);
      if (required && kind === PTE_MIGRATION) {
        walk.last = addr;
        yield* folio_wait_unlocked(sys, pfn); // migration_entry_wait
        return -EBUSY;
      }
      // pte_none, swap entries, foreign device-private pages: fault when asked, else 0.
    }
    if (required) return yield* hmm_vma_fault(walk, vma, addr, end, required);
    pfns[i] = out;
  }
  return 0;
}

/** mm/hmm.c hmm_vma_walk_test: vmas that cannot be mirrored give HMM_PFN_ERROR or -EFAULT. */
function hmm_vma_walk_test(range: HmmRange, vma: VmAreaStruct, start: number, end: number): number {
  if (!(vma.vm_flags & (VM_IO | VM_PFNMAP)) && vma.vm_flags & VM_READ) return 0;
  if (hmm_range_need_fault(range, start, end, 0)) return -EFAULT;
  hmm_pfns_fill(range, start, end, HMM_PFN_ERROR);
  return 1;
}

/** mm/pagewalk.c walk_page_range with hmm_walk_ops, from walk.last to range.end. */
function* walk_page_range(walk: HmmVmaWalk): Co<number> {
  const range = walk.range;
  const end = range.end;
  let start = walk.last;
  if (start >= end) return -EINVAL;
  while (start < end) {
    const vma = find_vma(walk.mm, start);
    if (!vma || start < vma.vm_start) {
      // hmm_vma_walk_hole without a vma.
      const next = vma ? Math.min(end, vma.vm_start) : end;
      if (hmm_range_need_fault(range, start, next, 0)) return -EFAULT;
      hmm_pfns_fill(range, start, next, HMM_PFN_ERROR);
      start = next;
      continue;
    }
    const next = Math.min(end, vma.vm_end);
    const t = hmm_vma_walk_test(range, vma, start, next);
    if (t < 0) return t;
    if (t === 0) {
      for (let a = start; a < next;) {
        const blk = Math.min(next, (Math.floor(a / PTRS_PER_PTE) + 1) * PTRS_PER_PTE);
        const r = yield* hmm_vma_walk_pmd(walk, vma, a, blk);
        if (r) return r;
        a = blk;
      }
    }
    start = next;
  }
  return 0;
}

/** mm/hmm.c hmm_range_fault. */
export function* hmm_range_fault(range: HmmRange): Co<number> {
  const mm = range.notifier.mm;
  if (!mm) return -EINVAL;
  mmap_assert_locked(mm);
  const sim = getSim();
  const npages = Math.max(0, range.end - range.start);
  sim.account('hmm_range_fault_calls', 1, 'hmm_range_fault_call');
  sim.account('hmm_range_fault_pages', npages, 'hmm_range_fault_page');
  const walk: HmmVmaWalk = { range, mm, last: range.start };
  let ret: number;
  let passes = 0;
  do {
    if (mmu_interval_check_retry(range.notifier, range.notifier_seq)) {
      ret = -EBUSY;
      break;
    }
    if (++passes > HMM_WALK_LIMIT) {
      trap(
        'livelock',
        `hmm_range_fault over [${range.start}, ${range.end}) walked ${passes} times`,
      );
    }
    ret = yield* walk_page_range(walk);
  } while (ret === -EBUSY);
  sim.trace.emit('mm.hmm_range_fault', { mm: mm.id, start: range.start, npages, ret });
  return ret;
}

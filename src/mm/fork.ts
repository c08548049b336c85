/**
 * fork and exit of an address space (kernel/fork.c dup_mm / dup_mmap, mmput; mm/mmap.c
 * exit_mmap).
 *
 * fork holds the parent's mmap_lock for write while it copies; each COW vma with
 * anonymous pages sends MMU_NOTIFY_PROTECTION_PAGE over the vma in the parent's mm.
 * SIM: the child's mmap_lock is not taken (nobody can see the child yet).
 *
 * exit: the last mmput runs exit_mmap in the task that drops it (a driver holding mmget
 * may be the one): MMU_NOTIFY_RELEASE to every interval notifier (no mmap_lock), then one
 * MMU_NOTIFY_UNMAP over the whole address space with mmap_lock held for read while every
 * vma is zapped, then the vmas are freed under mmap_lock for write.
 */
import { getSim } from '../sim/scheduler.js';
import { co_return, type Co } from '../sim/task.js';
import { trap } from '../sim/trap.js';
import { ULONG_MAX_PAGES, VM_DONTCOPY } from './consts.js';
import { shmem_release_unmapped } from './filemap.js';
import { copy_page_range, unmap_vmas, vma_needs_copy } from './memory.js';
import {
  mm_alloc,
  mmap_read_lock,
  mmap_read_unlock,
  mmap_write_lock,
  mmap_write_unlock,
  mmdrop,
} from './mm_struct.js';
import { AnonVma, VmAreaStruct, type MmStruct } from './mm_types.js';
import { mmu_notifier_release } from './mmu_notifier.js';
import { vma_link } from './vma.js';

/** kernel/fork.c dup_mm + dup_mmap: the child's address space, a copy of the parent's. */
export function* dup_mm(oldmm: MmStruct, name?: string): Co<MmStruct> {
  const sim = getSim();
  sim.account('mm_forks', 1, 'mm_syscall');
  if (oldmm.exited) trap('bug', `fork of exited ${oldmm.name}`);
  const mm = mm_alloc(oldmm.sys, { va_bits: oldmm.va_bits, ...(name ? { name } : {}) });
  yield* mmap_write_lock(oldmm);
  for (const vma of [...oldmm.mmap]) {
    if (vma.vm_flags & VM_DONTCOPY) continue;
    const tmp = new VmAreaStruct(
      mm,
      vma.vm_start,
      vma.vm_end,
      vma.vm_flags,
      vma.vm_pgoff,
      vma.vm_file,
    );
    tmp.kind = vma.kind;
    // anon_vma_fork: the child's anon_vma hangs off the parent's root.
    if (vma.anon_vma) tmp.anon_vma = new AnonVma(vma.anon_vma.root ?? vma.anon_vma);
    vma_link(mm, tmp);
    if (vma_needs_copy(vma)) yield* copy_page_range(tmp, vma);
  }
  mmap_write_unlock(oldmm);
  sim.trace.emit('mm.fork', { parent: oldmm.id, child: mm.id });
  return mm;
}

/** kernel/fork.c mmput: drop a user; the last one tears the address space down here. */
export function mmput(mm: MmStruct): Co {
  if (mm.mm_users <= 0) trap('use-after-free', `mmput on ${mm.name} after its last mmput`);
  if (--mm.mm_users > 0) return co_return(undefined);
  return __mmput(mm);
}

/** kernel/fork.c __mmput: the last user is gone. */
function* __mmput(mm: MmStruct): Co {
  yield* exit_mmap(mm);
  mmdrop(mm);
}

/** mm/mmap.c exit_mmap. */
export function* exit_mmap(mm: MmStruct): Co {
  const sim = getSim();
  sim.account('mm_exits', 1, 'mm_syscall');
  yield* mmu_notifier_release(mm);
  yield* mmap_read_lock(mm);
  const vmas = [...mm.mmap];
  if (vmas.length > 0) yield* unmap_vmas(mm, vmas, 0, ULONG_MAX_PAGES);
  mmap_read_unlock(mm);
  yield* mmap_write_lock(mm);
  mm.mmap.length = 0;
  mm.pgt.free_all();
  mm.exited = true;
  shmem_release_unmapped(mm.sys, vmas);
  mmap_write_unlock(mm);
  sim.trace.emit('mm.exit', { mm: mm.id });
}

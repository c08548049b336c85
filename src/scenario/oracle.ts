/**
 * The oracle of DESIGN.md, checked in every run:
 * 1. coherence: every GPU access through a valid translation (PTE or TLB) reaches the frame
 *    the CPU page table maps at that address at that moment (`stale-gpu-mapping`);
 * 2. no unrecoverable fault with XNACK off on memory userspace made accessible to that GPU,
 *    with a VMA that allows the access (`fatal-gpu-fault`), unless the step expects one;
 * 3. data: a read returns the last value written there (`data-mismatch`), via shadow.ts;
 * 5. liveness after settling (`stuck`) and 6. teardown (`leak`), checked by the runner
 *    through {@link Oracle.checkLiveness} and {@link Oracle.checkTeardown}.
 * (4, the attribute check, lives with the svm steps.)
 */
import type { amdgpu_device, amdgpu_vm, VmFaultRecord } from '../amdgpu/amdgpu.js';
import { kfd_process_queues_evicted } from '../amdgpu/kfd_queue.js';
import { mm_pte_pfn, PTE_PFN_NONE, PTE_PFN_SWAPPED } from '../mm/access.js';
import { VM_READ, VM_SHARED, VM_WRITE } from '../mm/consts.js';
import type { MmStruct } from '../mm/mm_types.js';
import { vma_lookup } from '../mm/vma.js';
import { trap } from '../sim/trap.js';
import { live_workqueues } from '../sim/workqueue.js';
import { AttrShadow } from './attrs.js';
import { ShadowMem } from './shadow.js';
import type { Process, World } from './world.js';

function cpuFrame(pfn: number): string {
  if (pfn === PTE_PFN_NONE) return 'no page';
  if (pfn === PTE_PFN_SWAPPED) return 'a swapped-out page';
  return `frame ${pfn}`;
}

/** Page ranges made accessible to one GPU by SET_ATTR (per process). */
export class AccessGrants {
  private readonly spans: { start: number; end: number }[] = [];
  grant(start: number, npages: number): void {
    this.spans.push({ start, end: start + npages });
  }
  revoke(start: number, npages: number): void {
    const end = start + npages;
    const out: { start: number; end: number }[] = [];
    for (const s of this.spans) {
      if (s.end <= start || s.start >= end) out.push(s);
      else {
        if (s.start < start) out.push({ start: s.start, end: start });
        if (s.end > end) out.push({ start: end, end: s.end });
      }
    }
    this.spans.splice(0, this.spans.length, ...out);
  }
  has(page: number): boolean {
    return this.spans.some((s) => page >= s.start && page < s.end);
  }
}

export class Oracle {
  readonly shadows = new Map<Process, ShadowMem>();
  /** Per process, per GPU name: the attributes SET_ATTR stored (oracle 4). */
  readonly attrs = new Map<Process, Map<string, AttrShadow>>();
  /** Per process, per GPU name: SET_ATTR access grants. */
  readonly grants = new Map<Process, Map<string, AccessGrants>>();
  /** Unrecoverable faults the running steps expect, per GPU name. */
  readonly expectingFault = new Map<string, number>();
  readonly faults: VmFaultRecord[] = [];

  constructor(private readonly world: World) {
    const hooks = world.gpus.hooks;
    hooks.access.push((adev, vm, page, pfn) => this.onAccess(adev, vm, page, pfn));
    hooks.fatal.push((f) => this.onFatal(f));
  }

  shadow(p: Process): ShadowMem {
    let s = this.shadows.get(p);
    if (!s) {
      s = new ShadowMem();
      this.shadows.set(p, s);
    }
    return s;
  }

  attrsOf(p: Process, gpu: string): AttrShadow {
    let m = this.attrs.get(p);
    if (!m) {
      m = new Map();
      this.attrs.set(p, m);
    }
    let a = m.get(gpu);
    if (!a) {
      a = new AttrShadow();
      m.set(gpu, a);
    }
    return a;
  }

  /** The process unmapped [start, start + npages): grants and known attributes go. */
  unmapped(p: Process, start: number, npages: number): void {
    for (const g of this.world.config.gpus) {
      this.grantsOf(p, g.name).revoke(start, npages);
      this.attrsOf(p, g.name).forget(start, start + npages);
    }
  }

  grantsOf(p: Process, gpu: string): AccessGrants {
    let m = this.grants.get(p);
    if (!m) {
      m = new Map();
      this.grants.set(p, m);
    }
    let g = m.get(gpu);
    if (!g) {
      g = new AccessGrants();
      m.set(gpu, g);
    }
    return g;
  }

  /** Oracle 1: the GPU reached the frame the CPU maps there now. */
  private onAccess(adev: amdgpu_device, vm: amdgpu_vm, page: number, pfn: number): void {
    const p = this.world.vmOwner.get(vm);
    if (!p) return;
    const cpu = mm_pte_pfn(p.mm, page);
    if (cpu !== pfn) {
      trap(
        'stale-gpu-mapping',
        `${adev.name} accessed page 0x${page.toString(16)} of ${p.name} through frame ${pfn}, ` +
          `but the CPU maps ${cpuFrame(cpu)} there`,
        { gpu: adev.name, page, gpuFrame: pfn, cpuFrame: cpu },
      );
    }
  }

  /** Oracle 2: with XNACK off, accessible memory never faults unrecoverably. */
  private onFatal(f: VmFaultRecord): void {
    this.faults.push(f);
    if ((this.expectingFault.get(f.gpu) ?? 0) > 0 || f.kind !== 'vm-fault') return;
    const p = this.world.processes.find((x) => !x.gone && this.vmOf(x, f.gpu)?.pasid === f.pasid);
    if (!p || p.kfd?.xnack_enabled) return;
    if (!this.grantsOf(p, f.gpu).has(f.page) || !vmaAllows(p.mm, f.page, f.write)) return;
    trap(
      'fatal-gpu-fault',
      `${f.gpu} took an unrecoverable ${f.write ? 'write' : 'read'} fault (${f.reason}) at page ` +
        `0x${f.page.toString(16)} of ${p.name}, which userspace made accessible with XNACK off`,
      { ...f },
    );
  }

  private vmOf(p: Process, gpu: string): amdgpu_vm | undefined {
    return this.world.device(gpu).files.get(p.mm)?.vm;
  }

  /** Oracle 5: after settling every KFD queue runs and every GPU job has ended. */
  checkLiveness(): void {
    for (const p of this.world.processes) {
      if (p.gone || !p.kfd) continue;
      if (kfd_process_queues_evicted(p.kfd)) {
        trap('stuck', `${p.name}'s KFD queues are still quiesced after settling`);
      }
    }
    const busy = live_workqueues().filter((wq) => wq.busy > 0 || wq.armed.size > 0);
    if (busy.length)
      trap('stuck', `work still pending after settling on ${busy.map((w) => w.name).join(', ')}`);
    const running = this.world.jobs.filter((j) => !j.done);
    if (running.length) {
      trap(
        'stuck',
        `GPU kernels still running after settling: ${running.map((j) => j.name).join(', ')}`,
      );
    }
  }

  /** Oracle 6: after every process exited nothing is left. */
  checkTeardown(): void {
    const left: string[] = [];
    for (const d of this.world.gpus.devices) {
      if (d.vram.used > 0) left.push(`${d.vram.used} VRAM pages on ${d.name}`);
      if (d.files.size > 0) left.push(`${d.files.size} open render-node files on ${d.name}`);
      if (d.vm_manager.pasids.size > 0)
        left.push(`${d.vm_manager.pasids.size} PASIDs on ${d.name}`);
    }
    for (const p of this.world.processes) {
      if (p.mm.notifier_subscriptions && p.mm.notifier_subscriptions.itree.length > 0) {
        left.push(
          `${p.mm.notifier_subscriptions.itree.length} mmu interval notifiers on ${p.name}'s mm`,
        );
      }
    }
    const work = live_workqueues().filter((wq) => wq.busy > 0 || wq.armed.size > 0);
    if (work.length) left.push(`work queued on ${work.map((w) => w.name).join(', ')}`);
    for (const check of this.world.leakChecks) left.push(...check());
    const anon = this.world.anonFramesInUse();
    if (anon > 0) left.push(`${anon} anonymous frames of system RAM`);
    if (left.length) trap('leak', `left after exit: ${left.join('; ')}`, { left });
  }
}

/** Does the VMA at `page` allow the access (and is it private memory the oracle follows)? */
export function vmaAllows(mm: MmStruct, page: number, write: boolean): boolean {
  const vma = vma_lookup(mm, page);
  if (!vma) return false;
  return write ? (vma.vm_flags & VM_WRITE) !== 0 : (vma.vm_flags & VM_READ) !== 0;
}

/** Shared or file-backed memory: the data oracle does not follow it. */
export function isUntracked(mm: MmStruct, page: number): boolean {
  const vma = vma_lookup(mm, page);
  return !vma || vma.vm_file !== null || (vma.vm_flags & VM_SHARED) !== 0;
}

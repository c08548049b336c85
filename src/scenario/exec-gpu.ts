/**
 * GPU steps (SCENARIO-FORMAT.md "GPU"): kernels run on a queue of the process (created on
 * first use), page by page through the GPU's TLB and page table; `gpu.mapped` and `where`
 * look at page tables without accessing anything; queue and XNACK steps are the KFD ioctls.
 */
import type { GpuKernel, KernelResult } from '../amdgpu/engine.js';
import { amdgpu_engine_dispatch } from '../amdgpu/engine.js';
import { kfd_ioctl_set_xnack_mode } from '../amdgpu/kfd_process.js';
import { kfd_ioctl_destroy_queue } from '../amdgpu/kfd_queue.js';
import { amdgpu_vm_count_mapped } from '../amdgpu/vm_pt.js';
import { mm_pte_pfn, PTE_PFN_NONE, PTE_PFN_SWAPPED } from '../mm/access.js';
import { errnoName } from '../sim/errno.js';
import type { Co } from '../sim/task.js';
import { join } from '../sim/wait.js';
import { pagesOf, type StepCtx } from './context.js';
import { checkData } from './exec-cpu.js';
import { checkValues } from './expect.js';
import type { Step } from './loader.js';
import { valueAt } from './values.js';
import { StepFailed } from './world.js';

type S<K extends Step['kind']> = Extract<Step, { kind: K }>;
type KernelStep = S<'gpu.read'> | S<'gpu.write'> | S<'gpu.atomic'> | S<'gpu.copy'>;

/** Dispatch `k` `repeat` times on the step's GPU and engine; the last result. */
function* runKernel(ctx: StepCtx, st: KernelStep, k: GpuKernel): Co<KernelResult> {
  const dev = ctx.world.device(st.f.gpu ?? 'gpu0');
  const expectFault = st.f.expect_fault === true;
  if (expectFault)
    ctx.oracle.expectingFault.set(dev.name, (ctx.oracle.expectingFault.get(dev.name) ?? 0) + 1);
  try {
    let res: KernelResult | undefined;
    for (let n = 0; n < (st.f.repeat ?? 1); n++) {
      const q = yield* ctx.world.queueFor(ctx.proc, dev, st.f.engine ?? 'compute');
      const job = amdgpu_engine_dispatch(q, k);
      ctx.world.jobs.push(job);
      res = yield* join(job);
      if (!res || res.status !== 'completed') break;
    }
    if (!res) throw new StepFailed('the kernel to finish', 'no result');
    checkFault(ctx, st, res);
    return res;
  } finally {
    if (expectFault)
      ctx.oracle.expectingFault.set(dev.name, (ctx.oracle.expectingFault.get(dev.name) ?? 1) - 1);
  }
}

function checkFault(ctx: StepCtx, st: KernelStep, res: KernelResult): void {
  const f = res.fault;
  if (res.status === 'aborted')
    throw new StepFailed('the kernel to run', 'the queue was destroyed under it');
  if (!st.f.expect_fault) {
    if (f) {
      throw new StepFailed(
        'no unrecoverable GPU fault',
        `${f.kind} (${f.reason}) on a ${f.write ? 'write' : 'read'} of page 0x${f.page.toString(16)}`,
      );
    }
    return;
  }
  if (!f) throw new StepFailed('an unrecoverable GPU fault', 'the kernel completed');
  if (st.f.fault_at) {
    const want = Number(ctx.proc.addr(st.f.fault_at) >> 12n);
    if (want !== f.page) {
      throw new StepFailed(
        `the fault at page 0x${want.toString(16)}`,
        `a fault at page 0x${f.page.toString(16)}`,
      );
    }
  }
}

export function* exec_gpu_read(ctx: StepCtx, st: S<'gpu.read'>): Co<number> {
  const { start, npages } = pagesOf(ctx.proc.addr(st.f.at), st.f.size);
  const since = ctx.oracle.shadow(ctx.proc).beginRead();
  const res = yield* runKernel(ctx, st, { op: 'read', start, npages });
  checkData(ctx, start, res.values, res.pages_done, since, `${res.gpu} read`);
  if (st.f.expect !== undefined && !res.fault) checkValues(st.f.expect, res.values, npages);
  return 0;
}

export function* exec_gpu_write(ctx: StepCtx, st: S<'gpu.write'>): Co<number> {
  const { start, npages } = pagesOf(ctx.proc.addr(st.f.at), st.f.size);
  const value = (i: number): number => valueAt(st.f.value, i);
  const shadow = ctx.oracle.shadow(ctx.proc);
  const token = shadow.beginWrite({ start, npages });
  let done = 0;
  try {
    const res = yield* runKernel(ctx, st, { op: 'write', start, npages, value });
    done = res.pages_done;
  } finally {
    shadow.endWrite(token, done, value);
  }
  return 0;
}

export function* exec_gpu_atomic(ctx: StepCtx, st: S<'gpu.atomic'>): Co<number> {
  const { start, npages } = pagesOf(ctx.proc.addr(st.f.at), st.f.size);
  const add = valueAt(st.f.add, 0);
  const shadow = ctx.oracle.shadow(ctx.proc);
  const since = shadow.beginRead();
  const token = shadow.beginWrite({ start, npages });
  let res: KernelResult | undefined;
  try {
    res = yield* runKernel(ctx, st, { op: 'atomic', start, npages, add });
  } finally {
    const before = res?.values;
    shadow.endWrite(token, res?.pages_done ?? 0, (i) => ((before?.[i] ?? 0) + add) >>> 0);
  }
  checkData(ctx, start, res.values, res.pages_done, since, `${res.gpu} atomic`);
  if (st.f.expect !== undefined && !res.fault) checkValues(st.f.expect, res.values, npages);
  return 0;
}

export function* exec_gpu_copy(ctx: StepCtx, st: S<'gpu.copy'>): Co<number> {
  const from = pagesOf(ctx.proc.addr(st.f.from), st.f.size);
  const to = pagesOf(ctx.proc.addr(st.f.to), st.f.size);
  const shadow = ctx.oracle.shadow(ctx.proc);
  const since = shadow.beginRead();
  const token = shadow.beginWrite({ start: to.start, npages: to.npages });
  let res: KernelResult | undefined;
  try {
    res = yield* runKernel(ctx, st, {
      op: 'copy',
      from: from.start,
      to: to.start,
      npages: from.npages,
    });
  } finally {
    const vals = res?.values;
    shadow.endWrite(token, res?.pages_done ?? 0, (i) => vals?.[i] ?? 0);
  }
  checkData(ctx, from.start, res.values, res.pages_done, since, `${res.gpu} copy source`);
  return 0;
}

export function* exec_gpu_mapped(ctx: StepCtx, st: S<'gpu.mapped'>): Co<number> {
  const dev = ctx.world.device(st.f.gpu ?? 'gpu0');
  yield* ctx.world.ensureKfd(ctx.proc);
  const vm = dev.files.get(ctx.proc.mm)?.vm;
  const { start, npages } = pagesOf(ctx.proc.addr(st.f.at), st.f.size);
  const n = vm ? amdgpu_vm_count_mapped(vm, start, npages) : 0;
  const ok = st.f.expect === 'all' ? n === npages : n === 0;
  if (!ok) {
    throw new StepFailed(
      `${st.f.expect === 'all' ? 'all' : 'none'} of ${npages} pages mapped on ${dev.name}`,
      `${n} mapped`,
    );
  }
  return 0;
}

export function* exec_where(ctx: StepCtx, st: S<'where'>): Co<number> {
  const { start, npages } = pagesOf(ctx.proc.addr(st.f.at), st.f.size);
  const phys = ctx.world.mmsys.phys;
  for (let i = 0; i < npages; i++) {
    const pfn = mm_pte_pfn(ctx.proc.mm, start + i);
    let at: string;
    if (pfn === PTE_PFN_NONE) at = 'no page';
    else if (pfn === PTE_PFN_SWAPPED) at = 'swap';
    else {
      const owner = phys.regionOf(pfn)?.owner;
      at = owner
        ? (ctx.world.gpus.devices.find((d) => d === owner)?.name ?? 'device memory')
        : 'sysmem';
    }
    if (at !== st.f.expect) throw new StepFailed(`page ${i} in ${st.f.expect}`, at);
  }
  return 0;
}

export function* exec_queue_create(ctx: StepCtx, st: S<'queue.create'>): Co<number> {
  yield* ctx.world.queueFor(
    ctx.proc,
    ctx.world.device(st.f.gpu ?? 'gpu0'),
    st.f.engine ?? 'compute',
  );
  return 0;
}

export function* exec_queue_destroy(ctx: StepCtx, st: S<'queue.destroy'>): Co<number> {
  const dev = ctx.world.device(st.f.gpu ?? 'gpu0');
  const key = `${dev.name}/${st.f.engine ?? 'compute'}`;
  const q = ctx.proc.queues.get(key);
  const kfd = ctx.proc.kfd;
  if (!q || !kfd) throw new StepFailed(`a ${key} queue`, 'none');
  ctx.proc.queues.delete(key);
  return yield* kfd_ioctl_destroy_queue(kfd, q);
}

export function* exec_xnack_set(ctx: StepCtx, st: S<'xnack.set'>): Co<number> {
  const kfd = yield* ctx.world.ensureKfd(ctx.proc);
  return yield* kfd_ioctl_set_xnack_mode(kfd, { xnack_enabled: st.f.value ? 1 : 0 });
}

export function* exec_xnack_get(ctx: StepCtx, st: S<'xnack.get'>): Co<number> {
  const kfd = yield* ctx.world.ensureKfd(ctx.proc);
  const args = { xnack_enabled: -1 };
  const r = yield* kfd_ioctl_set_xnack_mode(kfd, args);
  if (r) return r;
  const on = args.xnack_enabled === 1;
  if (st.f.expect !== undefined && st.f.expect !== on) {
    throw new StepFailed(
      `XNACK ${st.f.expect ? 'on' : 'off'}`,
      `XNACK ${on ? 'on' : 'off'} (${errnoName(r)})`,
    );
  }
  return 0;
}

/**
 * CPU and address-space steps (SCENARIO-FORMAT.md "CPU and address space"): each one is the
 * system call it names, on the simulated process, with the arguments as written. The data
 * oracle's shadow follows every change of private anonymous memory.
 */
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../mm/consts.js';
import { cpu_read_range, cpu_write_range, type CpuFaultInfo } from '../mm/access.js';
import { file_extend, file_pread, file_pwrite } from '../mm/filemap.js';
import { sys_madvise, sys_mmap, sys_mprotect, sys_mremap, sys_munmap } from '../mm/syscalls.js';
import { migrate_pages, reclaim } from '../mm/vmscan.js';
import { EFAULT } from '../sim/errno.js';
import type { Co } from '../sim/task.js';
import { trap } from '../sim/trap.js';
import { pagesOf, showValues, type StepCtx } from './context.js';
import { checkValues } from './expect.js';
import type { Step } from './loader.js';
import { isUntracked } from './oracle.js';
import { valueAt } from './values.js';
import { StepFailed } from './world.js';

type S<K extends Step['kind']> = Extract<Step, { kind: K }>;

const PROT = {
  rw: PROT_READ | PROT_WRITE,
  r: PROT_READ,
  none: PROT_NONE,
  rwx: PROT_READ | PROT_WRITE | PROT_EXEC,
};

export function* exec_mmap(ctx: StepCtx, st: S<'mmap'>): Co<number> {
  const f = st.f;
  const file = f.file ? ctx.world.mmsys.file_open(f.file) : null;
  // SIM: the file grows to cover the mapping, as the ftruncate a real test does first; an
  // empty file would make every access SIGBUS and the `file` field useless.
  const filePages = Number((f.size + 4095n) >> 12n);
  if (file && file.f_mapping.size < filePages) file_extend(file, filePages);
  let flags = (f.shared ? MAP_SHARED : MAP_PRIVATE) | (file ? 0 : MAP_ANONYMOUS);
  let addr = 0n;
  if (f.at) {
    addr = ctx.proc.addr(f.at);
    flags |= MAP_FIXED;
  } else if (f.hint) {
    addr = ctx.proc.addr(f.hint);
  }
  const r = yield* sys_mmap(ctx.proc.mm, addr, f.size, PROT[f.prot ?? 'rw'], flags, file, 0n, {
    ...(f.io ? { io: true } : {}),
    ...(f.align ? { align: f.align } : {}),
    ...(f.kind ? { kind: f.kind } : {}),
  });
  if (r < 0n) return Number(r);
  const { start, npages } = pagesOf(r, f.size);
  const shadow = ctx.oracle.shadow(ctx.proc);
  if (file || f.shared) shadow.forget(start, npages);
  else shadow.clear(start, npages);
  if (f.as) ctx.proc.names.set(f.as, r);
  return 0;
}

export function* exec_munmap(ctx: StepCtx, st: S<'munmap'>): Co<number> {
  const at = ctx.proc.addr(st.f.at);
  const r = yield* sys_munmap(ctx.proc.mm, at, st.f.size);
  if (r === 0) {
    const { start, npages } = pagesOf(at, st.f.size);
    ctx.oracle.shadow(ctx.proc).clear(start, npages);
    ctx.oracle.unmapped(ctx.proc, start, npages);
  }
  return r;
}

export function* exec_mprotect(ctx: StepCtx, st: S<'mprotect'>): Co<number> {
  return yield* sys_mprotect(ctx.proc.mm, ctx.proc.addr(st.f.at), st.f.size, PROT[st.f.prot]);
}

export function* exec_mremap(ctx: StepCtx, st: S<'mremap'>): Co<number> {
  const f = st.f;
  const at = ctx.proc.addr(f.at);
  let flags = MREMAP_MAYMOVE;
  let target = 0n;
  if (f.fixed) {
    flags |= MREMAP_FIXED;
    target = ctx.proc.addr(f.fixed);
  }
  if (f.dontunmap) flags |= MREMAP_DONTUNMAP;
  const r = yield* sys_mremap(ctx.proc.mm, at, f.size, f.new_size, flags, target);
  if (r < 0n) return Number(r);
  const old = pagesOf(at, f.size);
  const moved = Math.min(old.npages, pagesOf(r, f.new_size).npages);
  const shadow = ctx.oracle.shadow(ctx.proc);
  if (r !== at) {
    shadow.move(old.start, Number(r >> 12n), moved);
    if (!f.dontunmap) ctx.oracle.unmapped(ctx.proc, old.start, old.npages);
  } else if (old.npages > moved) {
    shadow.clear(old.start + moved, old.npages - moved);
  }
  if (f.as) ctx.proc.names.set(f.as, r);
  return 0;
}

export function* exec_madvise(ctx: StepCtx, st: S<'madvise'>): Co<number> {
  const at = ctx.proc.addr(st.f.at);
  const r = yield* sys_madvise(ctx.proc.mm, at, st.f.size, MADV_DONTNEED);
  if (r === 0) {
    const { start, npages } = pagesOf(at, st.f.size);
    for (let i = 0; i < npages; i++) {
      if (!isUntracked(ctx.proc.mm, start + i)) ctx.oracle.shadow(ctx.proc).clear(start + i, 1);
    }
  }
  return r;
}

/** A CPU access that faults: EFAULT (SIM: the step reports it instead of a signal). */
function* cpuFault(ctx: StepCtx, info: CpuFaultInfo, sig: number): Co<number> {
  ctx.world.sim.trace.emit('note', {
    text: `CPU access fault at page 0x${info.vpn.toString(16)} (signal ${-sig})`,
  });
  return -EFAULT;
}

export function* exec_write(ctx: StepCtx, st: S<'write'>): Co<number> {
  const { start, npages } = pagesOf(ctx.proc.addr(st.f.at), st.f.size);
  const shadow = ctx.oracle.shadow(ctx.proc);
  const token = shadow.beginWrite({ start, npages });
  const value = (i: number): number => valueAt(st.f.value, i);
  const info: CpuFaultInfo = { vpn: start };
  const r = yield* cpu_write_range(ctx.proc.mm, start, npages, value, info);
  shadow.endWrite(token, r < 0 ? info.vpn - start : npages, value);
  return r < 0 ? yield* cpuFault(ctx, info, r) : 0;
}

export function* exec_read(ctx: StepCtx, st: S<'read'>): Co<number> {
  const { start, npages } = pagesOf(ctx.proc.addr(st.f.at), st.f.size);
  const out = new Uint32Array(npages);
  const since = ctx.oracle.shadow(ctx.proc).beginRead();
  const info: CpuFaultInfo = { vpn: start };
  const r = yield* cpu_read_range(ctx.proc.mm, start, npages, out, info);
  if (r < 0) return yield* cpuFault(ctx, info, r);
  checkData(ctx, start, out, npages, since, 'CPU read');
  if (st.f.expect !== undefined) checkValues(st.f.expect, out, npages);
  return 0;
}

/** Oracle 3 for `n` values read from [start, ...): each must be the last value written. */
export function checkData(
  ctx: StepCtx,
  start: number,
  vals: ArrayLike<number>,
  n: number,
  since: number,
  who: string,
): void {
  const shadow = ctx.oracle.shadow(ctx.proc);
  for (let i = 0; i < n; i++) {
    const vpn = start + i;
    if (isUntracked(ctx.proc.mm, vpn)) continue;
    const want = shadow.expected(vpn, since);
    if (want !== undefined && want !== vals[i]) {
      trap(
        'data-mismatch',
        `${who} of page 0x${vpn.toString(16)} in ${ctx.proc.name} returned 0x${(vals[i] ?? 0).toString(16)}, ` +
          `but the last value written there was 0x${want.toString(16)}`,
        { page: vpn, expected: want, actual: vals[i] },
      );
    }
  }
}

export function* exec_file_read(ctx: StepCtx, st: S<'file.read'>): Co<number> {
  if (st.f.offset % 4096n !== 0n)
    throw new StepFailed('a page-aligned offset', String(st.f.offset));
  const { npages } = pagesOf(0n, st.f.size);
  const out = new Uint32Array(npages);
  const file = ctx.world.mmsys.file_open(st.f.file);
  const n = file_pread(ctx.world.mmsys, file, Number(st.f.offset >> 12n), npages, out);
  if (n < 0) return n;
  if (n < npages)
    throw new StepFailed(
      `${npages} pages of ${st.f.file}`,
      `${n} (end of file) ${showValues(out.subarray(0, n))}`,
    );
  if (st.f.expect !== undefined) checkValues(st.f.expect, out, npages);
  return 0;
}

export function* exec_file_write(ctx: StepCtx, st: S<'file.write'>): Co<number> {
  if (st.f.offset % 4096n !== 0n)
    throw new StepFailed('a page-aligned offset', String(st.f.offset));
  const { npages } = pagesOf(0n, st.f.size);
  const file = ctx.world.mmsys.file_open(st.f.file);
  const r = file_pwrite(ctx.world.mmsys, file, Number(st.f.offset >> 12n), npages, (i) =>
    valueAt(st.f.value, i),
  );
  return r < 0 ? r : 0;
}

export function* exec_reclaim(ctx: StepCtx, st: S<'reclaim'>): Co<number> {
  const { start, npages } = pagesOf(ctx.proc.addr(st.f.at), st.f.size);
  const r = yield* reclaim(ctx.proc.mm, start, npages);
  return r < 0 ? r : 0;
}

export function* exec_migrate_pages(ctx: StepCtx, st: S<'migrate_pages'>): Co<number> {
  const { start, npages } = pagesOf(ctx.proc.addr(st.f.at), st.f.size);
  const r = yield* migrate_pages(ctx.proc.mm, start, npages);
  return r < 0 ? r : 0;
}

/**
 * The memory syscalls at the UAPI boundary: byte addresses and lengths as bigint, validated
 * as Linux validates them (alignment, PAGE_ALIGN of lengths, overflow), then handed to the
 * page-number implementations. mmap and mremap return the address, or -errno, as a bigint
 * (as the syscalls return an address or a negative errno in one register).
 */
import { EFAULT, EINVAL, ENOMEM, EOVERFLOW } from '../sim/errno.js';
import type { Co } from '../sim/task.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from './consts.js';
import { do_mmap, do_munmap } from './mmap.js';
import type { File, MmStruct, VmaKind } from './mm_types.js';
import { do_madvise, do_mprotect } from './mprotect.js';
import { do_mremap } from './mremap.js';

const PAGE_SIZE = 4096n;
const PAGE_MASK = PAGE_SIZE - 1n;

function offset_in_page(a: bigint): boolean {
  return (a & PAGE_MASK) !== 0n;
}

function PAGE_ALIGN(len: bigint): bigint {
  return (len + PAGE_MASK) & ~PAGE_MASK;
}

function pages(b: bigint): number {
  return Number(b >> 12n);
}

function task_size_bytes(mm: MmStruct): bigint {
  return BigInt(mm.task_size) * PAGE_SIZE;
}

export interface SysMmapExtra {
  /** VM_IO | VM_PFNMAP device mapping (scenario `io`). */
  io?: boolean;
  /** A device file mapping with driver-inserted pages (test_hmm's dmirror mmap). */
  mixedmap?: boolean;
  /** Start alignment in bytes (scenario `align`). */
  align?: bigint;
  kind?: VmaKind;
}

/** mmap(2). `file` is required unless MAP_ANONYMOUS. */
export function* sys_mmap(
  mm: MmStruct,
  addr: bigint,
  len: bigint,
  prot: number,
  flags: number,
  file: File | null,
  off: bigint,
  extra: SysMmapExtra = {},
): Co<bigint> {
  if (offset_in_page(off) || off < 0n) return BigInt(-EINVAL);
  if (len === 0n) return BigInt(-EINVAL);
  const alen = PAGE_ALIGN(len);
  if (alen === 0n || alen > task_size_bytes(mm)) return BigInt(-ENOMEM);
  const anon = (flags & MAP_ANONYMOUS) !== 0;
  if (!anon && !file) return BigInt(-EINVAL); // EBADF in Linux: no such fd
  if (!anon && (off >> 12n) + (alen >> 12n) > 2n ** 52n) return BigInt(-EOVERFLOW);
  const fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
  if (fixed && offset_in_page(addr)) return BigInt(-EINVAL);
  const ts = task_size_bytes(mm);
  if (fixed && (addr < 0n || addr + alen > ts)) return BigInt(-ENOMEM);
  const hint = fixed ? addr : PAGE_ALIGN(addr);
  const align = extra.align && extra.align > PAGE_SIZE ? pages(extra.align) : 1;
  const ret = yield* do_mmap(mm, {
    addr: hint >= 0n && hint + alen <= ts ? pages(hint) : 0,
    npages: pages(alen),
    prot,
    flags,
    file: anon ? null : file,
    pgoff: anon ? 0 : pages(off),
    io: extra.io ?? false,
    mixedmap: extra.mixedmap ?? false,
    align,
    kind: extra.kind ?? null,
  });
  return ret < 0 ? BigInt(ret) : BigInt(ret) * PAGE_SIZE;
}

/** munmap(2). */
export function* sys_munmap(mm: MmStruct, addr: bigint, len: bigint): Co<number> {
  const ts = task_size_bytes(mm);
  if (offset_in_page(addr) || addr < 0n || addr > ts || len > ts - addr) return -EINVAL;
  const alen = PAGE_ALIGN(len);
  if (alen === 0n) return -EINVAL;
  return yield* do_munmap(mm, pages(addr), pages(alen));
}

/** mprotect(2). */
export function* sys_mprotect(mm: MmStruct, addr: bigint, len: bigint, prot: number): Co<number> {
  if (offset_in_page(addr) || addr < 0n) return -EINVAL;
  if (len === 0n) return 0;
  const alen = PAGE_ALIGN(len);
  if (alen === 0n) return -ENOMEM;
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) return -EINVAL;
  if (addr + alen > task_size_bytes(mm)) return -ENOMEM;
  return yield* do_mprotect(mm, pages(addr), pages(alen), prot);
}

/** mremap(2) (new_addr is used with MREMAP_FIXED). */
export function* sys_mremap(
  mm: MmStruct,
  addr: bigint,
  old_len: bigint,
  new_len: bigint,
  flags: number,
  new_addr = 0n,
): Co<bigint> {
  if (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) return BigInt(-EINVAL);
  if (offset_in_page(addr)) return BigInt(-EINVAL);
  if (flags & MREMAP_FIXED && offset_in_page(new_addr)) return BigInt(-EINVAL);
  const olen = PAGE_ALIGN(old_len);
  const nlen = PAGE_ALIGN(new_len);
  if (nlen === 0n) return BigInt(-EINVAL);
  const ts = task_size_bytes(mm);
  if (addr + olen > ts) return BigInt(-EFAULT);
  if (flags & MREMAP_FIXED && new_addr + nlen > ts) return BigInt(-EINVAL);
  const ret = yield* do_mremap(mm, pages(addr), pages(olen), pages(nlen), flags, pages(new_addr));
  return ret < 0 ? BigInt(ret) : BigInt(ret) * PAGE_SIZE;
}

const MADV_VALID = [
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
];

/** madvise(2). */
export function* sys_madvise(mm: MmStruct, addr: bigint, len: bigint, advice: number): Co<number> {
  if (!MADV_VALID.includes(advice)) return -EINVAL;
  if (offset_in_page(addr) || addr < 0n) return -EINVAL;
  const alen = PAGE_ALIGN(len);
  if (addr + alen < addr) return -EINVAL;
  if (alen === 0n) return 0;
  if (addr + alen > task_size_bytes(mm)) return -ENOMEM;
  return yield* do_madvise(mm, pages(addr), pages(alen), advice);
}

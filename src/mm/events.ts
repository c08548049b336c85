/**
 * Trace events of the mm layer (DESIGN.md Conventions 7), declared into the one trace module.
 * Addresses are page numbers; `mm` is the mm id.
 */
export {};

declare module '../sim/trace.js' {
  interface TraceEventMap {
    'mm.mmap': { mm: number; start: number; npages: number; vm_flags: number; file: string };
    'mm.munmap': { mm: number; start: number; npages: number };
    'mm.mprotect': { mm: number; start: number; npages: number; prot: number; ret: number };
    'mm.mremap': { mm: number; old: number; old_npages: number; new: number; new_npages: number };
    'mm.madvise': { mm: number; start: number; npages: number; advice: number; ret: number };
    'mm.fork': { parent: number; child: number };
    'mm.exit': { mm: number };
    'mm.populate': { mm: number; start: number; npages: number; ret: number };
    'mm.fault': { mm: number; vpn: number; flags: number; ret: number };
    'mm.notifier': {
      mm: number;
      event: string;
      start: number;
      end: number;
      owner: boolean;
      blockable: boolean;
    };
    'mm.reclaim': { mm: number; start: number; npages: number; reclaimed: number };
    'mm.migrate_pages': { mm: number; start: number; npages: number; migrated: number };
    'mm.migrate_vma': { mm: number; start: number; end: number; npages: number; cpages: number };
    'mm.hmm_range_fault': { mm: number; start: number; npages: number; ret: number };
  }
}

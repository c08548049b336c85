/**
 * Trace events of the SVM driver's range layer, workers, ioctl and fault handler (DESIGN.md
 * Conventions 7), declared into the one trace module. Addresses are page numbers; `gpu` is
 * the device whose amdgpu_svm instance emits the event. The attribute layer declares its own
 * `svm.attr.*` events (attr_types.ts).
 */
export {};

declare module '../../sim/trace.js' {
  interface TraceEventMap {
    'svm.lifecycle': { gpu: string; pasid: number; action: 'init' | 'close' | 'fini' | 'release' };
    'svm.ioctl': { gpu: string; op: number; start: number; npages: number; ret: number };
    /** One iteration of the mapping loop: `skip` when the range was already mapped alike. */
    'svm.range.map': {
      gpu: string;
      start: number;
      end: number;
      skip: boolean;
      pte_flags: number;
      ret: number;
    };
    'svm.range.invalidate': {
      gpu: string;
      start: number;
      end: number;
      event: string;
      op: number;
    };
    'svm.range.enqueue': { gpu: string; start: number; last: number; op: string };
    'svm.range.rebuild': {
      gpu: string;
      start: number;
      last: number;
      rebuild: boolean;
      removed: boolean;
    };
    'svm.work': { gpu: string; work: 'gc' | 'restore'; action: string; ret: number };
    'svm.restore': { gpu: string; action: 'begin' | 'end'; ret: number };
    'svm.fault': { gpu: string; pasid: number; page: number; write: boolean; ret: number };
    /** `migration: true`: a range moved (ret 0) or left in place (ret < 0) (migrate.ts). */
    'svm.migrate': { gpu: string; start: number; end: number; target: string; ret: number };
  }
}

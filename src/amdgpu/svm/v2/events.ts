/**
 * Trace events of the V2 design (DESIGN.md Conventions 7), declared into the one trace
 * module next to the shared svm.* events (../events.ts), which V2 also emits (svm.fault,
 * svm.range.map, svm.range.invalidate, svm.range.enqueue, svm.work). Addresses are page
 * numbers; `gpu` is the device whose amdgpu_svm instance emits the event.
 */
import '../events.js';

export {};

declare module '../../../sim/trace.js' {
  interface TraceEventMap {
    /**
     * A step of amdgpu_svm_handle_fault / map_fault that decides the fault's fate: `stale`
     * (checkpoint filter), `synthesised` (default attributes for an unregistered address),
     * `no-vma`, `denied` (VMA permission), `deduped` (2 ms window), `valid` (is_valid skip),
     * `get-pages` (an error, `ret`), `retry` (map_fault's goto retry), `eagain` (the
     * handler's goto retry), `mapped`.
     */
    'svm.v2.fault': { gpu: string; page: number; step: string; ret: number };
    /** The notifier captured the IH checkpoint timestamp on an UNMAP. */
    'svm.v2.checkpoint': { gpu: string; ts: number };
    /** The garbage collector removed a range; `in_fault` when the fault path ran it. */
    'svm.v2.gc': {
      gpu: string;
      pasid: number;
      start: number;
      last: number;
      in_fault: boolean;
      ret: number;
    };
    /** invalidate_interval (RANGE_SPLIT): ranges zapped and removed over [start, last]. */
    'svm.v2.invalidate_interval': {
      gpu: string;
      start: number;
      last: number;
      zapped: number;
      removed: number;
      ret: number;
    };
  }
}

/**
 * Trace events of the drm layer (DESIGN.md Conventions 7), declared into the one trace
 * module. Addresses are page numbers; `gpusvm` is the instance name, `drm` the device.
 */
export {};

declare module '../sim/trace.js' {
  interface TraceEventMap {
    'drm.gpusvm_notifier_insert': { gpusvm: string; start: number; end: number };
    'drm.gpusvm_notifier_remove': { gpusvm: string; start: number; end: number };
    'drm.gpusvm_invalidate': {
      gpusvm: string;
      start: number;
      end: number;
      event: string;
    };
    'drm.gpusvm_range_insert': { gpusvm: string; start: number; end: number; fault: number };
    'drm.gpusvm_range_remove': { gpusvm: string; start: number; end: number };
    'drm.gpusvm_set_unmapped': { gpusvm: string; start: number; end: number; partial: boolean };
    'drm.gpusvm_get_pages': { gpusvm: string; start: number; end: number; ret: number };
    'drm.gpusvm_unmap_pages': { gpusvm: string; npages: number; devmem: boolean };
    'drm.gpusvm_evict': { gpusvm: string; start: number; end: number; ret: number };
    'drm.pagemap_migrate_to_devmem': { drm: string; start: number; end: number; ret: number };
    'drm.pagemap_migrate_to_ram': {
      drm: string;
      start: number;
      end: number;
      cpages: number;
      ret: number;
    };
    'drm.pagemap_timeslice_refused': { drm: string; vpn: number; until: number };
    'drm.pagemap_evict_to_ram': { drm: string; npages: number; ret: number };
  }
}

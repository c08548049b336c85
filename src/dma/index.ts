/**
 * src/dma: per-device DMA mapping of system frames (kernel/dma/mapping.c).
 *
 * Overview
 * - A DmaDevice (one per GPU) maps frames of the shared frame store (src/mm/phys.ts).
 *   dma_map_page / dma_unmap_page and their batch forms dma_map_pages / dma_unmap_pages
 *   count `dma_map_pages` / `dma_unmap_pages` (scoped by device name) and charge the
 *   dma_map_page / dma_unmap_page costs.
 * - SIM: the DMA address is the pfn (no IOMMU remapping); the GPU reads frames through it.
 * - dma_leaks / dma_debug_check_leaks list or trap what is still mapped at teardown.
 *
 * Locking rules
 * - None of its own: every function is atomic. Callers serialise map and unmap of one
 *   range with their own locks (drm_gpusvm's notifier lock), as with the real API.
 *
 * Known limits
 * - No IOMMU, no bounce buffers, no mapping failures (DMA_MAPPING_ERROR is never returned);
 *   direction is accepted and not checked.
 */
export * from './mapping.js';

/**
 * The SVM attribute layer (RFC patches 03-05, amdgpu_svm_attr.[ch]): the per-page attributes
 * userspace sets with SET_ATTR, kept apart from the drm_gpusvm ranges
 * (shared/spec/rfc-series.md §2). One module serves both designs: `variant` 'v1' is the V1
 * code (design rfc-v1), 'v3' the code posted as V3 (the V2 design, rfc-v2).
 *
 * Overview
 * - attr_types.ts: the variant switch, struct amdgpu_svm_attrs / _attr_range, the access enum,
 *   flag masks and change triggers, defaults, and V3's devmem_possible / prefer_vram.
 * - attr_tree.ts: struct amdgpu_svm_attr_tree, node allocation (with failslab injection), the
 *   interval-tree primitives, V3's fault-support lookups (find_locked, get_bounds_locked) and
 *   V1's lookup_page_locked. The V3 fault path inserts a synthesised node for an unregistered
 *   address with amdgpu_svm_attr_range_alloc + amdgpu_svm_attr_range_insert_locked.
 * - attr_apply.ts: per-attribute validation, attr_apply, the change trigger.
 * - attr_set.ts: SET_ATTR: validate, range check (a caller hook), defaults, then set_range
 *   over holes and nodes, one segment at a time, handing each change to the range layer.
 * - attr_get.ts: GET_ATTR: merge over nodes and holes (holes = defaults).
 * - attr_clear.ts: clear_pages on unmap.
 *
 * Where V1 and V3 differ (all selected by attr_tree.variant)
 * - set_hole: V1 makes no node when the result equals the defaults; V3 always makes one.
 * - GET over pages without any node: V1 answers the defaults, V3 -EINVAL.
 * - SET_FLAGS / CLR_FLAGS with GPU_ALWAYS_MAPPED: V3 -EINVAL.
 * - LOCATION_CHANGE: V1 on either location, V3 on preferred_loc only; V3 adds RANGE_SPLIT
 *   (the write split a node) and PREFETCH (new prefetch_loc is a GPU, changed or not).
 * - The range layer gets start/last/prev/new in V1 and the live node in V3.
 * - default_granularity clamps to 0x3f in V1 and 0x1B in V3 (set by svm init).
 * Shared: with XNACK off, SET with ACCESS / ACCESS_IN_PLACE over unchanged attributes still
 * sends ACCESS_CHANGE with old == new.
 *
 * Locking rules
 * - attr_tree.lock (mutex) protects the tree: membership, every node's interval and attrs.
 *   *_locked functions assert it. Allocation under it is GFP_KERNEL (lockdep sees
 *   attr_tree->lock -> fs_reclaim).
 * - SET drops the tree mutex before taking svm_lock for write around the range layer's apply
 *   (never both at once); the V3 fault path takes svm_lock, then the tree mutex.
 * - V3 hands the range layer the node itself, read under svm_lock without the tree mutex: a
 *   concurrent SET or clear can change or free it meanwhile (as in the RFC); freed nodes are
 *   marked so a later use can be caught.
 *
 * Known limits
 * - Addresses are page numbers; ULONG_MAX is AMDGPU_SVM_ULONG_MAX (2^53-1).
 * - The interval tree is a sorted array: lookups O(log n), insert and remove O(n) moves.
 * - The RFC's endless SET retry loop traps `livelock` after AMDGPU_SVM_ATTR_SET_MAX_RETRIES.
 * - amdgpu_svm_check_vma and the mm half of validate_range_vma are the caller's (mm layer).
 */
export * from './attr_types.js';
export * from './attr_tree.js';
export * from './attr_apply.js';
export * from './attr_set.js';
export * from './attr_get.js';
export * from './attr_clear.js';

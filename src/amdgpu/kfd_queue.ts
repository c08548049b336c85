/**
 * KFD user queues and their eviction (kfd_chardev.c, kfd_process_queue_manager.c,
 * kfd_device_queue_manager.c, kfd_device.c kgd2kfd_quiesce_mm / kgd2kfd_resume_mm).
 *
 * Quiesce is process-wide: it evicts the process's queues on every GPU, and nests (each
 * quiesce needs its resume; qpd->evicted counts them). An evicted queue is unmapped: its
 * engines stop at their next memory access until the queue is restored. SIM: the hardware
 * preemption (CWSR save) is immediate at the access boundary, so quiesce needs no wait.
 */
import { EINVAL, ENODEV, ESRCH } from '../sim/errno.js';
import { mutex_lock, mutex_unlock } from '../sim/locks.js';
import { memalloc_noreclaim_restore, memalloc_noreclaim_save } from '../sim/reclaim.js';
import { getSim } from '../sim/scheduler.js';
import type { Co } from '../sim/task.js';
import { WARN_ON } from '../sim/trap.js';
import { wake_up_all } from '../sim/wait.js';
import type { amdgpu_device } from './amdgpu.js';
import { amdgpu_driver_postclose_kms } from './device.js';
import {
  kfd_get_process_device_data,
  kfd_lookup_process_by_mm,
  kfd_process_table_remove,
  kfd_unref_process,
} from './kfd_process.js';
import {
  queue,
  type KfdQueueEngine,
  type kfd_process,
  type kfd_process_device,
  type qcm_process_device,
} from './kfd_priv.js';

/** dqm_lock: the device queue manager's mutex; it enters noreclaim (taken from reclaim). */
function* dqm_lock(dev: amdgpu_device): Co {
  yield* mutex_lock(dev.dqm.lock_hidden);
  dev.dqm.saved_flags = memalloc_noreclaim_save();
}

function dqm_unlock(dev: amdgpu_device): void {
  memalloc_noreclaim_restore(dev.dqm.saved_flags);
  mutex_unlock(dev.dqm.lock_hidden);
}

/** The lowest queue id the process does not use (pqm->queue_slot_bitmap). */
function find_available_queue_slot(p: kfd_process): number {
  const used = new Set(p.pqm.queues.map((q) => q.queue_id));
  let id = 0;
  while (used.has(id)) id++;
  return id;
}

/**
 * pqm_create_queue -> create_queue_cpsch: a new queue on the pdd's GPU. A queue created while
 * the process is evicted starts evicted. p->mutex held.
 */
function* pqm_create_queue(
  p: kfd_process,
  pdd: kfd_process_device,
  engine: KfdQueueEngine,
): Co<queue> {
  const q = new queue(find_available_queue_slot(p), p, pdd, engine);
  yield* dqm_lock(pdd.dev);
  if (pdd.qpd.evicted) {
    q.properties.is_evicted = true;
    q.properties.is_active = false;
  }
  pdd.qpd.queues.push(q);
  dqm_unlock(pdd.dev);
  p.pqm.queues.push(q);
  getSim().trace.emit('kfd.queue', { gpu: pdd.dev.name, queue: q.queue_id, action: 'create' });
  return q;
}

/** kfd_ioctl_create_queue: a user queue of `engine` on `dev`; -ENODEV without a bound VM. */
export function* kfd_ioctl_create_queue(
  p: kfd_process,
  dev: amdgpu_device,
  engine: KfdQueueEngine = 'compute',
): Co<queue | number> {
  yield* mutex_lock(p.mutex);
  const pdd = kfd_get_process_device_data(p, dev);
  let r: queue | number;
  if (p.released) r = -ESRCH;
  else if (!pdd?.drm_priv) r = -ENODEV;
  else r = yield* pqm_create_queue(p, pdd, engine);
  mutex_unlock(p.mutex);
  return r;
}

/**
 * pqm_destroy_queue -> destroy_queue_cpsch: the queue is unmapped and freed; a kernel still
 * running on it stops at its next access. p->mutex held.
 */
function* pqm_destroy_queue(p: kfd_process, q: queue): Co<number> {
  const i = p.pqm.queues.indexOf(q);
  if (i < 0) return -EINVAL;
  const dev = q.dev;
  yield* dqm_lock(dev);
  const qpd = q.pdd.qpd;
  const j = qpd.queues.indexOf(q);
  if (j >= 0) qpd.queues.splice(j, 1);
  q.destroyed = true;
  q.properties.is_active = false;
  wake_up_all(q.wq);
  dqm_unlock(dev);
  p.pqm.queues.splice(i, 1);
  getSim().trace.emit('kfd.queue', { gpu: dev.name, queue: q.queue_id, action: 'destroy' });
  return 0;
}

export function* kfd_ioctl_destroy_queue(p: kfd_process, q: queue): Co<number> {
  yield* mutex_lock(p.mutex);
  const r = yield* pqm_destroy_queue(p, q);
  mutex_unlock(p.mutex);
  return r;
}

/** evict_process_queues_cpsch: the first eviction unmaps the process's queues on `dev`. */
function* evict_process_queues_cpsch(
  dev: amdgpu_device,
  qpd: qcm_process_device,
  trigger: number,
): Co<number> {
  yield* dqm_lock(dev);
  if (qpd.evicted++ === 0) {
    for (const q of qpd.queues) {
      q.properties.is_evicted = true;
      q.properties.is_active = false;
    }
    getSim().account('queue_quiesce', 1, 'queue_quiesce', dev.name);
  }
  getSim().trace.emit('kfd.evict', { gpu: dev.name, evicted: qpd.evicted, trigger });
  dqm_unlock(dev);
  return 0;
}

/** restore_process_queues_cpsch: the last restore maps the queues again. */
function* restore_process_queues_cpsch(dev: amdgpu_device, qpd: qcm_process_device): Co<number> {
  yield* dqm_lock(dev);
  // WARN_ON_ONCE(!qpd->evicted): a restore without an eviction is a bug of the caller.
  if (WARN_ON(qpd.evicted === 0, `restore_process_queues_cpsch on ${dev.name}: not evicted`)) {
    dqm_unlock(dev);
    return 0;
  }
  if (qpd.evicted > 1) {
    qpd.evicted--;
  } else {
    for (const q of qpd.queues) {
      q.properties.is_evicted = false;
      q.properties.is_active = true;
      wake_up_all(q.wq);
    }
    qpd.evicted = 0;
    getSim().account('queue_resume', 1, 'queue_resume', dev.name);
  }
  getSim().trace.emit('kfd.restore', { gpu: dev.name, evicted: qpd.evicted });
  dqm_unlock(dev);
  return 0;
}

/** kfd_process_evict_queues: evict the process's queues on every GPU. */
export function* kfd_process_evict_queues(p: kfd_process, trigger: number): Co<number> {
  for (const pdd of p.pdds) {
    const r = yield* evict_process_queues_cpsch(pdd.dev, pdd.qpd, trigger);
    if (r) return r;
  }
  return 0;
}

/** kfd_process_restore_queues: restore them on every GPU. */
export function* kfd_process_restore_queues(p: kfd_process): Co<number> {
  let ret = 0;
  for (const pdd of p.pdds) {
    const r = yield* restore_process_queues_cpsch(pdd.dev, pdd.qpd);
    if (r && !ret) ret = r;
  }
  return ret;
}

/** kgd2kfd_quiesce_mm(mm, trigger): evict the queues of mm's KFD process; -ESRCH if none. */
export function* kgd2kfd_quiesce_mm(mm: object, trigger: number): Co<number> {
  const p = kfd_lookup_process_by_mm(mm);
  if (!p) return -ESRCH;
  const r = yield* kfd_process_evict_queues(p, trigger);
  kfd_unref_process(p);
  return r;
}

/** kgd2kfd_resume_mm(mm): restore them; -ESRCH if mm has no KFD process. */
export function* kgd2kfd_resume_mm(mm: object): Co<number> {
  const p = kfd_lookup_process_by_mm(mm);
  if (!p) return -ESRCH;
  const r = yield* kfd_process_restore_queues(p);
  kfd_unref_process(p);
  return r;
}

/** Is any GPU's queue set of the process evicted now (a liveness check after settling)? */
export function kfd_process_queues_evicted(p: kfd_process): boolean {
  return p.pdds.some((pdd) => pdd.qpd.evicted > 0);
}

/**
 * kfd_process_notifier_release: the mm is going away; every queue is destroyed and the
 * process leaves the mm table (its files are closed later, clarifications.md §4).
 */
export function* kfd_process_notifier_release(p: kfd_process): Co {
  if (p.released) return;
  yield* mutex_lock(p.mutex);
  for (const q of [...p.pqm.queues]) yield* pqm_destroy_queue(p, q);
  p.released = true;
  mutex_unlock(p.mutex);
  kfd_process_table_remove(p);
}

/** SIM: a whole process exit in Linux's order: release (queues), then close every GPU file. */
export function* kfd_process_teardown(p: kfd_process): Co {
  yield* kfd_process_notifier_release(p);
  for (const pdd of p.pdds) {
    const f = pdd.drm_priv;
    if (!f) continue;
    pdd.drm_priv = null;
    yield* amdgpu_driver_postclose_kms(f);
  }
}

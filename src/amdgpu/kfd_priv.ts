/**
 * KFD's process and queue structures (kfd_priv.h), reduced to what the SVM design needs:
 * per-GPU user queues, their eviction state and the process's XNACK mode.
 */
import { Kref } from '../sim/kref.js';
import { Mutex } from '../sim/locks.js';
import type { Task } from '../sim/task.js';
import { WaitQueue } from '../sim/wait.js';
import type { amdgpu_device, amdgpu_fpriv } from './amdgpu.js';

declare module '../sim/trace.js' {
  interface TraceEventMap {
    'kfd.queue': { gpu: string; queue: number; action: 'create' | 'destroy' };
    'kfd.evict': { gpu: string; evicted: number; trigger: number };
    'kfd.restore': { gpu: string; evicted: number };
    'kfd.xnack': { enabled: boolean };
  }
}

/** enum kfd_queue_eviction_trigger / KFD_SMI_EVENT triggers (kfd_ioctl.h). */
export const KFD_QUEUE_EVICTION_TRIGGER_SVM = 1;
export const KFD_QUEUE_EVICTION_TRIGGER_USERPTR = 2;
export const KFD_QUEUE_EVICTION_TRIGGER_TTM = 3;
export const KFD_QUEUE_EVICTION_TRIGGER_SUSPEND = 4;

/** The engine a user queue feeds: KFD_QUEUE_TYPE_COMPUTE or KFD_QUEUE_TYPE_SDMA. */
export type KfdQueueEngine = 'compute' | 'sdma';

/** struct queue_properties, the fields the model uses. */
export interface queue_properties {
  readonly type: KfdQueueEngine;
  /** Evicted with its process (qpd->evicted > 0). */
  is_evicted: boolean;
  /** Mapped and running on the hardware. */
  is_active: boolean;
}

/** struct queue (kfd_priv.h): one user queue of a process on one GPU. */
export class queue {
  readonly properties: queue_properties;
  /**
   * The queue's retry mode (SH_MEM_CONFIG.RETRY_DISABLE from qpd->sh_mem_config): the
   * process's XNACK mode when the queue was created, which cannot change while it exists.
   */
  readonly xnack_enabled: boolean;
  /** Took an unrecoverable fault (or a job timeout): runs nothing more. */
  dead = false;
  /** pqm_destroy_queue done. */
  destroyed = false;
  /** Engines wait here while the queue is not active (evicted). */
  readonly wq: WaitQueue;
  /** The last kernel dispatched: the next one starts after it (queues execute in order). */
  last_job: Task | null = null;
  jobs = 0;

  constructor(
    readonly queue_id: number,
    readonly process: kfd_process,
    readonly pdd: kfd_process_device,
    engine: KfdQueueEngine,
  ) {
    this.properties = { type: engine, is_evicted: false, is_active: true };
    this.xnack_enabled = process.xnack_enabled;
    this.wq = new WaitQueue(`queue ${pdd.dev.name}:${queue_id}`);
  }

  get dev(): amdgpu_device {
    return this.pdd.dev;
  }
}

/** struct qcm_process_device: a process's queues on one GPU. dqm->lock_hidden. */
export class qcm_process_device {
  readonly queues: queue[] = [];
  /** Eviction count: evict_process_queues increments, restore decrements; > 0 = quiesced. */
  evicted = 0;
}

/** struct kfd_process_device: a process's state on one GPU. */
export class kfd_process_device {
  readonly qpd = new qcm_process_device();
  /** The render-node file whose VM KFD uses (kfd_process_device_init_vm); p->mutex. */
  drm_priv: amdgpu_fpriv | null = null;

  constructor(
    readonly dev: amdgpu_device,
    readonly process: kfd_process,
  ) {}
}

/** struct kfd_process (kfd_priv.h): one per mm. */
export class kfd_process {
  /** p->mutex: queue creation and destruction, the XNACK switch, VM binding. */
  readonly mutex = new Mutex('&p->mutex');
  readonly ref = new Kref('kfd_process');
  /** One per GPU of the system (kfd_create_process_device_data for every node). */
  readonly pdds: kfd_process_device[] = [];
  /** p->pqm.queues: every queue of the process, all GPUs. p->mutex. */
  readonly pqm: { readonly queues: queue[] } = { queues: [] };
  /** p->xnack_enabled: the retry mode new queues get. p->mutex. */
  xnack_enabled = false;
  /** kfd_process_notifier_release ran: the mm is gone, queues destroyed. */
  released = false;

  constructor(
    /** The process's mm_struct (opaque to this layer). */
    readonly mm: object,
  ) {}
}

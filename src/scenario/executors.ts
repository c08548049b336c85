/** Step kind -> executor: every step of SCENARIO-FORMAT.md. */
import type { Co } from '../sim/task.js';
import type { StepCtx } from './context.js';
import * as control from './exec-control.js';
import * as cpu from './exec-cpu.js';
import * as gpu from './exec-gpu.js';
import * as proc from './exec-process.js';
import * as svm from './exec-svm.js';
import type { Step } from './loader.js';
import type { StepKind } from './steps.js';

type Executors = { [K in StepKind]: (ctx: StepCtx, st: Extract<Step, { kind: K }>) => Co<number> };

export const EXECUTORS: Executors = {
  mmap: cpu.exec_mmap,
  munmap: cpu.exec_munmap,
  mprotect: cpu.exec_mprotect,
  mremap: cpu.exec_mremap,
  madvise: cpu.exec_madvise,
  write: cpu.exec_write,
  read: cpu.exec_read,
  'file.read': cpu.exec_file_read,
  'file.write': cpu.exec_file_write,
  reclaim: cpu.exec_reclaim,
  migrate_pages: cpu.exec_migrate_pages,
  fork: proc.exec_fork,
  exit: proc.exec_exit,
  wait: proc.exec_wait,
  kill: proc.exec_kill,
  'svm.set': svm.exec_svm_set,
  'svm.get': svm.exec_svm_get,
  ioctl: svm.exec_ioctl,
  'gpu.read': gpu.exec_gpu_read,
  'gpu.write': gpu.exec_gpu_write,
  'gpu.atomic': gpu.exec_gpu_atomic,
  'gpu.copy': gpu.exec_gpu_copy,
  'gpu.mapped': gpu.exec_gpu_mapped,
  where: gpu.exec_where,
  'queue.create': gpu.exec_queue_create,
  'queue.destroy': gpu.exec_queue_destroy,
  'xnack.set': gpu.exec_xnack_set,
  'xnack.get': gpu.exec_xnack_get,
  settle: control.exec_settle,
  sleep: control.exec_sleep,
  barrier: control.exec_barrier,
  expect_counters: control.exec_expect_counters,
};

/**
 * Process steps (fork, exit, wait, kill) and process teardown. A process ends when its last
 * thread ends after an exit or a signal; teardown then follows Linux's exit order
 * (clarifications.md §4): the mm goes first (mmu notifier release, which also runs KFD's
 * release and destroys the queues, then UNMAP as the VMAs go), then the GPU files close.
 */
import { kfd_process_notifier_release, kfd_process_teardown } from '../amdgpu/kfd_queue.js';
import { dup_mm, mmput } from '../mm/fork.js';
import type { Co } from '../sim/task.js';
import { WaitQueue, wait_event, wake_up_all } from '../sim/wait.js';
import { type StepCtx } from './context.js';
import type { Step } from './loader.js';
import { StepFailed, type Process, type World } from './world.js';

type S<K extends Step['kind']> = Extract<Step, { kind: K }>;

/** Woken whenever a process ends. */
const exits = new WeakMap<World, WaitQueue>();
function exitWq(world: World): WaitQueue {
  let wq = exits.get(world);
  if (!wq) {
    wq = new WaitQueue('process exit');
    exits.set(world, wq);
  }
  return wq;
}

/** Thrown to end the current thread after exit or a signal (not a failure). */
export class ThreadExit extends Error {
  override readonly name = 'ThreadExit';
}

/** do_exit of the last thread: tear the process down. Runs once per process. */
export function* teardownProcess(world: World, p: Process): Co {
  if (p.gone || p.tearingDown) return;
  p.tearingDown = true;
  p.exitStatus ??= 0;
  yield* mmput(p.mm);
  if (p.kfd) yield* kfd_process_teardown(p.kfd);
  p.gone = true;
  wake_up_all(exitWq(world));
}

/** A thread of `p` ends; the last one out tears the process down if it is exiting. */
export function* threadDone(world: World, p: Process): Co {
  p.liveThreads--;
  if (p.liveThreads === 0 && p.exitStatus !== null) yield* teardownProcess(world, p);
}

export function* exec_fork(ctx: StepCtx, st: S<'fork'>): Co<number> {
  const parent = ctx.proc;
  if (parent.children.has(st.f.as))
    throw new StepFailed(`a new child name`, `'${st.f.as}' is taken`);
  const mm = yield* dup_mm(parent.mm, st.f.as);
  const child = ctx.world.newProcess(st.f.as, parent, mm);
  for (const [k, v] of parent.names) child.names.set(k, v);
  ctx.oracle.shadows.set(child, ctx.oracle.shadow(parent).clone());
  parent.children.set(st.f.as, child);
  ctx.runThread(child, st.f.as, st.children ?? []);
  return 0;
}

export function* exec_exit(ctx: StepCtx, st: S<'exit'>): Co<number> {
  ctx.proc.exitStatus ??= st.f.code ?? 0;
  throw new ThreadExit();
}

function child(ctx: StepCtx, name: string): Process {
  const c = ctx.proc.children.get(name);
  if (!c) throw new StepFailed(`a child named ${name}`, 'no such child of this process');
  return c;
}

export function* exec_wait(ctx: StepCtx, st: S<'wait'>): Co<number> {
  const c = child(ctx, st.f.process);
  yield* wait_event(exitWq(ctx.world), () => c.gone);
  const want = st.f.expect_exit;
  if (want !== undefined && want !== c.exitStatus) {
    throw new StepFailed(`${c.name} to exit with ${want}`, `${c.name} exited with ${c.exitStatus}`);
  }
  return 0;
}

export function* exec_kill(ctx: StepCtx, st: S<'kill'>): Co<number> {
  const c = child(ctx, st.f.process);
  if (c.exitStatus !== null) return 0;
  c.exitStatus = st.f.signal ?? 'SIGKILL';
  // The signal stops the child's threads at their next step; its queues stop now, as the
  // mm's release would stop them (a GPU job of the child ends, so its thread can see it).
  if (c.kfd) yield* kfd_process_notifier_release(c.kfd);
  c.wake();
  return 0;
}

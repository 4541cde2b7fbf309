/**
 * The executor: a FIFO run queue of tasks and the loop that polls them.
 *
 * This is the part of an async runtime that is a *scheduler*, and the contrast with the
 * kernel's scheduler is the point of the whole design. The kernel decides which *thread* runs on
 * a CPU core and preempts it whenever it likes. The executor runs inside one thread and decides
 * which *task* to poll next; it can never preempt one. A task runs until its future returns
 * `PENDING`, which is why every wait in polled is a future that returns quickly, and why leaf
 * futures spend a cooperative budget (`coop.ts`).
 *
 * The executor knows nothing of sockets or timers. Wakers put tasks on the queue (`schedule`);
 * the drivers in `runtime.ts` call `run` when there is something to do.
 */
import { resetBudget } from './coop';
import { Deque } from './deque';
import type { Scheduler, Task } from './task';

/** What the executor asks of the runtime that owns it, given once at construction. */
export interface ExecutorHooks {
  /** The queue went from empty to non-empty outside of `run`: the driver arranges a run. */
  onWork(): void;
  /** Run `f` with the owning runtime current (an aborted task's future is dropped there). */
  enter<R>(f: () => R): R;
  /** A task failed and nothing awaited it by the end of the run (lib/unhandled.ts). Default: nothing. */
  unhandled?(task: Task<unknown>): void;
}

const NO_HOOKS: ExecutorHooks = { onWork() {}, enter: (f) => f() };

export class Executor implements Scheduler {
  private readonly queue = new Deque<Task<unknown>>(1024);
  private running = false;
  /** Spawned and not yet finished, by identity (graceful shutdown cancels what is left). */
  readonly tasks = new Set<Task<unknown>>();
  /** Called when the last live task finishes: a listener graceful shutdown sets while it waits. */
  onIdle: (() => void) | null = null;
  /** Tasks that failed with nothing observing them, decided at the end of a run that empties the queue. */
  private failures: Task<unknown>[] = [];

  constructor(private readonly hooks: ExecutorHooks = NO_HOOKS) {}

  schedule(task: Task<unknown>): void {
    this.queue.push(task);
    if (!this.running && this.queue.length === 1) this.hooks.onWork();
  }

  failedUnobserved(task: Task<unknown>): void {
    this.failures.push(task);
  }

  retire(task: Task<unknown>): void {
    this.tasks.delete(task);
    if (this.tasks.size === 0 && this.onIdle !== null) this.onIdle();
  }

  enter<R>(f: () => R): R {
    return this.hooks.enter(f);
  }

  /** Ask the driver for a run even though nothing new was queued (shutdown waits through it). */
  requestRun(): void {
    this.hooks.onWork();
  }

  /** A new task: counts as live, and is scheduled for its first poll. */
  spawn(task: Task<unknown>): void {
    this.tasks.add(task);
    task.wakeByRef();
  }

  get queued(): number {
    return this.queue.length;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /**
   * Poll queued tasks in FIFO order: at most `maxPolls` polls, and stop after `maxMs` (checked
   * every 64 polls) so that an embedded runtime gives Node's loop its turn. Tasks woken during
   * the run join the back of the queue and are polled in the same run if the slice allows.
   * Returns true when the queue is empty.
   */
  run(maxPolls = Infinity, maxMs = Infinity): boolean {
    if (this.running) throw new Error('polled: the executor is already running (blockOn inside a task?)');
    this.running = true;
    const start = maxMs === Infinity ? 0 : performance.now();
    try {
      let polls = 0;
      while (this.queue.length > 0) {
        if (polls >= maxPolls) break;
        if ((polls & 63) === 63 && maxMs !== Infinity && performance.now() - start >= maxMs) break;
        const task = this.queue.shift();
        resetBudget();
        task.run();
        polls++;
      }
    } finally {
      this.running = false;
    }
    if (this.failures.length > 0 && this.queue.length === 0) this.reportFailures();
    return this.queue.length === 0;
  }

  /**
   * The run is over and every woken task has had its poll: a failed task that nothing observed
   * by now is unhandled (as Node decides an unhandled rejection once the microtasks ran).
   */
  private reportFailures(): void {
    const failed = this.failures;
    this.failures = [];
    for (const t of failed) if (!t.observed) this.hooks.unhandled?.(t);
  }
}

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
import type { Scheduler, Task } from './task';

/** A growable ring buffer: O(1) push and shift without array re-indexing. */
class RunQueue {
  private buf: Array<Task<unknown> | undefined> = new Array(1024);
  private head = 0;
  private tail = 0;
  private mask = 1023;
  length = 0;

  push(t: Task<unknown>): void {
    if (this.length === this.buf.length) this.grow();
    this.buf[this.tail] = t;
    this.tail = (this.tail + 1) & this.mask;
    this.length++;
  }

  shift(): Task<unknown> | undefined {
    if (this.length === 0) return undefined;
    const t = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.length--;
    return t;
  }

  private grow(): void {
    const old = this.buf;
    const n = old.length;
    const next = new Array<Task<unknown> | undefined>(n * 2);
    for (let i = 0; i < n; i++) next[i] = old[(this.head + i) & this.mask];
    this.buf = next;
    this.head = 0;
    this.tail = n;
    this.mask = n * 2 - 1;
  }
}

export class Executor implements Scheduler {
  private readonly queue = new RunQueue();
  /** Spawned and not yet finished. */
  liveTasks = 0;
  /** Called when the queue goes from empty to non-empty outside of `run`: the driver arranges a run. */
  onWork: () => void = () => {};
  private running = false;

  schedule(task: Task<unknown>): void {
    this.queue.push(task);
    if (!this.running && this.queue.length === 1) this.onWork();
  }

  retire(task: Task<unknown>): void {
    this.liveTasks--;
    this.tasks.delete(task);
    if (this.tasks.size === 0 && this.onIdle !== null) this.onIdle();
  }

  /** Spawned and not yet finished, by identity (graceful shutdown cancels what is left). */
  readonly tasks = new Set<Task<unknown>>();
  /** Called when the last live task finishes (graceful shutdown waits for it). */
  onIdle: (() => void) | null = null;

  /** Set by the runtime: makes it the current runtime while `f` runs. */
  enter: <R>(f: () => R) => R = (f) => f();

  /** A new task: counts as live, and is scheduled for its first poll. */
  spawn(task: Task<unknown>): void {
    this.liveTasks++;
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
        const task = this.queue.shift()!;
        resetBudget();
        task.run();
        polls++;
      }
    } finally {
      this.running = false;
    }
    return this.queue.length === 0;
  }
}

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
 * the drivers (`driver-embedded.ts`, `driver-block.ts`) call `run` when there is something to do.
 *
 * Fairness: a task that stops because it spent its cooperative budget (an always-ready stream)
 * is not put back at the end of the queue, where it would run again before the kernel is next
 * asked what is ready: it is set aside until the driver has looked (`run`'s `look`: a wait with a
 * zero timeout, whose wakes are queued first). So readiness that arrives while a run goes on,
 * a listener's included, is served in the order it arrived, after at most one round of the
 * busy tasks; and a run is bounded (`maxPolls`, `maxMs`) under either driver.
 */
import { resetBudget, yielded } from './coop';
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

/** What the executor calls instead of `task.run()` while a runtime is observed (lib/observe.ts). */
export interface PollObserver {
  /** Poll `task` once (call `task.run()`), timing and counting it. */
  poll(task: Task<unknown>): void;
}

/**
 * The long-poll warning on its own (lib/observe.ts `LongPollObserver`): the executor times each
 * poll itself, one clock read per poll (a poll's end is the next one's start), and calls `warn`
 * for a poll of `thresholdMs` or more.
 */
export interface LongPollCheck {
  readonly thresholdMs: number;
  /** True when `now()` is `performance.now()` (not a clock injected by a test): a timed run's start reading serves. */
  readonly realClock: boolean;
  /** Now, in ms. */
  now(): number;
  warn(task: Task<unknown>, durationMs: number): void;
}

/** What the executor tells of every wake while a runtime's metrics are on (lib/observe.ts). */
export interface WakeObserver {
  /** `task` was just queued (or set aside until the next look at the kernel). */
  woken(task: Task<unknown>): void;
}

const NO_HOOKS: ExecutorHooks = { onWork() {}, enter: (f) => f() };

export class Executor implements Scheduler {
  private readonly queue = new Deque<Task<unknown>>(1024);
  /** Tasks that spent their budget in this run: polled again after the next look at the kernel. */
  private readonly deferred: Array<Task<unknown>> = [];
  private current: Task<unknown> | null = null;
  private running = false;
  /**
   * @internal Runs so far: a run is the work between two looks at the kernel (a `run` call, and
   * each `look` inside one starts a new run). For tests of fairness, and for diagnostics.
   */
  runs = 0;
  /** Spawned and not yet finished, by identity (graceful shutdown cancels what is left). */
  readonly tasks = new Set<Task<unknown>>();
  /** Called when the last live task finishes: a listener graceful shutdown sets while it waits. */
  onIdle: (() => void) | null = null;
  /** Tasks that failed with nothing observing them, decided at the end of a run that empties the queue. */
  private failures: Task<unknown>[] = [];
  /** @internal Whoever times and counts each poll (lib/observe.ts), or null: then a poll is just `task.run()`. */
  observer: PollObserver | null = null;
  /** @internal Whoever counts wakes (lib/observe.ts), or null: one field read per wake while off. */
  wakeObserver: WakeObserver | null = null;
  /** @internal The long-poll check (lib/observe.ts), or null: one local test per poll while off. */
  longPoll: LongPollCheck | null = null;

  constructor(private readonly hooks: ExecutorHooks = NO_HOOKS) {}

  schedule(task: Task<unknown>): void {
    if (task === this.current && yielded()) {
      this.deferred.push(task);
    } else {
      this.queue.push(task);
      if (!this.running && this.queue.length === 1) this.hooks.onWork();
    }
    if (this.wakeObserver !== null) this.wakeObserver.woken(task);
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

  /** Tasks waiting to be polled: queued, or set aside until the next look at the kernel. */
  get queued(): number {
    return this.queue.length + this.deferred.length;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /**
   * Poll queued tasks in FIFO order: at most `maxPolls` polls, and stop after `maxMs` (checked
   * every 64 polls, and after every poll that spent its whole budget) so that the driver gets the
   * thread back: Node's loop its turn (embedded), the kernel a look (blockOn). Tasks woken during
   * the run join the back of the queue and are polled in the same run if the slice allows.
   *
   * Tasks that spent their budget wait for the queue to run dry; then `look` asks the kernel what
   * arrived meanwhile (its wakes are queued), and they follow that. Without `look` (a run by
   * hand: no kernel to ask) they follow at once. Returns true when nothing is left to poll.
   */
  run(maxPolls = Infinity, maxMs = Infinity, look: (() => void) | null = null): boolean {
    if (this.running) throw new Error('polled: the executor is already running (blockOn inside a task?)');
    this.running = true;
    const timed = maxMs !== Infinity;
    const start = timed ? performance.now() : 0;
    const queue = this.queue;
    const lp = this.longPoll;
    /** The long-poll check's reading at the end of the last poll (or of the last look): the next poll's start. */
    let mark = lp === null ? 0 : timed && lp.realClock ? start : lp.now();
    try {
      this.runs++;
      // Those set aside by the last run: the driver has looked at the kernel since.
      this.releaseDeferred();
      let polls = 0;
      for (;;) {
        if (queue.length === 0) {
          if (this.deferred.length === 0 || polls >= maxPolls || (timed && performance.now() - start >= maxMs)) break;
          if (look !== null) {
            look();
            this.runs++;
            if (lp !== null) mark = lp.now();
          }
          this.releaseDeferred();
          continue;
        }
        if (polls >= maxPolls) break;
        const task = queue.shift();
        this.current = task;
        resetBudget();
        // Observed (metrics, trace, long-poll warnings: lib/observe.ts), the poll is timed and counted there.
        if (this.observer === null) task.run();
        else this.observer.poll(task);
        this.current = null;
        polls++;
        if (lp !== null) {
          const t = lp.now();
          if (t - mark >= lp.thresholdMs) {
            lp.warn(task, t - mark);
            mark = lp.now(); // printing the warning took time too
          } else mark = t;
        }
        if (timed && ((polls & 63) === 0 || yielded()) && performance.now() - start >= maxMs) break;
      }
    } finally {
      this.current = null;
      this.running = false;
    }
    const drained = queue.length === 0 && this.deferred.length === 0;
    if (this.failures.length > 0 && drained) this.reportFailures();
    return drained;
  }

  private releaseDeferred(): void {
    const d = this.deferred;
    for (let i = 0; i < d.length; i++) this.queue.push(d[i]);
    d.length = 0;
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

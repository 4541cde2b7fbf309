/**
 * What every runtime is: one executor, one timer queue, one `enter`, and the two drivers that
 * feed them, over a `Park` (the thing a driver waits on).
 *
 * - **Embedded** (`driver-embedded.ts`, the default): the runtime lives in Node's event loop.
 * - **`blockOn(future)`** (`driver-block.ts`): owns the thread and parks in the kernel.
 *
 * Either way the same executor runs the same tasks: a runtime can serve in Node's loop, be
 * entered with `blockOn`, and go back to Node's loop with its remaining tasks. `Runtime`
 * (`runtime.ts`) parks on the native poller and adds sockets; `TimerRuntime`
 * (`timer-runtime.ts`) parks on plain JavaScript timers and needs no addon.
 */
import { enter, currentRuntime, forgetDefault, swapCurrent, type RuntimeContext } from './context';
import { EmbeddedDriver } from './driver-embedded';
import { driveBlocking } from './driver-block';
import { Executor } from './executor';
import { intoFuture, noopContext, type BlockOnGotTheGeneratorFunction, type IntoFuture, type SpawnGotTheGeneratorFunction } from './future';
import type { Park } from './park';
import { shutdownRuntime, type ShutdownOptions, type ShutdownReport } from './shutdown';
import { JoinHandle, Task } from './task';
import { Timers } from './timers';
import { checkUnhandledPolicy, reportUnhandled, type UnhandledErrorPolicy } from './unhandled';
import { optionalInt } from './validate';
import { isMainThread, threadId } from 'node:worker_threads';
import { envObserveOptions, formatTaskDump, LongPollObserver, metricsOf, RuntimeObserver, taskInfos, traceEnvRing, type LongPollOptions, type MetricsOptions, type RuntimeMetrics, type TaskInfo } from './observe';
import { RuntimeTrace } from './runtime-trace';

export interface RuntimeCoreOptions {
  /**
   * The longest the executor runs before the driver gets the thread back, in ms: embedded, Node's
   * loop takes its turn; under blockOn, the kernel is asked for what is ready. Default 4.
   */
  sliceMs?: number;
  /** The most task polls per slice (both drivers). Default 4096. */
  slicePolls?: number;
  /**
   * What to do when a task fails and nothing awaits its JoinHandle (decided at the end of the
   * executor's run, as Node decides an unhandled rejection): `'warn'` (the default) prints the
   * task's name and the error's stack to stderr, sets `process.exitCode = 1` and keeps running;
   * `'exit'` prints the same and calls `process.exit(1)`; a function is called with the error
   * and the task's `{ id, name }` instead (if it throws, both are printed as for `'warn'`).
   * Cancellation is not a failure. A later await of the handle still gets the error.
   */
  onUnhandledError?: UnhandledErrorPolicy;
  /**
   * Observe the runtime from the start (lib/observe.ts): `runtime.metrics()` counts, the task dump
   * says what each task waits on, long polls are warned about, and with `trace` the last events
   * are kept. `true` for the defaults. Off by default (then the executor checks one field per
   * poll and nothing else runs); `POLLED_METRICS=1` or `POLLED_TRACE=out.json` turn it on for
   * every runtime.
   */
  metrics?: boolean | MetricsOptions;
  /**
   * The long-poll warning alone, without the rest of `metrics`: one clock read per poll. `true`
   * for a threshold of 100 ms. (With `metrics` on, its `longPollMs` decides instead.)
   */
  longPoll?: boolean | LongPollOptions;
}

let runtimes = 0;

export abstract class RuntimeCore implements RuntimeContext {
  /** @internal The run queue and its tasks (`polled/internals`: `executorOf`). */
  readonly executor: Executor;
  /** @internal The timer queue and the clock (`polled/internals`: `timersOf`). */
  readonly timers = new Timers();
  /** @internal */
  protected readonly park: Park;
  private readonly embedded: EmbeddedDriver;
  private readonly sliceMs: number;
  private readonly slicePolls: number;
  private closed = false;
  private blocking = false;
  /** Unobserved failures waiting for the microtasks to run (see `unhandled`). */
  private pendingReports: Task<unknown>[] | null = null;
  private observer: RuntimeObserver | null = null;
  private longPollObserver: LongPollObserver | null = null;
  private traceView: RuntimeTrace | null = null;
  /** "runtime 1 (main thread)": how the dump and the trace name this runtime. */
  readonly label = `runtime ${++runtimes} (${isMainThread ? 'main thread' : `worker thread ${threadId}`})`;

  protected constructor(park: Park, options: RuntimeCoreOptions) {
    this.park = park;
    this.sliceMs = optionalInt(options.sliceMs, 'sliceMs', 1, 60_000, 4);
    this.slicePolls = optionalInt(options.slicePolls, 'slicePolls', 1, 1 << 30, 4096);
    this.embedded = new EmbeddedDriver(this, park, this.sliceMs, this.slicePolls);
    const policy = checkUnhandledPolicy(options.onUnhandledError, 'onUnhandledError');
    this.executor = new Executor({
      onWork: () => this.embedded.requestTurn(),
      enter: (f) => enter(this, f),
      unhandled: (task) => this.unhandled(task, policy),
    });
    const m = options.metrics;
    if (m !== undefined && m !== false && m !== true && (m === null || typeof m !== 'object')) {
      throw new TypeError(`metrics must be a boolean or an object of options, got ${m === null ? 'null' : typeof m}`);
    }
    const env = envObserveOptions();
    if (m !== undefined && m !== false) this.observe({ ...(env?.options ?? {}), ...(m === true ? {} : m) });
    else if (env !== null && m === undefined) this.observe(env.options);
    if (env?.traceFile != null && this.observer !== null) traceEnvRing(this.observer, env.traceFile);
    const lp = options.longPoll;
    if (lp !== undefined && lp !== false && lp !== true && (lp === null || typeof lp !== 'object')) {
      throw new TypeError(`longPoll must be a boolean or an object of options, got ${lp === null ? 'null' : typeof lp}`);
    }
    if (lp !== undefined && lp !== false && this.observer === null) this.longPollObserver = new LongPollObserver(this.executor, lp === true ? {} : lp);
  }

  // ---- seeing inside (lib/observe.ts) ---------------------------------------------------------

  /**
   * Start observing: count (`metrics()`), record what tasks wait on (`dumpTasks()`), warn about
   * long polls, and with `trace` keep the last events (`trace`). Observing again replaces the
   * options and starts the counters afresh. Costs one clock read per poll (and one per batch) while on.
   */
  observe(options: MetricsOptions = {}): void {
    if (options === null || typeof options !== 'object') throw new TypeError(`observe(options) needs an object, got ${String(options)}`);
    this.observer?.close();
    this.observer = null;
    this.longPollObserver?.close();
    this.longPollObserver = null;
    const self = this;
    this.observer = new RuntimeObserver(
      {
        executor: this.executor,
        timers: this.timers,
        park: this.park,
        label: this.label,
        get isBlocking() {
          return self.blocking;
        },
      },
      options,
    );
  }

  /** Stop observing: every wrapper comes off, the counters are dropped. */
  unobserve(): void {
    this.observer?.close();
    this.observer = null;
    this.longPollObserver?.close();
    this.longPollObserver = null;
  }

  /** True while the runtime is observed (`metrics` option, `observe()`, POLLED_METRICS / POLLED_TRACE). */
  get isObserved(): boolean {
    return this.observer !== null;
  }

  /** Counters since observing started, and the gauges now (`enabled: false` and zero counters while not observed). */
  metrics(): RuntimeMetrics {
    return metricsOf({ executor: this.executor, timers: this.timers, park: this.park, label: this.label }, this.observer);
  }

  /** The task dump as text, for people. */
  dumpTasks(options?: { format?: 'text' }): string;
  /** The task dump as data, for tools. */
  dumpTasks(options: { format: 'json' }): TaskInfo[];
  dumpTasks(options: { format?: 'text' | 'json' } = {}): string | TaskInfo[] {
    if (options === null || typeof options !== 'object') throw new TypeError(`dumpTasks(options) needs an object, got ${String(options)}`);
    const format = options.format ?? 'text';
    if (format !== 'text' && format !== 'json') throw new TypeError(`dumpTasks(options): format must be 'text' or 'json', got ${JSON.stringify(format)}`);
    const infos = taskInfos({ executor: this.executor, timers: this.timers, park: this.park, label: this.label }, this.observer);
    return format === 'json' ? infos : formatTaskDump(this.label, infos, this.observer !== null);
  }

  /** The trace of this runtime (lib/trace.ts): start, stop, read, write to a file. */
  get trace(): RuntimeTrace {
    return (this.traceView ??= new RuntimeTrace({
      observer: () => this.observer,
      observe: (o) => this.observe(o),
    }));
  }

  /**
   * A task failed and nothing observed it by the end of the executor's run. Under `blockOn` no
   * Promise code can run before the next run, so that is the decision. In Node's loop, Promise
   * code may still be about to await the handle (`await handle` calls `then` from a microtask
   * queued after the run): decide once the microtasks have run, as Node decides an unhandled
   * rejection.
   */
  private unhandled(task: Task<unknown>, policy: UnhandledErrorPolicy): void {
    const report = (t: Task<unknown>): void => reportUnhandled(policy, t.failure, { id: t.id, name: t.name });
    if (this.blocking) return report(task);
    if (this.pendingReports === null) {
      const list: Task<unknown>[] = (this.pendingReports = []);
      setImmediate(() => {
        this.pendingReports = null;
        for (const t of list) if (!t.observed) report(t);
      });
    }
    this.pendingReports.push(task);
  }

  /** True while `blockOn` owns the thread. */
  get isBlocking(): boolean {
    return this.blocking;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Run `f` with this runtime current, as if inside one of its polls. */
  enter<R>(f: () => R): R {
    return enter(this, f);
  }

  /** A mistake: `spawn(main)` passed the generator function. Call it: `spawn(main())`. Throws a TypeError. */
  spawn(mistake: SpawnGotTheGeneratorFunction, name?: string): never;
  /** Spawn a task: it is polled soon, from this runtime's executor. */
  spawn<T>(future: IntoFuture<T>, name?: string): JoinHandle<T>;
  spawn<T>(future: IntoFuture<T> | SpawnGotTheGeneratorFunction, name?: string): JoinHandle<T> {
    this.assertOpen();
    if (name !== undefined && typeof name !== 'string') throw new TypeError(`spawn(future, name): name must be a string, got ${typeof name}`);
    const fut = intoFuture(future as IntoFuture<T>, 'spawn(future)');
    // Spawned from outside blockOn, the task needs the embedded driver: say so here, at the call,
    // if this runtime cannot have one (rather than from a microtask later).
    if (!this.blocking && currentRuntime() !== this) {
      const r = this.embedded.start();
      if (r < 0) throw this.cannotEmbed(-r);
    }
    const task = new Task(fut, this.executor, name);
    this.executor.spawn(task as Task<unknown>);
    return new JoinHandle(task);
  }

  /** A mistake: `blockOn(main)` passed the generator function. Call it: `blockOn(main())`. Throws a TypeError. */
  blockOn(mistake: BlockOnGotTheGeneratorFunction): never;
  /**
   * Run `future` to completion on this thread, parking between events, and return its value (or
   * throw its error). Other tasks of this runtime run too.
   */
  blockOn<T>(future: IntoFuture<T>): T;
  blockOn<T>(future: IntoFuture<T> | BlockOnGotTheGeneratorFunction): T {
    this.assertOpen();
    if (this.blocking || this.executor.isRunning || currentRuntime() !== null) {
      throw new Error('polled: blockOn() cannot be called from inside a task or another blockOn(); use yield* to await the future instead');
    }
    const task = new Task(intoFuture(future as IntoFuture<T>, 'blockOn(future)'), this.executor);
    task.observe(); // blockOn itself awaits it: its error is thrown to the caller
    this.blocking = true;
    const prev = swapCurrent(this);
    try {
      this.executor.spawn(task as Task<unknown>);
      driveBlocking(task as Task<unknown>, this.executor, this.timers, this.park, this.sliceMs, this.slicePolls);
    } finally {
      this.blocking = false;
      swapCurrent(prev);
    }
    this.embedded.resume();
    return task.pollJoin(noopContext) as T;
  }

  /**
   * @internal Whether tasks can run outside `blockOn`: the embedded driver runs, or can start.
   * False where Node's loop cannot watch the park (libkqueue on Linux): there only blockOn drives.
   */
  canDriveOutsideBlockOn(): boolean {
    return this.embedded.start() >= 0;
  }

  /** The timer fired early by a hair, or the deadline moved: arm again next turn. */
  rearmTimer(): void {
    this.embedded.rearmTimer();
  }

  /**
   * Graceful shutdown: give the tasks `timeout` ms (default 0) to finish on their own, then cancel
   * the rest (their `finally` blocks run; async cleanup gets `cleanupTimeout` ms, default 1000),
   * then `close()`. Resolves to a report of what happened. Callable from anywhere, a task
   * included (it starts from Node's loop).
   */
  shutdown(options?: ShutdownOptions): Promise<ShutdownReport> {
    return shutdownRuntime(this, options);
  }

  /** Stop the driver and close what the park owns. Tasks still pending are dropped without running (see `shutdown`). */
  close(): void {
    if (this.closed) return;
    if (this.executor.isRunning || this.blocking) throw new Error('polled: a runtime cannot be closed from inside one of its own tasks');
    this.closed = true;
    // Unhook the observer (the leaf recording is process-wide) but keep its counters: metrics()
    // still reads them after close.
    this.observer?.close();
    this.longPollObserver?.close();
    this.embedded.stop();
    this.park.close();
    forgetDefault(this);
  }

  /** The error for a runtime whose park Node's loop cannot watch (then only blockOn drives it). */
  protected abstract cannotEmbed(errno: number): Error;

  protected assertOpen(): void {
    if (this.closed) throw new Error('polled: this runtime is closed');
  }
}

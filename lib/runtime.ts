/**
 * The runtime: one executor, one reactor, one timer queue, and the two drivers that feed them.
 *
 * A *driver* is the loop that waits for the kernel and then lets the executor run:
 *
 * - **Embedded** (the default). Node already has an event loop (libuv) and owns the thread, so
 *   polled hands it one file descriptor to watch: the poller's own epoll/kqueue fd. When that fd
 *   turns readable the addon drains the poller with a zero-timeout wait and calls `onEvents`
 *   once per batch; the reactor wakes the tasks, and the executor polls them for a bounded
 *   slice before giving the thread back to Node, so `setTimeout`, `fs` and Promise code keep
 *   running beside a busy runtime. Wakes from outside a batch (a Promise settling, `spawn` at
 *   top level) schedule a turn as a microtask.
 * - **`blockOn(future)`**. Owns the thread like Rust's `block_on`: run every ready task, then
 *   park in `epoll_wait` / `kevent` with the nearest timer deadline as the timeout, dispatch the
 *   batch, repeat until the future is done. Node's own loop does not run meanwhile.
 *
 * Either way the same executor runs the same tasks: a runtime can serve in Node's loop, be
 * entered with `blockOn`, and go back to Node's loop with its remaining tasks.
 */
import { check, IoError } from './errors';
import { Executor } from './executor';
import { FutureBase, PENDING, setCleanupHook, type Context, type Future, type IntoFuture, intoFuture, type Poll, type Waker } from './future';
import { native, type Handle } from './native';
import { Reactor, type Occurrences } from './reactor';
import { JoinHandle, Task } from './task';
import { Timers } from './timers';
import { optionalInt } from './validate';
import { shutdownRuntime, type ShutdownOptions, type ShutdownReport } from './shutdown';

export interface RuntimeOptions {
  /** Events fetched per wait (a batch). Default 1024. */
  eventCapacity?: number;
  /** Embedded driver: the longest the executor runs before yielding to Node's loop, in ms. Default 4. */
  sliceMs?: number;
  /** Embedded driver: the most task polls per slice. Default 4096. */
  slicePolls?: number;
}

let current: Runtime | null = null;
let defaultRuntime: Runtime | null = null;

export class Runtime {
  readonly poller: Handle;
  readonly events: Uint32Array;
  readonly executor = new Executor();
  readonly reactor: Reactor;
  readonly timers = new Timers();

  private readonly sliceMs: number;
  private readonly slicePolls: number;
  private driverStarted = false;
  private closed = false;
  private blocking = false;
  private dispatching = false;
  private turnQueued = false;
  private immediate: NodeJS.Immediate | null = null;
  private armedDeadline = Infinity;
  private refd = false;
  private readonly turnFn = (): void => this.turn();

  constructor(options: RuntimeOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError(`Runtime options must be an object, got ${String(options)}`);
    const capacity = optionalInt(options.eventCapacity, 'eventCapacity', 1, 1 << 16, 1024);
    this.sliceMs = optionalInt(options.sliceMs, 'sliceMs', 1, 60_000, 4);
    this.slicePolls = optionalInt(options.slicePolls, 'slicePolls', 1, 1 << 30, 4096);
    this.poller = check(native.pollerCreate(), native.backend === 'epoll' ? 'epoll_create1' : 'kqueue');
    const events = native.pollerEvents(this.poller, capacity);
    if (typeof events === 'number') {
      native.close(this.poller);
      check(events, 'pollerEvents');
    }
    this.events = events as Uint32Array;
    this.reactor = new Reactor(this.poller, this.events);
    this.executor.onWork = () => this.requestTurn();
    this.executor.enter = <R>(f: () => R): R => {
      const prev = current;
      current = this;
      try {
        return f();
      } finally {
        current = prev;
      }
    };
  }

  /** The runtime whose task is being polled right now, else the default runtime. */
  static current(): Runtime {
    return current ?? Runtime.default();
  }

  /** The process's (well, this thread's) default runtime, made on first use. */
  static default(): Runtime {
    if (defaultRuntime === null || defaultRuntime.closed) defaultRuntime = new Runtime();
    return defaultRuntime;
  }

  /** True while `blockOn` owns the thread. */
  get isBlocking(): boolean {
    return this.blocking;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Spawn a task: it is polled soon, from this runtime's executor. */
  spawn<T>(future: IntoFuture<T>, name?: string): JoinHandle<T> {
    this.assertOpen();
    if (name !== undefined && typeof name !== 'string') throw new TypeError(`spawn(future, name): name must be a string, got ${typeof name}`);
    const fut = intoFuture(future, 'spawn(future)');
    // Spawned from outside blockOn, the task needs the embedded driver: say so here, at the call,
    // if this build cannot have one (rather than from a microtask later).
    if (!this.blocking && current !== this) {
      const r = this.startDriver();
      if (r < 0) throw new IoError(-r, 'uv_poll_start', `the ${native.backend} poller's fd cannot be watched by libuv in this build; run tasks with blockOn()`);
    }
    const task = new Task(fut, this.executor, name);
    this.executor.spawn(task as Task<unknown>);
    return new JoinHandle(task);
  }

  /**
   * Run `future` to completion on this thread, parking in the kernel between events, and return
   * its value (or throw its error). Other tasks of this runtime run too.
   */
  blockOn<T>(future: IntoFuture<T>): T {
    this.assertOpen();
    if (this.blocking || this.executor.isRunning || current !== null) {
      throw new Error('polled: blockOn() cannot be called from inside a task or another blockOn(); use yield* to await the future instead');
    }
    const task = new Task(intoFuture(future, 'blockOn(future)'), this.executor);
    this.blocking = true;
    current = this;
    // While blockOn owns the thread, the poller watches Node's loop too, so that a parked wait
    // wakes when Node asks this thread to stop (worker.terminate(), process.exit()) or a signal
    // arrives. Where it cannot (a backend without it), blockOn still runs, just deaf to those.
    native.pollerWatchLoop(this.poller, true);
    try {
      this.executor.spawn(task as Task<unknown>);
      for (;;) {
        this.timers.fire(this.timers.clock.now());
        this.executor.run();
        if (task.isFinished) break;
        const timeout = this.parkTimeout();
        if (timeout < 0 && this.reactor.registrations === 0 && !this.reactor.notify.hasWaiters && !this.reactor.nodeLoop.hasWaiters) {
          const why = this.timers.size > 0 ? 'timers are pending but the clock is paused with auto-advance off, and no task is left to advance it' : 'no runnable task, no timer, no I/O registration';
          task.abort();
          throw new Error(`polled: blockOn() deadlocked: the future is pending and nothing can wake it (${why})`);
        }
        const n = native.pollerWait(this.poller, timeout);
        if (n < 0) throw new IoError(-n, native.backend === 'epoll' ? 'epoll_wait' : 'kevent');
        this.reactor.dispatch(n);
      }
    } finally {
      native.pollerWatchLoop(this.poller, false);
      this.blocking = false;
      current = null;
    }
    // Tasks left behind go on in Node's loop. If the embedded driver already runs, refresh its
    // ref state and timer too: a ref left from before this blockOn would keep Node alive.
    if (this.executor.liveTasks > 0 || this.driverStarted) this.afterTurn();
    return task.pollJoin(ignoreCx) as T;
  }

  /** How long blockOn may park: 0 if work is queued, the time to the next timer, or -1 (forever). */
  private parkTimeout(): number {
    if (this.executor.queued > 0) return 0;
    const next = this.timers.nextDeadline();
    if (next === Infinity) return -1;
    const clock = this.timers.clock;
    if (clock.paused) {
      if (!clock.autoAdvance) return -1;
      // Paused time: every task is idle, so jump to the next deadline (after a look at I/O).
      clock.advanceTo(next);
      return 0;
    }
    return Math.max(0, next - clock.now());
  }

  /** Wake a `notified()` waiter of this runtime; callable from JS in any state. */
  notify(): void {
    this.assertOpen();
    check(native.pollerNotify(this.poller), 'notify');
  }

  /** A future that completes at the next notify this poller receives (from `notify()` or another thread). */
  notified(): Future<void> {
    return new Occurred(this.reactor.notify);
  }

  /**
   * A future that completes when Node's own event loop gets work while `blockOn` holds the
   * thread: a signal libuv caught, I/O on Node's handles, a request to stop the thread. Node runs
   * none of it (JS signal handlers included) until `blockOn` returns, so a server that serves in
   * `blockOn` slices ends its slice on this to let Node's loop turn at once. Outside `blockOn`
   * nothing reports it (Node's loop is running anyway). libuv starts watching a handle (a
   * `process.on('SIGTERM')` just installed) when its loop next turns: let it turn once after
   * installing one and before a `blockOn` that should hear it.
   */
  nodeLoopReady(): Future<void> {
    return new Occurred(this.reactor.nodeLoop);
  }

  // ---- embedded driver -----------------------------------------------------------------------

  /** Arrange for the executor to run soon (a microtask), starting the embedded driver if needed. */
  private requestTurn(): void {
    if (this.blocking || this.dispatching || this.turnQueued || this.closed) return;
    this.turnQueued = true;
    queueMicrotask(this.turnFn);
  }

  /**
   * Start the embedded driver once: 0, or -errno where libuv cannot watch the poller's fd
   * (libkqueue on Linux, whose kqueue fd never becomes readable). There, only blockOn drives.
   */
  private startDriver(): number {
    if (this.driverStarted || this.closed) return 0;
    const r = native.driverStart(this.poller, (count: number) => this.onEvents(count));
    if (r < 0) return r;
    this.driverStarted = true;
    this.refd = true;
    return 0;
  }

  /** The embedded driver's callback: a batch of `count` events is in `this.events`. */
  private onEvents(count: number): void {
    if (this.closed || this.blocking) return;
    this.dispatching = true;
    try {
      // The kernel timer is one-shot: once it fired, whatever is next must be armed afresh.
      if (this.reactor.dispatch(count)) this.armedDeadline = NaN;
    } finally {
      this.dispatching = false;
    }
    this.turn();
  }

  /** One slice of work: fire due timers, poll ready tasks, then re-arm the timer and ref state. */
  private turn(): void {
    this.turnQueued = false;
    if (this.closed || this.blocking) return;
    current = this;
    let drained: boolean;
    try {
      this.timers.fire(this.timers.clock.now());
      drained = this.executor.run(this.slicePolls, this.sliceMs);
    } finally {
      current = null;
    }
    if (!drained) {
      // The slice is over but work remains: let Node's loop run its timers and I/O first.
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        this.turn();
      });
    }
    this.afterTurn();
  }

  /** Keep the kernel timer on the earliest deadline, and Node's loop alive only while needed. */
  private afterTurn(): void {
    // Without an embedded driver (see startDriver), tasks left idle wait for the next blockOn.
    if (this.closed || this.startDriver() < 0) return;
    const clock = this.timers.clock;
    const next = this.timers.nextDeadline();
    if (clock.paused) {
      if (next !== Infinity && clock.autoAdvance && this.executor.queued === 0 && this.immediate === null) {
        // Every task is idle under a paused clock: look at I/O once more, then jump ahead.
        this.immediate = setImmediate(() => {
          this.immediate = null;
          const due = this.timers.nextDeadline();
          if (this.executor.queued === 0 && clock.paused && due !== Infinity) clock.advanceTo(due);
          this.turn();
        });
      }
    } else if (next !== this.armedDeadline) {
      if (next === Infinity) native.pollerTimerDisarm(this.poller);
      else native.pollerTimerArm(this.poller, Math.max(0, next - clock.now()));
      this.armedDeadline = next;
    }
    const wantRef = this.reactor.registrations > 0 || this.timers.size > 0 || this.executor.queued > 0;
    if (wantRef !== this.refd) {
      native.driverRef(this.poller, wantRef);
      this.refd = wantRef;
    }
  }

  /** The embedded timer fired early by a hair, or the deadline moved: arm again next turn. */
  rearmTimer(): void {
    this.armedDeadline = NaN;
  }

  /**
   * Graceful shutdown: give the tasks `timeout` ms (default 0) to finish on their own, then cancel
   * the rest (their `finally` blocks run; async cleanup gets `cleanupTimeout` ms, default 1000),
   * then `close()`: the driver stops and every handle and the poller are closed. Resolves to a
   * report of what happened. Callable from anywhere, a task included (it starts from Node's loop).
   */
  shutdown(options?: ShutdownOptions): Promise<ShutdownReport> {
    return shutdownRuntime(this, options);
  }

  /** Stop the driver and close the poller. Tasks still pending are dropped without running (see `shutdown`). */
  close(): void {
    if (this.closed) return;
    if (this.executor.isRunning || this.blocking) throw new Error('polled: a runtime cannot be closed from inside one of its own tasks');
    this.closed = true;
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.immediate = null;
    if (this.driverStarted) native.driverStop(this.poller);
    this.reactor.closeAll();
    native.close(this.poller);
    if (defaultRuntime === this) defaultRuntime = null;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('polled: this runtime is closed');
  }
}

const ignoreCx = { waker: { wake() {}, wakeByRef() {}, clone() { return this; }, willWake() { return false; } } } as unknown as Context;

/** States of `Occurred`. */
const enum OccurredState {
  Init,
  Waiting,
  Done,
}

/** `notified()` / `nodeLoopReady()`: done at the first occurrence after its first poll. */
class Occurred extends FutureBase<void> {
  private state = OccurredState.Init;
  private seq = 0;
  private waker: Waker | null = null;
  constructor(private readonly what: Occurrences) {
    super();
  }
  poll(cx: Context): Poll<void> {
    switch (this.state) {
      case OccurredState.Init:
        this.seq = this.what.count;
        this.state = OccurredState.Waiting;
        break;
      case OccurredState.Waiting:
        if (this.what.count !== this.seq) {
          this.state = OccurredState.Done;
          this.waker = null;
          return undefined;
        }
        break;
      case OccurredState.Done:
        return undefined;
    }
    this.waker = cx.waker;
    this.what.addWaiter(cx.waker);
    return PENDING;
  }
  override drop(): void {
    if (this.waker !== null) this.what.removeWaiter(this.waker);
    this.waker = null;
  }
}

// A cancelled future whose `finally` awaits (async cleanup) finishes as a task of its runtime.
setCleanupHook((fut) => {
  const rt = current ?? defaultRuntime;
  if (rt !== null && !rt.isClosed) rt.spawn(fut, 'cleanup');
});

/** Spawn on the current runtime (the one polling the caller, else the default one). */
export function spawn<T>(future: IntoFuture<T>, name?: string): JoinHandle<T> {
  return Runtime.current().spawn(future, name);
}

/** Run `future` to completion on the default runtime, owning the thread (see `Runtime.blockOn`). */
export function blockOn<T>(future: IntoFuture<T>): T {
  return Runtime.current().blockOn(future);
}

/** The runtime polling the caller, if any (null outside of a poll). */
export function currentRuntime(): Runtime | null {
  return current;
}

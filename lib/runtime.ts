/**
 * `Runtime`: the runtime of a polled program. One executor, one timer queue and the two drivers
 * (all in `runtime-core.ts`), over the native poller (`poller-park.ts`), with the reactor that
 * sockets register with.
 *
 * A *driver* is the loop that waits for the kernel and then lets the executor run:
 *
 * - **Embedded** (the default, `driver-embedded.ts`). Node already has an event loop (libuv)
 *   and owns the thread, so polled hands it one file descriptor to watch: the poller's own
 *   epoll/kqueue fd. When it turns readable the addon drains the poller and calls back once per
 *   batch; the reactor wakes the tasks, and the executor polls them for a bounded slice before
 *   giving the thread back to Node.
 * - **`blockOn(future)`** (`driver-block.ts`). Owns the thread like Rust's `block_on`: run every
 *   ready task, then park in `epoll_wait` / `kevent` with the nearest timer deadline as the
 *   timeout, dispatch the batch, repeat until the future is done.
 */
import { runtimeOrDefault, defaultRuntime, setDefaultRuntime } from './context';
import { check, IoError } from './errors';
import { FutureBase, PENDING, type Context, type Future, type Poll, type Waker } from './future';
import { checkIoBackend, createPoller, type IoBackend, type IoKind } from './io-backend';
import { native, type Handle } from './native';
import { PollerPark } from './poller-park';
import { Reactor, type Occurrences } from './reactor';
import { RuntimeCore, type RuntimeCoreOptions } from './runtime-core';
import { optionalInt } from './validate';

export interface RuntimeOptions extends RuntimeCoreOptions {
  /** Events fetched per wait (a batch). Default 1024. */
  eventCapacity?: number;
  /**
   * Threads of the blocking pool (`lookupHost`, `fs`): 1..256, default 4. They are started when
   * jobs arrive, not before.
   */
  blockingThreads?: number;
  /**
   * The kernel interface for sockets: `'readiness'` (epoll / kqueue, the default), `'uring'`
   * (io_uring; an `IoError` saying why where it cannot be set up) or `'auto'` (io_uring, else
   * readiness with one line on stderr). `'epoll'` / `'kqueue'` name readiness on their platform.
   * Default: the `POLLED_IO` environment variable, else `'readiness'`.
   */
  io?: IoBackend;
}

export class Runtime extends RuntimeCore {
  /** @internal The poller's handle (`polled/internals`). */
  readonly poller: Handle;
  /** @internal The events batch the poller writes into (shared memory the addon made). */
  readonly events: Uint32Array;
  /** @internal token → IoSource (`polled/internals`: `reactorOf`). */
  readonly reactor: Reactor;
  /** What this runtime's poller is: `'epoll'`, `'kqueue'` or `'uring'`. */
  readonly io: IoKind;

  constructor(options: RuntimeOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError(`Runtime options must be an object, got ${String(options)}`);
    const capacity = optionalInt(options.eventCapacity, 'eventCapacity', 1, 1 << 16, 1024);
    const blockingThreads = optionalInt(options.blockingThreads, 'blockingThreads', 1, 256, 4);
    const { poller, kind } = createPoller(checkIoBackend(options.io));
    const events = native.pollerEvents(poller, capacity);
    if (typeof events === 'number') {
      native.close(poller);
      check(events, 'pollerEvents');
    }
    const pool = native.poolConfigure(poller, blockingThreads);
    if (pool < 0) {
      native.close(poller);
      check(pool, 'poolConfigure');
    }
    const reactor = new Reactor(poller, events as Uint32Array);
    super(new PollerPark(poller, reactor, kind === 'uring' ? 'io_uring_enter' : kind === 'epoll' ? 'epoll_wait' : 'kevent'), options);
    this.io = kind;
    this.poller = poller;
    this.events = events as Uint32Array;
    this.reactor = reactor;
  }

  /** The runtime whose task is being polled right now, else this thread's default runtime. */
  static current(): Runtime {
    return asRuntime(runtimeOrDefault());
  }

  /** This thread's default runtime, made on first use. */
  static default(): Runtime {
    return asRuntime(defaultRuntime());
  }

  /** Wake a `notified()` waiter of this runtime; callable from JS in any state. */
  notify(): void {
    this.assertOpen();
    check(native.pollerNotify(this.poller), 'notify');
  }

  /** A future that completes at the next notify this poller receives (from `notify()` or another thread). */
  notified(): Future<void> {
    return new Occurred(this.reactor.notify, 'Runtime.notified (a notify from any thread)');
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
    return new Occurred(this.reactor.nodeLoop, "Runtime.nodeLoopReady (Node's loop to have work)");
  }

  protected cannotEmbed(errno: number): Error {
    return new IoError(errno, 'uv_poll_start', `the ${native.backend} poller's fd cannot be watched by libuv in this build; run tasks with blockOn()`);
  }
}

function asRuntime(rt: unknown): Runtime {
  if (rt instanceof Runtime) return rt;
  throw new Error('polled: this needs a Runtime (with the native poller: sockets, notify), but the current runtime is a TimerRuntime');
}

// The default runtime of a thread that loads this module is a full Runtime.
setDefaultRuntime(() => new Runtime());

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
  constructor(
    private readonly what: Occurrences,
    private readonly label: string,
  ) {
    super();
  }
  override waitingFor(): string {
    return this.label;
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

export { spawn, blockOn, currentRuntime } from './context';

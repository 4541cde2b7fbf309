/**
 * Process signals as futures (tokio's `tokio::signal`): a server stops gracefully on SIGTERM or
 * Ctrl-C without a `process.on` of its own.
 *
 * ```ts
 * const server = serve(listener, handler);
 * spawn(server);
 * yield* select({ term: signal('SIGTERM'), int: ctrlC() });
 * server.stop();
 * ```
 *
 * - `signal(name)`: a future that completes with `name` at the next delivery of that signal after
 *   its first poll. While it waits, a `process.on(name)` listener is installed (so Node's default
 *   action, such as exiting on SIGINT, does not happen); it is removed when the future completes
 *   or is dropped. Cancel-safe.
 * - `ctrlC()`: `signal('SIGINT')`.
 * - `signalStream(name)`: every delivery, none lost between two `recv()`s: the listener stays
 *   installed until `close()` (tokio's `Signal`).
 * - A future waiting for a signal keeps the process alive (Node's own signal watchers do not),
 *   so `yield* ctrlC()` as a program's last wait works as in tokio.
 *
 * Drivers: Node runs a signal's JavaScript listeners from its own event loop, so these work under
 * the embedded driver. Under `blockOn` the signal interrupts the kernel wait, but the listener
 * (and so these futures) only runs once `blockOn` returns to Node's loop; a server that owns its
 * thread with `blockOn` serves in slices and lets Node's loop turn between them (`polled echo
 * --driver block` does: see lib/cli.ts), and `runtime.nodeLoopReady()` ends a slice as soon as a
 * signal is pending.
 */
import { FutureBase, PENDING, type Context, type Future, type Poll, type Waker } from './future';
import { WakerSet } from './wakers';

/** The signals a process can catch (not SIGKILL / SIGSTOP). */
function checkSignalName(name: unknown, what: string): NodeJS.Signals {
  if (typeof name !== 'string' || !/^SIG[A-Z0-9]+$/.test(name)) throw new TypeError(`${what}: a signal name such as 'SIGTERM', got ${JSON.stringify(name)}`);
  if (name === 'SIGKILL' || name === 'SIGSTOP') throw new RangeError(`${what}: ${name} cannot be caught`);
  const known = require('node:os').constants.signals as Record<string, number>;
  if (!(name in known)) throw new RangeError(`${what}: ${name} is not a signal of this platform`);
  return name as NodeJS.Signals;
}

/**
 * One signal's deliveries: a count, and the wakers waiting for the next one. The `process.on`
 * listener is installed while anyone uses it (`users`).
 */
class SignalSource {
  count = 0;
  private users = 0;
  /** Futures waiting for a delivery: while there are any, Node's loop is kept alive (see `hold`). */
  private waiting = 0;
  private keepAlive: ReturnType<typeof setInterval> | null = null;
  private readonly waiters = new WakerSet();
  private readonly listener = (): void => {
    this.count++;
    this.waiters.wakeAll();
  };

  constructor(readonly name: NodeJS.Signals) {}

  use(): void {
    if (this.users++ === 0) process.on(this.name, this.listener);
  }

  release(): void {
    if (--this.users === 0) process.off(this.name, this.listener);
  }

  /**
   * A future starts waiting. Node's signal watchers do not keep its loop alive, so a program whose
   * only work left is `yield* ctrlC()` would exit at once; a ref'd timer that never fires holds the
   * loop open while anyone waits (as a pending `process.on` alone would not).
   */
  hold(): void {
    if (this.waiting++ === 0) this.keepAlive = setInterval(noop, 0x7fffffff);
  }

  unhold(): void {
    if (--this.waiting === 0 && this.keepAlive !== null) {
      clearInterval(this.keepAlive);
      this.keepAlive = null;
    }
  }

  addWaiter(w: Waker): void {
    this.waiters.add(w);
  }

  removeWaiter(w: Waker | null): void {
    this.waiters.remove(w);
  }
}

function noop(): void {}

const sources = new Map<NodeJS.Signals, SignalSource>();
function sourceOf(name: NodeJS.Signals): SignalSource {
  let s = sources.get(name);
  if (s === undefined) sources.set(name, (s = new SignalSource(name)));
  return s;
}

/** States of `SignalFuture`. */
const enum SignalState {
  Init,
  Waiting,
  Done,
}

/** The future of `signal(name)`: done at the first delivery after its first poll. */
export class SignalFuture extends FutureBase<NodeJS.Signals> {
  private state = SignalState.Init;
  private seen = 0;
  private waker: Waker | null = null;

  constructor(private readonly source: SignalSource) {
    super();
  }

  override waitingFor(): string {
    return `signal ${this.source.name}`;
  }

  poll(cx: Context): Poll<NodeJS.Signals> {
    const src = this.source;
    switch (this.state) {
      case SignalState.Init:
        src.use();
        src.hold();
        this.seen = src.count;
        this.state = SignalState.Waiting;
        break;
      case SignalState.Waiting:
        if (src.count !== this.seen) {
          this.end();
          return src.name;
        }
        break;
      case SignalState.Done:
        throw new Error('polled: signal future polled after completion');
    }
    if (this.waker !== cx.waker) src.removeWaiter(this.waker);
    this.waker = cx.waker;
    src.addWaiter(cx.waker);
    return PENDING;
  }

  private end(): void {
    if (this.state === SignalState.Waiting) {
      this.source.removeWaiter(this.waker);
      this.source.unhold();
      this.source.release();
    }
    this.state = SignalState.Done;
    this.waker = null;
  }

  override drop(): void {
    this.end();
  }
}

/** The next delivery of `name` (after the first poll). See the module doc for `blockOn`. */
export function signal(name: NodeJS.Signals): Future<NodeJS.Signals> {
  return new SignalFuture(sourceOf(checkSignalName(name, 'signal(name)')));
}

/** The next Ctrl-C (SIGINT). */
export function ctrlC(): Future<NodeJS.Signals> {
  return signal('SIGINT');
}

/** Every delivery of one signal, from its creation until `close()`: none is lost between two `recv()`s. */
export class SignalStream {
  private taken: number;
  private open = true;
  private readonly source: SignalSource;

  /** @internal Use `signalStream(name)`. */
  constructor(name: NodeJS.Signals) {
    this.source = sourceOf(name);
    this.source.use();
    this.taken = this.source.count;
  }

  /** The next delivery not yet received (at once if one came since the last). Cancel-safe. */
  recv(): Future<NodeJS.Signals> {
    return new StreamRecv(this);
  }

  /** @internal */
  tryTake(): boolean {
    if (this.source.count === this.taken) return false;
    this.taken++;
    return true;
  }

  /** @internal */
  get src(): SignalSource {
    return this.source;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Remove the listener (Node's default action for the signal applies again). Idempotent. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.source.release();
  }
}

class StreamRecv extends FutureBase<NodeJS.Signals> {
  private waker: Waker | null = null;
  private done = false;
  private holding = false;

  constructor(private readonly stream: SignalStream) {
    super();
  }

  override waitingFor(): string {
    return `signalStream(${this.stream.src.name}).recv`;
  }

  poll(cx: Context): Poll<NodeJS.Signals> {
    if (this.done) throw new Error('polled: signal recv future polled after completion');
    const s = this.stream;
    if (!s.isOpen) throw new Error(`polled: recv() on a closed signal stream (${s.src.name})`);
    if (s.tryTake()) {
      this.drop();
      this.done = true;
      return s.src.name;
    }
    if (this.waker !== cx.waker) s.src.removeWaiter(this.waker);
    this.waker = cx.waker;
    s.src.addWaiter(cx.waker);
    if (!this.holding) {
      this.holding = true;
      s.src.hold();
    }
    return PENDING;
  }

  override drop(): void {
    this.stream.src.removeWaiter(this.waker);
    this.waker = null;
    if (this.holding) {
      this.holding = false;
      this.stream.src.unhold();
    }
  }
}

/** Every delivery of `name` from now on, until `close()`. */
export function signalStream(name: NodeJS.Signals): SignalStream {
  return new SignalStream(checkSignalName(name, 'signalStream(name)'));
}

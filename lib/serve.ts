/**
 * `serve(listener, handler)`: a server's accept loop, one task per connection, and a graceful
 * stop, for any protocol. The echo server (`lib/echo.ts`) is one handler on top of it.
 *
 * ```ts
 * const listener = yield* TcpListener.bind('127.0.0.1:8080');
 * const server = serve(listener, function* (stream, peer) {
 *   // one connection: read, write, return when done (the stream is closed for you)
 * }, { graceMs: 5000 });
 * spawn(server);          // or `yield* server`: a Future<void> that ends once the server has stopped
 * // later, from anywhere (a task, a signal handler, a Node callback):
 * server.stop();
 * ```
 *
 * - Each accepted connection gets its own task running `handler(stream, peer)` (a generator or
 *   a future). When that ends, returns or throws, the stream is closed. An `IoError` from the
 *   handler (the peer reset or vanished: ECONNRESET, EPIPE, ETIMEDOUT) ends that connection
 *   quietly; any other error is logged (see `log`) and fails that connection's task, which
 *   nothing awaits, so the runtime reports it too (`onUnhandledError`: by default to stderr, with
 *   `process.exitCode = 1`). Neither stops the server.
 * - Out of file descriptors (EMFILE, ENFILE) or memory, accepting backs off instead of spinning
 *   (the listener's `AcceptFuture` does that: 1 ms doubling to 100 ms) and the open connections
 *   go on being served; `log` hears of it once per episode.
 * - `stop()` (or cancelling the `shutdown` token): close the listener, so new clients are
 *   refused at once; give the open connections `graceMs` to finish; then abort the rest (their
 *   `finally` blocks run, their streams are closed). Then the server's future completes.
 * - Dropping the server's future (aborting its task) closes the listener and aborts every
 *   connection at once: no connection task outlives its server.
 *
 * The server owns the listener from the call on: it closes it when it stops.
 */
import { select } from './combinators';
import { IoError, TimeoutError } from './errors';
import { CancelFuture, FutureBase, GenFuture, PENDING, intoFuture, isGenerator, isPending, type Async, type Context, type Future, type IntoFuture, type Poll } from './future';
import { SocketAddress } from './net/address';
import { checkOptions } from './net/options';
import { isAcceptor, type Acceptor, type Stream } from './net/stream';
import { Runtime } from './runtime';
import { CancellationToken } from './sync/cancellation';
import { Notify } from './sync/notify';
import type { JoinHandle } from './task';
import { timeout } from './time';
import { checkMs, describe, optionalMs } from './validate';

/** What a server runs for each connection: a generator ("async fn") or a future. */
export type ConnectionHandler<S, A> = (stream: S, peer: A) => IntoFuture<unknown>;

export interface ServeOptions {
  /** How long `stop()` lets open connections finish, in ms, unless it is given one. Default 2000. */
  graceMs?: number;
  /** Where to report what an operator wants to know (accept backing off, stopping, a handler's error). Default: nothing. */
  log?: (line: string) => void;
  /** Stop the server (as `stop()` does) when this token is cancelled. */
  shutdown?: CancellationToken;
}

interface ServeSettings {
  graceMs: number;
  log: ((line: string) => void) | null;
  shutdown: CancellationToken | null;
}

/** @internal Check `serve`'s options (TypeError / RangeError naming `what`), for `Server` and for wrappers that check before they bind. */
export function checkServeOptions(options: unknown, what: string): ServeSettings {
  const o = checkOptions<ServeOptions>(options, what, ['graceMs', 'log', 'shutdown']);
  if (o.log !== undefined && typeof o.log !== 'function') throw new TypeError(`${what}: log must be a function, got ${describe(o.log)}`);
  if (o.shutdown !== undefined && !(o.shutdown instanceof CancellationToken)) {
    throw new TypeError(`${what}: shutdown must be a CancellationToken, got ${describe(o.shutdown)}`);
  }
  return { graceMs: optionalMs(o.graceMs, `${what}: graceMs`, 2000), log: o.log ?? null, shutdown: o.shutdown ?? null };
}

/** An address for a log line: `127.0.0.1:5000`, `unix:/tmp/s.sock`, or `unix:(unnamed)` for a Unix client. */
function addrText(a: unknown): string {
  if (a instanceof SocketAddress) return a.toString();
  if (a !== null && typeof a === 'object' && typeof (a as { path?: unknown }).path === 'string') {
    return `unix:${(a as { path: string }).path || '(unnamed)'}`;
  }
  return String(a);
}

/**
 * A server: the future of its accept loop, with `stop()` and counters. Made by `serve()`; run it
 * by spawning or awaiting it (once).
 */
export class Server<S extends Stream<unknown>, A> extends FutureBase<void> {
  readonly listener: Acceptor<S, A>;
  private readonly handler: ConnectionHandler<S, A>;
  private readonly log: ((line: string) => void) | null;
  private graceMs: number;
  /** Cancelled by `stop()`; a child of the caller's `shutdown` token, if any. */
  private readonly stopping: CancellationToken;
  /** Notified when the last connection closes. */
  private readonly drained = new Notify();
  /** Open connections: each one's task and stream. */
  private readonly open = new Map<JoinHandle<void>, S>();
  private main: GenFuture<void> | null = null;
  private finished = false;
  private acceptedCount = 0;

  constructor(listener: Acceptor<S, A>, handler: ConnectionHandler<S, A>, options: ServeOptions = {}) {
    if (!isAcceptor(listener)) {
      throw new TypeError(`serve(listener, handler): listener must be a TcpListener, a UnixListener or another Acceptor, got ${describe(listener)}`);
    }
    if (typeof handler !== 'function') throw new TypeError(`serve(listener, handler): handler must be a function, got ${describe(handler)}`);
    const o = checkServeOptions(options, 'serve');
    super();
    this.listener = listener;
    this.handler = handler;
    this.graceMs = o.graceMs;
    this.log = o.log;
    this.stopping = o.shutdown?.child() ?? new CancellationToken();
  }

  /** The listening address. Throws `IoError` EBADF once the server has stopped (the listener is closed). */
  localAddr(): A {
    return this.listener.localAddr();
  }

  /** Open connections. */
  get connections(): number {
    return this.open.size;
  }

  /** Connections accepted since the start. */
  get accepted(): number {
    return this.acceptedCount;
  }

  /** True once `stop()` was called (or the `shutdown` token cancelled, or the server ended). */
  get isStopping(): boolean {
    return this.stopping.isCancelled();
  }

  /**
   * Stop: accept no more connections, let the open ones finish for `graceMs` (default: the
   * server's), then abort what is left; the server's future then completes. Idempotent;
   * callable from a task, a Node callback or a signal handler.
   */
  stop(graceMs?: number): void {
    if (graceMs !== undefined) this.graceMs = checkMs(graceMs, 'Server.stop(graceMs)');
    this.stopping.cancel();
  }

  override waitingFor(): string {
    let where: string;
    try {
      where = String(this.listener.localAddr());
    } catch {
      where = 'closed listener';
    }
    return `Server on ${where}, ${this.open.size} connection${this.open.size === 1 ? '' : 's'} open${this.isStopping ? ', stopping' : ''}`;
  }

  poll(cx: Context): Poll<void> {
    if (this.main === null) {
      if (this.finished) throw new Error('polled: a server was polled after it completed (a Server runs once)');
      this.main = new GenFuture(this.run());
    }
    const r = this.main.poll(cx);
    if (r === PENDING) return PENDING;
    this.finished = true;
    return r;
  }

  /** Cancel: close the listener and abort every connection now (no grace period). */
  override drop(): void {
    if (this.main !== null) this.main.drop();
    else if (!this.finished) this.listener.close(); // never started: the listener is still ours to close
    this.finished = true;
  }

  private *run(): Async<void> {
    const rt = Runtime.current();
    const listener = this.listener;
    const log = this.log;
    const otherBackoff = listener.onBackoff;
    if (log !== null) {
      let lastReport = 0;
      listener.onBackoff = (err, delayMs) => {
        otherBackoff?.(err, delayMs);
        // One line per episode (the first backoff), not one per retry.
        if (delayMs === 1 || Date.now() - lastReport > 5000) {
          lastReport = Date.now();
          log(`accept: ${err.code}; backing off (up to 100 ms between tries) while serving ${this.open.size} connections`);
        }
      };
    }
    let graceful = false;
    try {
      for (;;) {
        let next;
        try {
          next = yield* select({ stop: this.stopping.cancelled(), conn: listener.accept() });
        } catch (err) {
          // Closed under us (by stop() racing, or by whoever else holds it): that is a stop too.
          if (this.stopping.isCancelled() || !listener.isOpen) break;
          throw err;
        }
        if (next.key === 'stop') break;
        const [stream, peer] = next.value;
        this.acceptedCount++;
        const handle: JoinHandle<void> = rt.spawn(new ConnectionFuture(this.handler, stream, peer, this.log, () => this.ended(handle)), 'connection');
        this.open.set(handle, stream);
      }
      listener.close();
      if (this.open.size > 0) {
        log?.(`stopping: ${this.open.size} open connections get ${this.graceMs} ms to finish`);
        try {
          yield* timeout(this.allClosed(), this.graceMs);
        } catch (err) {
          if (!(err instanceof TimeoutError)) throw err;
          log?.(`closing ${this.open.size} connections still open after ${this.graceMs} ms`);
        }
      }
      graceful = true;
    } finally {
      listener.close();
      listener.onBackoff = otherBackoff;
      // After the grace period, and also when the server itself is cancelled or fails: no
      // connection task outlives its server. Aborting runs their finally blocks (closing the
      // streams) right away; a task that never ran has no finally to run, so close its stream here.
      for (const [h, stream] of [...this.open]) {
        h.abort();
        stream.close();
      }
      this.open.clear();
      if (!graceful) this.stopping.cancel();
    }
  }

  /** A connection's task has ended (in any way, its stream closed): forget it. */
  private ended(handle: JoinHandle<void>): void {
    this.open.delete(handle);
    if (this.open.size === 0) this.drained.notifyWaiters();
  }

  /** Completes once no connection is open. */
  private *allClosed(): Async<void> {
    while (this.open.size > 0) yield* this.drained.notified();
  }
}

const enum ConnState {
  /** Spawned; the handler has not been called yet. */
  Start,
  /** The handler's future is being polled (or, once cancelled, its cleanup). */
  Running,
  /** Ended in any way; the stream is closed. */
  Done,
}

/**
 * One connection's task: `handler(stream, peer)`, called at the task's first poll; when its
 * future ends, returns, throws or is cancelled, the stream is closed and the server told. An
 * `IoError` (the peer reset or vanished) ends the connection quietly; any other error is logged
 * and fails the task.
 *
 * Hand-written rather than a generator wrapping the handler's: every wake of the connection
 * would resume that generator too, and `yield*` delegation costs a generator resume per level
 * (about 300 of 3,800 user-space instructions per echoed message: `npm run bench:instructions`).
 * Here the handler's own future is polled directly, and its cancellation (a `finally` that
 * awaits) is driven through as a generator's would be (`CancelFuture`).
 */
class ConnectionFuture<S extends Stream<unknown>, A> extends CancelFuture<void> {
  private state = ConnState.Start;
  private inner: Future<unknown> | null = null;

  constructor(
    private readonly handler: ConnectionHandler<S, A>,
    private readonly stream: S,
    private readonly peer: A,
    private readonly log: ((line: string) => void) | null,
    private readonly onEnd: () => void,
  ) {
    super();
  }

  poll(cx: Context): Poll<void> {
    if (this.state === ConnState.Done) throw new Error('polled: a connection future was polled after it completed');
    let v: unknown;
    try {
      let inner = this.inner;
      if (inner === null) {
        this.state = ConnState.Running;
        const work = this.handler(this.stream, this.peer);
        inner = this.inner = isGenerator(work) ? new GenFuture(work) : intoFuture(work, 'serve(listener, handler): what handler returned');
      }
      v = inner.poll(cx);
    } catch (err) {
      this.end();
      // A client that resets or vanishes (ECONNRESET, EPIPE, ETIMEDOUT) ends its connection, not the server.
      if (err instanceof IoError) return undefined;
      this.log?.(`connection ${addrText(this.peer)}: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    }
    if (isPending(v)) return PENDING;
    this.end();
    return undefined;
  }

  /** The task dump's line: what the handler's future waits for. */
  override waitingFor(): string {
    const inner = this.inner;
    if (inner === null) return 'connection handler, not started yet';
    return typeof inner.waitingFor === 'function' ? inner.waitingFor() : (inner.constructor?.name ?? 'handler');
  }

  cancel(cx?: Context): boolean {
    if (this.state === ConnState.Done) return true;
    const inner = this.inner;
    let over = true;
    if (inner instanceof CancelFuture) over = inner.cancel(cx);
    else if (inner !== null) {
      try {
        inner.drop?.();
      } catch {
        // Nobody to report a failing drop to: the connection is cancelled either way.
      }
    }
    if (over) this.end();
    return over;
  }

  private end(): void {
    if (this.state === ConnState.Done) return;
    this.state = ConnState.Done;
    this.inner = null;
    this.stream.close();
    this.onEnd();
  }
}

/**
 * Serve `listener`: accept connections and run `handler(stream, peer)` for each, in a task of
 * its own, until `stop()` (or `options.shutdown`); then stop gracefully (see the module doc).
 * Lazy: nothing happens until the returned server is spawned or awaited.
 */
export function serve<S extends Stream<unknown>, A>(listener: Acceptor<S, A>, handler: ConnectionHandler<S, A>, options?: ServeOptions): Server<S, A> {
  return new Server(listener, handler, options);
}

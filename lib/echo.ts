/**
 * The echo server: every byte a client sends comes back, until the client closes.
 *
 * Three layers, each usable on its own:
 *
 * - `echo(stream, scratch)`: the per-connection loop, an "async fn". One read, one write per
 *   message. The read lands in `scratch`, which every connection of a server shares (as
 *   uSockets shares its receive buffer): the bytes are written back before the task can
 *   suspend, so no other connection can overwrite them. Only when the peer cannot take them all
 *   does the connection copy the rest into a buffer of its own and wait to write it; so an idle
 *   connection costs no buffer at all. Backpressure is the kernel's: while the client does not
 *   read, the write pends and this connection stops reading; nothing is buffered beyond one
 *   buffer per stalled connection.
 * - `EchoServer`: an accept loop that spawns one task per connection, and a graceful `stop()`:
 *   stop accepting, give the open connections `graceMs` to finish, then close them.
 * - `runEchoServer(options)`: a whole process's worth: bind, print `listening <host> <port>`,
 *   serve under the embedded driver or `blockOn`, and stop on SIGINT / SIGTERM. The CLI
 *   (`polled echo`) and `bench/servers/polled-echo.js` are thin wrappers around it.
 *
 * Signals and the `block` driver: `blockOn` owns the thread and parks in `epoll_wait`, so Node's
 * loop, which is where `process.on('SIGTERM')` handlers run, does not turn while it is parked.
 * A signal still interrupts the wait (EINTR), but JavaScript never hears of it. So in block mode
 * the server runs in *slices*: `blockOn` serves until the server finishes or `sliceMs` (default
 * 100 ms) has passed, then returns to Node's loop for one turn (a `setImmediate`), in which libuv
 * delivers any pending signal to its JS handler; then the next slice starts. Tasks and sockets
 * are untouched between slices (the runtime's state outlives `blockOn`), so the cost is one
 * extra loop turn per slice, and a signal is acted on within one slice.
 */
import { IoError, TimeoutError } from './errors';
import { select } from './combinators';
import { FutureBase, PENDING, type Async, type Context, type Future, type Poll } from './future';
import type { Listener, Stream } from './net/stream';
import { SocketAddress, type SocketAddressLike, type UnixSocketAddress } from './net/address';
import { TcpListener, TcpStream, type TcpListenOptions } from './net/tcp';
import { UnixListener } from './net/unix';
import { Runtime } from './runtime';
import { CancellationToken } from './sync/cancellation';
import { Notify } from './sync/notify';
import type { JoinHandle } from './task';
import { Sleep, timeout } from './time';
import { checkMs, optionalInt, optionalMs } from './validate';

/**
 * Echo `stream` back to itself until end of stream; returns the number of bytes echoed.
 * `scratch` may be shared by any number of connections on this thread (see the module doc).
 */
export function* echo(stream: Stream, scratch: Uint8Array): Async<number> {
  let total = 0;
  let own: Uint8Array | null = null; // made the first time the peer falls behind
  for (;;) {
    const n = yield* stream.read(scratch);
    if (n === 0) return total;
    // No suspension between the read and this write: `scratch` still holds exactly our bytes.
    const done = stream.tryWrite(scratch, 0, n);
    if (done < n) {
      // The peer's window is full: keep the rest before yielding the thread (and `scratch`).
      own ??= new Uint8Array(scratch.length);
      own.set(scratch.subarray(done, n));
      yield* stream.writeAll(own, 0, n - done);
    }
    total += n;
  }
}

export interface EchoServerOptions {
  /** Bytes of the read buffer all connections share (the most read per syscall); a connection whose peer falls behind gets one of its own. Default 16 KiB. */
  bufferSize?: number;
  /** TCP_NODELAY on accepted TCP connections. Default true. */
  noDelay?: boolean;
  /** How long `stop()` lets open connections finish, in ms, unless it is given one. Default 2000. */
  graceMs?: number;
  /** Where to report what an operator wants to know (accept backing off, stop). Default: nothing. */
  log?: (line: string) => void;
}

type AnyListener = Listener<Stream, SocketAddress | UnixSocketAddress>;

interface ServerSettings {
  bufferSize: number;
  noDelay: boolean;
  graceMs: number;
  log: ((line: string) => void) | null;
}

function checkServerOptions(options: unknown): ServerSettings {
  if (options === null || typeof options !== 'object') throw new TypeError(`EchoServer options must be an object, got ${String(options)}`);
  const o = options as EchoServerOptions;
  const noDelay = o.noDelay ?? true;
  if (typeof noDelay !== 'boolean') throw new TypeError(`EchoServer: noDelay must be a boolean, got ${String(o.noDelay)}`);
  if (o.log !== undefined && typeof o.log !== 'function') throw new TypeError('EchoServer: log must be a function');
  return {
    bufferSize: optionalInt(o.bufferSize, 'EchoServer: bufferSize', 1, 1 << 30, 16 * 1024),
    noDelay,
    graceMs: optionalMs(o.graceMs, 'EchoServer: graceMs', 2000),
    log: o.log ?? null,
  };
}

/**
 * An echo server on a TCP or Unix listener. `run()` is its main task; `stop()` ends it gracefully.
 *
 * ```ts
 * const server = yield* EchoServer.bind('127.0.0.1:7007');
 * spawn(server.run());
 * // later, from anywhere (a signal handler, another task):
 * server.stop();
 * ```
 */
export class EchoServer {
  readonly listener: AnyListener;
  private readonly bufferSize: number;
  /** The read buffer every connection of this server shares (see `echo`). */
  private scratch: Uint8Array | null = null;
  private readonly noDelay: boolean;
  private readonly log: ((line: string) => void) | null;
  private graceMs: number;
  private readonly stopping = new CancellationToken();
  /** Notified when the last connection closes. */
  private readonly drained = new Notify();
  private readonly tasks = new Set<JoinHandle<void>>();
  private running = false;
  /** Connections accepted since the start. */
  accepted = 0;

  constructor(listener: TcpListener | UnixListener, options: EchoServerOptions = {}) {
    if (!(listener instanceof TcpListener) && !(listener instanceof UnixListener)) {
      throw new TypeError('EchoServer(listener): listener must be a TcpListener or a UnixListener');
    }
    const o = checkServerOptions(options);
    this.listener = listener as AnyListener;
    this.bufferSize = o.bufferSize;
    this.noDelay = o.noDelay;
    this.graceMs = o.graceMs;
    this.log = o.log;
    if (this.log !== null) {
      const log = this.log;
      let lastReport = 0;
      this.listener.onBackoff = (err, delayMs) => {
        // One line per episode (the first backoff), not one per retry.
        if (delayMs === 1 || Date.now() - lastReport > 5000) {
          lastReport = Date.now();
          log(`accept: ${err.code}; backing off (up to 100 ms between tries) while serving ${this.connections} connections`);
        }
      };
    }
  }

  /** Bind a TCP listener (see `TcpListener.bind`) and make a server on it. */
  static bind(addr: SocketAddressLike | number, options: EchoServerOptions & TcpListenOptions = {}): Future<EchoServer> {
    const { bufferSize, noDelay, graceMs, log, ...listen } = options ?? {};
    const opts = { bufferSize, noDelay, graceMs, log };
    checkServerOptions(opts); // now, not when the listener already exists
    return mapFuture(TcpListener.bind(addr, listen), (l) => new EchoServer(l, opts));
  }

  /** Bind a Unix listener at `path` and make a server on it. */
  static bindUnix(path: string, options: EchoServerOptions & { backlog?: number } = {}): Future<EchoServer> {
    const { bufferSize, noDelay, graceMs, log, ...listen } = options ?? {};
    const opts = { bufferSize, noDelay, graceMs, log };
    checkServerOptions(opts);
    return mapFuture(UnixListener.bind(path, listen), (l) => new EchoServer(l, opts));
  }

  /** The listening address. */
  localAddr(): SocketAddress | UnixSocketAddress {
    return (this.listener as TcpListener | UnixListener).localAddr();
  }

  /** Open connections. */
  get connections(): number {
    return this.tasks.size;
  }

  get isStopping(): boolean {
    return this.stopping.isCancelled();
  }

  /**
   * Stop: accept no more connections, let the open ones finish for `graceMs` (default: the
   * server's), then close what is left; `run()` then returns. Idempotent; callable from a task,
   * a Node callback or a signal handler.
   */
  stop(graceMs?: number): void {
    if (graceMs !== undefined) this.graceMs = checkMs(graceMs, 'EchoServer.stop(graceMs)');
    this.stopping.cancel();
  }

  /** The server's main task: accept and spawn until `stop()`, then the graceful shutdown. */
  *run(): Async<void> {
    if (this.running) throw new Error('EchoServer.run(): this server is already running');
    this.running = true;
    const rt = Runtime.current();
    let graceful = false;
    try {
      for (;;) {
        let next;
        try {
          next = yield* select({ stop: this.stopping.cancelled(), conn: this.listener.accept() });
        } catch (err) {
          if (this.stopping.isCancelled() || !this.listener.isOpen) break;
          throw err;
        }
        if (next.key === 'stop') break;
        const stream = next.value[0];
        this.accepted++;
        if (this.noDelay && stream instanceof TcpStream) {
          try {
            stream.setNoDelay(true);
          } catch {
            // The client is already gone; the first read will say so.
          }
        }
        const handle: JoinHandle<void> = rt.spawn(this.serve(stream, () => this.tasks.delete(handle)), 'echo connection');
        this.tasks.add(handle);
      }
      this.listener.close();
      if (this.tasks.size > 0) {
        this.log?.(`stopping: ${this.tasks.size} open connections get ${this.graceMs} ms to finish`);
        try {
          yield* timeout(this.allClosed(), this.graceMs);
        } catch (err) {
          if (!(err instanceof TimeoutError)) throw err;
          this.log?.(`closing ${this.tasks.size} connections still open after ${this.graceMs} ms`);
        }
      }
      graceful = true;
    } finally {
      this.listener.close();
      // After the grace period, and also when run() itself is cancelled or fails: no
      // connection task outlives its server. Aborting runs their finally blocks (closing the
      // sockets) right away.
      for (const h of [...this.tasks]) h.abort();
      if (!graceful) this.stopping.cancel();
    }
  }

  private *serve(stream: Stream, done: () => void): Async<void> {
    try {
      yield* echo(stream, (this.scratch ??= new Uint8Array(this.bufferSize)));
    } catch (err) {
      // A client that resets or vanishes (ECONNRESET, EPIPE, ETIMEDOUT) ends its connection, not the server.
      if (!(err instanceof IoError)) throw err;
    } finally {
      stream.close();
      done();
      if (this.tasks.size === 0) this.drained.notifyWaiters();
    }
  }

  /** Completes once no connection is open. */
  private *allClosed(): Async<void> {
    while (this.tasks.size > 0) yield* this.drained.notified();
  }
}

const enum MapState {
  Running,
  Done,
}

class MapFuture<A, B> extends FutureBase<B> {
  private state = MapState.Running;
  constructor(
    private readonly inner: Future<A>,
    private readonly f: (a: A) => B,
  ) {
    super();
  }
  poll(cx: Context): Poll<B> {
    if (this.state === MapState.Done) throw new Error('polled: future polled after completion');
    const v = this.inner.poll(cx);
    if (v === PENDING) return PENDING;
    this.state = MapState.Done;
    return this.f(v);
  }
  override drop(): void {
    if (this.state === MapState.Running) this.inner.drop?.();
    this.state = MapState.Done;
  }
}

function mapFuture<A, B>(inner: Future<A>, f: (a: A) => B): Future<B> {
  return new MapFuture(inner, f);
}

// ---- a whole process: runEchoServer ---------------------------------------------------------

export type EchoDriver = 'embedded' | 'block';

export interface RunEchoOptions extends EchoServerOptions {
  /** Numeric IPv4 / IPv6 address to listen on. Default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 lets the OS choose. Default 7007. */
  port?: number;
  /** Listen on this Unix socket path instead of TCP. */
  unix?: string;
  /** Listen backlog. Default 1024. */
  backlog?: number;
  /** `embedded` (in Node's event loop, the default) or `block` (`blockOn` owns the thread). */
  driver?: EchoDriver;
  /** Stop on SIGINT / SIGTERM (default true). A second signal exits at once with status 1. */
  signals?: boolean;
  /** block driver: the longest a `blockOn` slice lasts before Node's loop gets a turn (signals). Default 100 ms. */
  sliceMs?: number;
  /** Called once the server listens, with the line to print (`listening 127.0.0.1 7007`). Default: write it to stdout. */
  onListening?: (line: string, server: EchoServer) => void;
  /** The runtime to use. Default: the current thread's default runtime. */
  runtime?: Runtime;
}

/** The line `runEchoServer` prints when ready: `listening <host> <port>`, or `listening unix <path>`. */
export function listeningLine(server: EchoServer): string {
  const a = server.localAddr();
  return a instanceof SocketAddress ? `listening ${a.host} ${a.port}` : `listening unix ${a.path}`;
}

/**
 * Run an echo server until SIGINT / SIGTERM (or until `server.stop()` is called from
 * `onListening`'s server), then shut it down gracefully. Resolves when it has stopped.
 */
export async function runEchoServer(options: RunEchoOptions = {}): Promise<void> {
  if (options === null || typeof options !== 'object') throw new TypeError(`runEchoServer(options) needs an object, got ${String(options)}`);
  const driver = options.driver ?? 'embedded';
  if (driver !== 'embedded' && driver !== 'block') throw new TypeError(`driver must be 'embedded' or 'block', got ${JSON.stringify(driver)}`);
  const sliceMs = optionalMs(options.sliceMs, 'sliceMs', 100);
  if (sliceMs <= 0) throw new RangeError(`sliceMs must be greater than 0, got ${sliceMs}`);
  const rt = options.runtime ?? Runtime.default();
  const serverOptions: EchoServerOptions = {
    bufferSize: options.bufferSize,
    noDelay: options.noDelay,
    graceMs: options.graceMs,
    log: options.log,
  };
  const bind =
    options.unix !== undefined
      ? EchoServer.bindUnix(options.unix, { ...serverOptions, backlog: options.backlog })
      : EchoServer.bind({ host: options.host ?? '127.0.0.1', port: options.port ?? 7007 }, { ...serverOptions, backlog: options.backlog });

  const server = driver === 'block' ? rt.blockOn(bind) : await rt.spawn(bind).promise();

  const signals = options.signals ?? true;
  let signalCount = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signalCount++;
    if (signalCount > 1) {
      process.stderr.write(`${sig} again: exiting now\n`);
      process.exit(1);
    }
    server.stop();
  };
  if (signals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  try {
    const line = listeningLine(server);
    if (options.onListening) options.onListening(line, server);
    else process.stdout.write(line + '\n');

    const main = rt.spawn(server.run(), 'echo server');
    if (driver === 'embedded') {
      await main.promise();
    } else {
      const slice = new Slice(rt, main, sliceMs);
      while (!main.isFinished()) {
        // One turn of Node's loop before each slice: libuv runs pending signal handlers (and
        // anything else queued), and first of all starts watching the signals just installed
        // (libuv adds a new watch to its epoll set only when its loop next turns, and until then
        // a signal would not end the slice early).
        await new Promise<void>((resolve) => setImmediate(resolve));
        rt.blockOn(slice.next());
      }
      await main.promise(); // rethrows if the server task failed
    }
  } finally {
    if (signals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

/**
 * The block driver's slices: each `next()` is ready when the server task ends, after `ms`, or as
 * soon as Node's loop has work (a signal to deliver), whichever is first.
 */
class Slice {
  constructor(
    private readonly rt: Runtime,
    private readonly main: JoinHandle<void>,
    private readonly ms: number,
  ) {}
  next(): Future<void> {
    return new SliceFuture(this.main, new Sleep(this.ms, true), this.rt.nodeLoopReady());
  }
}

class SliceFuture extends FutureBase<void> {
  constructor(
    private readonly main: JoinHandle<void>,
    private readonly timer: Sleep,
    private readonly nodeLoop: Future<void>,
  ) {
    super();
  }
  poll(cx: Context): Poll<void> {
    if (this.main.isFinished() || this.timer.poll(cx) !== PENDING || this.nodeLoop.poll(cx) !== PENDING) {
      this.timer.drop();
      this.nodeLoop.drop?.();
      return undefined;
    }
    // Also wake when the server ends; JoinHandle.poll stores the waker without consuming the outcome.
    try {
      if (this.main.poll(cx) !== PENDING) {
        this.timer.drop();
        return undefined;
      }
    } catch {
      this.timer.drop();
      return undefined; // the error is read again by the caller through main.promise()
    }
    return PENDING;
  }
  override drop(): void {
    this.timer.drop();
    this.nodeLoop.drop?.();
    this.main.drop();
  }
}

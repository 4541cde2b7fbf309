/**
 * The echo server: every byte a client sends comes back, until the client closes. Imported as
 * `polled/echo`; `polled echo` (lib/cli.ts) runs it as a process.
 *
 * - `echo(stream, scratch)`: the per-connection loop, a future written by hand (the state
 *   machine of the "async fn" shown at `echo`). One read, one write per message. The read lands
 *   in `scratch`, which every connection of a server shares (as uSockets shares its receive
 *   buffer): the bytes are written back before the task can suspend, so no other connection can
 *   overwrite them. It lives on a SharedArrayBuffer, which the addon binds without a lookup per
 *   call (see `IoResource`). Only when the peer cannot take them all does the connection copy the
 *   rest into a buffer of its own and wait to write it; so an idle connection costs no buffer at
 *   all. Backpressure is the kernel's: while the client does not read, the write pends and this
 *   connection stops reading; nothing is buffered beyond one buffer per stalled connection.
 * - `EchoServer`: `serve()` (lib/serve.ts: accept loop, graceful stop, EMFILE backoff) with
 *   `echo` as the handler.
 */
import { MapFuture, PENDING, isPending, type Context, type Future, type Poll, type Waker } from './future';
import { IoOpFuture, checkBuffer, type IoResource, type WriteFuture } from './io';
import { READABLE } from './native';
import type { SocketAddress, SocketAddressLike, UnixSocketAddress } from './net/address';
import { checkBool, checkOptions } from './net/options';
import type { Acceptor, Stream } from './net/stream';
import { TcpListener, TcpStream, type TcpListenOptions } from './net/tcp';
import { UnixListener, type UnixListenOptions } from './net/unix';
import { Server, checkServeOptions, type ServeOptions } from './serve';
import { optionalInt } from './validate';

const enum EchoState {
  /** Reading into the shared buffer (and writing each chunk straight back). */
  Reading,
  /** The peer fell behind: writing the rest of a chunk from this connection's own buffer. */
  Flushing,
  /** End of stream (or failed): polling again is a bug. */
  Done,
}

/**
 * Echo `stream` back to itself until end of stream; the future's value is the number of bytes
 * echoed. `scratch` may be shared by any number of connections on this thread (see the module
 * doc). Cancel-safe in the sense of `read`: dropped while waiting, no byte read is lost unechoed
 * except those of a chunk the peer had not yet taken.
 *
 * As an "async fn" this is
 *
 * ```ts
 * function* echo(stream: Stream, scratch: Uint8Array): Async<number> {
 *   let total = 0;
 *   let own: Uint8Array | null = null;         // made the first time the peer falls behind
 *   for (;;) {
 *     const n = yield* stream.read(scratch);
 *     if (n === 0) return total;
 *     const done = stream.tryWrite(scratch, 0, n); // no suspension since the read: scratch is ours
 *     if (done < n) {
 *       own ??= new Uint8Array(scratch.length);
 *       own.set(scratch.subarray(done, n));      // keep the rest before giving up the thread
 *       yield* stream.writeAll(own, 0, n - done);
 *     }
 *     total += n;
 *   }
 * }
 * ```
 *
 * and it is written here as the state machine a compiler makes of that (`EchoFuture`): one
 * state per suspension point, the locals as fields, each `yield*` a poll of the stream
 * (`IoResource.pollRead`, Rust's `poll_read`) that returns `PENDING` up to the task. Nothing is
 * allocated per message and no generator is resumed, which is about a third of the user-space
 * work of the generator above per echoed message (`npm run bench:instructions` measures both:
 * the `polled-*-gen` entries run the generator as the handler).
 */
export function echo(stream: Stream<unknown>, scratch: Uint8Array): Future<number> {
  checkBuffer(scratch, 'echo(stream, scratch)');
  if (scratch.length === 0) throw new RangeError('echo(stream, scratch): scratch must hold at least 1 byte');
  return new EchoFuture(stream.io, scratch);
}

class EchoFuture extends IoOpFuture<number> {
  private state = EchoState.Reading;
  private total = 0;
  /** This connection's own buffer, made the first time the peer falls behind (for the rest of one chunk). */
  private own: Uint8Array | null = null;
  /** While Flushing: the write of `own`'s rest in progress, and how much of it is left. */
  private flush: WriteFuture | null = null;
  private flushFrom = 0;
  private flushLeft = 0;
  /** The waker left with the reactor by the last read that pended, so that drop() takes it back. */
  private waker: Waker | null = null;

  constructor(
    io: IoResource,
    private readonly scratch: Uint8Array,
  ) {
    super(io);
  }

  poll(cx: Context): Poll<number> {
    const io = this.io;
    try {
      for (;;) {
        if (this.state === EchoState.Flushing) {
          this.flush ??= io.write(this.own!, this.flushFrom, this.flushLeft);
          const w = this.flush.poll(cx);
          // The write counts itself in io.inFlight while it waits: this future need not too.
          if (isPending(w)) return PENDING;
          this.flush = null;
          this.flushFrom += w;
          this.flushLeft -= w;
          if (this.flushLeft > 0) continue;
          this.state = EchoState.Reading;
        } else if (this.state === EchoState.Done) {
          throw new Error('polled: echo future polled after completion');
        }
        const scratch = this.scratch;
        // Read, and write what was read straight back (`echo`): one crossing into the addon.
        const n = io.pollRead(cx, scratch, 0, scratch.length, true);
        if (isPending(n)) {
          this.waker = cx.waker;
          return this.pend();
        }
        if (n === 0) {
          this.state = EchoState.Done;
          this.unpark();
          return this.total;
        }
        this.total += n;
        // Written back with the read, before anything could suspend: what the peer did not take
        // is still in `scratch`, exactly our bytes.
        const done = io.echoed;
        if (done < n) {
          // The peer's window is full: keep the rest before yielding the thread (and `scratch`).
          // Sized to what is left (at most one chunk), grown if a later stall leaves more.
          const rest = n - done;
          let own = this.own;
          if (own === null || own.length < rest) own = this.own = new Uint8Array(rest);
          own.set(scratch.subarray(done, n));
          this.flushFrom = 0;
          this.flushLeft = n - done;
          this.state = EchoState.Flushing;
          this.unpark();
        } else if (n < scratch.length && io.readDrained(cx)) {
          // A short read drained the socket and all of it went back: the next read would only
          // pend, so pend now (the waker is stored, as that read would have stored it).
          this.waker = cx.waker;
          return this.pend();
        }
      }
    } catch (err) {
      this.state = EchoState.Done;
      this.unpark();
      throw err;
    }
  }

  override waitingFor(): string {
    if (this.flush !== null) return `echo, ${this.flush.waitingFor()} (the peer fell behind)`;
    return `echo, ${this.io.describeOp('read')}, ${this.total} bytes echoed`;
  }

  override drop(): void {
    if (this.state === EchoState.Done) return;
    this.state = EchoState.Done;
    if (this.io.isOpen) this.io.rt.reactor.clearWaker(this.io, READABLE, this.waker);
    this.flush?.drop();
    this.flush = null;
    this.unpark();
  }
}

export interface EchoServerOptions extends ServeOptions {
  /**
   * Bytes of the read buffer all connections share (the most read per syscall); a connection
   * whose peer falls behind gets a buffer of its own for the rest of one chunk. Default 64 KiB,
   * as the C reference server reads: a bulk transfer then crosses into the addon a quarter as
   * often as at 16 KiB, and one buffer per thread costs nothing per connection.
   */
  bufferSize?: number;
  /** TCP_NODELAY on accepted TCP connections. Default true. */
  noDelay?: boolean;
}

type AnyAddr = SocketAddress | UnixSocketAddress;

/** Check echo's own options and serve's (before anything is bound), and split them. */
function checkEchoOptions(options: unknown): { bufferSize: number; noDelay: boolean; serve: ServeOptions } {
  const o = checkOptions<EchoServerOptions>(options, 'EchoServer', ['bufferSize', 'noDelay', 'graceMs', 'log', 'shutdown']);
  const { bufferSize, noDelay, ...serve } = o;
  checkServeOptions(serve, 'EchoServer');
  return {
    bufferSize: optionalInt(bufferSize, 'EchoServer: bufferSize', 1, 1 << 30, 64 * 1024),
    noDelay: checkBool(noDelay, 'EchoServer: noDelay', true),
    serve,
  };
}

/** The server's options and the listener's, apart; the server's checked now, not once the socket exists. */
function splitListen<L>(options: (EchoServerOptions & L) | undefined): [EchoServerOptions, L] {
  const { bufferSize, noDelay, graceMs, log, shutdown, ...listen } = options ?? ({} as EchoServerOptions & L);
  const own: EchoServerOptions = { bufferSize, noDelay, graceMs, log, shutdown };
  checkEchoOptions(own);
  return [own, listen as L];
}

/**
 * An echo server on a TCP or Unix listener: a `Server` (spawn or await it; `stop()` ends it
 * gracefully) whose connections run `echo` over one shared read buffer.
 *
 * ```ts
 * const server = yield* EchoServer.bind('127.0.0.1:7007');
 * spawn(server);
 * // later, from anywhere (a signal handler, another task):
 * server.stop();
 * ```
 */
export class EchoServer extends Server<Stream<AnyAddr>, AnyAddr> {
  constructor(listener: TcpListener | UnixListener | Acceptor<Stream<AnyAddr>, AnyAddr>, options: EchoServerOptions = {}) {
    const o = checkEchoOptions(options);
    let scratch: Uint8Array | null = null; // the read buffer every connection shares (see `echo`)
    const { bufferSize, noDelay } = o;
    super(
      listener as Acceptor<Stream<AnyAddr>, AnyAddr>,
      (stream) => {
        if (noDelay && stream instanceof TcpStream) {
          try {
            stream.setNoDelay(true);
          } catch {
            // The client is already gone; the first read will say so.
          }
        }
        // On shared memory: a buffer that cannot be detached or shrunk is bound once, with no
        // lookup per read and write (IoResource.syscall; native/bind_io.cc).
        return echo(stream, (scratch ??= new Uint8Array(new SharedArrayBuffer(bufferSize))));
      },
      o.serve,
    );
  }

  /** Bind a TCP listener (see `TcpListener.bind`) and make a server on it. */
  static override bind(addr: SocketAddressLike | number, options?: EchoServerOptions & TcpListenOptions): Future<EchoServer> {
    const [own, listen] = splitListen<TcpListenOptions>(options);
    return new MapFuture(TcpListener.bind(addr, listen), (l) => new EchoServer(l, own));
  }

  /** Bind a Unix listener at `path` and make a server on it. */
  static bindUnix(path: string, options?: EchoServerOptions & UnixListenOptions): Future<EchoServer> {
    const [own, listen] = splitListen<UnixListenOptions>(options);
    return new MapFuture(UnixListener.bind(path, listen), (l) => new EchoServer(l, own));
  }
}


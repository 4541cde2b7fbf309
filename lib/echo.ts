/**
 * The echo server: every byte a client sends comes back, until the client closes. Imported as
 * `polled/echo`; `polled echo` (lib/cli.ts) runs it as a process.
 *
 * - `echo(stream, scratch)`: the per-connection loop, an "async fn". One read, one write per
 *   message. The read lands in `scratch`, which every connection of a server shares (as
 *   uSockets shares its receive buffer): the bytes are written back before the task can
 *   suspend, so no other connection can overwrite them. Only when the peer cannot take them all
 *   does the connection copy the rest into a buffer of its own and wait to write it; so an idle
 *   connection costs no buffer at all. Backpressure is the kernel's: while the client does not
 *   read, the write pends and this connection stops reading; nothing is buffered beyond one
 *   buffer per stalled connection.
 * - `EchoServer`: `serve()` (lib/serve.ts: accept loop, graceful stop, EMFILE backoff) with
 *   `echo` as the handler.
 */
import { MapFuture, type Async, type Future } from './future';
import type { SocketAddress, SocketAddressLike, UnixSocketAddress } from './net/address';
import { checkBool, checkOptions } from './net/options';
import type { Acceptor, Stream } from './net/stream';
import { TcpListener, TcpStream, type TcpListenOptions } from './net/tcp';
import { UnixListener, type UnixListenOptions } from './net/unix';
import { Server, checkServeOptions, type ServeOptions } from './serve';
import { optionalInt } from './validate';

/**
 * Echo `stream` back to itself until end of stream; returns the number of bytes echoed.
 * `scratch` may be shared by any number of connections on this thread (see the module doc).
 */
export function* echo(stream: Stream<unknown>, scratch: Uint8Array): Async<number> {
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

export interface EchoServerOptions extends ServeOptions {
  /** Bytes of the read buffer all connections share (the most read per syscall); a connection whose peer falls behind gets one of its own. Default 16 KiB. */
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
    bufferSize: optionalInt(bufferSize, 'EchoServer: bufferSize', 1, 1 << 30, 16 * 1024),
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
        return echo(stream, (scratch ??= new Uint8Array(bufferSize)));
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


/**
 * TCP: `TcpListener` and `TcpStream` (tokio's names and shapes).
 *
 * ```ts
 * const listener = yield* TcpListener.bind('127.0.0.1:0');
 * const [stream, peer] = yield* listener.accept();
 * const n = yield* stream.read(buf);        // 0 at end of stream
 * yield* stream.writeAll(buf, 0, n);
 * stream.close();
 * ```
 *
 * Everything is non-blocking and edge-triggered through the runtime's reactor; reads and writes
 * are `lib/io.ts`'s leaf futures (see `stream.ts`). IPv4 and IPv6; port 0 lets the OS choose.
 * A host that is a name (`'localhost:8080'`, `'example.com:80'`) is resolved on the blocking pool
 * first (`lookupHost`, ./dns); a numeric one is used as it is.
 */
import { checkSignal, underSignal } from '../abort';
import { IoError, errno } from '../errors';
import { GenFuture, LazyFuture, type Future } from '../future';
import { IoResource } from '../io';
import { REUSE_ADDR, REUSE_PORT, V6_ONLY, native, type Handle } from '../native';
import { Runtime } from '../runtime';
import { describe } from '../validate';
import { SocketAddress, fromNative, parseHostPort, type SocketAddressLike } from './address';
import { connectFirst, lookupHost } from './dns';
import { checkBacklog, checkBool, checkOptions, checkTimeout } from './options';
import { ConnectFuture, Listener, Stream } from './stream';

export interface TcpListenOptions {
  /** Length of the kernel's queue of not yet accepted connections. Default 1024. */
  backlog?: number;
  /** SO_REUSEADDR: bind a port still in TIME_WAIT (default true, as Node and tokio do). */
  reuseAddress?: boolean;
  /** SO_REUSEPORT: several listeners share the port, the kernel spreads connections (default false). */
  reusePort?: boolean;
  /** IPV6_V6ONLY for an IPv6 address: don't also accept IPv4-mapped connections (default false). */
  ipv6Only?: boolean;
  /** Give up when this signal aborts: the future fails with `AbortError` (and closes what it opened). */
  signal?: AbortSignal;
}

export interface TcpConnectOptions {
  /** Give up after this many ms: the future fails with `IoError` ETIMEDOUT and the socket is closed. */
  timeout?: number;
  /** Set TCP_NODELAY on the new stream (default false, as in Node and tokio). */
  noDelay?: boolean;
  /** Give up when this signal aborts: the future fails with `AbortError` (and closes what it opened). */
  signal?: AbortSignal;
}

/** A connected TCP socket. See `Stream` for read / write / shutdown / close and the addresses. */
export class TcpStream extends Stream<SocketAddress> {
  /** @internal Use `TcpStream.connect` or `TcpListener.accept`. */
  constructor(io: IoResource) {
    super(io);
  }

  /**
   * Connect to `addr` (`'127.0.0.1:80'`, `'[::1]:80'`, `'example.com:80'`, `{ host, port }`)
   * without blocking the thread. A name is resolved first (`lookupHost`, on the blocking pool) and
   * its addresses are tried in getaddrinfo's order, moving to the next on ECONNREFUSED, a
   * time-out (the `timeout` option is per address) or an unreachable network; the last error is
   * thrown. Fails with `IoError` ECONNREFUSED, ETIMEDOUT, ENETUNREACH, ENOTFOUND (no such name), ...
   */
  static connect(addr: SocketAddressLike, options?: TcpConnectOptions): Future<TcpStream> {
    const target = parseHostPort(addr, 'TcpStream.connect(addr)');
    const o = checkOptions<TcpConnectOptions>(options, 'TcpStream.connect', ['timeout', 'noDelay', 'signal']);
    const signal = checkSignal(o.signal, 'TcpStream.connect: signal');
    const timeout = checkTimeout(o.timeout, 'TcpStream.connect: timeout');
    const noDelay = checkBool(o.noDelay, 'TcpStream.connect: noDelay', false);
    const connectTo = (a: SocketAddress): Future<TcpStream> =>
      new ConnectFuture<TcpStream>(
        () => native.tcpConnect(a.host, a.port),
        (io) => {
          const s = new TcpStream(io);
          if (noDelay) native.setNoDelay(io.handle, true);
          return s;
        },
        a.toString(),
        timeout,
      );
    if (target instanceof SocketAddress) return underSignal(connectTo(target), signal);
    return underSignal(
      new GenFuture(
        (function* (): Generator<unknown, TcpStream, unknown> {
          const addrs = yield* lookupHost(target.name, { port: target.port });
          return yield* connectFirst(addrs, connectTo);
        })(),
      ),
      signal,
    );
  }

  /** @internal */
  protected override toAddress(raw: [string, number, number]): SocketAddress {
    return fromNative(raw);
  }

  /** TCP_NODELAY: send small writes at once instead of coalescing them (Nagle). */
  setNoDelay(on = true): void {
    if (typeof on !== 'boolean') throw new TypeError(`setNoDelay(on) needs a boolean, got ${describe(on)}`);
    this.setsockopt(native.setNoDelay(this.openHandle('setsockopt'), on));
  }

  /** SO_KEEPALIVE; with `initialDelayMs` > 0 also TCP_KEEPIDLE (rounded up to whole seconds). */
  setKeepAlive(on: boolean, initialDelayMs = 0): void {
    if (typeof on !== 'boolean') throw new TypeError(`setKeepAlive(on) needs a boolean, got ${describe(on)}`);
    const ms = checkTimeout(initialDelayMs, 'setKeepAlive(on, initialDelayMs)') ?? 0;
    this.setsockopt(native.setKeepAlive(this.openHandle('setsockopt'), on, Math.ceil(ms / 1000)));
  }

  private openHandle(syscall: string): Handle {
    if (!this.io.isOpen) throw new IoError(errno.EBADF, syscall, this.io.closedDetail);
    return this.io.handle;
  }

  private setsockopt(r: number): void {
    if (r < 0) throw new IoError(-r, 'setsockopt');
  }
}

/** A listening TCP socket. */
export class TcpListener extends Listener<TcpStream, SocketAddress> {
  /** @internal Use `TcpListener.bind`. */
  constructor(io: IoResource) {
    super(io);
  }

  /**
   * Listen on `addr`: `'127.0.0.1:0'`, `'[::1]:8080'`, `'localhost:0'`, `{ host, port }` or a
   * port number (on 127.0.0.1). A name is resolved first (`lookupHost`, on the blocking pool) and
   * the first of its addresses is bound. Port 0 lets the OS choose; read it back with
   * `localAddr()`. The socket is made when the future is first polled. Fails with `IoError`
   * EADDRINUSE, EACCES, EADDRNOTAVAIL, ENOTFOUND (no such name).
   */
  static override bind(addr: SocketAddressLike | number, options?: TcpListenOptions): Future<TcpListener> {
    const target = parseHostPort(typeof addr === 'number' ? { port: addr } : addr, 'TcpListener.bind(addr)');
    const o = checkOptions<TcpListenOptions>(options, 'TcpListener.bind', ['backlog', 'reuseAddress', 'reusePort', 'ipv6Only', 'signal']);
    const signal = checkSignal(o.signal, 'TcpListener.bind: signal');
    const backlog = checkBacklog(o.backlog, 'TcpListener.bind: backlog');
    const flags =
      (checkBool(o.reuseAddress, 'TcpListener.bind: reuseAddress', true) ? REUSE_ADDR : 0) |
      (checkBool(o.reusePort, 'TcpListener.bind: reusePort', false) ? REUSE_PORT : 0) |
      (checkBool(o.ipv6Only, 'TcpListener.bind: ipv6Only', false) ? V6_ONLY : 0);
    const listen = (a: SocketAddress): TcpListener => {
      const rt = Runtime.current();
      const h = native.tcpListen(a.host, a.port, backlog, flags);
      if (h < 0) throw new IoError(-h, 'bind', a.toString());
      return new TcpListener(new IoResource(rt, h));
    };
    if (target instanceof SocketAddress) return underSignal(new LazyFuture(() => listen(target)), signal);
    return underSignal(
      new GenFuture(
        (function* (): Generator<unknown, TcpListener, unknown> {
          const addrs = yield* lookupHost(target.name, { port: target.port });
          return listen(addrs[0]);
        })(),
      ),
      signal,
    );
  }

  /**
   * Connections the kernel has queued for this listener that no `accept()` has taken yet (Linux:
   * TCP_INFO). Closing the listener resets them, which is what a graceful stop reports. Throws
   * `IoError` ENOTSUP where the platform does not say, EBADF after close.
   */
  acceptQueueLength(): number {
    if (!this.io.isOpen) throw new IoError(errno.EBADF, 'getsockopt', this.io.closedDetail);
    const r = native.acceptQueueLength(this.io.handle);
    if (r < 0) throw new IoError(-r, 'getsockopt', 'TCP_INFO');
    return r;
  }

  /** @internal */
  protected override toAddress(raw: [string, number, number]): SocketAddress {
    return fromNative(raw);
  }

  /** @internal */
  override wrapAccepted(rt: Runtime, handle: Handle): [TcpStream, SocketAddress] | null {
    const peer = native.peerAddr(handle);
    if (typeof peer === 'number') {
      // ENOTCONN: reset by the client between accept and now. Nothing to serve.
      native.close(handle);
      return null;
    }
    return [new TcpStream(new IoResource(rt, handle)), fromNative(peer)];
  }
}

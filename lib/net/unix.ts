/**
 * Unix-domain stream sockets: `UnixListener` and `UnixStream`, on the same stream and accept
 * code as TCP (`stream.ts`), so there is still one read path and one write path.
 *
 * `UnixListener.bind(path)` needs `path` not to exist; `close()` removes the socket file again
 * (as Node's `server.close()` does), so a restarted server can bind the same path.
 */
import * as fs from 'node:fs';
import { checkSignal, underSignal } from '../abort';
import { IoError } from '../errors';
import { LazyFuture, type Future } from '../future';
import { IoResource } from '../io';
import { native, type Handle } from '../native';
import { Runtime } from '../runtime';
import { checkUnixPath, type UnixSocketAddress } from './address';
import { ConnectFuture, Listener, Stream } from './stream';
import { checkBacklog, checkOptions, checkTimeout } from './options';

export interface UnixListenOptions {
  /** Length of the kernel's queue of not yet accepted connections. Default 1024. */
  backlog?: number;
  /** Give up when this signal aborts: the future fails with `AbortError` (and closes what it opened). */
  signal?: AbortSignal;
}

export interface UnixConnectOptions {
  /** Give up after this many ms (IoError ETIMEDOUT). */
  timeout?: number;
  /** Give up when this signal aborts: the future fails with `AbortError` (and closes what it opened). */
  signal?: AbortSignal;
}

function unixAddr(path: string): UnixSocketAddress {
  return Object.freeze({ family: 'unix' as const, path });
}

/**
 * A connected Unix stream socket. See `Stream` for read / write / shutdown / close and the
 * addresses (`localAddr()` is usually unnamed, `path: ''`, for a connecting client; `peerAddr()`
 * is then the listener's path).
 */
export class UnixStream extends Stream<UnixSocketAddress> {
  /** @internal Use `UnixStream.connect` or `UnixListener.accept`. */
  constructor(io: IoResource) {
    super(io);
  }

  /** Connect to the socket at `path`. Fails with `IoError` ENOENT, ECONNREFUSED, EAGAIN (backlog full), ... */
  static connect(path: string, options?: UnixConnectOptions): Future<UnixStream> {
    const p = checkUnixPath(path, 'UnixStream.connect(path)');
    const o = checkOptions<UnixConnectOptions>(options, 'UnixStream.connect', ['timeout', 'signal']);
    const timeout = checkTimeout(o.timeout, 'UnixStream.connect: timeout');
    const signal = checkSignal(o.signal, 'UnixStream.connect: signal');
    return underSignal(new ConnectFuture<UnixStream>(() => native.unixConnect(p), (io) => new UnixStream(io), p, timeout), signal);
  }

  /** @internal */
  protected override toAddress(raw: [string, number, number]): UnixSocketAddress {
    return unixAddr(raw[0]);
  }
}

/** A listening Unix stream socket. */
export class UnixListener extends Listener<UnixStream, UnixSocketAddress> {
  /** @internal Use `UnixListener.bind`. */
  constructor(
    io: IoResource,
    readonly path: string,
  ) {
    super(io);
  }

  /** Listen at `path` (which must not exist yet). The socket is made at the first poll. */
  static override bind(path: string, options?: UnixListenOptions): Future<UnixListener> {
    const p = checkUnixPath(path, 'UnixListener.bind(path)');
    const o = checkOptions<UnixListenOptions>(options, 'UnixListener.bind', ['backlog', 'signal']);
    const backlog = checkBacklog(o.backlog, 'UnixListener.bind: backlog');
    const signal = checkSignal(o.signal, 'UnixListener.bind: signal');
    return underSignal(
      new LazyFuture(() => {
        const rt = Runtime.current();
        const h = native.unixListen(p, backlog);
        if (h < 0) throw new IoError(-h, 'bind', p);
        return new UnixListener(new IoResource(rt, h), p);
      }),
      signal,
    );
  }

  /** @internal The path this listener was bound to (what getsockname reports for it too). */
  protected override toAddress(_raw: [string, number, number]): UnixSocketAddress {
    return unixAddr(this.path);
  }

  /** Stop listening and remove the socket file. Idempotent. */
  override close(): void {
    if (!this.io.isOpen) return;
    super.close();
    try {
      if (fs.lstatSync(this.path).isSocket()) fs.unlinkSync(this.path);
    } catch {
      // Already gone (or replaced by something that is not ours): nothing to remove.
    }
  }

  /** @internal */
  override wrapAccepted(rt: Runtime, handle: Handle): [UnixStream, UnixSocketAddress] {
    const peer = native.peerAddr(handle);
    return [new UnixStream(new IoResource(rt, handle)), unixAddr(typeof peer === 'number' ? '' : peer[0])];
  }
}

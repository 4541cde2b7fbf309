/**
 * What TCP and Unix sockets share: the `Socket` base (handle, addresses, close), the byte stream,
 * connecting, and the accept loop.
 *
 * There is one read path and one write path in polled, the leaf futures of `lib/io.ts`
 * (`ReadFuture`, `WriteFuture`, `WritevFuture` over an `IoResource`). `Stream` only forwards to
 * them, so `stream.read(buf)` *is* the leaf future: awaiting it allocates nothing beyond the
 * future object, and the bytes land in the caller's buffer. The composite operations
 * `readExact` and `writeAll` are hand-written loops over the same steps (`ExactFuture`), and
 * `writevAll` a generator function (an "async fn") over writev futures.
 *
 * Connecting and accepting are leaf futures too, with explicit states:
 *
 * - `ConnectFuture`: a non-blocking `connect`. EINPROGRESS means: register, wait for WRITABLE,
 *   then read SO_ERROR. An optional timeout fails it with ETIMEDOUT. On any failure, or when the
 *   future is dropped half way, the socket is closed: no fd leaks.
 * - `AcceptFuture`: `accept4` until EAGAIN, then clear readable readiness under the tick guard and
 *   wait. Out of file descriptors (EMFILE, ENFILE) or memory, it does *not* spin on the still
 *   readable listener and does not fail: it sleeps with exponential backoff (1 ms doubling to
 *   100 ms, as the tokio / mio docs recommend) and tries again, so the server keeps serving the
 *   connections it has and resumes accepting once descriptors are free.
 */
import { consume, pollProceed } from '../coop';
import { IoError, errno } from '../errors';
import { FutureBase, PENDING, isPending, type Async, type Context, type Future, type Poll, type Waker } from '../future';
import { IoOpFuture, IoResource, checkBuffer, checkedLength, type ReadFuture, type WriteFuture, type WritevFuture } from '../io';
import { ERROR, HANGUP, READABLE, SHUT_RD, SHUT_RDWR, SHUT_WR, WRITABLE, native, type Handle } from '../native';
import { chunks } from '../node-stream';
import { Runtime } from '../runtime';
import { encodeText, type TextEncoding } from '../text';
import { Sleep, sleepUntil } from '../time';
import type { SocketAddress, UnixSocketAddress } from './address';

/** Errno numbers by name, from Node's table for this platform (the numbers the addon returns); -1 if this platform lacks one. */
function errnoOf(name: string): number {
  return (errno as Record<string, number | undefined>)[name] ?? -1;
}

const EAGAIN = errnoOf('EAGAIN');
const EINTR = errnoOf('EINTR');
const EBADF = errnoOf('EBADF');
const ENOTCONN = errnoOf('ENOTCONN');
const ETIMEDOUT = errnoOf('ETIMEDOUT');

/** accept() errors that are about one connection that went away: skip it and take the next. */
const ACCEPT_RETRY = new Set(
  ['ECONNABORTED', 'EPROTO', 'ENETDOWN', 'ENOPROTOOPT', 'EHOSTDOWN', 'ENONET', 'EHOSTUNREACH', 'EOPNOTSUPP', 'ENETUNREACH', 'EPERM']
    .map(errnoOf)
    .filter((n) => n > 0),
);
/** accept() errors that mean "out of resources for now": back off, don't spin, don't die. */
const ACCEPT_EXHAUSTED = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'ENOSPC'].map(errnoOf).filter((n) => n > 0));

/** The first and the longest backoff after an exhausted accept(), in ms. */
export const ACCEPT_BACKOFF_MIN_MS = 1;
export const ACCEPT_BACKOFF_MAX_MS = 100;

/** `readExact` met the end of the stream before the buffer was full. */
export class UnexpectedEofError extends Error {
  override readonly name = 'UnexpectedEofError';
  readonly code = 'ERR_UNEXPECTED_EOF';
  constructor(
    readonly expected: number,
    readonly received: number,
  ) {
    super(`end of stream after ${received} of ${expected} bytes`);
  }
}

/** Which half of a connection `shutdown` closes. */
export type ShutdownHow = 'read' | 'write' | 'both';

/** writev takes at most this many buffers per syscall (IOV_MAX is 1024 on Linux and macOS). */
export const IOV_MAX = 1024;

/** The addon's raw address: `[host, port, family]` (4, 6, or 0 for Unix, where host is the path). */
type RawAddr = [string, number, number];

/**
 * What streams and listeners share: one registered handle, its local address, and closing it.
 * `A` is the address type: `SocketAddress` for TCP, `UnixSocketAddress` for Unix sockets.
 */
export abstract class Socket<A = SocketAddress | UnixSocketAddress> {
  /** @internal The registered handle; the leaf futures live here. */
  readonly io: IoResource;

  protected constructor(io: IoResource) {
    this.io = io;
    io.owner = this;
  }

  /** @internal An operation on this socket, for the task dump: "TcpStream.read fd 12 127.0.0.1:7007 ← 127.0.0.1:51234". */
  describeOp(op: string): string {
    const io = this.io;
    if (!io.isOpen) return `${this.constructor.name}.${op} (${io.closedNote})`;
    return `${this.constructor.name}.${op} fd ${native.fdOf(io.handle)} ${this.describeAddrs()}`;
  }

  /** @internal The addresses, for `describeOp`: a listener's own; a stream's "local ← peer". */
  protected describeAddrs(): string {
    return addrText(() => this.localAddr());
  }

  /**
   * This end's address: for a listener, the address it is bound to (with the port the OS chose
   * for port 0); for a stream, its local end (usually unnamed, `path: ''`, for a Unix client).
   * Throws `IoError` (EBADF after close).
   */
  localAddr(): A {
    return this.toAddress(this.nativeAddr(native.localAddr, 'getsockname'));
  }

  /** @internal The subclass's address type from the addon's raw address. */
  protected abstract toAddress(raw: RawAddr): A;

  /** @internal The address call shared by TCP and Unix: the raw address, or a throw. */
  protected nativeAddr(fn: (h: Handle) => RawAddr | number, syscall: string): RawAddr {
    if (!this.io.isOpen) throw new IoError(EBADF, syscall, this.io.closedDetail);
    const r = fn(this.io.handle);
    if (typeof r === 'number') throw new IoError(-r, syscall);
    return r;
  }

  /** The addon handle (opaque; for diagnostics). */
  get handle(): Handle {
    return this.io.handle;
  }

  get isOpen(): boolean {
    return this.io.isOpen;
  }

  /** True once this socket was sent to another thread (`lib/thread-channel.ts`): it is closed here. */
  get isMoved(): boolean {
    return this.io.moved;
  }

  /**
   * Close the socket (and deregister it). Pending operations (read, write, accept) fail with
   * EBADF. Idempotent.
   */
  close(): void {
    this.io.close();
  }
}

/** An address for the task dump, or what went wrong reading it. */
function addrText(f: () => unknown): string {
  try {
    const a = f();
    if (a !== null && typeof a === 'object' && 'path' in a) return (a as UnixSocketAddress).path || '(unnamed)';
    return String(a);
  } catch {
    return '?';
  }
}

/**
 * A connected byte stream (TCP or Unix). Reads and writes are independent: one task may read
 * while another writes the same stream (the reactor keeps a reader and a writer waker).
 * Close it when done; after `close()` every operation fails with `IoError` EBADF.
 */
export abstract class Stream<A = SocketAddress | UnixSocketAddress> extends Socket<A> {
  protected constructor(io: IoResource) {
    super(io);
    io.noun = 'stream';
  }

  protected override describeAddrs(): string {
    return `${addrText(() => this.localAddr())} ← ${addrText(() => this.peerAddr())}`;
  }

  /**
   * The peer's address (for a Unix client, the listener's path). Throws `IoError` (ENOTCONN
   * once the connection is gone, EBADF after close).
   */
  peerAddr(): A {
    return this.toAddress(this.nativeAddr(native.peerAddr, 'getpeername'));
  }

  /**
   * Read into `buf[offset, offset + length)`: the number of bytes read (at least 1), or 0 at the
   * end of the stream. Pends until data arrives. No copy: the kernel writes into `buf`.
   * Cancel-safe: dropped before completion, it consumed nothing.
   */
  read(buf: Uint8Array, offset?: number, length?: number): ReadFuture {
    return this.io.read(buf, offset, length);
  }

  /** Fill `buf[offset, offset + length)` completely, or throw `UnexpectedEofError` if the stream ends first. */
  readExact(buf: Uint8Array, offset = 0, length?: number): Future<void> {
    const len = checkedLength(buf, offset, length, 'readExact(buf)');
    return new ExactFuture(this.io, false, buf, offset, len);
  }

  /**
   * Write from `buf[offset, offset + length)`: the number of bytes written, which may be fewer
   * than asked. Pends while the kernel's send buffer is full (backpressure).
   * Cancel-safe: dropped before completion, it wrote nothing.
   */
  write(buf: Uint8Array, offset?: number, length?: number): WriteFuture {
    return this.io.write(buf, offset, length);
  }

  /**
   * Write what the socket takes right now, without waiting: bytes written, 0 if its send buffer
   * is full. For loops that must not suspend while `buf` holds their data (see `echo`).
   */
  tryWrite(buf: Uint8Array, offset?: number, length?: number): number {
    return this.io.tryWrite(buf, offset, length);
  }

  /**
   * Write all of `buf[offset, offset + length)`, or all of `text` in `encoding` (default
   * 'utf8'; any of Node's encodings), waiting for the peer to read as needed.
   * Not cancel-safe (as tokio's `write_all`): dropped part-way, an unknown prefix has been
   * written. If it fails part-way (the peer reset, or another task closed this stream), the
   * `IoError` carries `bytesWritten`: how many bytes went out before the error.
   */
  writeAll(buf: Uint8Array, offset?: number, length?: number): Future<void>;
  writeAll(text: string, encoding?: TextEncoding): Future<void>;
  writeAll(buf: Uint8Array | string, offset?: number | TextEncoding, length?: number): Future<void> {
    if (typeof buf === 'string') {
      if (length !== undefined) throw new TypeError('writeAll(text, encoding): a string takes an encoding, not an offset and a length');
      const bytes = encodeText(buf, offset, 'writeAll(text, encoding)');
      return new ExactFuture(this.io, true, bytes, 0, bytes.length);
    }
    if (typeof offset === 'string') throw new TypeError('writeAll(buf, offset, length): an encoding is for string writes; a Uint8Array takes an offset');
    const len = checkedLength(buf, offset ?? 0, length, 'writeAll(buf)');
    return new ExactFuture(this.io, true, buf, offset ?? 0, len);
  }

  /**
   * The chunks of this stream until its end, for Promise code on the embedded driver:
   * `for await (const chunk of stream)`; see `chunks()` in lib/node-stream.ts.
   */
  [Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    return chunks(this);
  }

  /** One vectored write (writev / sendmsg) of up to `IOV_MAX` buffers: bytes written, maybe partial. */
  writev(bufs: readonly Uint8Array[]): WritevFuture {
    if (Array.isArray(bufs) && bufs.length > IOV_MAX) {
      throw new RangeError(`writev(bufs) takes at most ${IOV_MAX} buffers per call, got ${bufs.length}; use writevAll`);
    }
    return this.io.writev(bufs);
  }

  /**
   * Write every byte of every buffer, in order, with as few writev calls as the kernel allows.
   * Not cancel-safe, and an `IoError` carries `bytesWritten`, as for `writeAll`.
   */
  writevAll(bufs: readonly Uint8Array[]): Async<void> {
    if (!Array.isArray(bufs)) throw new TypeError(`writevAll(bufs) needs an array of Uint8Array, got ${typeof bufs}`);
    bufs.forEach((b, i) => checkBuffer(b, `writevAll(bufs[${i}])`));
    return writevAllGen(this.io, bufs);
  }

  /**
   * Close one or both halves. `'write'` sends FIN: the peer reads end of stream, and this side
   * can still read what the peer sends. Throws `IoError` (ENOTCONN once the connection is gone, EBADF after close).
   */
  shutdown(how: ShutdownHow): void {
    const code = how === 'write' ? SHUT_WR : how === 'read' ? SHUT_RD : how === 'both' ? SHUT_RDWR : -1;
    if (code < 0) throw new TypeError(`shutdown(how): how must be 'read', 'write' or 'both', got ${JSON.stringify(how) ?? String(how)}`);
    if (!this.io.isOpen) throw new IoError(EBADF, 'shutdown', this.io.closedDetail);
    const r = native.shutdown(this.io.handle, code);
    if (r < 0) throw new IoError(-r, 'shutdown');
  }
}

const enum LoopState {
  Running,
  Done,
}

/**
 * `readExact` and `writeAll`: a loop of reads (writes) until `length` bytes have moved, written
 * by hand over `IoResource.pollRead` / `pollWrite` (Rust's `poll_read` / `poll_write`) rather
 * than as a generator over read (write) futures: one object per call, none per syscall, and no
 * generator to resume. Dropped part-way, the bytes moved so far are gone (not cancel-safe, as
 * tokio's `read_exact` / `write_all`); a write error carries `bytesWritten`.
 */
class ExactFuture extends IoOpFuture<void> {
  private state = LoopState.Running;
  private done = 0;
  private waker: Waker | null = null;

  constructor(
    io: IoResource,
    private readonly writing: boolean,
    private readonly buf: Uint8Array,
    private readonly offset: number,
    private readonly length: number,
  ) {
    super(io);
  }

  poll(cx: Context): Poll<void> {
    if (this.state === LoopState.Done) throw new Error(`polled: ${this.writing ? 'writeAll' : 'readExact'} future polled after completion`);
    const io = this.io;
    try {
      while (this.done < this.length) {
        const at = this.offset + this.done;
        const left = this.length - this.done;
        const n = this.writing ? io.pollWrite(cx, this.buf, at, left, null) : io.pollRead(cx, this.buf, at, left);
        if (isPending(n)) {
          this.waker = cx.waker;
          return this.pend();
        }
        if (n === 0 && !this.writing) throw new UnexpectedEofError(this.length, this.done);
        this.done += n;
      }
    } catch (err) {
      this.finish();
      throw this.writing ? withBytesWritten(err, this.done) : err;
    }
    this.finish();
    return undefined;
  }

  override waitingFor(): string {
    return `${this.io.describeOp(this.writing ? 'writeAll' : 'readExact')}, ${this.done} of ${this.length} bytes${this.writing ? ' (send buffer full)' : ''}`;
  }

  private finish(): void {
    this.state = LoopState.Done;
    this.unpark();
  }

  override drop(): void {
    if (this.state === LoopState.Running && this.io.isOpen) this.io.rt.reactor.clearWaker(this.io, this.writing ? WRITABLE : READABLE, this.waker);
    this.finish();
  }
}

/** An `IoError` from part-way through a write loop learns how far the loop got. */
function withBytesWritten(err: unknown, done: number): unknown {
  if (err instanceof IoError) err.bytesWritten = done;
  return err;
}

function* writevAllGen(io: IoResource, bufs: readonly Uint8Array[]): Async<void> {
  // Work on a copy of the list: the caller's array is not modified.
  let list: Uint8Array[] = bufs.filter((b) => b.length > 0);
  let done = 0;
  while (list.length > 0) {
    const batch = list.length > IOV_MAX ? list.slice(0, IOV_MAX) : list;
    let n: number;
    try {
      n = yield* io.writev(batch);
    } catch (err) {
      throw withBytesWritten(err, done);
    }
    done += n;
    // Drop what was written: whole buffers, then the written head of a partly written one.
    let i = 0;
    while (i < list.length && n >= list[i].length) n -= list[i++].length;
    if (i > 0) list = list.slice(i);
    if (n > 0) list[0] = list[0].subarray(n);
  }
}

// ---- connect ---------------------------------------------------------------------------------

const enum ConnectState {
  Init,
  Connecting,
  Done,
}

/**
 * A non-blocking connect, TCP or Unix: `start` makes the socket and calls connect(2) (the
 * addon's `[handle, inProgress]`, or -errno); `wrap` turns the connected, registered socket into
 * a stream. Dropped while connecting, it closes the socket.
 */
export class ConnectFuture<S> extends FutureBase<S> {
  private state = ConnectState.Init;
  private io: IoResource | null = null;
  private timer: Sleep | null = null;

  constructor(
    private readonly start: () => [Handle, boolean] | number,
    private readonly wrap: (io: IoResource) => S,
    /** The address, for error messages. */
    private readonly target: string,
    private readonly timeoutMs: number | undefined,
  ) {
    super();
  }

  override waitingFor(): string {
    const fd = this.io !== null && this.io.isOpen ? ` fd ${native.fdOf(this.io.handle)}` : '';
    return `connect${fd} to ${this.target}${this.timeoutMs !== undefined ? ` (timeout ${this.timeoutMs} ms)` : ''}`;
  }

  poll(cx: Context): Poll<S> {
    switch (this.state) {
      case ConnectState.Init: {
        const rt = Runtime.current();
        const started = this.start();
        if (typeof started === 'number') return this.fail(-started);
        const [h, inProgress] = started;
        let io: IoResource;
        try {
          io = new IoResource(rt, h); // closes the handle itself if registering fails
        } catch (err) {
          this.state = ConnectState.Done;
          throw err;
        }
        if (!inProgress) {
          this.state = ConnectState.Done;
          return this.wrap(io);
        }
        this.io = io;
        // A fresh source starts out "ready"; this socket is not writable until the connect
        // completes. Clear under the tick guard: an event already delivered is kept.
        rt.reactor.clearReadiness(io, WRITABLE, io.tick, null);
        if (this.timeoutMs !== undefined) this.timer = new Sleep(this.timeoutMs, true);
        this.state = ConnectState.Connecting;
        return this.pollConnecting(cx);
      }
      case ConnectState.Connecting:
        return this.pollConnecting(cx);
      default:
        throw new Error('polled: connect future polled after completion');
    }
  }

  private pollConnecting(cx: Context): Poll<S> {
    const io = this.io!;
    const reactor = io.rt.reactor;
    for (;;) {
      const bits = reactor.pollReady(io, WRITABLE, cx);
      if (bits === PENDING) break;
      if (!io.isOpen) return this.fail(EBADF);
      const tick = io.tick;
      const err = native.socketError(io.handle);
      if (err < 0) return this.fail(-err);
      const peer = native.peerAddr(io.handle);
      if (typeof peer !== 'number') {
        // getpeername works: connected.
        this.state = ConnectState.Done;
        this.io = null;
        this.timer?.drop();
        this.timer = null;
        return this.wrap(io);
      }
      if (peer !== -ENOTCONN) return this.fail(-peer);
      // Not connected yet and no error: a spurious wake-up, unless the socket hung up.
      if ((bits & (HANGUP | ERROR)) !== 0) return this.fail(ENOTCONN);
      reactor.clearReadiness(io, WRITABLE, tick, cx);
    }
    if (this.timer !== null && this.timer.poll(cx) !== PENDING) {
      this.timer = null;
      return this.fail(ETIMEDOUT, `after ${this.timeoutMs} ms`);
    }
    return PENDING;
  }

  private fail(errnum: number, more?: string): never {
    this.state = ConnectState.Done;
    this.release();
    throw new IoError(errnum, 'connect', more ? `${this.target}, ${more}` : this.target);
  }

  private release(): void {
    this.io?.close();
    this.io = null;
    this.timer?.drop();
    this.timer = null;
  }

  override drop(): void {
    if (this.state === ConnectState.Done) return;
    this.state = ConnectState.Done;
    this.release();
  }
}

// ---- listen / accept -------------------------------------------------------------------------

/** Told when accept() runs out of descriptors or memory and backs off. */
export type BackoffListener = (error: IoError, delayMs: number) => void;

/**
 * What `serve()` accepts connections from: a listening socket (`TcpListener`, `UnixListener`), or
 * anything else that yields connected streams, such as the listener of a handoff worker
 * (`WorkerContext.listen` with `balance: 'handoff'`), whose streams another thread accepted.
 */
export interface Acceptor<S, A> {
  /** The next connection, `[stream, peer]`. Cancel-safe: dropped while pending, no connection is lost. */
  accept(): Future<[S, A]>;
  /** Accept no more; pending and later `accept()`s fail. Idempotent. */
  close(): void;
  readonly isOpen: boolean;
  /** The address clients connect to. */
  localAddr(): A;
  /** Called when accepting backs off (out of fds or memory); null when nobody listens. */
  onBackoff: BackoffListener | null;
}

/** True for an object with the shape of an `Acceptor` (its methods present). */
export function isAcceptor(v: unknown): v is Acceptor<unknown, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return typeof o.accept === 'function' && typeof o.close === 'function' && typeof o.localAddr === 'function' && 'isOpen' in o;
}

/**
 * A listening socket: the accept loop shared by `TcpListener` and `UnixListener`. Subclasses
 * only turn an accepted handle into their stream type and peer address, and a raw address into
 * theirs (`toAddress`, for `localAddr()`).
 */
export abstract class Listener<S, A> extends Socket<A> implements Acceptor<S, A> {
  protected constructor(io: IoResource) {
    super(io);
    io.noun = 'listener';
  }

  /** @internal Current backoff step (0 when accept() last worked) and the time it ends, on the runtime clock. */
  backoffMs = 0;
  /** @internal */
  backoffUntil = 0;
  /** Called each time accept() backs off because the process or system is out of fds or memory. */
  onBackoff: BackoffListener | null = null;

  /**
   * The next connection: `[stream, peerAddress]`. Pends until a client connects. Cancel-safe:
   * dropped while pending, no connection is lost (it stays in the kernel's queue).
   */
  accept(): AcceptFuture<S, A> {
    return new AcceptFuture(this);
  }

  /**
   * @internal Wrap an accepted handle (already registered as `io`-to-be): the stream and the
   * peer address, or null when the peer is already gone (then the handle has been closed).
   */
  abstract wrapAccepted(rt: Runtime, handle: Handle): [S, A] | null;
}

const enum AcceptState {
  Idle,
  Done,
}

export class AcceptFuture<S, A> extends FutureBase<[S, A]> {
  private state = AcceptState.Idle;
  private sleep: Sleep | null = null;
  /** The waker left with the reactor, so that drop() removes that one only. */
  private waker: Waker | null = null;

  constructor(private readonly listener: Listener<S, A>) {
    super();
  }

  override waitingFor(): string {
    const what = this.listener.io.describeOp('accept');
    return this.sleep !== null ? `${what}, backing off (out of fds or memory)` : what;
  }

  poll(cx: Context): Poll<[S, A]> {
    if (this.state === AcceptState.Done) throw new Error('polled: accept future polled after completion');
    const l = this.listener;
    const io = l.io;
    if (!io.isOpen) return this.fail(EBADF, io.closedDetail);
    if (!pollProceed(cx)) return PENDING;
    const rt = io.rt;
    const reactor = rt.reactor;
    for (;;) {
      if (l.backoffUntil > 0) {
        // Out of descriptors: the listener stays readable, so trying again now would spin.
        this.sleep ??= sleepUntil(l.backoffUntil);
        if (this.sleep.poll(cx) === PENDING) return PENDING;
        this.sleep = null;
        l.backoffUntil = 0;
        if (!io.isOpen) return this.fail(EBADF, io.closedDetail);
      }
      if (!reactor.isReady(io, READABLE, cx)) {
        this.waker = cx.waker;
        return PENDING;
      }
      const tick = io.tick;
      const h = native.accept(io.handle);
      if (h >= 0) {
        consume(0);
        let r: [S, A] | null;
        try {
          r = l.wrapAccepted(rt, h);
        } catch (err) {
          // Registering the new socket failed (it is closed): epoll out of memory / watches.
          if (err instanceof IoError && ACCEPT_EXHAUSTED.has(err.errno)) {
            this.backoff(err, rt);
            continue;
          }
          this.state = AcceptState.Done;
          throw err;
        }
        l.backoffMs = 0;
        if (r === null) continue; // the client left before we looked: take the next one
        this.state = AcceptState.Done;
        return r;
      }
      const e = -h;
      if (e === EAGAIN) {
        reactor.clearReadiness(io, READABLE, tick, cx);
        continue;
      }
      if (e === EINTR || ACCEPT_RETRY.has(e)) continue;
      if (ACCEPT_EXHAUSTED.has(e)) {
        this.backoff(new IoError(e, 'accept'), rt);
        continue;
      }
      return this.fail(e);
    }
  }

  private backoff(err: IoError, rt: Runtime): void {
    const l = this.listener;
    l.backoffMs = l.backoffMs === 0 ? ACCEPT_BACKOFF_MIN_MS : Math.min(l.backoffMs * 2, ACCEPT_BACKOFF_MAX_MS);
    l.backoffUntil = rt.timers.clock.now() + l.backoffMs;
    if (l.onBackoff !== null) {
      try {
        l.onBackoff(err, l.backoffMs);
      } catch {
        // A throwing observer must not break the accept loop.
      }
    }
  }

  private fail(e: number, detail?: string): never {
    this.state = AcceptState.Done;
    this.sleep?.drop();
    this.sleep = null;
    throw new IoError(e, 'accept', detail);
  }

  override drop(): void {
    if (this.state === AcceptState.Done) return;
    this.state = AcceptState.Done;
    this.sleep?.drop();
    this.sleep = null;
    if (this.listener.io.isOpen) this.listener.io.rt.reactor.clearWaker(this.listener.io, READABLE, this.waker);
  }
}

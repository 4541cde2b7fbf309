/**
 * Thread channels: an mpsc channel whose ends live in different threads (worker_threads), with
 * `TcpStream`s / `UnixStream`s (and other senders) moving along with the messages.
 *
 * ```ts
 * // main thread
 * const [tx, rx] = threadChannel<Job>(1024);
 * const worker = new Worker('./worker.js', { workerData: { jobs: rx.share() } });
 * yield* tx.send({ id: 1, conn: stream });   // the stream moves with the message
 *
 * // worker.js
 * const rx = ThreadReceiver.from<Job>(workerData.jobs);
 * new Runtime().blockOn(function* () {
 *   for (let m; !(m = yield* rx.next()).done; ) serve(m.value.conn); // a TcpStream of this thread
 * }());
 * ```
 *
 * The queue is native (`native/channel.h`), bounded and process-wide; messages are the bytes of
 * `v8.serialize` (the structured-clone format: whatever `postMessage` carries, except transfer
 * lists and SharedArrayBuffers' sharing) plus the streams and senders found in the value, at
 * the top or nested in plain objects and arrays (not inside Maps, Sets or class instances).
 *
 * - A waiting end is woken through its runtime's mailbox (`lib/remote.ts`), and only when it
 *   actually waits: while the receiver is busy, a send is one native call and no syscall.
 *   MessagePort events are not used (they never fire while `blockOn` holds a thread).
 * - Same shape, errors and cancel-safety as `mpsc`: a `send` to a closed or gone receiver throws
 *   `SendError` with the value (its streams still usable by the sender); `trySend` throws
 *   `TrySendError('full' | 'closed')`; `recv` throws `RecvError('closed')` once every sender is
 *   gone and the queue is drained (`next()` returns `{ done: true }`).
 * - A stream that moves is taken out of this thread's handle table in the same native call that
 *   queues the message (deregistered, bound buffers dropped, handle retired): the old object is
 *   closed (`isOpen` false, `isMoved` true) and every operation on it fails with `IoError` EBADF
 *   ("moved to another thread"). The receiver gets a fresh stream registered with the runtime
 *   that polls its `recv`. Bytes in the kernel are not lost. A stream with a read or write in
 *   progress refuses to move (an `Error` with code `ERR_POLLED_STREAM_BUSY`); polled keeps no
 *   bytes of a stream in user space, so nothing else can be left behind.
 * - Ends are per thread: a worker that exits or is terminated drops its ends (the addon's env
 *   teardown), so the other side sees the channel closed; a message that is never received
 *   closes its streams' fds when the channel is dropped.
 * - Ends move to another thread with `share()` (a small plain descriptor for `workerData` or
 *   `postMessage`) and `ThreadSender.from` / `ThreadReceiver.from` there, or, for senders, inside
 *   a message of another thread channel.
 */
import * as v8 from 'node:v8';
import { currentRuntime } from './context';
import { IoError, errno } from './errors';
import { FutureBase, PENDING, Waker, type Context, type Poll } from './future';
import { IoResource } from './io';
import { CHANNEL_ENDED, CHANNEL_RX_GONE, native, type Handle } from './native';
import { Socket, Stream } from './net/stream';
import { TcpStream } from './net/tcp';
import { UnixStream } from './net/unix';
import { Runtime } from './runtime';
import { RecvError, SendError, TryRecvError, TrySendError } from './sync/errors';
import { GoneRegistry } from './sync/util';
import { checkInt, describe } from './validate';
import { WakerSet } from './wakers';

const EAGAIN = errno.EAGAIN;
const EPIPE = errno.EPIPE;
const ENOENT = errno.ENOENT;

/** The most streams (and, apart, senders) one message can carry (the addon's limit). */
export const MAX_TRANSFERS = 1024;

/** What `share()` returns: a plain object that `workerData` / `postMessage` carry. */
export interface SharedThreadSender<T = unknown> {
  readonly polledThreadChannel: 'sender';
  /** The process-wide id of the parked end. */
  readonly id: number;
  /** @internal Never present: only makes `T` part of the type. */
  readonly __type?: T;
}

export interface SharedThreadReceiver<T = unknown> {
  readonly polledThreadChannel: 'receiver';
  readonly id: number;
  /** @internal */
  readonly __type?: T;
}

/** A stream that cannot move: a read or write of it is in progress, or the sender has a send in progress. */
export class TransferBusyError extends Error {
  override readonly name = 'TransferBusyError';
  readonly code = 'ERR_POLLED_STREAM_BUSY';
}

// ---- The runtime of a poll ---------------------------------------------------------------------

function runtimeFor(what: string): Runtime {
  const rt = currentRuntime() ?? Runtime.default();
  if (rt instanceof Runtime) return rt;
  throw new Error(`polled: ${what} needs a Runtime (its mailbox wakes it from other threads, and received streams register with its poller); the current runtime is a TimerRuntime`);
}

// ---- Ends ----------------------------------------------------------------------------------------

/** A GC'd end without close() is dropped (a safety net: close() is immediate). */
const endGone = new GoneRegistry<Handle>((h) => {
  native.channelClose(h);
});

/**
 * What both ends share: the native handle, and the one remote wake registration of this end
 * (a key in the mailbox of the runtime that last waited) that every local waiter shares.
 */
/** A figure for the task dump, or '?' when reading it throws (a closed end). */
function safe(f: () => number): string {
  try {
    return String(f());
  } catch {
    return '?';
  }
}

abstract class End {
  /** @internal */
  handle: Handle;
  /** @internal The native end was let go of (closed, moved, or for a receiver: ended). */
  released = false;
  /** Local futures waiting on this end. */
  private readonly waiters = new WakerSet();
  private key = 0;
  private keyRt: Runtime | null = null;
  private readonly onRemote = new Waker({
    wakeByRef: () => {
      this.key = 0;
      this.keyRt = null;
      this.waiters.wakeAll();
    },
  });

  constructor(handle: Handle) {
    this.handle = handle;
    endGone.watch(this, handle);
  }

  /** @internal A future of this end waits. */
  get hasWaiters(): boolean {
    return !this.waiters.isEmpty;
  }

  /**
   * @internal The try said EAGAIN: the key to pass for a try that also records the waiter, or 0
   * when one is recorded already for `rt` (a post of it then wakes every local waiter).
   */
  needKey(rt: Runtime): number {
    if (this.key !== 0 && this.keyRt === rt && !rt.isClosed) return 0;
    this.forgetKey();
    this.key = rt.reactor.remote.add(this.onRemote);
    this.keyRt = rt;
    return this.key;
  }

  /** @internal The registering try did not wait after all (nothing is recorded natively). */
  forgetKey(): void {
    if (this.key !== 0 && this.keyRt !== null && !this.keyRt.isClosed) this.keyRt.reactor.remote.remove(this.key);
    this.key = 0;
    this.keyRt = null;
  }

  /** @internal */
  addWaiter(w: Waker): void {
    this.waiters.add(w);
  }

  /** @internal Take back a future's earlier waker (it is about to add its new one). */
  removeWaiterQuiet(w: Waker | null): void {
    this.waiters.remove(w);
  }

  /** @internal A waiting future completed or was dropped: the last one takes the registration back. */
  removeWaiter(w: Waker | null): void {
    this.waiters.remove(w);
    if (this.waiters.isEmpty && this.key !== 0) {
      this.forgetKey();
      if (!this.released) native.channelUnwait(this.handle);
    }
  }

  /** @internal Let go of the native end (already taken by the addon when `taken`). */
  release(taken: boolean): void {
    if (this.released) return;
    this.released = true;
    endGone.forget(this);
    this.forgetKey();
    if (!taken) native.channelClose(this.handle);
    this.waiters.wakeAll();
  }

  /** @internal [queued, capacity, flags] (flags 1: the receiver is closed or gone; 2: ended). */
  info(): [number, number, number] | null {
    if (this.released) return null;
    const r = native.channelInfo(this.handle);
    return typeof r === 'number' ? null : r;
  }

  /** @internal Park the end for another thread. */
  protected shareEnd(kind: string): number {
    if (this.released) throw new Error(`polled: share() of a ${kind} that is closed or was moved`);
    if (this.hasWaiters) throw new TransferBusyError(`polled: share() of a ${kind} with a ${kind === 'ThreadSender' ? 'send' : 'recv'} in progress`);
    const id = native.channelShare(this.handle);
    if (id < 0) throw new IoError(-id, 'channelShare');
    this.release(true);
    return id;
  }
}

function claim(desc: unknown, kind: 'sender' | 'receiver', what: string): Handle {
  const d = desc as { polledThreadChannel?: unknown; id?: unknown } | null;
  if (d === null || typeof d !== 'object' || d.polledThreadChannel !== kind || typeof d.id !== 'number') {
    throw new TypeError(`${what} needs what ${kind === 'sender' ? 'ThreadSender' : 'ThreadReceiver'}.share() returned, got ${describe(desc)}`);
  }
  checkInt(d.id, `${what}: id`, 1, Number.MAX_SAFE_INTEGER);
  const h = native.channelClaim(d.id, kind === 'sender');
  if (h === -ENOENT) throw new Error(`polled: ${what}: this end was claimed already (a shared end can be claimed once)`);
  if (h < 0) throw new IoError(-h, 'channelClaim');
  return h;
}

// ---- Encoding a message --------------------------------------------------------------------------

const KIND_TCP = 0;
const KIND_UNIX = 1;
const KIND_SENDER = 2;

/** A value ready for the addon: its bytes and what moves with it. */
interface Encoded {
  bytes: Uint8Array;
  /** Everything that moves, in the order of `kinds`; null when nothing does. */
  moving: Array<Stream | ThreadSender<unknown>> | null;
}

/** One walk's state (its own per encode: a getter in the value may send on a channel itself). */
class Walk {
  readonly path: Array<string | number> = [];
  readonly ancestors: object[] = [];
  readonly found: Array<Stream | ThreadSender<unknown>> = [];
  readonly paths: Array<Array<string | number>> = [];
}

function isPlain(v: object): boolean {
  const p = Object.getPrototypeOf(v) as unknown;
  return p === Object.prototype || p === null;
}

/** `v` with every stream and sender in it replaced by null (copying only the containers on their way). */
function extract(v: object, w: Walk): unknown {
  const { path, ancestors, found, paths } = w;
  if (v instanceof Stream || v instanceof ThreadSender) {
    let i = found.indexOf(v);
    if (i < 0) i = found.push(v) - 1;
    paths.push([i, ...path]);
    return null;
  }
  if (v instanceof ThreadReceiver) throw new TypeError('polled: a ThreadReceiver cannot travel in a message; send what receiver.share() returns');
  if (v instanceof Socket) throw new TypeError('polled: only TcpStream and UnixStream move between threads (a listener cannot)');
  if (v instanceof IoResource) throw new TypeError('polled: a raw IoResource cannot move between threads');
  const arr = Array.isArray(v);
  if (!arr && !isPlain(v)) return v; // Map, Set, Date, typed arrays, class instances: v8.serialize's business
  if (ancestors.includes(v)) return v; // a cycle: v8.serialize keeps it
  ancestors.push(v);
  let copy: Record<string | number, unknown> | unknown[] | null = null;
  const keys: Array<string | number> = arr ? [] : Object.keys(v);
  const n = arr ? (v as unknown[]).length : keys.length;
  for (let j = 0; j < n; j++) {
    const k = arr ? j : keys[j];
    const c = (v as Record<string | number, unknown>)[k];
    if (typeof c !== 'object' || c === null) continue;
    path.push(k);
    const r = extract(c, w);
    path.pop();
    if (r !== c) {
      copy ??= arr ? (v as unknown[]).slice() : { ...(v as Record<string, unknown>) };
      (copy as Record<string | number, unknown>)[k] = r;
    }
  }
  ancestors.pop();
  return copy ?? v;
}

function encode(value: unknown): Encoded {
  if (typeof value !== 'object' || value === null) return { bytes: v8.serialize(value), moving: null };
  const w = new Walk();
  const stripped = extract(value, w);
  if (w.found.length === 0) return { bytes: v8.serialize(value), moving: null };
  const moving = w.found;
  const paths = w.paths;
  const kinds = moving.map((m) => (m instanceof TcpStream ? KIND_TCP : m instanceof UnixStream ? KIND_UNIX : m instanceof ThreadSender ? KIND_SENDER : -1));
  if (kinds.includes(-1)) throw new TypeError('polled: only TcpStream and UnixStream move between threads');
  // With transfers the bytes are [value, kinds, paths]: the receiver knows which by the addon's answer.
  return { bytes: v8.serialize([stripped, kinds, paths]), moving };
}

/** Each attempt: everything that moves must be movable now. The handles for the addon. */
function transferHandles(enc: Encoded, self: ThreadSender<unknown>): [Handle[] | undefined, Handle[] | undefined] {
  if (enc.moving === null) return [undefined, undefined];
  const streams: Handle[] = [];
  const senders: Handle[] = [];
  for (const m of enc.moving) {
    if (m instanceof ThreadSender) {
      if (m === self) throw new TypeError('polled: a ThreadSender cannot travel in its own send (send a clone())');
      if (m.released) throw new Error('polled: a ThreadSender in the message is closed or was moved');
      if (m.hasWaiters || m.permits > 0) throw new TransferBusyError('polled: a ThreadSender with a send in progress or an unused permit cannot move to another thread');
      senders.push(m.handle);
    } else {
      const io = m.io;
      if (!io.isOpen) throw new IoError(errno.EBADF, 'send', `a stream in the message is ${io.closedNote}`);
      if (io.inFlight > 0) {
        throw new TransferBusyError('polled: a stream with a read or write in progress cannot move to another thread (finish or drop the operation first)');
      }
      if (io.buffered > 0) {
        throw new TransferBusyError(
          `polled: a stream with ${io.buffered} bytes held in a BufReader (unread) or BufWriter (unflushed) cannot move to another thread; read or flush them first, or take the unread ones with reader.intoParts() and send them along`,
        );
      }
      streams.push(io.handle);
    }
  }
  if (streams.length > MAX_TRANSFERS || senders.length > MAX_TRANSFERS) throw new RangeError(`polled: a message can carry at most ${MAX_TRANSFERS} streams and ${MAX_TRANSFERS} senders`);
  return [streams.length > 0 ? streams : undefined, senders.length > 0 ? senders : undefined];
}

/** The addon queued the message: what moved is gone from this thread. */
function moved(enc: Encoded): void {
  if (enc.moving === null) return;
  for (const m of enc.moving) {
    if (m instanceof ThreadSender) m.release(true);
    else m.io.markMoved();
  }
}

function decode(r: Uint8Array | [Uint8Array, Handle[], Handle[]], runtime: Runtime | null): unknown {
  if (!Array.isArray(r)) return v8.deserialize(r);
  const [bytes, hs, ss] = r;
  const rt = runtime ?? Runtime.current();
  let si = 0;
  let ti = 0;
  const made: Array<TcpStream | UnixStream | ThreadSender<unknown>> = [];
  try {
    const [value, kinds, ps] = v8.deserialize(bytes) as [unknown, number[], Array<Array<string | number>>];
    for (const kind of kinds) {
      if (kind === KIND_SENDER) {
        made.push(new ThreadSender(ss[ti++]));
        continue;
      }
      const h = hs[si++];
      if (h < 0) throw new IoError(-h, 'recv', 'no handle for a received stream');
      const io = new IoResource(rt, h); // closes the handle itself if registering fails
      made.push(kind === KIND_TCP ? new TcpStream(io) : new UnixStream(io));
    }
    let root = value;
    for (const p of ps) {
      const obj = made[p[0] as number];
      if (p.length === 1) {
        root = obj;
        continue;
      }
      let parent = root as Record<string | number, unknown>;
      for (let i = 1; i < p.length - 1; i++) parent = parent[p[i]] as Record<string | number, unknown>;
      parent[p[p.length - 1]] = obj;
    }
    return root;
  } catch (err) {
    // Nothing of this message is half given out: what was made is closed, the rest too.
    for (const m of made) {
      if (m instanceof ThreadSender) m.close();
      else m.close();
    }
    for (let i = si; i < hs.length; i++) if (hs[i] >= 0) native.close(hs[i]);
    for (let i = ti; i < ss.length; i++) native.channelClose(ss[i]);
    throw err;
  }
}

// ---- Sender ------------------------------------------------------------------------------------

/** The sending half; `clone()` for more senders (any thread), `share()` to move one to another thread. */
export class ThreadSender<T> extends End {
  /** @internal Use `threadChannel`, `clone()` or `ThreadSender.from`. */
  constructor(handle: Handle) {
    super(handle);
  }

  /** Claim, in this thread, a sender that another thread `share()`d. Once per descriptor. */
  static from<T>(shared: SharedThreadSender<T>): ThreadSender<T> {
    return new ThreadSender<T>(claim(shared, 'sender', 'ThreadSender.from(shared)'));
  }

  /**
   * Send `value`, waiting while the channel is full. Throws `SendError` (value in `err.value`,
   * its streams still this thread's) if the receiver is closed or gone or this sender closed.
   * Cancel-safe: dropped before it completes, nothing was sent and nothing moved.
   */
  send(value: T): ThreadSend<T> {
    return new ThreadSend(this, value);
  }

  /** Send now, or throw `TrySendError` `'full'` / `'closed'` (value in `err.value`, its streams untouched). */
  trySend(value: T): void {
    if (this.released) throw new TrySendError('closed', value);
    const enc = encode(value);
    const r = this.attempt(enc, 0, 0);
    if (r === 0) return;
    if (r === -EAGAIN) throw new TrySendError('full', value);
    if (r === -EPIPE) throw new TrySendError('closed', value);
    throw new IoError(-r, 'channelSend');
  }

  /** @internal One native try: 0, -EAGAIN (full), -EPIPE (closed), or another -errno. */
  attempt(enc: Encoded, mailbox: number, key: number, permit = false): number {
    const [streams, senders] = transferHandles(enc, this as ThreadSender<unknown>);
    const r = native.channelSend(this.handle, enc.bytes, streams, senders, mailbox, key, permit);
    if (r === 0) moved(enc);
    return r;
  }

  /** @internal Unused permits of this sender (`reserve()`). */
  permits = 0;

  /**
   * Wait for a free slot and hold it: the returned `ThreadPermit` then sends synchronously and
   * cannot find the channel full. The cancel-safe way to send from a `select`: a cancelled
   * `reserve()` holds nothing, and no value was at stake. A permit is given back by `release()`,
   * or when this sender is closed.
   */
  reserve(): ThreadReserve<T> {
    return new ThreadReserve(this);
  }

  /** Another sender of the same channel (in this thread; `share()` it to move it). */
  clone(): ThreadSender<T> {
    if (this.released) throw new Error('polled: thread channel: cannot clone a sender that was closed or moved');
    const h = native.channelClone(this.handle);
    if (h < 0) throw new IoError(-h, 'channelClone');
    return new ThreadSender<T>(h);
  }

  /** Close this sender. When every sender (in every thread) is gone, the receiver ends. Idempotent. */
  close(): void {
    this.release(false);
  }

  /** True when no receiver is left (closed or gone): every send will fail. Also true once this sender is closed. */
  isClosed(): boolean {
    const i = this.info();
    return i === null || (i[2] & CHANNEL_RX_GONE) !== 0;
  }

  /** The capacity the channel was made with. */
  get maxCapacity(): number {
    const i = this.info();
    return i === null ? 0 : i[1];
  }

  /** Free slots right now (0 once closed). */
  capacity(): number {
    const i = this.info();
    return i === null ? 0 : Math.max(0, i[1] - i[0]);
  }

  /**
   * Move this sender out of this thread: a plain descriptor for `workerData` / `postMessage`, to
   * be claimed once with `ThreadSender.from` in any thread. This object is closed from now on.
   * Until claimed, the parked sender keeps the channel open (the receiver does not end); a
   * descriptor that is never claimed keeps it so for the life of the process, so claim every
   * descriptor (and close what you do not need: `ThreadSender.from(d).close()`).
   */
  share(): SharedThreadSender<T> {
    return Object.freeze({ polledThreadChannel: 'sender' as const, id: this.shareEnd('ThreadSender') });
  }
}

const enum SendState {
  Init,
  Waiting,
  Done,
}

/**
 * The future of `ThreadSender.send(value)`. The value is serialized at the first poll (and its
 * streams checked at every try). Cancel-safe: dropped, it sent nothing, moved nothing and holds
 * nothing; the value (and its streams) are still yours.
 */
export class ThreadSend<T> extends FutureBase<void> {
  private state = SendState.Init;
  private enc: Encoded | null = null;
  private waker: Waker | null = null;

  constructor(
    private readonly tx: ThreadSender<T>,
    private value: T,
  ) {
    super();
  }

  override waitingFor(): string {
    return `threadChannel.send, channel full (capacity ${safe(() => this.tx.capacity())})`;
  }

  poll(cx: Context): Poll<void> {
    if (this.state === SendState.Done) throw new Error('polled: thread channel send() future polled after it completed');
    const rt = runtimeFor('a thread channel send()');
    const tx = this.tx;
    try {
      if (tx.released) throw new SendError(this.value, 'thread channel: send() on a sender that was closed or moved; the value is in err.value');
      this.enc ??= encode(this.value);
      let r = tx.attempt(this.enc, 0, 0);
      if (r === -EAGAIN) {
        const key = tx.needKey(rt);
        if (key !== 0) {
          r = tx.attempt(this.enc, rt.reactor.remote.mailbox, key);
          if (r !== -EAGAIN) tx.forgetKey();
        }
      }
      if (r === -EAGAIN) {
        if (this.waker !== cx.waker) {
          tx.removeWaiterQuiet(this.waker);
          this.waker = cx.waker;
        }
        tx.addWaiter(cx.waker);
        this.state = SendState.Waiting;
        return PENDING;
      }
      if (r === -EPIPE) throw new SendError(this.value, 'thread channel: the receiver is closed or gone; the value is in err.value');
      if (r < 0) throw new IoError(-r, 'channelSend');
      this.finish();
      return undefined;
    } catch (err) {
      this.finish();
      throw err;
    }
  }

  private finish(): void {
    if (this.state === SendState.Waiting) this.tx.removeWaiter(this.waker);
    this.state = SendState.Done;
    this.waker = null;
    this.enc = null;
    this.value = undefined as T;
  }

  override drop(): void {
    if (this.state !== SendState.Done) this.finish();
  }
}

/**
 * The future of `ThreadSender.reserve()`: a `ThreadPermit` holding one slot. Throws `SendError`
 * (with no value) once the receiver is closed or gone. Cancel-safe: dropped, it holds no slot.
 */
export class ThreadReserve<T> extends FutureBase<ThreadPermit<T>> {
  private done = false;
  private waker: Waker | null = null;

  constructor(private readonly tx: ThreadSender<T>) {
    super();
  }

  override waitingFor(): string {
    return `threadChannel.reserve, channel full (capacity ${safe(() => this.tx.capacity())})`;
  }

  poll(cx: Context): Poll<ThreadPermit<T>> {
    if (this.done) throw new Error('polled: thread channel reserve() future polled after it completed');
    const rt = runtimeFor('a thread channel reserve()');
    const tx = this.tx;
    if (tx.released) {
      this.finish();
      throw new SendError(undefined, 'thread channel: reserve() on a sender that was closed or moved');
    }
    let r = native.channelReserve(tx.handle, 0, 0);
    if (r === -EAGAIN) {
      const key = tx.needKey(rt);
      if (key !== 0) {
        r = native.channelReserve(tx.handle, rt.reactor.remote.mailbox, key);
        if (r !== -EAGAIN) tx.forgetKey();
      }
    }
    if (r === -EAGAIN) {
      if (this.waker !== cx.waker) {
        tx.removeWaiterQuiet(this.waker);
        this.waker = cx.waker;
      }
      tx.addWaiter(cx.waker);
      return PENDING;
    }
    this.finish();
    if (r === -EPIPE) throw new SendError(undefined, 'thread channel: the receiver is closed or gone');
    if (r < 0) throw new IoError(-r, 'channelReserve');
    tx.permits++;
    return new ThreadPermit(tx);
  }

  private finish(): void {
    if (this.waker !== null) this.tx.removeWaiter(this.waker);
    this.done = true;
    this.waker = null;
  }

  override drop(): void {
    if (!this.done) this.finish();
  }
}

/** One reserved slot: `send(value)` once (synchronous, never full), or `release()` it. */
export class ThreadPermit<T> {
  private held = true;
  constructor(private readonly tx: ThreadSender<T>) {}

  /**
   * Queue `value` in the reserved slot. Throws `SendError` (value in `err.value`, its streams
   * still yours) if the receiver closed meanwhile; the permit is used up either way. A value that
   * cannot be serialized or a stream that cannot move throws before the permit is used.
   */
  send(value: T): void {
    const tx = this.tx;
    if (!this.held || tx.released) throw new SendError(value, 'thread channel: this permit was used, released, or its sender closed; the value is in err.value');
    const r = tx.attempt(encode(value), 0, 0, true);
    this.held = false;
    tx.permits--;
    if (r === 0) return;
    if (r === -EPIPE) throw new SendError(value, 'thread channel: the receiver is closed or gone; the value is in err.value');
    throw new IoError(-r, 'channelSend');
  }

  /** Give the slot back unused. */
  release(): void {
    if (!this.held) throw new Error('polled: thread channel: this permit was already used or released');
    this.held = false;
    if (this.tx.released) return;
    this.tx.permits--;
    native.channelRelease(this.tx.handle);
  }
}

// ---- Receiver ----------------------------------------------------------------------------------

/** The receiving half (one per channel); `share()` moves it to another thread. */
export class ThreadReceiver<T> extends End {
  /** @internal Use `threadChannel` or `ThreadReceiver.from`. */
  constructor(handle: Handle) {
    super(handle);
  }

  /** Claim, in this thread, a receiver that another thread `share()`d. Once per descriptor. */
  static from<T>(shared: SharedThreadReceiver<T>): ThreadReceiver<T> {
    return new ThreadReceiver<T>(claim(shared, 'receiver', 'ThreadReceiver.from(shared)'));
  }

  /**
   * The next message, waiting for one. Throws `RecvError('closed')` once every sender is gone
   * and the queue is empty. Streams in it are registered with the runtime polling this future.
   * Cancel-safe: a message leaves the queue only in the poll that returns it.
   */
  recv(): ThreadRecv<T, T> {
    return new ThreadRecv<T, T>(this, false);
  }

  /** The next message as `{ done: false, value }`, or `{ done: true }` at the end. Cancel-safe. */
  next(): ThreadRecv<T, IteratorResult<T, undefined>> {
    return new ThreadRecv<T, IteratorResult<T, undefined>>(this, true);
  }

  /** A message now, or `TryRecvError` `'empty'` / `'closed'`. */
  tryRecv(): T {
    const r = this.take(0, 0, null);
    if (r === ENDED) throw new TryRecvError('closed');
    if (r === EMPTY) throw new TryRecvError('empty');
    return r as T;
  }

  /** @internal One native try: the message, EMPTY or ENDED (the end is released then). */
  take(mailbox: number, key: number, rt: Runtime | null): unknown {
    if (this.released) return ENDED;
    const r = native.channelRecv(this.handle, mailbox, key);
    if (typeof r !== 'number') return decode(r, rt);
    if (r === -EAGAIN) return EMPTY;
    if (r === -EPIPE) {
      this.release(false);
      return ENDED;
    }
    throw new IoError(-r, 'channelRecv');
  }

  /**
   * Refuse further messages: every send (waiting ones too) fails with `SendError`. What is queued
   * can still be received; the end is let go of when `recv` reaches the end. Idempotent.
   */
  close(): void {
    if (!this.released) native.channelCloseRx(this.handle);
  }

  /**
   * Let go of the receiver now: sends fail, and the messages still queued are destroyed (the fds
   * of their streams closed, their senders dropped). Also what happens when the receiver is
   * garbage-collected or its thread exits. Idempotent.
   */
  drop(): void {
    this.release(false);
  }

  /** True once no more messages can arrive and none is queued (or this receiver was dropped). */
  isClosed(): boolean {
    const i = this.info();
    return i === null || (i[2] & CHANNEL_ENDED) !== 0;
  }

  /** Messages queued right now. */
  get length(): number {
    const i = this.info();
    return i === null ? 0 : i[0];
  }

  isEmpty(): boolean {
    return this.length === 0;
  }

  /** Move this receiver to another thread (see `ThreadSender.share`); this object is closed from now on. */
  share(): SharedThreadReceiver<T> {
    return Object.freeze({ polledThreadChannel: 'receiver' as const, id: this.shareEnd('ThreadReceiver') });
  }
}

const EMPTY: unique symbol = Symbol('empty');
const ENDED: unique symbol = Symbol('ended');
const ITER_DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined }) as IteratorReturnResult<undefined>;

/**
 * The future of `ThreadReceiver.recv()` / `next()`. Cancel-safe: a message leaves the queue only
 * in the poll that returns it; a dropped recv loses nothing.
 */
export class ThreadRecv<T, R> extends FutureBase<R> {
  private done = false;
  private waker: Waker | null = null;

  constructor(
    private readonly rx: ThreadReceiver<T>,
    private readonly iter: boolean,
  ) {
    super();
  }

  override waitingFor(): string {
    return `threadChannel.recv, ${safe(() => this.rx.length)} queued`;
  }

  poll(cx: Context): Poll<R> {
    if (this.done) throw new Error('polled: thread channel recv() future polled after it completed');
    const rt = runtimeFor('a thread channel recv()');
    const rx = this.rx;
    let r: unknown;
    try {
      r = rx.take(0, 0, rt);
      if (r === EMPTY) {
        const key = rx.needKey(rt);
        if (key !== 0) {
          r = rx.take(rt.reactor.remote.mailbox, key, rt);
          if (r !== EMPTY) rx.forgetKey();
        }
      }
    } catch (err) {
      this.finish();
      throw err;
    }
    if (r === EMPTY) {
      if (this.waker !== cx.waker) {
        rx.removeWaiterQuiet(this.waker);
        this.waker = cx.waker;
      }
      rx.addWaiter(cx.waker);
      return PENDING;
    }
    this.finish();
    if (r === ENDED) {
      if (this.iter) return ITER_DONE as R;
      throw new RecvError('closed');
    }
    return (this.iter ? { done: false, value: r as T } : r) as R;
  }

  private finish(): void {
    if (this.waker !== null) this.rx.removeWaiter(this.waker);
    this.done = true;
    this.waker = null;
  }

  override drop(): void {
    if (!this.done) this.finish();
  }
}

/**
 * A bounded channel between threads: `[sender, receiver]`; `send` waits while `capacity`
 * messages are queued. Both ends start in this thread; `share()` moves either to another.
 */
export function threadChannel<T>(capacity: number): [ThreadSender<T>, ThreadReceiver<T>] {
  checkInt(capacity, 'threadChannel(capacity)', 1, 1 << 30);
  const r = native.channelCreate(capacity);
  if (typeof r === 'number') throw new IoError(-r, 'channelCreate');
  return [new ThreadSender<T>(r[0]), new ThreadReceiver<T>(r[1])];
}

/**
 * Byte streams over a registered handle: the leaf futures that do the syscalls.
 *
 * `IoResource` owns one addon handle and its reactor registration. Its `read`, `write` and
 * `writev` futures follow one pattern, the heart of a readiness-based runtime:
 *
 * 1. Spend cooperative budget (`coop.ts`): an always-ready stream must still let others run.
 * 2. Ask the reactor whether the source is ready for this direction; if not, the waker is
 *    stored and the future returns PENDING.
 * 3. Do the syscall (one crossing into the addon, integers and the caller's buffer, no copy).
 * 4. EAGAIN: clear readiness under the tick guard and go back to 2 (which now returns PENDING
 *    unless an event slipped in). A short read or write means the kernel buffer was drained
 *    or filled: clear readiness *without* a second syscall to hear EAGAIN.
 *
 * TCP, Unix sockets and pipes all use these; `lib/net` adds only connecting and addresses.
 */
import { currentRuntime } from './context';
import { consume, pollProceed } from './coop';
import { IoError, errno } from './errors';
import { FutureBase, PENDING, currentContext, isPending, ownStep, step, type Context, type Pending, type Poll, type Waker } from './future';
import * as binding from './native';
import { native, type Handle } from './native';
import { IoSource } from './reactor';
import { Runtime } from './runtime';
import { checkRange } from './validate';

// The addon's numbers as constants of this module: V8 folds a module-level `const` into the code
// that reads it, where a property of another module's exports object (which the CommonJS build
// assigns twice, so it is no constant field) is loaded and checked at every use of the hot path.
const { ARG_HANDLE, ARG_LENGTH, ARG_OFFSET, ARG_RESULT, ARG_STATUS, ARG_WRITE_BACK, ARG_WRITTEN, ERROR, HANGUP, READABLE, READ_BUFFER, STATUS_DONE, WRITABLE, WRITE_BUFFER } = binding;

/**
 * What a write's EAGAIN clears: WRITABLE, and HANGUP too. A write is tried while either is set (a
 * hung-up socket must be written to, to hear its EPIPE), but a hangup for reading (the peer shut
 * its write side: EPOLLRDHUP) leaves the socket writable until its buffer fills. Then EAGAIN with
 * HANGUP still set would be "ready" again at once, and the write would retry for ever without
 * giving the thread back. After EAGAIN the socket is not hung up for writing, or the send would
 * have failed; the next event says what it is now. (Reads lose nothing: a half-close also set
 * READABLE, and the end of stream is read as 0.)
 */
const WRITE_DRAINED = WRITABLE | HANGUP;

const EAGAIN = errno.EAGAIN;
const EINTR = errno.EINTR;
const EBADF = errno.EBADF;

/**
 * The bound fast path's argument block (slots: lib/native.ts, from native/contract.h), and its
 * calls, held as this module's constants for the reason above: a call through `native.readBound`
 * loads two properties first. (An addon function ignores its receiver.)
 */
const ioArgs = native.ioArgs;
const { readBound, writeBound, echoBound } = native;

/**
 * Which way the bytes of one syscall go. The values are the bound-buffer slots of a handle, so a
 * direction indexes the per-direction state of `IoResource` and is `bindBuffer`'s slot as it is.
 */
export type Direction = typeof READ_BUFFER | typeof WRITE_BUFFER;

export function checkBuffer(buf: unknown, what: string): Uint8Array {
  if (!(buf instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array or Buffer, got ${buf === null ? 'null' : typeof buf}`);
  if (buf.length === 0) checkAttached(buf, what);
  return buf;
}

/**
 * The arguments of every byte operation on a stream: `buf` a Uint8Array, and `offset` / `length`
 * (by default, the rest of `buf`) a range inside it. Returns the length.
 */
export function checkedLength(buf: Uint8Array, offset: number, length: number | undefined, what: string): number {
  checkBuffer(buf, what);
  const len = length ?? buf.length - offset;
  checkRange(buf, offset, len, what);
  return len;
}

// %TypedArray%.prototype.at validates its receiver and throws a TypeError for a view whose
// ArrayBuffer is detached (transferred) or has shrunk below it (a resizable one), and does
// nothing else: the one check Node 20 offers from JavaScript. Such a view reads as length 0.
const typedArrayAt = Uint8Array.prototype.at;

function checkAttached(buf: Uint8Array, what: string): void {
  try {
    typedArrayAt.call(buf, 0);
  } catch {
    throw new TypeError(`${what}: the buffer's ArrayBuffer was detached (transferred) or shrunk below the view`);
  }
}

/**
 * A range that fitted when the operation started no longer does: the buffer was detached or
 * shrunk meanwhile. Said as such, rather than as whatever the addon makes of a 0-byte view.
 */
function checkStillFits(buf: Uint8Array, offset: number, length: number, what: string): void {
  if (offset + length > buf.length) {
    checkAttached(buf, what);
    throw new TypeError(`${what}: the buffer shrank below the range being read or written`);
  }
}

/** A read of 0 bytes would return 0, which means end of stream: refused, so that 0 never lies. */
function checkReadLength(length: number, what: string): void {
  if (length === 0) throw new RangeError(`${what}: nothing to read into (length 0); a read returns 0 only at end of stream`);
}

export class IoResource extends IoSource {
  // An IoResource is its own reactor registration (an IoSource: readiness, tick, the wakers of
  // each direction, the token, the handle), so that the event and the operation it wakes touch
  // one object. The fields every message touches come first, after IoSource's, so that they
  // share the object's first cache lines (V8 lays fields out in the order the constructor first
  // stores them); the rare ones follow. Every field is assigned in the constructor, in this
  // order, and none by an initializer or a parameter property: the order is then the same
  // whether a compiler emits class fields as definitions (useDefineForClassFields) or as
  // assignments (tsconfig.json).
  readonly rt: Runtime;
  private open: boolean;
  /**
   * Bound buffers, per direction. The general `native.read(handle, buf, offset, length)` converts
   * four JS arguments and looks the Uint8Array up on every call, which costs more than everything
   * else the runtime does per message. Loops read into (and write from) the same buffer every
   * time, so a buffer used twice in a row for one direction is bound to the handle (`bindBuffer`),
   * and later calls with it pass only integers, through `native.ioArgs`. A caller that uses a
   * fresh buffer each time never binds and pays one comparison more. `boundRead` / `boundWrite`
   * is the buffer bound now, `seenRead` / `seenWrite` the last one used. The addon looks a bound
   * buffer's memory up again at every call (JavaScript may have detached or shrunk it since),
   * except for a view on a SharedArrayBuffer, whose memory can be neither: its pointer is taken
   * once, at bind, and a call on it costs no lookup at all. (Fields rather than a pair per
   * direction in an array: see IoSource in lib/reactor.ts.)
   */
  private boundRead: Uint8Array | null;
  /** @internal Of the bytes the last echo read (`pollRead`'s `echo`) got, how many were written back. */
  echoed: number;
  /**
   * @internal Read and write futures of this resource that have been polled and are not finished
   * or dropped (they wait for readiness or their turn): a stream with any cannot move to another
   * thread (`lib/thread-channel.ts`).
   */
  inFlight: number;
  private boundWrite: Uint8Array | null;
  private seenRead: Uint8Array | null;
  private seenWrite: Uint8Array | null;
  /**
   * @internal Bytes of this stream held in user space: read from the kernel and not yet consumed
   * from a `BufReader`, or written to a `BufWriter` and not yet flushed (`lib/bufio.ts`). A
   * stream with any cannot move to another thread: those bytes would stay behind.
   */
  buffered: number;
  /** @internal Set when the handle was moved to another thread rather than closed. */
  moved: boolean;
  /** @internal What this resource is, for the error after close: 'stream', 'listener', 'pipe', 'socket'. */
  noun: string;
  /** @internal The socket that owns this resource: it names an operation for the task dump (`describeOp`). */
  owner: { describeOp(op: string): string } | null;

  constructor(rt: Runtime, handle: Handle) {
    super(handle);
    this.rt = rt;
    this.open = false;
    this.boundRead = null;
    this.echoed = 0;
    this.inFlight = 0;
    this.boundWrite = null;
    this.seenRead = null;
    this.seenWrite = null;
    this.buffered = 0;
    this.moved = false;
    this.noun = 'socket';
    this.owner = null;
    try {
      rt.reactor.register(this);
    } catch (err) {
      native.close(handle); // nothing else owns it yet
      throw err;
    }
    this.open = true;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** @internal An operation on this resource, for the task dump: "TcpStream.read fd 12 127.0.0.1:7007 ← 127.0.0.1:51234". */
  describeOp(op: string): string {
    if (this.owner !== null) return this.owner.describeOp(op);
    return `${this.noun}.${op} ${this.open ? `fd ${native.fdOf(this.handle)}` : this.closedNote}`;
  }

  /** Why operations fail once the resource is not open: for error messages. */
  get closedNote(): string {
    return this.moved ? 'moved to another thread' : 'closed';
  }

  /** The detail of the EBADF an operation gets once the resource is not open: "the stream was closed". */
  get closedDetail(): string {
    return `the ${this.noun} was ${this.closedNote}`;
  }

  /**
   * @internal The addon has moved the handle's fd out (deregistered, unbound, retired): forget
   * the registration and fail every later operation with EBADF ("moved to another thread").
   */
  markMoved(): void {
    if (!this.open) return;
    this.open = false;
    this.moved = true;
    this.rt.reactor.deregister(this, true);
  }

  /** Close the handle; waiters are woken and their next syscall fails with EBADF. Idempotent. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    const reactor = this.rt.reactor;
    reactor.deregister(this, true);
    native.close(this.handle);
    // Closed from outside this runtime's turn (Promise code, a Node callback): the embedded driver
    // decides whether it keeps Node's loop alive after a turn, and none may follow. Ask for one
    // when this was the last registration, so that a process with nothing left to do can exit.
    if (reactor.registrations === 0 && currentRuntime() !== this.rt) this.rt.executor.requestRun();
  }

  /**
   * @internal One syscall on buf[offset, offset + length): read(2) for READ_BUFFER, write(2) /
   * send(2) for WRITE_BUFFER. Bytes or -errno. Read and write are one path: only the native call
   * differs, chosen by a branch on `dir`, so each call site stays monomorphic and nothing is
   * allocated per call.
   */
  syscall(dir: Direction, buf: Uint8Array, offset: number, length: number): number {
    if (!this.bindForCall(dir, buf)) return this.plainSyscall(dir, buf, offset, length);
    ioArgs[ARG_HANDLE] = this.handle;
    ioArgs[ARG_OFFSET] = offset;
    ioArgs[ARG_LENGTH] = length;
    if (dir === READ_BUFFER) readBound();
    else writeBound();
    // `| 0`: a small integer, not a float64. Read from the Float64Array, the result would be a
    // double, boxed in a fresh HeapNumber wherever it is returned or stored (a budget counter, a
    // total): an allocation per operation. It is a byte count or -errno, and Linux moves at most
    // 0x7ffff000 bytes per call, so it always fits in 31 bits.
    if (ioArgs[ARG_STATUS] === STATUS_DONE) return ioArgs[ARG_RESULT] | 0;
    // STATUS_NOT_BOUND: detached or shrunk since it was bound. The general path reports what is
    // wrong with it.
    this.unbind(dir);
    return this.plainSyscall(dir, buf, offset, length);
  }

  /**
   * `buf` is not the buffer bound for `dir`: bind it if it was also the last one used (true), or
   * remember it as that (false: the general path serves this call).
   */
  private bind(dir: Direction, buf: Uint8Array): boolean {
    const reading = dir === READ_BUFFER;
    const seen = reading ? this.seenRead : this.seenWrite;
    if (reading) this.seenRead = buf;
    else this.seenWrite = buf;
    if (buf !== seen || native.bindBuffer(this.handle, dir, buf) !== 0) return false;
    if (reading) this.boundRead = buf;
    else this.boundWrite = buf;
    return true;
  }

  /**
   * @internal Whether a bound call may serve `buf` for `dir`: it is the buffer bound, or this
   * call binds it (its second use in a row; the first is remembered). `syscall` asks it, and so
   * does a socket that makes bound calls of its own (UdpSocket: `udpRecvBound` /
   * `udpSendBound`), with the one binding state of its handle.
   */
  bindForCall(dir: Direction, buf: Uint8Array): boolean {
    return buf === (dir === READ_BUFFER ? this.boundRead : this.boundWrite) || this.bind(dir, buf);
  }

  /** @internal The addon said the buffer bound for `dir` no longer fits (detached or shrunk): forget it. */
  unbind(dir: Direction): void {
    if (dir === READ_BUFFER) this.boundRead = null;
    else this.boundWrite = null;
  }

  /**
   * `syscall(READ_BUFFER, ...)` for an echo read (`pollRead`'s `echo`): with `buf` bound, one
   * `native.echoBound`, which also writes the bytes read straight back when the socket is
   * writable; `ioArgs[ARG_WRITTEN]` then holds that write's answer for `wroteBack` (NaN: none
   * was made, as on every other path here).
   */
  private echoSyscall(buf: Uint8Array, offset: number, length: number): number {
    if (buf === this.boundRead) {
      ioArgs[ARG_HANDLE] = this.handle;
      ioArgs[ARG_OFFSET] = offset;
      ioArgs[ARG_LENGTH] = length;
      ioArgs[ARG_WRITE_BACK] = (this.readiness & (WRITABLE | HANGUP | ERROR)) !== 0 ? 1 : 0;
      echoBound();
      if (ioArgs[ARG_STATUS] === STATUS_DONE) return ioArgs[ARG_RESULT] | 0;
      this.unbind(READ_BUFFER); // detached or shrunk since: the general path says how
    }
    ioArgs[ARG_WRITTEN] = NaN;
    return this.syscall(READ_BUFFER, buf, offset, length);
  }

  /**
   * After an echo read of `n` bytes at `offset`: the bytes written back, as `writeNow` would
   * return them (`tick`: read before the read). The addon's write answered (`nowWritten` does
   * the bookkeeping), or else (not tried: not bound, or not writable; EINTR) this is `writeNow`
   * itself.
   */
  private wroteBack(buf: Uint8Array, offset: number, n: number, tick: number): number {
    const w = ioArgs[ARG_WRITTEN];
    if (w === w) {
      const k = this.nowWritten(w | 0, n, tick);
      if (k >= 0) return k;
    }
    return this.writeNow(buf, offset, n);
  }

  /** The general path: any buffer, looked up by the addon at this call. */
  private plainSyscall(dir: Direction, buf: Uint8Array, offset: number, length: number): number {
    checkStillFits(buf, offset, length, dir === READ_BUFFER ? 'read(buf)' : 'write(buf)');
    return dir === READ_BUFFER ? native.read(this.handle, buf, offset, length) : native.write(this.handle, buf, offset, length);
  }

  /**
   * @internal Rust's `poll_read`: one step of a read into buf[offset, offset + length) (length
   * >= 1, checked by the caller), with nothing allocated. The bytes read (0: end of stream), or
   * `PENDING` with `cx.waker` stored for READABLE (or woken at once when the task's budget is
   * spent); throws IoError. The body of `ReadFuture.poll`, and what hand-written futures that read
   * in a loop call directly (`echo`).
   *
   * `echo`: the bytes read are written straight back to this stream, as `writeNow(buf, offset,
   * n)` would, and `echoed` says how many went (fewer than read, 0 included, when the send buffer
   * filled: the caller keeps the rest). With `buf` bound both syscalls are one crossing into the
   * addon (`native.echoBound`): that saved about 340 of 1,770 user-space instructions per echoed
   * message (callgrind).
   */
  pollRead(cx: Context, buf: Uint8Array, offset: number, length: number, echo = false): Poll<number> {
    if (!this.open) throw new IoError(EBADF, 'read', this.closedDetail);
    if (!pollProceed(cx)) return PENDING;
    const reactor = this.rt.reactor;
    for (;;) {
      if (!reactor.isReady(this, READABLE, cx)) return PENDING;
      const tick = this.tick;
      const n = echo ? this.echoSyscall(buf, offset, length) : this.syscall(READ_BUFFER, buf, offset, length);
      if (n > 0) {
        consume(n);
        // A short read drained the socket: the next read would only say EAGAIN.
        if (n < length) reactor.clearReadiness(this, READABLE, tick, null);
        if (echo) this.echoed = this.wroteBack(buf, offset, n, tick);
        return n;
      }
      if (n === 0) return 0;
      if (n === -EAGAIN) {
        reactor.clearReadiness(this, READABLE, tick, cx);
        continue;
      }
      if (n !== -EINTR) throw new IoError(-n, 'read');
    }
  }

  /**
   * @internal Rust's `poll_write`: one step of a write of buf[offset, offset + length), or with
   * `bufs` one writev of those buffers (`length` their total), with nothing allocated. The bytes
   * written (0 only for length 0), or `PENDING` with `cx.waker` stored for WRITABLE (or woken at
   * once when the task's budget is spent); throws IoError. The body of the write futures, and of
   * hand-written loops (`writeAll`).
   */
  pollWrite(cx: Context, buf: Uint8Array, offset: number, length: number, bufs: readonly Uint8Array[] | null): Poll<number> {
    if (length === 0) return 0;
    if (!this.open) throw new IoError(EBADF, bufs === null ? 'write' : 'writev', this.closedDetail);
    if (!pollProceed(cx)) return PENDING;
    const reactor = this.rt.reactor;
    for (;;) {
      if (!reactor.isReady(this, WRITABLE, cx)) return PENDING;
      const tick = this.tick;
      const n = bufs === null ? this.syscall(WRITE_BUFFER, buf, offset, length) : native.writev(this.handle, bufs);
      if (n >= 0) {
        consume(n);
        // A short write filled the send buffer: wait for WRITABLE rather than hear EAGAIN.
        if (n < length) reactor.clearReadiness(this, WRITABLE, tick, null);
        return n;
      }
      if (n === -EAGAIN) {
        reactor.clearReadiness(this, WRITE_DRAINED, tick, cx);
        continue;
      }
      if (n !== -EINTR) throw new IoError(-n, bufs === null ? 'write' : 'writev');
    }
  }

  /**
   * @internal Would the next `pollRead` only pend? True when the kernel has reported nothing to
   * read since the last read drained the socket; then `cx.waker` is stored for READABLE, as that
   * read would have stored it. Lets a loop that just made a short read (`echo`) pend at once,
   * without the call that would only say so.
   */
  readDrained(cx: Context): boolean {
    return !this.rt.reactor.isReady(this, READABLE, cx);
  }

  /** A read into buf[offset, offset + length): `length` must be at least 1 (0 means end of stream). */
  read(buf: Uint8Array, offset = 0, length?: number): ReadFuture {
    const len = checkedLength(buf, offset, length, 'read(buf)');
    checkReadLength(len, 'read(buf)');
    return new ReadFuture(this, buf, offset, len);
  }

  write(buf: Uint8Array, offset = 0, length?: number): WriteFuture {
    const len = checkedLength(buf, offset, length, 'write(buf)');
    return new WriteFuture(this, buf, offset, len);
  }

  /**
   * Write what the socket takes *now*, without waiting (tokio's `try_write`): the number of
   * bytes written, 0 when the send buffer is full (then readiness is cleared, and the next
   * `write` future waits for WRITABLE). Throws IoError on a real error.
   */
  tryWrite(buf: Uint8Array, offset = 0, length?: number): number {
    return this.writeNow(buf, offset, checkedLength(buf, offset, length, 'tryWrite(buf)'));
  }

  /** @internal `tryWrite` with arguments its caller has already checked (`echo`'s loop). */
  writeNow(buf: Uint8Array, offset: number, length: number): number {
    if (!this.open) throw new IoError(EBADF, 'write', this.closedDetail);
    if (length === 0 || (this.readiness & (WRITABLE | HANGUP | ERROR)) === 0) return 0;
    for (;;) {
      const tick = this.tick;
      const k = this.nowWritten(this.syscall(WRITE_BUFFER, buf, offset, length), length, tick);
      if (k >= 0) return k;
    }
  }

  /**
   * What a write of `length` bytes that answered `n` (bytes or -errno) means for `writeNow`
   * (and for the addon's write back, `wroteBack`): the bytes written, counted against the task's
   * budget as a write future's are (coop.ts), with WRITABLE cleared after a short write and
   * WRITE_DRAINED after EAGAIN (then 0); -1 for EINTR (try again); throws IoError otherwise.
   */
  private nowWritten(n: number, length: number, tick: number): number {
    if (n >= 0) {
      consume(n);
      if (n < length) this.rt.reactor.clearReadiness(this, WRITABLE, tick, null);
      return n;
    }
    if (n === -EAGAIN) {
      this.rt.reactor.clearReadiness(this, WRITE_DRAINED, tick, null);
      return 0;
    }
    if (n === -EINTR) return -1;
    throw new IoError(-n, 'write');
  }

  writev(bufs: readonly Uint8Array[]): WritevFuture {
    if (!Array.isArray(bufs)) throw new TypeError(`writev(bufs) needs an array of Uint8Array, got ${typeof bufs}`);
    bufs.forEach((b, i) => checkBuffer(b, `writev(bufs[${i}])`));
    return new WritevFuture(this, bufs);
  }
}

const enum OpState {
  Idle,
  Done,
}

/**
 * What the read and the write futures share: each counts itself in `io.inFlight` from the poll
 * that leaves it pending until it finishes or is dropped, so a stream with an operation in
 * progress refuses to move to another thread (`lib/thread-channel.ts`). UDP's futures too
 * (lib/net/udp.ts).
 */
export abstract class IoOpFuture<T = number> extends FutureBase<T> {
  private parked = false;
  constructor(protected readonly io: IoResource) {
    super();
  }

  /** PENDING, counted once in `io.inFlight`. */
  protected pend(): typeof PENDING {
    if (!this.parked) {
      this.parked = true;
      this.io.inFlight++;
    }
    return PENDING;
  }

  /** No longer pending (done, failed or dropped): uncounted. */
  protected unpark(): void {
    if (this.parked) {
      this.parked = false;
      this.io.inFlight--;
    }
  }
}

/**
 * `read(buf)`: the number of bytes read into `buf[offset, offset+length)` (length >= 1), 0 at
 * end of stream. Cancel-safe: if dropped before completion no bytes were consumed.
 */
export class ReadFuture extends IoOpFuture {
  private state = OpState.Idle;
  /** The waker this future left with the reactor, so that drop() removes that one only. */
  private waker: Waker | null = null;
  constructor(
    io: IoResource,
    private readonly buf: Uint8Array,
    private readonly offset: number,
    private readonly length: number,
  ) {
    super(io);
  }

  /** `yield*`'s step, with a call site of its own for `this.poll` (see `FutureBase.next`). */
  override next(): IteratorResult<Pending, number> {
    return step(this.poll(currentContext()));
  }

  override waitingFor(): string {
    return this.io.describeOp('read');
  }

  poll(cx: Context): Poll<number> {
    if (this.state === OpState.Done) throw new Error('polled: read future polled after completion');
    let n: Poll<number>;
    try {
      n = this.io.pollRead(cx, this.buf, this.offset, this.length);
    } catch (err) {
      this.finish(0);
      throw err;
    }
    if (isPending(n)) {
      this.waker = cx.waker;
      return this.pend();
    }
    return this.finish(n);
  }

  private finish(n: number): number {
    this.state = OpState.Done;
    this.unpark();
    return n;
  }

  override drop(): void {
    if (this.state === OpState.Idle && this.io.isOpen) this.io.rt.reactor.clearWaker(this.io, READABLE, this.waker);
    this.finish(0);
  }
}

/** `write` and `writev`: one `IoResource.pollWrite` each, for one buffer or several. */
abstract class WriteBase extends IoOpFuture {
  private state = OpState.Idle;
  private waker: Waker | null = null;
  constructor(
    io: IoResource,
    private readonly buf: Uint8Array,
    private readonly offset: number,
    private readonly want: number,
    private readonly bufs: readonly Uint8Array[] | null,
  ) {
    super(io);
  }

  /** `yield*`'s step, with a call site of its own for `this.poll` (see `FutureBase.next`). */
  override next(): IteratorResult<Pending, number> {
    return step(this.poll(currentContext()));
  }

  override waitingFor(): string {
    return `${this.io.describeOp(this.bufs === null ? 'write' : 'writev')}, ${this.want} bytes (send buffer full)`;
  }

  poll(cx: Context): Poll<number> {
    if (this.state === OpState.Done) throw new Error(`polled: ${this.bufs === null ? 'write' : 'writev'} future polled after completion`);
    let n: Poll<number>;
    try {
      n = this.io.pollWrite(cx, this.buf, this.offset, this.want, this.bufs);
    } catch (err) {
      this.finish();
      throw err;
    }
    if (isPending(n)) {
      this.waker = cx.waker;
      return this.pend();
    }
    this.finish();
    return n;
  }

  private finish(): void {
    this.state = OpState.Done;
    this.unpark();
  }

  override drop(): void {
    if (this.state === OpState.Idle && this.io.isOpen) this.io.rt.reactor.clearWaker(this.io, WRITABLE, this.waker);
    this.finish();
  }
}

// Their own `next`s, recorded like the base's while a task dump records (lib/future.ts).
ownStep(ReadFuture.prototype);
ownStep(WriteBase.prototype);

const NO_BYTES = new Uint8Array(0);

/**
 * `write(buf)`: the number of bytes written (at least 1 unless length is 0); pends while the
 * socket's send buffer is full (backpressure). Cancel-safe: if dropped, nothing was written.
 */
export class WriteFuture extends WriteBase {
  constructor(io: IoResource, buf: Uint8Array, offset: number, length: number) {
    super(io, buf, offset, length, null);
  }
}

/** `writev(bufs)`: one vectored syscall for several buffers; bytes written (may be partial). Cancel-safe. */
export class WritevFuture extends WriteBase {
  constructor(io: IoResource, bufs: readonly Uint8Array[]) {
    let total = 0;
    for (const b of bufs) total += b.length;
    super(io, NO_BYTES, 0, total, bufs);
  }
}

/** A readable/writable end of an OS pipe, registered with the current runtime. */
export class PipeEnd {
  constructor(readonly io: IoResource) {
    io.noun = 'pipe';
  }
  read(buf: Uint8Array, offset?: number, length?: number): ReadFuture {
    return this.io.read(buf, offset, length);
  }
  write(buf: Uint8Array, offset?: number, length?: number): WriteFuture {
    return this.io.write(buf, offset, length);
  }
  close(): void {
    this.io.close();
  }
  get handle(): Handle {
    return this.io.handle;
  }
}

/** A non-blocking pipe on `rt` (default: the current runtime): `[reader, writer]`. */
export function pipe(rt: Runtime = Runtime.current()): [PipeEnd, PipeEnd] {
  const ends = native.pipe();
  if (typeof ends === 'number') throw new IoError(-ends, 'pipe2');
  const [rh, wh] = ends;
  let reader: IoResource;
  try {
    reader = new IoResource(rt, rh);
  } catch (err) {
    native.close(wh);
    throw err;
  }
  let writer: IoResource;
  try {
    writer = new IoResource(rt, wh);
  } catch (err) {
    reader.close();
    throw err;
  }
  return [new PipeEnd(reader), new PipeEnd(writer)];
}

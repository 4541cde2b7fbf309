/**
 * Node streams and polled streams, both ways, with backpressure kept end to end.
 *
 * - `toDuplex(stream)`: a polled stream as a Node `stream.Duplex`, for `pipeline`, `readline`
 *   and any parser written for `node:net`. Node's `_read` starts a polled read only when Node
 *   asks for data, and stops as soon as `push` says the readable side is full; `_write` calls
 *   back only when polled's `writeAll` completed, that is when the kernel took the bytes. So a
 *   stalled peer stops the whole pipeline instead of filling memory.
 * - `fromReadable(readable)`: a Node `Readable` as a polled reader (`read(buf)` futures), usable
 *   by `BufReader`. It reads the Readable in paused mode, so the Readable stops pulling from its
 *   source once its own queue reaches its `highWaterMark`.
 * - `chunks(stream)`: the chunks of a polled stream as an async iterator, for Promise code
 *   (`for await (const chunk of chunks(stream))`; a `Stream` is itself async-iterable this way).
 *
 * All three run on the embedded driver (the default): Node streams and Promise continuations
 * move only when Node's event loop runs, which `blockOn` does not let happen while it owns the
 * thread. `toDuplex` and `chunks` called inside a `blockOn` are refused; a `fromReadable` read
 * that would have to wait for the Readable under `blockOn` fails with an error saying so.
 */
import { Duplex, type Readable } from 'node:stream';
import type { AsyncRead, AsyncWrite, Awaitable } from './bufio';
import { currentRuntime, runtimeOrDefault, type RuntimeContext } from './context';
import { IoError } from './errors';
import { FutureBase, PENDING, ready, type Async, type Context, type Future, type Poll, type Waker } from './future';
import { IoResource, checkedLength } from './io';
import type { JoinHandle } from './task';
import { checkInt, describe } from './validate';

/** Which half of a connection `shutdown` closes (as `Stream.shutdown`). */
type Half = 'read' | 'write' | 'both';

/** What `toDuplex` wraps: a polled stream (`TcpStream`, `UnixStream`), or anything with the same methods. */
export interface DuplexSource extends AsyncRead, AsyncWrite {
  /** Used when present: one vectored write for the chunks Node has queued. */
  writevAll?(bufs: readonly Uint8Array[]): Awaitable<void>;
  /** Used when present: `end()` on the Duplex sends FIN (`shutdown('write')`). */
  shutdown?(how: Half): void;
  /** Used when present: destroying the Duplex closes the stream. */
  close?(): void;
}

export interface ToDuplexOptions {
  /** Node's `allowHalfOpen` (default true, Duplex's default): false ends the writable side when the peer's data ends, as `net.Socket` does by default. */
  allowHalfOpen?: boolean;
  /** How many bytes the readable side queues before it stops reading the stream (Node's default, 16 KiB, if unset). */
  readableHighWaterMark?: number;
  /** How many bytes written to the Duplex are queued before `write()` returns false (Node's default, 16 KiB, if unset). */
  writableHighWaterMark?: number;
  /** The most one read of the stream asks for (default 64 KiB). */
  readSize?: number;
}

const DEFAULT_READ_SIZE = 64 * 1024;

function refuseBlocking(what: string): void {
  if (currentRuntime()?.isBlocking) {
    throw new Error(`polled: ${what} needs Node's event loop, which does not run while blockOn() owns the thread; use it from the embedded driver (spawn, or Promise code)`);
  }
}

/** The runtime that runs the tasks for `s`: a polled stream's own, else the current (or default) one. */
function runtimeOf(s: unknown): RuntimeContext {
  const io = (s as { io?: unknown }).io;
  return io instanceof IoResource ? io.rt : runtimeOrDefault();
}

/**
 * A Node `Duplex` over a polled stream. The Duplex owns the stream from now on: read and write
 * through the Duplex only, and let it close the stream (when both sides are done, on
 * `destroy()`, or on an error). `end()` sends FIN (`shutdown('write')`); the peer's FIN ends the
 * readable side (`'end'`). A read or write error (an `IoError` such as ECONNRESET, with Node's
 * `code`, `errno` and `syscall`) destroys the Duplex with that error.
 *
 * ```ts
 * await pipeline(toDuplex(stream), new Transform({ transform(c, _e, cb) { cb(null, c) } }), toDuplex(other));
 * ```
 *
 * Embedded driver only (see the module comment): refused inside `blockOn`.
 */
export function toDuplex(stream: DuplexSource, options: ToDuplexOptions = {}): Duplex {
  if (stream === null || typeof stream !== 'object' || typeof stream.read !== 'function' || typeof stream.write !== 'function') {
    throw new TypeError(`toDuplex(stream): stream must have read(buf) and write(buf) methods (a TcpStream, a UnixStream), got ${describe(stream)}`);
  }
  if (options === null || typeof options !== 'object') throw new TypeError(`toDuplex(stream, options): options must be an object, got ${describe(options)}`);
  refuseBlocking('toDuplex()');
  return new PolledDuplex(stream, runtimeOf(stream), options);
}

class PolledDuplex extends Duplex {
  private readonly scratch: Buffer;
  /** A read task is running (set and cleared synchronously, so `_read` never starts two). */
  private reading = false;
  /** `_read` was called during a push (synchronously): keep reading even though that push said "full". */
  private readAgain = false;
  private readTask: JoinHandle<void> | null = null;
  private writeTask: JoinHandle<void> | null = null;

  constructor(
    private readonly polled: DuplexSource,
    private readonly rt: RuntimeContext,
    options: ToDuplexOptions,
  ) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? true,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
    });
    this.scratch = Buffer.allocUnsafe(checkInt(options.readSize ?? DEFAULT_READ_SIZE, 'toDuplex options.readSize', 1, 2 ** 30));
  }

  override _read(): void {
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    const h = this.rt.spawn(this.readLoop(), 'toDuplex read');
    this.readTask = h;
    h.promise().then(undefined, (err: unknown) => {
      if (!this.destroyed) this.destroy(asError(err));
    });
  }

  private *readLoop(): Async<void> {
    try {
      for (;;) {
        const n = yield* this.polled.read(this.scratch, 0, this.scratch.length);
        if (this.destroyed) return;
        if (n === 0) {
          this.push(null);
          return;
        }
        // A copy: the scratch buffer is read into again, and Node keeps what it is pushed.
        this.readAgain = false;
        if (!this.push(Buffer.from(this.scratch.subarray(0, n))) && !this.readAgain) return;
      }
    } finally {
      this.reading = false;
      this.readTask = null;
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.runWrite(writeAllOf(this.polled, chunk), callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, callback: (error?: Error | null) => void): void {
    const bufs = chunks.map((c) => c.chunk);
    const w = this.polled.writevAll;
    this.runWrite(typeof w === 'function' ? w.call(this.polled, bufs) : writeEach(this.polled, bufs), callback);
  }

  private runWrite(op: Awaitable<void>, callback: (error?: Error | null) => void): void {
    const h = this.rt.spawn(awaitIt(op), 'toDuplex write');
    this.writeTask = h;
    h.promise().then(
      () => {
        this.writeTask = null;
        callback();
      },
      (err: unknown) => {
        this.writeTask = null;
        if (!this.destroyed) callback(asError(err));
      },
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    try {
      this.polled.shutdown?.('write');
    } catch (err) {
      // The connection is gone already: there is nothing left to end.
      if (!(err instanceof IoError && err.code === 'ENOTCONN')) return callback(asError(err));
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.readTask?.abort();
    this.writeTask?.abort();
    try {
      this.polled.close?.();
      // Closed from Node's side, outside any poll: one empty turn of the runtime lets the
      // embedded driver see the registration gone (so it stops keeping the process alive).
      if (!this.rt.isClosed) this.rt.spawn(ready(undefined), 'toDuplex close');
    } catch {
      // Closing is best effort here: the error that destroyed the Duplex is the one to report.
    }
    callback(error);
  }
}

function* awaitIt<T>(op: Awaitable<T>): Async<T> {
  return yield* op;
}

function* writeAllOf(s: AsyncWrite, buf: Uint8Array): Async<void> {
  let done = 0;
  try {
    while (done < buf.length) {
      const n = yield* s.write(buf, done, buf.length - done);
      if (n === 0) throw new Error('write returned 0: the stream takes no more bytes');
      done += n;
    }
  } catch (err) {
    if (err instanceof IoError) err.bytesWritten = done;
    throw err;
  }
}

function* writeEach(s: AsyncWrite, bufs: readonly Uint8Array[]): Async<void> {
  for (const b of bufs) yield* writeAllOf(s, b);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

// ---- a Node Readable as a polled reader ------------------------------------------------------

/**
 * A Node `Readable` as a polled reader, from `fromReadable(readable)`: `read(buf)` futures, so a
 * `BufReader` (or any loop written for polled streams) reads it. The Readable is read in paused
 * mode (`readable.read()` on its `'readable'` events), so it pulls from its source only while its
 * queue is below its `highWaterMark`: a slow polled consumer pauses it (a `net.Socket` then
 * stops reading its socket, and TCP pushes back on the sender).
 */
export class ReadableReader implements AsyncRead {
  /** @internal A chunk taken from the Readable and not all handed out yet. */
  chunk: Buffer | null = null;
  /** @internal */
  chunkOffset = 0;
  /** @internal */
  ended = false;
  /** @internal */
  error: Error | null = null;
  /** @internal The wakers of the reads waiting for data (usually one). */
  readonly wakers = new Set<Waker>();
  private readonly onReadable = (): void => this.wake();
  private readonly onEnd = (): void => {
    this.ended = true;
    this.wake();
  };
  private readonly onError = (err: Error): void => {
    this.error ??= err;
    this.wake();
  };
  private readonly onClose = (): void => {
    if (!this.ended && this.error === null && !this.readable.readableEnded) {
      this.error = Object.assign(new Error('the Readable was destroyed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    }
    this.wake();
  };

  constructor(readonly readable: Readable) {
    readable.on('readable', this.onReadable);
    readable.on('end', this.onEnd);
    readable.on('error', this.onError);
    readable.on('close', this.onClose);
    if (readable.readableEnded) this.ended = true;
    if (readable.errored) this.error = readable.errored;
  }

  /**
   * Read into `buf[offset, offset + length)` (length >= 1): the count, 0 at the Readable's end;
   * the Readable's error is thrown. Pends until it has data. Cancel-safe: dropped before it
   * completes, nothing was consumed.
   */
  read(buf: Uint8Array, offset = 0, length?: number): Future<number> {
    const len = checkedLength(buf, offset, length, 'read(buf)');
    if (len === 0) throw new RangeError('read(buf): nothing to read into (length 0); a read returns 0 only at end of stream');
    return new ReadableReadFuture(this, buf, offset, len);
  }

  /** Stop reading: the listeners are removed and the Readable is destroyed. */
  destroy(error?: Error): void {
    this.detach();
    this.readable.destroy(error);
  }

  /** Stop reading without destroying the Readable (its listeners are removed; bytes taken from it and not read are dropped). */
  detach(): void {
    this.readable.off('readable', this.onReadable);
    this.readable.off('end', this.onEnd);
    this.readable.off('error', this.onError);
    this.readable.off('close', this.onClose);
    this.chunk = null;
  }

  /** @internal The next bytes: from the chunk in hand, else from the Readable's queue; null if none now. */
  take(): Buffer | null {
    if (this.chunk !== null) return this.chunk;
    const c: unknown = this.readable.read();
    if (c === null) return null;
    let b: Buffer;
    if (typeof c === 'string') b = Buffer.from(c, this.readable.readableEncoding ?? 'utf8');
    else if (c instanceof Uint8Array) b = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    else throw new TypeError(`fromReadable: the Readable gave ${describe(c)}; only bytes and strings can be read (not an object-mode stream)`);
    if (b.length === 0) return this.take();
    this.chunk = b;
    this.chunkOffset = 0;
    return b;
  }

  private wake(): void {
    if (this.wakers.size === 0) return;
    const ws = [...this.wakers];
    this.wakers.clear();
    for (const w of ws) w.wake();
  }
}

class ReadableReadFuture extends FutureBase<number> {
  private done = false;
  private waker: Waker | null = null;
  constructor(
    private readonly r: ReadableReader,
    private readonly buf: Uint8Array,
    private readonly offset: number,
    private readonly length: number,
  ) {
    super();
  }

  override waitingFor(): string {
    return `Readable read, up to ${this.length} bytes`;
  }

  poll(cx: Context): Poll<number> {
    if (this.done) throw new Error('polled: read future polled after completion');
    const r = this.r;
    if (this.waker !== null) {
      r.wakers.delete(this.waker);
      this.waker = null;
    }
    const c = r.take();
    if (c !== null) {
      const n = Math.min(this.length, c.length - r.chunkOffset);
      this.buf.set(c.subarray(r.chunkOffset, r.chunkOffset + n), this.offset);
      r.chunkOffset += n;
      if (r.chunkOffset === c.length) r.chunk = null;
      this.done = true;
      return n;
    }
    if (r.error !== null) {
      this.done = true;
      throw r.error;
    }
    if (r.ended || r.readable.readableEnded) {
      this.done = true;
      return 0;
    }
    if (currentRuntime()?.isBlocking) {
      this.done = true;
      throw new Error('polled: a fromReadable() read cannot wait under blockOn(), which owns the thread so the Readable never gets data; use the embedded driver (spawn) instead');
    }
    this.waker = cx.waker;
    r.wakers.add(cx.waker);
    return PENDING;
  }

  override drop(): void {
    if (this.waker !== null) this.r.wakers.delete(this.waker);
    this.waker = null;
    this.done = true;
  }
}

/** A Node `Readable` (a `net.Socket`, `fs.createReadStream`, `process.stdin`, a `Transform`) as a polled reader: see `ReadableReader`. */
export function fromReadable(readable: Readable): ReadableReader {
  if (readable === null || typeof readable !== 'object' || typeof (readable as Readable).read !== 'function' || typeof (readable as Readable).on !== 'function') {
    throw new TypeError(`fromReadable(readable): readable must be a Node stream.Readable, got ${describe(readable)}`);
  }
  return new ReadableReader(readable);
}

// ---- chunks for Promise code -----------------------------------------------------------------

export interface ChunksOptions {
  /** The most bytes one chunk holds (default 64 KiB). */
  size?: number;
}

/**
 * The chunks a polled stream (or any reader) gives until its end, for Promise code on the
 * embedded driver: `for await (const chunk of chunks(stream)) ...`. Each chunk is a fresh Buffer
 * (no longer than `size`), read by a task on the stream's runtime when the loop asks for it:
 * nothing is read ahead, so a slow loop is backpressure. Leaving the loop early leaves the
 * stream open, with nothing lost. Refused inside `blockOn`.
 */
export function chunks(stream: AsyncRead, options: ChunksOptions = {}): AsyncGenerator<Buffer, void, undefined> {
  if (stream === null || typeof stream !== 'object' || typeof stream.read !== 'function') {
    throw new TypeError(`chunks(stream): stream must have a read(buf) method, got ${describe(stream)}`);
  }
  if (options === null || typeof options !== 'object') throw new TypeError(`chunks(stream, options): options must be an object, got ${describe(options)}`);
  const size = checkInt(options.size ?? DEFAULT_READ_SIZE, 'chunks options.size', 1, 2 ** 30);
  refuseBlocking('chunks()');
  return chunksGen(stream, size, runtimeOf(stream));
}

async function* chunksGen(stream: AsyncRead, size: number, rt: RuntimeContext): AsyncGenerator<Buffer, void, undefined> {
  const buf = Buffer.allocUnsafe(size);
  for (;;) {
    const n = await rt.spawn(awaitIt(stream.read(buf, 0, size)), 'chunks').promise();
    if (n === 0) return;
    yield Buffer.from(buf.subarray(0, n));
  }
}

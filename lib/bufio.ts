/**
 * Buffered reading and writing over any byte stream (tokio's `BufReader` / `BufWriter`).
 *
 * `BufReader` reads from its inner stream in large chunks and hands out lines, records ended by
 * a byte, exact lengths or text, so a line protocol is `yield* reader.readLine()` in a loop. Its
 * buffer grows for a long line up to `maxLineLength` and no further: a longer line is a
 * `LineTooLongError`, and memory per reader stays bounded whatever the peer sends.
 *
 * `BufWriter` gathers small writes into one buffer and writes it out when full or on `flush()`,
 * so many small `writeAll`s cost one syscall.
 *
 * Both work over anything with the right method: a `TcpStream` or `UnixStream`, a pipe end, a
 * Node `Readable` through `fromReadable` (lib/node-stream.ts), another BufReader.
 *
 * Every method returns a lazy future (`yield*` it in a task, or `spawn` it). Each says whether
 * it is cancel-safe: whether dropping it part-way (a `select` that another branch won, a
 * `timeout`) loses or duplicates bytes.
 */
import { runtimeOrDefault } from './context';
import { IoError } from './errors';
import { GenFuture, type Async, type Future, type Pending } from './future';
import { IoResource, checkBuffer, checkedLength } from './io';
import { UnexpectedEofError } from './net/stream';
import { checkLineEncoding, encodeText, wholeCharsEnd, type LineEncoding, type TextEncoding } from './text';
import { checkInt, describe } from './validate';

/** What `yield*` can await: a `Future`, or a generator (an "async fn" already called). */
export type Awaitable<T> = { [Symbol.iterator](): Iterator<Pending, T, unknown> };

/** A byte source: `read` fills `buf[offset, offset + length)` and gives the count, 0 at end of stream. */
export interface AsyncRead {
  read(buf: Uint8Array, offset?: number, length?: number): Awaitable<number>;
}

/** A byte sink: `write` takes some of `buf[offset, offset + length)` and gives the count. */
export interface AsyncWrite {
  write(buf: Uint8Array, offset?: number, length?: number): Awaitable<number>;
}

/** The default buffer size of `BufReader` and `BufWriter`: 8 KiB, as tokio's. */
export const DEFAULT_BUF_CAPACITY = 8 * 1024;
/** The default longest line (or `readUntil` record) a `BufReader` accepts: 64 KiB. */
export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;

/**
 * A line (or a `readUntil` record) longer than the reader's `maxLineLength`. What was buffered of
 * it is dropped, and the next `readLine` / `readUntil` skips the rest of it, up to its delimiter
 * (any other read instead sees the rest of it as it comes).
 */
export class LineTooLongError extends Error {
  override readonly name = 'LineTooLongError';
  readonly code = 'ERR_LINE_TOO_LONG';
  constructor(readonly limit: number) {
    super(`line longer than maxLineLength (${limit} bytes); it is skipped up to its end. Raise maxLineLength in the BufReader's options if such lines are expected`);
  }
}

export interface BufReaderOptions {
  /** The buffer's size in bytes, the most one read of the inner stream asks for (default 8 KiB). */
  capacity?: number;
  /**
   * The longest line, in bytes without its '\n', that `readLine` and `readUntil` return
   * (default 64 KiB). The buffer grows up to this for a long line; a longer one fails with
   * `LineTooLongError`, and the reader skips it (up to its '\n') before the next line.
   */
  maxLineLength?: number;
  /** How `readLine`, `lines` and `readText` decode: 'utf8' (default), 'latin1' or 'ascii'. */
  encoding?: LineEncoding;
}

const LF = 0x0a;
const CR = 0x0d;

/** @internal The IoResource behind a polled stream, or null for any other reader / writer. */
export function ioOf(inner: unknown): IoResource | null {
  const io = (inner as { io?: unknown } | null)?.io;
  return io instanceof IoResource ? io : null;
}

/**
 * A buffered reader (tokio's `BufReader`). The bytes it has read and not yet handed out are in
 * its buffer: read through it from then on (not from the inner stream, which would skip them).
 *
 * ```ts
 * const reader = new BufReader(stream);
 * for (let line; (line = yield* reader.readLine()) !== null; ) console.log(line);
 * ```
 *
 * A polled stream wrapped in a BufReader that holds unread bytes refuses to move to another
 * thread (`TransferBusyError`): take the bytes with `intoParts()` and send them along.
 */
export class BufReader<R extends AsyncRead = AsyncRead> {
  private buf: Buffer;
  private pos = 0;
  private end = 0;
  /** Bytes after `pos` already searched for the delimiter `scannedFor` (so a long line is searched once). */
  private scanned = 0;
  private scannedFor = -1;
  /** After a LineTooLongError: skipping the rest of that line, up to its delimiter. */
  private discarding = false;
  /** The count last added to `io.buffered`. */
  private counted = 0;
  private readonly io: IoResource | null;
  /** The buffer size asked for; the buffer shrinks back to it after a long line. */
  readonly capacity: number;
  readonly maxLineLength: number;
  readonly encoding: LineEncoding;

  constructor(
    readonly inner: R,
    options: BufReaderOptions = {},
  ) {
    if (inner === null || typeof inner !== 'object' || typeof (inner as AsyncRead).read !== 'function') {
      throw new TypeError(`BufReader(inner): inner must have a read(buf) method (a stream, a pipe end, fromReadable(...)), got ${describe(inner)}`);
    }
    if (options === null || typeof options !== 'object') throw new TypeError(`BufReader(inner, options): options must be an object, got ${describe(options)}`);
    this.capacity = checkInt(options.capacity ?? DEFAULT_BUF_CAPACITY, 'BufReader options.capacity', 1, 2 ** 30);
    this.maxLineLength = checkInt(options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH, 'BufReader options.maxLineLength', 1, 2 ** 30);
    this.encoding = checkLineEncoding(options.encoding, 'BufReader options.encoding');
    this.buf = Buffer.allocUnsafe(this.capacity);
    this.io = ioOf(inner);
  }

  /** Bytes read from the inner stream and not yet handed out. */
  get bufferedBytes(): number {
    return this.end - this.pos;
  }

  /** The buffer's current size: `capacity`, or more while a long line is being read (at most `maxLineLength + 1`). */
  get bufferSize(): number {
    return this.buf.length;
  }

  /** A view of the unread bytes (no copy; valid until the next operation on this reader). */
  buffer(): Uint8Array {
    return this.buf.subarray(this.pos, this.end);
  }

  /**
   * Take the reader apart: the inner stream and a copy of the bytes read from it but not handed
   * out. The reader is empty afterwards (and the stream may move to another thread again).
   */
  intoParts(): [R, Buffer] {
    const rest = Buffer.from(this.buf.subarray(this.pos, this.end));
    this.setWindow(0, 0);
    this.discarding = false;
    return [this.inner, rest];
  }

  /**
   * Read into `buf[offset, offset + length)` (length >= 1): bytes from the buffer if it has
   * any, else one read of the inner stream (straight into `buf` when it is at least `capacity`
   * long: no copy). The count, 0 at end of stream. Cancel-safe: dropped before it completes,
   * it consumed nothing.
   */
  read(buf: Uint8Array, offset = 0, length?: number): Future<number> {
    const len = checkedLength(buf, offset, length, 'BufReader.read(buf)');
    if (len === 0) throw new RangeError('BufReader.read(buf): nothing to read into (length 0); a read returns 0 only at end of stream');
    return new GenFuture(this.readGen(buf, offset, len));
  }

  private *readGen(buf: Uint8Array, offset: number, len: number): Async<number> {
    this.discarding = false;
    if (this.pos === this.end) {
      if (len >= this.buf.length) return yield* this.inner.read(buf, offset, len);
      if ((yield* this.fillGen()) === 0) return 0;
    }
    return this.copyOut(buf, offset, len);
  }

  /**
   * Fill `buf[offset, offset + length)` completely, through the buffer, or throw
   * `UnexpectedEofError` if the stream ends first. Not cancel-safe (as tokio's `read_exact`):
   * dropped part-way, the bytes already copied into `buf` are consumed.
   */
  readExact(buf: Uint8Array, offset = 0, length?: number): Future<void> {
    const len = checkedLength(buf, offset, length, 'BufReader.readExact(buf)');
    return new GenFuture(this.readExactGen(buf, offset, len));
  }

  private *readExactGen(buf: Uint8Array, offset: number, len: number): Async<void> {
    this.discarding = false;
    let got = 0;
    while (got < len) {
      if (this.pos === this.end) {
        const want = len - got;
        if (want >= this.buf.length) {
          const n = yield* this.inner.read(buf, offset + got, want);
          if (n === 0) throw new UnexpectedEofError(len, got);
          got += n;
          continue;
        }
        if ((yield* this.fillGen()) === 0) throw new UnexpectedEofError(len, got);
      }
      got += this.copyOut(buf, offset + got, len - got);
    }
  }

  /**
   * The unread bytes, reading the inner stream once if there are none (tokio's `fill_buf`): a
   * view of the buffer (no copy), empty at end of stream. Hand them out with `consume(n)`.
   * Cancel-safe.
   */
  fillBuf(): Future<Uint8Array> {
    return new GenFuture(this.fillBufGen());
  }

  private *fillBufGen(): Async<Uint8Array> {
    this.discarding = false;
    if (this.pos === this.end) yield* this.fillGen();
    return this.buf.subarray(this.pos, this.end);
  }

  /** Mark `n` bytes of the buffer as handed out (after `fillBuf`). */
  consume(n: number): void {
    checkInt(n, 'BufReader.consume(n)', 0, this.end - this.pos);
    this.advance(this.pos + n);
  }

  /**
   * The bytes up to and including the next `byte` (tokio's `read_until`): a fresh Buffer; at end
   * of stream the bytes left (without `byte`), or null when none are. A record longer than
   * `maxLineLength` is a `LineTooLongError` (and is skipped). Cancel-safe: dropped part-way,
   * the bytes read so far stay in the buffer and the next call starts with them.
   */
  readUntil(byte: number): Future<Buffer | null> {
    checkInt(byte, 'BufReader.readUntil(byte)', 0, 255);
    return new GenFuture(this.readUntilGen(byte));
  }

  private *readUntilGen(byte: number): Async<Buffer | null> {
    const stop = yield* this.findGen(byte);
    if (stop < 0) return null;
    const out = Buffer.from(this.buf.subarray(this.pos, stop));
    this.advance(stop);
    return out;
  }

  /**
   * The next line, decoded with the reader's encoding, *without* its '\n' or '\r\n' (as Node's
   * `readline` and tokio's `lines()` give them); at end of stream the last line if it had no
   * '\n', then null. A multi-byte character is never split, however the bytes arrived. A line
   * longer than `maxLineLength` is a `LineTooLongError`, and the next call reads the line after
   * it. Cancel-safe: dropped mid-line, the partial line stays in the buffer; nothing is lost.
   */
  readLine(): Future<string | null> {
    return new GenFuture(this.readLineGen());
  }

  private *readLineGen(): Async<string | null> {
    const stop = yield* this.findGen(LF);
    if (stop < 0) return null;
    let e = stop;
    if (e > this.pos && this.buf[e - 1] === LF) e--;
    if (e > this.pos && this.buf[e - 1] === CR) e--;
    const line = this.buf.toString(this.encoding, this.pos, e);
    this.advance(stop);
    return line;
  }

  /**
   * The lines to come, as an object with `nextLine()` (tokio's `Lines::next_line`: the same as
   * `readLine()`) and, for Promise code on the embedded driver, `for await (const line of
   * reader.lines())`.
   */
  lines(): Lines {
    return new Lines(this);
  }

  /**
   * The text available now, decoded with the reader's encoding: what is buffered, else what one
   * read of the inner stream gives; null at end of stream. A multi-byte character split across
   * reads is held back until it is whole (at end of stream, an incomplete one decodes as U+FFFD).
   * Cancel-safe.
   */
  readText(): Future<string | null> {
    return new GenFuture(this.readTextGen());
  }

  private *readTextGen(): Async<string | null> {
    this.discarding = false;
    for (;;) {
      const whole = wholeCharsEnd(this.buf, this.pos, this.end, this.encoding);
      if (whole > this.pos) {
        const s = this.buf.toString(this.encoding, this.pos, whole);
        this.advance(whole);
        return s;
      }
      // Nothing, or only the first bytes of one character: read more after them.
      this.makeRoom(this.end - this.pos + 4);
      const n = yield* this.inner.read(this.buf, this.end, this.buf.length - this.end);
      if (n === 0) {
        if (this.pos === this.end) return null;
        const s = this.buf.toString(this.encoding, this.pos, this.end);
        this.advance(this.end);
        return s;
      }
      this.setWindow(this.pos, this.end + n);
    }
  }

  // ---- the buffer --------------------------------------------------------------------------

  /**
   * Find the next `delim` after `pos`, reading more as needed: the end (exclusive) of the record
   * that starts at `pos` (just past `delim`, or at `end` at end of stream), or -1 at end of
   * stream with nothing buffered. Keeps everything in the buffer until the caller advances.
   */
  private *findGen(delim: number): Async<number> {
    const max = this.maxLineLength;
    if (this.scannedFor !== delim) {
      this.scannedFor = delim;
      this.scanned = 0;
    }
    for (;;) {
      const from = this.pos + this.scanned;
      const rel = from < this.end ? this.buf.subarray(from, this.end).indexOf(delim) : -1;
      if (rel >= 0) {
        const at = from + rel;
        if (this.discarding) {
          // The rest of a line that was too long: skip it and look for the next record.
          this.discarding = false;
          this.advance(at + 1);
          continue;
        }
        if (at - this.pos > max) {
          this.advance(at + 1);
          throw new LineTooLongError(max);
        }
        return at + 1;
      }
      if (this.discarding) {
        this.advance(this.end);
      } else {
        this.scanned = this.end - this.pos;
        if (this.end - this.pos > max) {
          // Too long already: drop what is buffered and skip the rest of the line.
          this.discarding = true;
          this.advance(this.end);
          throw new LineTooLongError(max);
        }
      }
      this.makeRoom(this.end - this.pos + 1);
      const n = yield* this.inner.read(this.buf, this.end, this.buf.length - this.end);
      if (n === 0) {
        this.discarding = false;
        return this.pos === this.end ? -1 : this.end;
      }
      this.setWindow(this.pos, this.end + n);
    }
  }

  /**
   * Make room after `end` for at least one more byte, keeping `need` bytes from `pos`: move the
   * unread bytes to the front, and grow the buffer (up to `maxLineLength + 1`, or `need`) only
   * when they fill it.
   */
  private makeRoom(need: number): void {
    if (this.end < this.buf.length) return;
    const unread = this.end - this.pos;
    if (unread < this.buf.length && this.pos > 0) {
      this.buf.copy(this.buf, 0, this.pos, this.end);
      this.setWindow(0, unread);
      return;
    }
    const size = Math.max(need, Math.min(this.buf.length * 2, this.maxLineLength + 1));
    const grown = Buffer.allocUnsafe(Math.max(size, unread + 1));
    this.buf.copy(grown, 0, this.pos, this.end);
    this.buf = grown;
    this.setWindow(0, unread);
  }

  /** Read the inner stream into the (empty) buffer once: the count, 0 at end of stream. */
  private *fillGen(): Async<number> {
    if (this.buf.length > this.capacity) this.buf = Buffer.allocUnsafe(this.capacity);
    const n = yield* this.inner.read(this.buf, 0, this.buf.length);
    this.setWindow(0, n);
    return n;
  }

  /** Copy up to `len` buffered bytes into `buf` at `offset` and consume them: the count. */
  private copyOut(buf: Uint8Array, offset: number, len: number): number {
    const n = Math.min(len, this.end - this.pos);
    buf.set(this.buf.subarray(this.pos, this.pos + n), offset);
    this.advance(this.pos + n);
    return n;
  }

  /** Hand out the bytes before `to`. */
  private advance(to: number): void {
    this.scanned = Math.max(0, this.scanned - (to - this.pos));
    if (to === this.end) {
      this.setWindow(0, 0);
      // A long line grew the buffer: give that memory back.
      if (this.buf.length > this.capacity) this.buf = Buffer.allocUnsafe(this.capacity);
    } else {
      this.setWindow(to, this.end);
    }
  }

  private setWindow(pos: number, end: number): void {
    if (pos === end) this.scanned = 0;
    this.pos = pos;
    this.end = end;
    if (this.io !== null) {
      const n = end - pos;
      this.io.buffered += n - this.counted;
      this.counted = n;
    }
  }
}

/** The lines of a `BufReader` (tokio's `Lines`), from `reader.lines()`. */
export class Lines implements AsyncIterable<string> {
  constructor(readonly reader: BufReader) {}

  /** The next line without its terminator, null at end of stream: `reader.readLine()`. Cancel-safe. */
  nextLine(): Future<string | null> {
    return this.reader.readLine();
  }

  /**
   * For Promise code on the embedded driver: each line read by a task on the current runtime
   * (else the default one; a polled stream's reads run on its own runtime in any case). Leaving
   * the loop early leaves the rest in the reader.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<string, void, undefined> {
    const rt = ioOf(this.reader.inner)?.rt ?? runtimeOrDefault();
    for (;;) {
      const line = await rt.spawn(this.reader.readLine(), 'lines').promise();
      if (line === null) return;
      yield line;
    }
  }
}

export interface BufWriterOptions {
  /** The buffer's size in bytes (default 8 KiB). A write at least this long bypasses it. */
  capacity?: number;
  /** The encoding of string writes when none is given (default 'utf8'). */
  encoding?: TextEncoding;
}

/**
 * A buffered writer (tokio's `BufWriter`): writes land in its buffer, which goes to the inner
 * stream when it is full and on `flush()`. Call `flush()` before the end: bytes left in the
 * buffer are not written by anything else (JavaScript has no destructor to do it).
 *
 * ```ts
 * const out = new BufWriter(stream);
 * for (const row of rows) yield* out.writeAll(`${row}\n`);
 * yield* out.flush();
 * ```
 */
export class BufWriter<W extends AsyncWrite = AsyncWrite> {
  private readonly buf: Buffer;
  /** Written out already: buf[0, start). Waiting: buf[start, len). */
  private start = 0;
  private len = 0;
  private counted = 0;
  private readonly io: IoResource | null;
  readonly capacity: number;
  readonly encoding: TextEncoding;

  constructor(
    readonly inner: W,
    options: BufWriterOptions = {},
  ) {
    if (inner === null || typeof inner !== 'object' || typeof (inner as AsyncWrite).write !== 'function') {
      throw new TypeError(`BufWriter(inner): inner must have a write(buf) method (a stream, a pipe end), got ${describe(inner)}`);
    }
    if (options === null || typeof options !== 'object') throw new TypeError(`BufWriter(inner, options): options must be an object, got ${describe(options)}`);
    this.capacity = checkInt(options.capacity ?? DEFAULT_BUF_CAPACITY, 'BufWriter options.capacity', 1, 2 ** 30);
    this.encoding = encodingOr(options.encoding, 'utf8', 'BufWriter options.encoding');
    this.buf = Buffer.allocUnsafe(this.capacity);
    this.io = ioOf(inner);
  }

  /** Bytes written into the buffer and not yet to the inner stream. */
  get bufferedBytes(): number {
    return this.len - this.start;
  }

  /**
   * Write some of `buf[offset, offset + length)`: into the buffer (writing the buffer out first
   * if they do not fit), or straight to the inner stream if at least `capacity` long. The count
   * taken. Cancel-safe: dropped before it completes, none of `buf` was taken (a flush it started
   * may have written out part of the buffer: those bytes are not written again).
   */
  write(buf: Uint8Array, offset = 0, length?: number): Future<number> {
    const len = checkedLength(buf, offset, length, 'BufWriter.write(buf)');
    return new GenFuture(this.writeGen(buf, offset, len));
  }

  private *writeGen(buf: Uint8Array, offset: number, len: number): Async<number> {
    if (len === 0) return 0;
    if (this.len + len > this.capacity) yield* this.flushBufGen();
    if (len >= this.capacity) return yield* this.inner.write(buf, offset, len);
    this.take(buf, offset, len);
    return len;
  }

  /**
   * Write all of `buf[offset, offset + length)`, or all of `text` in `encoding` (default: the
   * writer's, utf8). Into the buffer when it fits, else the buffer and then the bytes go out.
   * Not cancel-safe (as tokio's `write_all`): dropped part-way, an unknown prefix was taken.
   */
  writeAll(buf: Uint8Array, offset?: number, length?: number): Future<void>;
  writeAll(text: string, encoding?: TextEncoding): Future<void>;
  writeAll(data: Uint8Array | string, offsetOrEncoding?: number | TextEncoding, length?: number): Future<void> {
    let bytes: Uint8Array;
    if (typeof data === 'string') {
      if (length !== undefined) throw new TypeError('BufWriter.writeAll(text, encoding): a string takes an encoding, not an offset and a length');
      bytes = encodeText(data, encodingOr(offsetOrEncoding, this.encoding, 'BufWriter.writeAll(text, encoding)'), 'BufWriter.writeAll(text, encoding)');
    } else {
      if (typeof offsetOrEncoding === 'string') throw new TypeError('BufWriter.writeAll(buf, offset, length): an encoding is for string writes; a Uint8Array takes an offset');
      checkBuffer(data, 'BufWriter.writeAll(buf)');
      const offset = offsetOrEncoding ?? 0;
      const len = checkedLength(data, offset, length, 'BufWriter.writeAll(buf)');
      bytes = data.subarray(offset, offset + len);
    }
    return new GenFuture(this.writeAllGen(bytes));
  }

  private *writeAllGen(bytes: Uint8Array): Async<void> {
    if (bytes.length === 0) return;
    if (this.len + bytes.length > this.capacity) yield* this.flushBufGen();
    if (bytes.length < this.capacity) {
      this.take(bytes, 0, bytes.length);
      return;
    }
    let done = 0;
    try {
      while (done < bytes.length) {
        const n = yield* this.inner.write(bytes, done, bytes.length - done);
        if (n === 0) throw writeZero();
        done += n;
      }
    } catch (err) {
      if (err instanceof IoError) err.bytesWritten = done;
      throw err;
    }
  }

  /**
   * Write the buffer out, all of it, then flush the inner stream if it has a `flush()` (another
   * BufWriter). Cancel-safe: dropped part-way, what was written out is gone from the buffer and
   * the rest waits for the next flush; no byte is lost or written twice.
   */
  flush(): Future<void> {
    return new GenFuture(this.flushGen());
  }

  private *flushGen(): Async<void> {
    yield* this.flushBufGen();
    const f = (this.inner as { flush?: () => Awaitable<void> }).flush;
    if (typeof f === 'function') yield* f.call(this.inner);
  }

  /** The inner stream, once the buffer is empty (throws if bytes wait: `flush()` first). */
  intoInner(): W {
    if (this.len > this.start) throw new Error(`BufWriter.intoInner(): ${this.len - this.start} bytes are not flushed yet; yield* writer.flush() first`);
    return this.inner;
  }

  private *flushBufGen(): Async<void> {
    while (this.start < this.len) {
      const n = yield* this.inner.write(this.buf, this.start, this.len - this.start);
      if (n === 0) throw writeZero();
      this.setWindow(this.start + n, this.len);
    }
    this.setWindow(0, 0);
  }

  private take(src: Uint8Array, offset: number, len: number): void {
    if (this.start === this.len) this.setWindow(0, 0);
    this.buf.set(src.subarray(offset, offset + len), this.len);
    this.setWindow(this.start, this.len + len);
  }

  private setWindow(start: number, len: number): void {
    this.start = start;
    this.len = len;
    if (this.io !== null) {
      const n = len - start;
      this.io.buffered += n - this.counted;
      this.counted = n;
    }
  }
}

function encodingOr(enc: unknown, fallback: TextEncoding, what: string): TextEncoding {
  if (enc === undefined) return fallback;
  if (typeof enc !== 'string' || !Buffer.isEncoding(enc)) {
    throw new TypeError(`${what} must be an encoding Node knows ('utf8', 'latin1', 'utf16le', 'base64', 'hex', ...), got ${describe(enc)}`);
  }
  return enc;
}

function writeZero(): Error {
  return Object.assign(new Error('write returned 0: the inner stream takes no more bytes'), { code: 'ERR_WRITE_ZERO' });
}

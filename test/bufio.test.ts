// Buffered reading and writing (lib/bufio.ts) and string writes on streams, under both drivers:
// lines split anywhere (bytes one at a time, CRLF, multi-byte UTF-8 across reads), the line-length
// limit with bounded memory, readExact / read / readUntil through the buffer, BufWriter's flush.
import { BufReader, BufWriter, LineTooLongError, DEFAULT_MAX_LINE_LENGTH, type AsyncRead, type AsyncWrite } from '../lib/bufio';
import { TimeoutError } from '../lib/errors';
import { GenFuture, PENDING, noopContext, type Async, type Future, type IntoFuture } from '../lib/future';
import { TcpListener, TcpStream, UnexpectedEofError } from '../lib/net';
import { Runtime } from '../lib/runtime';
import { threadChannel, TransferBusyError } from '../lib/thread-channel';
import { timeout, yieldNow } from '../lib/time';
import { catching, eachRuntime, readToEnd } from './helpers';

let rt: Runtime;
eachRuntime((r) => (rt = r), { checkHandles: true });

const DRIVERS = {
  blockOn: <T>(g: IntoFuture<T>): Promise<T> => Promise.resolve(rt.blockOn(g)),
  embedded: <T>(g: IntoFuture<T>): Promise<T> => rt.spawn(g).promise(),
};

/** A reader that gives `parts` one per read (split further when a read asks for less), yielding to the executor before each. */
class PartsReader implements AsyncRead {
  reads = 0;
  private i = 0;
  private off = 0;
  constructor(private readonly parts: Uint8Array[]) {}
  read(buf: Uint8Array, offset = 0, length = buf.length - offset): Future<number> {
    return new GenFuture(this.readGen(buf, offset, length));
  }
  private *readGen(buf: Uint8Array, offset: number, length: number): Async<number> {
    yield* yieldNow();
    this.reads++;
    if (this.i >= this.parts.length) return 0;
    const p = this.parts[this.i];
    const n = Math.min(length, p.length - this.off);
    buf.set(p.subarray(this.off, this.off + n), offset);
    this.off += n;
    if (this.off === p.length) {
      this.i++;
      this.off = 0;
    }
    return n;
  }
}

/** `bytes` cut into pieces of `size`. */
function pieces(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

function* readAllLines(r: BufReader): Async<string[]> {
  const lines: string[] = [];
  for (let line; (line = yield* r.readLine()) !== null; ) lines.push(line);
  return lines;
}

/** A connected pair over loopback: [client, server-side stream, listener]. */
function* pair(): Async<[TcpStream, TcpStream, TcpListener]> {
  const l = yield* TcpListener.bind({ host: '127.0.0.1', port: 0 });
  const acc = rt.spawn(l.accept());
  const c = yield* TcpStream.connect(l.localAddr());
  const [s] = yield* acc;
  return [c, s, l];
}

const TEXT = 'héllo wörld\r\nsecond 日本語 🎉\n\nthird\r\nlast without newline';
const LINES = ['héllo wörld', 'second 日本語 🎉', '', 'third', 'last without newline'];

describe.each(Object.keys(DRIVERS) as Array<keyof typeof DRIVERS>)('BufReader (%s)', (driver) => {
  const run = <T>(g: IntoFuture<T>): Promise<T> => DRIVERS[driver](g);

  test('readLine gives each line without \\n or \\r\\n, however the bytes are split (every piece size 1..9, capacity 4 and 8 KiB)', async () => {
    const bytes = Buffer.from(TEXT);
    for (const capacity of [4, 8192]) {
      for (let size = 1; size <= 9; size++) {
        const r = new BufReader(new PartsReader(pieces(bytes, size)), { capacity });
        expect(await run(readAllLines(r))).toEqual(LINES);
        expect(await run(r.readLine())).toBeNull();
      }
    }
  });

  test('over TCP, bytes written one at a time: lines, CRLF and multi-byte characters split across reads come out whole', async () => {
    await run(
      (function* (): Async<void> {
        const [c, s, l] = yield* pair();
        const bytes = Buffer.from(TEXT + '\n');
        const writer = rt.spawn(
          (function* (): Async<void> {
            for (let i = 0; i < bytes.length; i++) {
              yield* c.writeAll(bytes, i, 1);
              yield* yieldNow();
            }
            c.shutdown('write');
          })(),
        );
        const r = new BufReader(s, { capacity: 16 });
        const lines = yield* readAllLines(r);
        expect(lines).toEqual(LINES);
        expect(lines.join('')).not.toContain('\ufffd');
        yield* writer;
        c.close();
        s.close();
        l.close();
      })(),
    );
  });

  test('a 10 MiB line over a 1 MiB limit is a LineTooLongError, the buffer never grows past the limit, and the next line reads', async () => {
    await run(
      (function* (): Async<void> {
        const [c, s, l] = yield* pair();
        const limit = 1024 * 1024;
        const writer = rt.spawn(
          (function* (): Async<void> {
            yield* c.writeAll('first\n');
            const chunk = Buffer.alloc(64 * 1024, 'x');
            for (let sent = 0; sent < 10 * 1024 * 1024; sent += chunk.length) yield* c.writeAll(chunk);
            yield* c.writeAll('\nafter\n');
            c.shutdown('write');
          })(),
        );
        const r = new BufReader(s, { maxLineLength: limit });
        expect(yield* r.readLine()).toBe('first');
        const err = yield* catching(r.readLine());
        expect(err).toBeInstanceOf(LineTooLongError);
        expect((err as LineTooLongError).code).toBe('ERR_LINE_TOO_LONG');
        expect((err as LineTooLongError).limit).toBe(limit);
        expect(r.bufferSize).toBeLessThanOrEqual(limit + 1);
        // The rest of the long line is skipped; the reader goes on with the next one.
        expect(yield* r.readLine()).toBe('after');
        expect(r.bufferSize).toBeLessThanOrEqual(limit + 1);
        expect(yield* r.readLine()).toBeNull();
        yield* writer;
        c.close();
        s.close();
        l.close();
      })(),
    );
  });

  test('the default limit is 64 KiB, and a line of exactly the limit is accepted', async () => {
    expect(DEFAULT_MAX_LINE_LENGTH).toBe(64 * 1024);
    const ok = 'a'.repeat(DEFAULT_MAX_LINE_LENGTH);
    const tooLong = 'b'.repeat(DEFAULT_MAX_LINE_LENGTH + 1);
    const r = new BufReader(new PartsReader(pieces(Buffer.from(`${ok}\n${tooLong}\nend\n${tooLong}`), 10_000)));
    expect(await run(r.readLine())).toBe(ok);
    expect(await run(catching(r.readLine()))).toBeInstanceOf(LineTooLongError);
    expect(await run(r.readLine())).toBe('end');
    // A too-long last line without a newline: the error, then the end.
    expect(await run(catching(r.readLine()))).toBeInstanceOf(LineTooLongError);
    expect(await run(r.readLine())).toBeNull();
  });

  test('readExact and read go through the buffer: a header line, then a binary body, small and larger than the buffer', async () => {
    const body = Buffer.alloc(20_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const msg = Buffer.concat([Buffer.from('LEN 5\nhelloLEN 20000\n'), body, Buffer.from('tail')]);
    const r = new BufReader(new PartsReader(pieces(msg, 777)), { capacity: 1024 });
    await run(
      (function* (): Async<void> {
        expect(yield* r.readLine()).toBe('LEN 5');
        const five = Buffer.alloc(5);
        yield* r.readExact(five);
        expect(five.toString()).toBe('hello');
        expect(yield* r.readLine()).toBe('LEN 20000');
        const got = Buffer.alloc(20_000);
        yield* r.readExact(got);
        expect(got.equals(body)).toBe(true);
        const buf = Buffer.alloc(100);
        const n = yield* r.read(buf);
        expect(buf.subarray(0, n).toString()).toBe('tail');
        expect(yield* r.read(buf)).toBe(0);
        const err = yield* catching(r.readExact(Buffer.alloc(1)));
        expect(err).toBeInstanceOf(UnexpectedEofError);
      })(),
    );
    expect(() => r.read(Buffer.alloc(0))).toThrow(RangeError);
  });

  test('readUntil(byte) includes the delimiter; at the end the rest without it, then null; fillBuf / consume', async () => {
    const r = new BufReader(new PartsReader(pieces(Buffer.from('a\0bc\0\0tail'), 2)));
    await run(
      (function* (): Async<void> {
        const got: string[] = [];
        for (let rec; (rec = yield* r.readUntil(0)) !== null; ) got.push(rec.toString('latin1'));
        expect(got).toEqual(['a\0', 'bc\0', '\0', 'tail']);
      })(),
    );
    const r2 = new BufReader(new PartsReader([Buffer.from('abc'), Buffer.from('de')]));
    await run(
      (function* (): Async<void> {
        const v = yield* r2.fillBuf();
        expect(Buffer.from(v).toString()).toBe('abc');
        r2.consume(2);
        expect(Buffer.from(yield* r2.fillBuf()).toString()).toBe('c');
        r2.consume(1);
        expect(Buffer.from(yield* r2.fillBuf()).toString()).toBe('de');
        expect(() => r2.consume(3)).toThrow(RangeError);
        r2.consume(2);
        expect((yield* r2.fillBuf()).length).toBe(0);
      })(),
    );
    expect(() => r.readUntil(256)).toThrow(RangeError);
  });

  test('readText never splits a multi-byte character, whatever the piece size', async () => {
    const text = 'añb日本語🎉z€';
    for (let size = 1; size <= 5; size++) {
      const r = new BufReader(new PartsReader(pieces(Buffer.from(text), size)), { capacity: 4 });
      const parts: string[] = await run(
        (function* (): Async<string[]> {
          const out: string[] = [];
          for (let t; (t = yield* r.readText()) !== null; ) out.push(t);
          return out;
        })(),
      );
      expect(parts.join('')).toBe(text);
      for (const p of parts) expect(p).not.toContain('\ufffd');
    }
  });

  test('readLine is cancel-safe: a timeout mid-line keeps the partial line, and the next readLine returns it whole', async () => {
    await run(
      (function* (): Async<void> {
        const [c, s, l] = yield* pair();
        const r = new BufReader(s);
        yield* c.writeAll('hel');
        const err = yield* catching(timeout(r.readLine(), 20));
        expect(err).toBeInstanceOf(TimeoutError);
        expect(r.bufferedBytes).toBe(3);
        yield* c.writeAll('lo\nworld\n');
        expect(yield* r.readLine()).toBe('hello');
        expect(yield* r.lines().nextLine()).toBe('world');
        c.close();
        s.close();
        l.close();
      })(),
    );
  });

  test('latin1 decoding; a line encoding that is not ASCII-compatible is refused', async () => {
    const r = new BufReader(new PartsReader([Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])]), { encoding: 'latin1' });
    expect(await run(r.readLine())).toBe('café');
    expect(() => new BufReader(new PartsReader([]), { encoding: 'utf16le' as 'utf8' })).toThrow(/ASCII-compatible/);
    expect(() => new BufReader({} as AsyncRead)).toThrow(TypeError);
    expect(() => new BufReader(new PartsReader([]), { capacity: 0 })).toThrow(RangeError);
  });
});

/** A writer that records each write, taking at most `max` bytes per write. */
class RecordingWriter implements AsyncWrite {
  writes: Buffer[] = [];
  constructor(private readonly max = Infinity) {}
  write(buf: Uint8Array, offset = 0, length = buf.length - offset): Future<number> {
    return new GenFuture(this.writeGen(buf, offset, length));
  }
  private *writeGen(buf: Uint8Array, offset: number, length: number): Async<number> {
    yield* yieldNow();
    const n = Math.min(length, this.max);
    this.writes.push(Buffer.from(buf.subarray(offset, offset + n)));
    return n;
  }
  get all(): string {
    return Buffer.concat(this.writes).toString();
  }
}

describe.each(Object.keys(DRIVERS) as Array<keyof typeof DRIVERS>)('BufWriter and string writes (%s)', (driver) => {
  const run = <T>(g: IntoFuture<T>): Promise<T> => DRIVERS[driver](g);

  test('small writes stay in the buffer until flush(), which writes them in one write; a full buffer goes out first', async () => {
    const w = new RecordingWriter();
    const out = new BufWriter(w, { capacity: 16 });
    await run(
      (function* (): Async<void> {
        yield* out.writeAll('abc');
        yield* out.writeAll(Buffer.from('defgh'));
        expect(yield* out.write(Buffer.from('ij'))).toBe(2);
        expect(w.writes).toHaveLength(0);
        expect(out.bufferedBytes).toBe(10);
        yield* out.flush();
        expect(w.writes.map(String)).toEqual(['abcdefghij']);
        expect(out.bufferedBytes).toBe(0);
        // 10 + 10 > 16: the first 10 go out before the next 10 are buffered.
        yield* out.writeAll('0123456789');
        yield* out.writeAll('ABCDEFGHIJ');
        expect(w.writes.map(String)).toEqual(['abcdefghij', '0123456789']);
        yield* out.flush();
        // At least `capacity` bytes bypass the buffer.
        yield* out.writeAll('x'.repeat(40));
        expect(w.writes.map(String)).toEqual(['abcdefghij', '0123456789', 'ABCDEFGHIJ', 'x'.repeat(40)]);
        yield* out.flush();
        expect(w.writes).toHaveLength(4);
      })(),
    );
  });

  test('flush is cancel-safe: dropped part-way over a slow writer, no byte is lost or written twice', async () => {
    const w = new RecordingWriter(3);
    const out = new BufWriter(w, { capacity: 64 });
    await run(out.writeAll('the quick brown fox'));
    // Poll a flush by hand a few times (each write takes 3 bytes), then drop it half way.
    const f = out.flush();
    for (let i = 0; i < 6; i++) expect(f.poll(noopContext)).toBe(PENDING);
    f.drop?.();
    const before = w.all;
    expect(before.length).toBeGreaterThan(0);
    expect(before.length).toBeLessThan(19);
    expect(out.bufferedBytes).toBe(19 - before.length);
    await run(out.flush());
    expect(w.all).toBe('the quick brown fox');
    expect(w.writes.length).toBeGreaterThan(1);
  });

  test('string writes with encodings through BufWriter; bad encodings refused; intoInner wants a flush', async () => {
    const w = new RecordingWriter();
    const out = new BufWriter(w);
    await run(
      (function* (): Async<void> {
        yield* out.writeAll('68690a', 'hex');
        yield* out.writeAll('café', 'latin1');
        yield* out.writeAll('日本');
        expect(() => out.intoInner()).toThrow(/flush/);
        yield* out.flush();
      })(),
    );
    expect(Buffer.concat(w.writes).equals(Buffer.concat([Buffer.from('hi\n'), Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from('日本')]))).toBe(true);
    expect(out.intoInner()).toBe(w);
    expect(() => out.writeAll('x', 'klingon' as BufferEncoding)).toThrow(TypeError);
    expect(() => out.writeAll(Buffer.from('x'), 'utf8' as unknown as number)).toThrow(TypeError);
    expect(() => new BufWriter(w, { encoding: 'nope' as BufferEncoding })).toThrow(TypeError);
  });

  test('Stream.writeAll(text, encoding) over TCP: utf8 by default, any Node encoding, bad ones refused', async () => {
    await run(
      (function* (): Async<void> {
        const [c, s, l] = yield* pair();
        const reader = rt.spawn(readToEnd(s));
        yield* c.writeAll('héllo ');
        yield* c.writeAll('d29ybGQ=', 'base64');
        yield* c.writeAll('!', 'utf16le');
        expect(() => c.writeAll('x', 'klingon' as BufferEncoding)).toThrow(/encoding/);
        expect(() => c.writeAll(Buffer.from('x'), 'utf8' as unknown as number)).toThrow(TypeError);
        expect(() => (c.writeAll as (t: string, a: unknown, b: unknown) => unknown)('x', 0, 1)).toThrow(TypeError);
        c.shutdown('write');
        const got = yield* reader;
        expect(got.equals(Buffer.concat([Buffer.from('héllo world'), Buffer.from('!', 'utf16le')]))).toBe(true);
        c.close();
        s.close();
        l.close();
      })(),
    );
  });

  test('a stream whose BufReader holds unread bytes refuses to move to another thread; after intoParts() it moves', async () => {
    await run(
      (function* (): Async<void> {
        const [c, s, l] = yield* pair();
        yield* c.writeAll('one\ntwo\n');
        const r = new BufReader(s);
        expect(yield* r.readLine()).toBe('one');
        expect(r.bufferedBytes).toBe(4);
        const [tx, rx] = threadChannel<unknown>(1);
        expect(() => tx.trySend({ s })).toThrow(TransferBusyError);
        expect(() => tx.trySend({ s })).toThrow(/BufReader/);
        expect(s.isOpen).toBe(true);
        const [inner, rest] = r.intoParts();
        expect(inner).toBe(s);
        expect(rest.toString()).toBe('two\n');
        tx.trySend({ s, rest });
        expect(s.isMoved).toBe(true);
        const got = (yield* rx.recv()) as { s: TcpStream; rest: Uint8Array };
        expect(Buffer.from(got.rest).toString()).toBe('two\n');
        got.s.close();
        c.close();
        l.close();
        tx.close();
        rx.drop();
      })(),
    );
  });
});

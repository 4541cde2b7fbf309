// Node streams and polled streams both ways (lib/node-stream.ts), on the embedded driver (Node
// streams flow only while Node's loop runs): toDuplex under pipeline() and readline with
// backpressure that keeps memory bounded when a reader stalls, half-close, errors; fromReadable
// pausing a Readable for a slow consumer; for-await over a stream's chunks.
import * as net from 'node:net';
import * as readline from 'node:readline';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BufReader } from '../lib/bufio';
import { IoError } from '../lib/errors';
import { ready, type Async, type Future, type IntoFuture } from '../lib/future';
import { TcpListener, TcpStream } from '../lib/net';
import { chunks, fromReadable, toDuplex } from '../lib/node-stream';
import { Runtime } from '../lib/runtime';
import { sleep } from '../lib/time';
import { catching, eachRuntime, readToEnd } from './helpers';

let rt: Runtime;
eachRuntime((r) => (rt = r), { checkHandles: true });

function run<T>(g: IntoFuture<T>): Promise<T> {
  return rt.spawn(g).promise();
}

/** A connected pair over loopback: [client, server-side stream]; the listener is closed. */
async function pair(): Promise<[TcpStream, TcpStream]> {
  return run(
    (function* (): Async<[TcpStream, TcpStream]> {
      const l = yield* TcpListener.bind({ host: '127.0.0.1', port: 0 });
      const acc = rt.spawn(l.accept());
      const c = yield* TcpStream.connect(l.localAddr());
      const [s] = yield* acc;
      l.close();
      return [c, s];
    })(),
  );
}

function upper(): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      cb(null, Buffer.from(chunk.toString('latin1').toUpperCase(), 'latin1'));
    },
  });
}

/** Resolves once `value()` has not changed for `quietChecks` checks in a row, 20 ms apart (at most ~20 s). */
async function settled(value: () => number, quietChecks = 10): Promise<number> {
  let last = -1;
  let quiet = 0;
  for (let i = 0; i < 1000 && quiet < quietChecks; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const v = value();
    quiet = v === last ? quiet + 1 : 0;
    last = v;
  }
  return last;
}

describe('toDuplex', () => {
  test('readline over a polled stream: lines split across writes, CRLF, UTF-8', async () => {
    const [c, s] = await pair();
    const rl = readline.createInterface({ input: toDuplex(s), crlfDelay: Infinity });
    const lines: string[] = [];
    rl.on('line', (l) => lines.push(l));
    const closed = new Promise((r) => rl.on('close', r));
    await run(
      (function* (): Async<void> {
        for (const piece of ['first li', 'ne\r\nsecond 日', '本\nthird', '\n']) {
          yield* c.writeAll(piece);
          yield* sleep(2);
        }
        c.shutdown('write');
      })(),
    );
    await closed;
    expect(lines).toEqual(['first line', 'second 日本', 'third']);
    c.close();
    s.close();
  });

  test('pipeline(duplex, Transform, duplex) echoes 4 MiB through the Transform and back, in order', async () => {
    const [c, s] = await pair();
    const d = toDuplex(s);
    const piped = pipeline(d, upper(), d);
    const data = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = 0x61 + (i % 26);
    const reader = rt.spawn(readToEnd(c));
    await run(
      (function* (): Async<void> {
        yield* c.writeAll(data);
        c.shutdown('write');
      })(),
    );
    const got = await reader.promise();
    await piped;
    expect(got.length).toBe(data.length);
    expect(got.equals(Buffer.from(data.toString('latin1').toUpperCase(), 'latin1'))).toBe(true);
    expect(d.destroyed).toBe(true); // both sides done: the Duplex closed the stream
    expect(s.isOpen).toBe(false);
    c.close();
  });

  test('backpressure through pipeline: a peer that stops reading the echo stalls everything, and what is in flight stays bounded', async () => {
    const [c, s] = await pair();
    const rss0 = process.memoryUsage().rss;
    const d = toDuplex(s);
    const piped = pipeline(d, upper(), d);
    let sent = 0;
    let stop = false;
    const chunk = Buffer.alloc(64 * 1024, 'a');
    // The peer writes forever and reads nothing back.
    const writer = rt.spawn(
      (function* (): Async<void> {
        while (!stop) {
          yield* c.writeAll(chunk);
          sent += chunk.length;
        }
        c.shutdown('write');
      })(),
    );
    const stalledAt = await settled(() => sent);
    // Everything in flight is in the kernel's socket buffers (both directions, both ends) and in
    // Node's queues, each bounded by a highWaterMark: far below what an unbounded copy would hold.
    expect(stalledAt).toBeGreaterThan(0);
    expect(stalledAt).toBeLessThan(64 * 1024 * 1024);
    expect(d.writableLength).toBeLessThanOrEqual(d.writableHighWaterMark + 64 * 1024);
    expect(d.readableLength).toBeLessThanOrEqual(d.readableHighWaterMark + 64 * 1024);
    // And the process as a whole (generous: the heap's own growth and the GC's timing are noise here).
    expect(process.memoryUsage().rss - rss0).toBeLessThan(256 * 1024 * 1024);
    // The peer reads again: everything it sent comes back.
    stop = true;
    const reader = rt.spawn(readToEnd(c));
    await writer.promise();
    const back = await reader.promise();
    await piped;
    expect(back.length).toBe(sent);
    expect(back.every((b) => b === 0x41)).toBe(true);
    c.close();
  });

  test('backpressure on the readable side: nobody consuming the Duplex stops its reads, so the sender stalls; resuming delivers all', async () => {
    const [c, s] = await pair();
    const d = toDuplex(s, { readableHighWaterMark: 16 * 1024 });
    let sent = 0;
    let stop = false;
    const chunk = Buffer.alloc(64 * 1024, 'z');
    const writer = rt.spawn(
      (function* (): Async<void> {
        while (!stop) {
          yield* c.writeAll(chunk);
          sent += chunk.length;
        }
        c.shutdown('write');
      })(),
    );
    d.pause();
    d.read(0); // Node asks for data once: the Duplex reads until its queue reaches its highWaterMark
    const stalledAt = await settled(() => sent);
    expect(stalledAt).toBeLessThan(64 * 1024 * 1024);
    expect(d.readableLength).toBeGreaterThan(0);
    expect(d.readableLength).toBeLessThanOrEqual(16 * 1024 + 64 * 1024);
    stop = true;
    let got = 0;
    d.on('data', (b: Buffer) => (got += b.length));
    // Listened for before the writer's end is awaited: the peer's FIN can be read, and 'end'
    // emitted, while that await resolves (a listener added after would wait for ever).
    const ended = new Promise((r) => d.on('end', r));
    d.resume();
    await writer.promise();
    await ended;
    expect(got).toBe(sent);
    d.destroy();
    c.close();
  });

  test('half-close: end() sends FIN and the other way still flows; the peer FIN ends the readable side; then the stream is closed', async () => {
    const [c, s] = await pair();
    const d = toDuplex(s);
    let got = '';
    d.on('data', (b: Buffer) => (got += b.toString()));
    const ended = new Promise((r) => d.on('end', r));
    const closed = new Promise((r) => d.on('close', r));
    d.end('from node');
    const fromNode = await run(readToEnd(c)); // EOF arrives: the Duplex shut its write side
    expect(fromNode.toString()).toBe('from node');
    await run(
      (function* (): Async<void> {
        yield* c.writeAll('after FIN');
        c.shutdown('write');
      })(),
    );
    await ended;
    await closed;
    expect(got).toBe('after FIN');
    expect(s.isOpen).toBe(false);
    c.close();
  });

  test('destroy() closes the stream (the peer reads the end); a write after the peer is gone destroys the Duplex with an IoError', async () => {
    const [c, s] = await pair();
    const d = toDuplex(s);
    d.destroy();
    await new Promise((r) => d.on('close', r));
    expect(s.isOpen).toBe(false);
    expect((await run(readToEnd(c))).length).toBe(0);
    c.close();

    const [c2, s2] = await pair();
    const d2 = toDuplex(s2);
    c2.close();
    const err = await new Promise<Error>((resolve) => {
      d2.on('error', resolve);
      const big = Buffer.alloc(64 * 1024);
      const pump = (): void => {
        while (!d2.destroyed && d2.write(big));
        if (!d2.destroyed) d2.once('drain', pump);
      };
      pump();
    });
    expect(err).toBeInstanceOf(IoError);
    expect(['EPIPE', 'ECONNRESET']).toContain((err as IoError).code);
    await new Promise((r) => (d2.closed ? r(undefined) : d2.on('close', r)));
    expect(s2.isOpen).toBe(false);
  });

  test('a node:net client and a polled server, the server written node:net-style with pipeline over toDuplex', async () => {
    const l = await run(TcpListener.bind({ host: '127.0.0.1', port: 0 }));
    let piped: Promise<void> | null = null;
    const server = rt.spawn(
      (function* (): Async<void> {
        const [stream] = yield* l.accept();
        const d = toDuplex(stream);
        piped = pipeline(d, upper(), d);
      })(),
    );
    const reply = await new Promise<string>((resolve, reject) => {
      let out = '';
      const sock = net.connect(l.localAddr().port, '127.0.0.1', () => sock.end('shout this'));
      sock.on('data', (b) => (out += b.toString()));
      sock.on('end', () => resolve(out));
      sock.on('error', reject);
    });
    await server.promise();
    expect(reply).toBe('SHOUT THIS');
    await piped; // both sides done: the server's Duplex closed its stream
    l.close();
  });

  test('toDuplex and chunks are refused inside blockOn, with a message saying why', () => {
    const dummy = { read: (): Future<number> => ready(0), write: (): Future<number> => ready(0) };
    const inBlockOn = (f: () => unknown): string =>
      rt.blockOn(
        (function* (): Async<string> {
          try {
            f();
            return 'no error';
          } catch (e) {
            return String(e);
          }
        })(),
      );
    expect(inBlockOn(() => toDuplex(dummy))).toMatch(/blockOn/);
    expect(inBlockOn(() => chunks(dummy))).toMatch(/blockOn/);
    expect(() => toDuplex({} as never)).toThrow(TypeError);
  });
});

describe('chunks / for await', () => {
  test('for await over a Stream gives its bytes in order until the end; breaking early leaves the stream usable', async () => {
    const [c, s] = await pair();
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    const writer = rt.spawn(
      (function* (): Async<void> {
        yield* c.writeAll('x');
        yield* sleep(10);
        yield* c.writeAll(data);
        c.shutdown('write');
      })(),
    );
    for await (const first of s) {
      expect(first.toString()).toBe('x');
      break;
    }
    const parts: Buffer[] = [];
    for await (const chunk of chunks(s, { size: 4096 })) {
      expect(chunk.length).toBeLessThanOrEqual(4096);
      parts.push(chunk);
    }
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    await writer.promise();
    c.close();
    s.close();
  });

  test('for await over BufReader.lines()', async () => {
    const [c, s] = await pair();
    const writer = rt.spawn(
      (function* (): Async<void> {
        yield* c.writeAll('a\nb\r\n');
        yield* c.writeAll('c');
        c.shutdown('write');
      })(),
    );
    const lines: string[] = [];
    for await (const line of new BufReader(s).lines()) lines.push(line);
    expect(lines).toEqual(['a', 'b', 'c']);
    await writer.promise();
    c.close();
    s.close();
  });
});

describe('fromReadable', () => {
  test('a slow consumer pauses the Readable: what it has produced beyond what was consumed stays bounded', async () => {
    const CHUNK = 16 * 1024;
    const TOTAL = 32 * 1024 * 1024;
    let produced = 0;
    let maxAhead = 0;
    let consumed = 0;
    const src = new Readable({
      highWaterMark: 64 * 1024,
      read() {
        if (produced >= TOTAL) return void this.push(null);
        produced += CHUNK;
        maxAhead = Math.max(maxAhead, produced - consumed);
        this.push(Buffer.alloc(CHUNK, 7));
      },
    });
    const r = new BufReader(fromReadable(src), { capacity: 8192 });
    await run(
      (function* (): Async<void> {
        const buf = Buffer.alloc(4096);
        for (let i = 0; ; i++) {
          const n = yield* r.read(buf);
          if (n === 0) break;
          consumed += n;
          // Slow: now and then let Node's loop run for a while before reading on.
          if (i % 64 === 0) yield* sleep(1);
        }
      })(),
    );
    expect(consumed).toBe(TOTAL);
    expect(src.readableFlowing).toBe(false); // read in paused mode, never flowing
    // Produced ahead of the consumer: at most the Readable's queue, a chunk, and the BufReader's buffer.
    expect(maxAhead).toBeLessThanOrEqual(64 * 1024 + 2 * CHUNK + 8192);
  });

  test('a BufReader reads lines from a node:net socket through fromReadable; a Readable error is thrown by the read', async () => {
    const server = net.createServer((sock) => sock.end('one\ntwo\r\nthree'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const sock = net.connect(port, '127.0.0.1');
    const r = new BufReader(fromReadable(sock));
    const lines = await run(
      (function* (): Async<string[]> {
        const out: string[] = [];
        for (let l; (l = yield* r.readLine()) !== null; ) out.push(l);
        return out;
      })(),
    );
    expect(lines).toEqual(['one', 'two', 'three']);
    sock.destroy();
    await new Promise((r2) => server.close(r2));

    const failing = new Readable({ read() {} });
    const fr = fromReadable(failing);
    const pending = run(catching(fr.read(Buffer.alloc(8))));
    failing.destroy(new Error('source broke'));
    expect(String(await pending)).toMatch(/source broke/);
    expect(() => fromReadable({} as Readable)).toThrow(TypeError);
  });

  test('two tasks waiting on one fromReadable reader are both woken and get the bytes between them; a dropped read loses nothing', async () => {
    const src = new Readable({ read() {} });
    const fr = fromReadable(src);
    const a = rt.spawn(fr.read(Buffer.alloc(3)));
    const b = rt.spawn(fr.read(Buffer.alloc(3)));
    const dropped = rt.spawn(fr.read(Buffer.alloc(3)));
    await run(sleep(5));
    dropped.abort();
    src.push('abcdef');
    expect((await a.promise()) + (await b.promise())).toBe(6);
    src.push('g');
    src.push(null);
    const buf = Buffer.alloc(8);
    expect(await run(fr.read(buf))).toBe(1);
    expect(buf.subarray(0, 1).toString()).toBe('g');
    expect(await run(fr.read(buf))).toBe(0);
  });

  test('under blockOn a read that would wait for the Readable fails with a clear error; buffered data is still read', () => {
    const src = new Readable({ read() {} });
    src.push('ready');
    const fr = fromReadable(src);
    const got = rt.blockOn(
      (function* (): Async<[string, unknown]> {
        const buf = Buffer.alloc(16);
        const n = yield* fr.read(buf);
        return [buf.subarray(0, n).toString(), yield* catching(fr.read(buf))];
      })(),
    );
    expect(got[0]).toBe('ready');
    expect(String(got[1])).toMatch(/blockOn/);
  });
});

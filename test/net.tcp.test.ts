// TCP: TcpListener and TcpStream in-process, under both drivers, against themselves and node:net.
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { IoError, TimeoutError } from '../lib/errors';
import type { Async, IntoFuture } from '../lib/future';
import { native } from '../lib/native';
import { SocketAddress, TcpListener, TcpStream, UnexpectedEofError } from '../lib/net';
import { Runtime } from '../lib/runtime';
import { sleep, timeout } from '../lib/time';
import { catching, eachRuntime, readToEnd, sha } from './helpers';

let rt: Runtime;
let baseHandles: number;
eachRuntime(
  (r, handles) => {
    rt = r;
    baseHandles = handles;
  },
  { checkHandles: true },
);

/** Run a generator as a task on the embedded driver (Node's loop keeps running: node:net works). */
function run<T>(gen: IntoFuture<T>): Promise<T> {
  return rt.spawn(gen).promise();
}

/** A connected pair over loopback: [client, server-side stream]. */
function* pair(host = '127.0.0.1'): Async<[TcpStream, TcpStream, TcpListener]> {
  const l = yield* TcpListener.bind({ host, port: 0 });
  const acc = rt.spawn(l.accept());
  const c = yield* TcpStream.connect(l.localAddr());
  const [s] = yield* acc;
  return [c, s, l];
}

function expectIoError(err: unknown, codes: string[], syscall?: string): void {
  expect(err).toBeInstanceOf(IoError);
  const e = err as IoError;
  expect(codes).toContain(e.code);
  if (syscall !== undefined) expect(e.syscall).toBe(syscall);
}

describe('TcpListener / TcpStream', () => {
  test('bind to port 0, accept, connect; addresses on both ends agree (blockOn)', () => {
    const r = rt.blockOn(
      (function* (): Async<string[]> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const addr = l.localAddr();
        expect(addr).toBeInstanceOf(SocketAddress);
        expect(addr.port).toBeGreaterThan(0);
        const acc = rt.spawn(l.accept());
        const c = yield* TcpStream.connect(addr);
        const [s, peer] = yield* acc;
        const out = [
          addr.toString(),
          c.peerAddr().toString(),
          c.localAddr().toString(),
          peer.toString(),
          s.peerAddr().toString(),
          s.localAddr().toString(),
        ];
        c.close();
        s.close();
        l.close();
        return out;
      })(),
    );
    expect(r[1]).toBe(r[0]); // client's peer is the listener
    expect(r[3]).toBe(r[2]); // accept's peer is the client
    expect(r[4]).toBe(r[2]);
    expect(r[5]).toBe(r[0]);
  });

  test('bind accepts a bare port number and { host, port }', async () => {
    await run(
      (function* (): Async<void> {
        const l1 = yield* TcpListener.bind(0);
        expect(l1.localAddr().host).toBe('127.0.0.1');
        const l2 = yield* TcpListener.bind({ host: '127.0.0.1', port: 0 }, { backlog: 16, reuseAddress: false });
        expect(l2.localAddr().port).not.toBe(l1.localAddr().port);
        l1.close();
        l2.close();
      })(),
    );
  });

  test('read lands in the caller buffer at the offset; 0 at end of stream', async () => {
    await run(
      (function* (): Async<void> {
        const [c, s, l] = yield* pair();
        yield* c.writeAll(Buffer.from('abcde'));
        const buf = Buffer.alloc(10, '.');
        const n = yield* s.readExact(buf, 3, 5);
        expect(n).toBeUndefined();
        expect(buf.toString()).toBe('...abcde..');
        c.shutdown('write');
        expect(yield* s.read(buf)).toBe(0);
        expect(yield* s.read(buf)).toBe(0); // stays at end
        c.close();
        s.close();
        l.close();
      })(),
    );
  });

  test('readExact assembles pieces, and throws UnexpectedEofError when the stream ends early', async () => {
    await run(
      (function* (): Async<void> {
        const [c, s, l] = yield* pair();
        const writer = rt.spawn(
          (function* (): Async<void> {
            for (const piece of ['he', 'll', 'o ', 'wo']) {
              yield* c.writeAll(Buffer.from(piece));
              yield* sleep(2);
            }
            c.close();
          })(),
        );
        const buf = Buffer.alloc(6);
        yield* s.readExact(buf);
        expect(buf.toString()).toBe('hello ');
        const err = yield* catching(s.readExact(Buffer.alloc(5)));
        expect(err).toBeInstanceOf(UnexpectedEofError);
        expect((err as UnexpectedEofError).received).toBe(2);
        yield* writer;
        s.close();
        l.close();
      })(),
    );
  });

  test('writev sends several buffers in one call; writevAll handles partial writes and > IOV_MAX buffers', async () => {
    await run(
      (function* (): Async<void> {
        const [c, s, l] = yield* pair();
        const n = yield* c.writev([Buffer.from('ab'), Buffer.from(''), Buffer.from('cd')]);
        expect(n).toBe(4);
        const four = Buffer.alloc(4);
        yield* s.readExact(four);
        expect(four.toString()).toBe('abcd');

        // 3000 buffers of random sizes, 12 MiB or so: several partial writev calls.
        const bufs: Buffer[] = [];
        for (let i = 0; i < 3000; i++) bufs.push(randomBytes(1 + ((i * 7919) % 8192)));
        const want = Buffer.concat(bufs);
        const reader = rt.spawn(readToEnd(s));
        yield* c.writevAll(bufs);
        c.shutdown('write');
        const got = yield* reader;
        expect(got.length).toBe(want.length);
        expect(sha(got)).toBe(sha(want));
        expect(() => c.writev(new Array(1025).fill(Buffer.alloc(1)))).toThrow(RangeError);
        c.close();
        s.close();
        l.close();
      })(),
    );
  });

  test('16 MiB through one connection: writeAll resumes after partial writes, bytes verified', async () => {
    const payload = randomBytes(16 * 1024 * 1024);
    const got = await run(
      (function* (): Async<Buffer> {
        const [c, s, l] = yield* pair();
        let partial = 0;
        // The writer counts its partial writes to prove the path was exercised.
        const writer = rt.spawn(
          (function* (): Async<void> {
            let off = 0;
            while (off < payload.length) {
              const want = Math.min(4 * 1024 * 1024, payload.length - off);
              const n = yield* c.write(payload, off, want);
              if (n < want) partial++;
              off += n;
            }
            c.shutdown('write');
          })(),
        );
        const out = yield* readToEnd(s, 7000);
        yield* writer;
        expect(partial).toBeGreaterThan(0);
        c.close();
        s.close();
        l.close();
        return out;
      })(),
    );
    expect(got.length).toBe(payload.length);
    expect(sha(got)).toBe(sha(payload));
  });

  test('half-close: the client shuts its write side and still receives everything', async () => {
    await run(
      (function* (): Async<void> {
        const [c, s, l] = yield* pair();
        const data = randomBytes(1 << 20);
        const server = rt.spawn(
          (function* (): Async<void> {
            // Read everything until the client's FIN, then answer.
            const all = yield* readToEnd(s);
            yield* sleep(5);
            yield* s.writeAll(all);
            s.close();
          })(),
        );
        yield* c.writeAll(data);
        c.shutdown('write');
        expectIoError(yield* catching(c.writeAll(Buffer.from('x'))), ['EPIPE'], 'write');
        const back = yield* readToEnd(c);
        expect(sha(back)).toBe(sha(data));
        yield* server;
        c.close();
        l.close();
      })(),
    );
  });

  test('one task reads while another writes the same stream (independent wakers), both directions at once', async () => {
    const size = 4 * 1024 * 1024;
    const a2b = randomBytes(size);
    const b2a = randomBytes(size);
    await run(
      (function* (): Async<void> {
        const [a, b, l] = yield* pair();
        const send = (s: TcpStream, data: Buffer) =>
          rt.spawn(
            (function* (): Async<void> {
              yield* s.writeAll(data);
              s.shutdown('write');
            })(),
          );
        // Neither side reads before it has written everything if the writes block each other:
        // with one waker per socket this deadlocks; with independent ones it completes.
        const wa = send(a, a2b);
        const wb = send(b, b2a);
        const ra = rt.spawn(readToEnd(a));
        const rb = rt.spawn(readToEnd(b));
        const [gotA, gotB] = [yield* ra, yield* rb];
        yield* wa;
        yield* wb;
        expect(sha(gotB)).toBe(sha(a2b));
        expect(sha(gotA)).toBe(sha(b2a));
        a.close();
        b.close();
        l.close();
      })(),
    );
  });

  test('backpressure: a write to a peer that never reads pends instead of buffering', async () => {
    await run(
      (function* (): Async<void> {
        const [c, s, l] = yield* pair();
        const chunk = Buffer.alloc(256 * 1024, 1);
        let written = 0;
        const writer = rt.spawn(
          (function* (): Async<void> {
            for (;;) written += yield* c.write(chunk);
          })(),
        );
        yield* sleep(300);
        const stalled = written;
        yield* sleep(200);
        // The kernel buffers took a few MB at most, then the writer pended and stayed pending.
        expect(written).toBe(stalled);
        expect(written).toBeLessThan(64 * 1024 * 1024);
        expect(writer.isFinished()).toBe(false);
        writer.abort();
        // A bounded writeAll times out rather than growing anything.
        expect(yield* catching(timeout(c.writeAll(Buffer.alloc(8 << 20)), 100))).toBeInstanceOf(TimeoutError);
        // Once the peer reads, a writer makes progress again.
        const writer2 = rt.spawn(
          (function* (): Async<void> {
            for (;;) written += yield* c.write(chunk);
          })(),
        );
        const buf = Buffer.alloc(1 << 20);
        let drained = 0;
        while (drained < stalled) drained += yield* s.read(buf);
        yield* sleep(50);
        expect(written).toBeGreaterThan(stalled);
        writer2.abort();
        c.close();
        s.close();
        l.close();
      })(),
    );
  });

  test('backpressure from a peer that shut its write side (a hangup for reading) and does not read: the writer pends, the thread stays free', async () => {
    await run(
      (function* (): Async<void> {
        const [c, s, l] = yield* pair();
        s.shutdown('write'); // c's next event carries the peer's half-close (EPOLLRDHUP)
        expect(yield* c.read(Buffer.alloc(16))).toBe(0);
        const big = randomBytes(32 << 20);
        const writer = rt.spawn(c.writeAll(big));
        // Were the writer to retry its EAGAIN on the hangup bit, it would never give the thread
        // back, and this sleep would never end.
        yield* sleep(100);
        expect(writer.isFinished()).toBe(false);
        const back = Buffer.alloc(big.length);
        yield* s.readExact(back);
        yield* writer;
        expect(back.equals(big)).toBe(true);
        c.close();
        s.close();
        l.close();
      })(),
    );
  });

  test('connection refused is an IoError ECONNREFUSED from connect, and leaks no handle', async () => {
    const err = await run(
      (function* (): Async<unknown> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const addr = l.localAddr();
        l.close();
        return yield* catching(TcpStream.connect(addr));
      })(),
    );
    expectIoError(err, ['ECONNREFUSED'], 'connect');
    expect((err as IoError).message).toMatch(/127\.0\.0\.1:\d+/);
  });

  test('EADDRINUSE from bind when the port is taken', async () => {
    const err = await run(
      (function* (): Async<unknown> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        try {
          return yield* catching(TcpListener.bind(l.localAddr()));
        } finally {
          l.close();
        }
      })(),
    );
    expectIoError(err, ['EADDRINUSE'], 'bind');
  });

  test('connect timeout: ETIMEDOUT when the listener queue is full, never early, socket closed', async () => {
    const r = await run(
      (function* (): Async<{ err: unknown; ms: number; tries: number }> {
        const l = yield* TcpListener.bind('127.0.0.1:0', { backlog: 0 });
        const opened: TcpStream[] = [];
        try {
          // Connections fill the accept queue (nobody accepts); then SYNs are dropped and a
          // connect can only time out.
          for (let tries = 1; tries <= 20; tries++) {
            const t0 = performance.now();
            try {
              opened.push(yield* TcpStream.connect(l.localAddr(), { timeout: 250 }));
            } catch (err) {
              return { err, ms: performance.now() - t0, tries };
            }
          }
          return { err: null, ms: 0, tries: 20 };
        } finally {
          for (const s of opened) s.close();
          l.close();
        }
      })(),
    );
    expectIoError(r.err, ['ETIMEDOUT'], 'connect');
    expect(r.ms).toBeGreaterThanOrEqual(245);
  });

  test('use after close gets EBADF; a pending read is woken by close and fails with EBADF', async () => {
    await run(
      (function* (): Async<void> {
        const [c, s, l] = yield* pair();
        const reader = rt.spawn(catching(s.read(Buffer.alloc(10))));
        yield* sleep(10);
        s.close();
        expectIoError(yield* reader, ['EBADF'], 'read');
        s.close(); // idempotent
        expectIoError(yield* catching(s.read(Buffer.alloc(1))), ['EBADF'], 'read');
        expectIoError(yield* catching(s.write(Buffer.alloc(1))), ['EBADF'], 'write');
        expectIoError(yield* catching(s.writeAll(Buffer.alloc(1))), ['EBADF'], 'write');
        expect(() => s.shutdown('write')).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'shutdown' }));
        expect(() => s.localAddr()).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'getsockname' }));
        expect(() => s.peerAddr()).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'getpeername' }));
        expect(() => s.setNoDelay()).toThrow(expect.objectContaining({ code: 'EBADF' }));
        l.close();
        expectIoError(yield* catching(l.accept()), ['EBADF'], 'accept');
        expect(() => l.localAddr()).toThrow(expect.objectContaining({ code: 'EBADF' }));
        c.close();
      })(),
    );
  });

  test('close() wakes a pending accept with EBADF', async () => {
    await run(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const acc = rt.spawn(catching(l.accept()));
        yield* sleep(10);
        l.close();
        expectIoError(yield* acc, ['EBADF'], 'accept');
      })(),
    );
  });

  test('accept is cancel-safe: a dropped accept loses no connection', async () => {
    await run(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        expect(yield* catching(timeout(l.accept(), 20))).toBeInstanceOf(TimeoutError);
        const c = yield* TcpStream.connect(l.localAddr());
        yield* sleep(5);
        expect(yield* catching(timeout(sleep(50), 1))).toBeInstanceOf(TimeoutError);
        const [s, peer] = yield* l.accept();
        expect(peer.port).toBe(c.localAddr().port);
        c.close();
        s.close();
        l.close();
      })(),
    );
  });

  test('a peer reset in the middle of a write: IoError ECONNRESET or EPIPE, no crash, no SIGPIPE', async () => {
    const l = await run(TcpListener.bind('127.0.0.1:0'));
    const port = l.localAddr().port;
    const serverTask = rt.spawn(
      (function* (): Async<unknown> {
        const [s] = yield* l.accept();
        try {
          // 256 MiB: far more than the socket buffers; the client resets long before the end.
          const chunk = Buffer.alloc(1 << 20, 7);
          for (let i = 0; i < 256; i++) yield* s.writeAll(chunk);
          return null;
        } catch (err) {
          return err;
        } finally {
          s.close();
        }
      })(),
    );
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      let got = 0;
      sock.on('data', (d) => {
        got += d.length;
        if (got > 256 * 1024) {
          sock.resetAndDestroy(); // SO_LINGER 0 + close: the server gets RST
          resolve();
        }
      });
      sock.on('error', reject);
    });
    const err = await serverTask.promise();
    expectIoError(err, ['ECONNRESET', 'EPIPE'], 'write');
    // The runtime is unharmed: another connection works.
    const echoed = await run(
      (function* (): Async<string> {
        const acc = rt.spawn(l.accept());
        const c = yield* TcpStream.connect(l.localAddr());
        const [s] = yield* acc;
        yield* c.writeAll(Buffer.from('still here'));
        const b = Buffer.alloc(10);
        yield* s.readExact(b);
        c.close();
        s.close();
        return b.toString();
      })(),
    );
    expect(echoed).toBe('still here');
    l.close();
  });

  test('a reset peer makes read fail with ECONNRESET', async () => {
    const l = await run(TcpListener.bind('127.0.0.1:0'));
    const reader = rt.spawn(
      (function* (): Async<unknown> {
        const [s] = yield* l.accept();
        try {
          return yield* catching(readToEnd(s));
        } finally {
          s.close();
        }
      })(),
    );
    await new Promise<void>((resolve) => {
      const sock = net.connect(l.localAddr().port, '127.0.0.1', () => {
        sock.write('some bytes', () => setTimeout(() => {
          sock.resetAndDestroy();
          resolve();
        }, 20));
      });
    });
    expectIoError(await reader.promise(), ['ECONNRESET'], 'read');
    l.close();
  });

  test('node:net client against TcpListener, and TcpStream against a node:net server', async () => {
    // polled server, node:net client
    const l = await run(TcpListener.bind('127.0.0.1:0'));
    const srv = rt.spawn(
      (function* (): Async<void> {
        const [s] = yield* l.accept();
        const all = yield* readToEnd(s);
        yield* s.writeAll(Buffer.from(all.toString().toUpperCase()));
        s.close();
      })(),
    );
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(l.localAddr().port, '127.0.0.1');
      let out = '';
      sock.setEncoding('utf8');
      sock.on('data', (d) => (out += d));
      sock.on('end', () => resolve(out));
      sock.on('error', reject);
      sock.end('shout');
    });
    expect(reply).toBe('SHOUT');
    await srv.promise();
    l.close();

    // node:net server, polled client
    const server = net.createServer((sock) => sock.pipe(sock));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const got = await run(
        (function* (): Async<string> {
          const c = yield* TcpStream.connect({ host: '127.0.0.1', port }, { noDelay: true });
          c.setKeepAlive(true, 1500);
          c.setNoDelay(false);
          yield* c.writeAll(Buffer.from('ping'));
          c.shutdown('write');
          const b = yield* readToEnd(c);
          c.close();
          return b.toString();
        })(),
      );
      expect(got).toBe('ping');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('IPv6 loopback (::1)', async () => {
    const r = await run(
      (function* (): Async<[string, string, string]> {
        const [c, s, l] = yield* pair('::1');
        yield* c.writeAll(Buffer.from('six'));
        c.shutdown('write');
        const got = (yield* readToEnd(s)).toString();
        const out: [string, string, string] = [got, l.localAddr().family, s.peerAddr().toString()];
        c.close();
        s.close();
        l.close();
        return out;
      })(),
    );
    expect(r[0]).toBe('six');
    expect(r[1]).toBe('IPv6');
    expect(r[2]).toMatch(/^\[::1\]:\d+$/);
  });

  test('blockOn driver: many sequential connections, and the handle count returns to its start', () => {
    const before = native.handleCount();
    rt.blockOn(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const server = rt.spawn(
          (function* (): Async<void> {
            for (let i = 0; i < 50; i++) {
              const [s] = yield* l.accept();
              rt.spawn(
                (function* (): Async<void> {
                  const b = Buffer.alloc(64);
                  try {
                    for (let n; (n = yield* s.read(b)) > 0; ) yield* s.writeAll(b, 0, n);
                  } finally {
                    s.close();
                  }
                })(),
              );
            }
          })(),
        );
        for (let i = 0; i < 50; i++) {
          const c = yield* TcpStream.connect(l.localAddr());
          const msg = Buffer.from(`message ${i}`);
          yield* c.writeAll(msg);
          const back = Buffer.alloc(msg.length);
          yield* c.readExact(back);
          expect(back.equals(msg)).toBe(true);
          c.close();
        }
        yield* server;
        yield* sleep(20); // the connection tasks see end of stream and close
        l.close();
      })(),
    );
    expect(native.handleCount()).toBe(before);
  });

  test('arguments are validated, naming the value', () => {
    // A name is resolved now (test/dns.test.ts); what no name can be is still a TypeError.
    expect(() => TcpListener.bind('example org:80')).toThrow(TypeError);
    expect(() => TcpListener.bind('example org:80')).toThrow(/example org/);
    expect(() => TcpListener.bind({ port: 123456 })).toThrow(RangeError);
    expect(() => TcpListener.bind(-1)).toThrow(/-1/);
    expect(() => TcpListener.bind('127.0.0.1:0', { backlog: -1 })).toThrow(RangeError);
    expect(() => TcpListener.bind('127.0.0.1:0', { reusePort: 'yes' as unknown as boolean })).toThrow(/"yes"/);
    expect(() => TcpListener.bind('127.0.0.1:0', { bogus: 1 } as never)).toThrow(/bogus/);
    expect(() => TcpStream.connect('127.0.0.1:99999')).toThrow(RangeError);
    expect(() => TcpStream.connect('127.0.0.1:80', { timeout: -1 })).toThrow(RangeError);
    expect(() => TcpStream.connect(undefined as unknown as string)).toThrow(TypeError);
    // Lazy: nothing was opened by any of these.
    expect(native.handleCount()).toBe(baseHandles + 1); // just the runtime's poller
  });

  test('stream method arguments are validated', async () => {
    await run(
      (function* (): Async<void> {
        const [c, s, l] = yield* pair();
        expect(() => c.read('nope' as unknown as Uint8Array)).toThrow(TypeError);
        expect(() => c.read(Buffer.alloc(4), 5)).toThrow(RangeError);
        expect(() => c.write(Buffer.alloc(4), 0, 5)).toThrow(RangeError);
        expect(() => c.readExact(Buffer.alloc(4), 2, 3)).toThrow(RangeError);
        expect(() => c.writeAll(Buffer.alloc(4), 0.5)).toThrow(RangeError);
        expect(() => c.writevAll('x' as unknown as Uint8Array[])).toThrow(TypeError);
        expect(() => c.shutdown('sideways' as never)).toThrow(/sideways/);
        expect(() => c.setNoDelay(1 as unknown as boolean)).toThrow(/setNoDelay\(on\) needs a boolean, got number 1/);
        expect(() => c.setKeepAlive('on' as unknown as boolean)).toThrow(/got string "on"/);
        expect(() => c.setKeepAlive(true, -5)).toThrow(RangeError);
        c.close();
        s.close();
        l.close();
      })(),
    );
  });
});

// EchoServer in-process (serve() with echo as the handler): the accept loop, stop() with its grace
// period, cancellation, leaks, the shared read buffer.
import { randomBytes } from 'node:crypto';
import type { Async, IntoFuture } from '../lib/future';
import { EchoServer, echo } from '../lib/echo';
import { SocketAddress, TcpStream, UnixStream, TcpListener } from '../lib/net';
import { Runtime } from '../lib/runtime';
import { sleep } from '../lib/time';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { eachRuntime } from './helpers';

let rt: Runtime;
eachRuntime((r) => (rt = r), { checkHandles: true });

const run = <T>(g: IntoFuture<T>): Promise<T> => rt.spawn(g).promise();

function* roundTrip(s: TcpStream | UnixStream, msg: Buffer): Async<Buffer> {
  yield* s.writeAll(msg);
  const back = Buffer.alloc(msg.length);
  yield* s.readExact(back);
  return back;
}

describe('EchoServer', () => {
  test('serves, counts connections, and stop() waits for open connections to finish', async () => {
    await run(
      (function* (): Async<void> {
        const server = yield* EchoServer.bind('127.0.0.1:0', { graceMs: 5000 });
        const addr = server.localAddr() as SocketAddress;
        const main = rt.spawn(server);
        const clients: TcpStream[] = [];
        for (let i = 0; i < 10; i++) clients.push(yield* TcpStream.connect(addr));
        for (const c of clients) {
          const m = randomBytes(1000);
          expect((yield* roundTrip(c, m)).equals(m)).toBe(true);
        }
        expect(server.connections).toBe(10);
        expect(server.accepted).toBe(10);
        server.stop();
        yield* sleep(20);
        // Not accepting any more, but the open connections still echo.
        expect(server.listener.isOpen).toBe(false);
        expect((yield* roundTrip(clients[0], Buffer.from('still'))).toString()).toBe('still');
        expect(main.isFinished()).toBe(false);
        // Clients finish: the server ends well before its 5 s grace.
        const t0 = performance.now();
        for (const c of clients) c.shutdown('write');
        yield* main;
        expect(performance.now() - t0).toBeLessThan(4000);
        for (const c of clients) {
          expect(yield* c.read(Buffer.alloc(1))).toBe(0); // the server closed after our FIN
          c.close();
        }
      })(),
    );
  });

  test('stop(graceMs): connections still open at the deadline are closed, not earlier', async () => {
    await run(
      (function* (): Async<void> {
        const server = yield* EchoServer.bind({ host: '127.0.0.1', port: 0 });
        const main = rt.spawn(server);
        const c = yield* TcpStream.connect(server.localAddr() as SocketAddress);
        expect((yield* roundTrip(c, Buffer.from('x'))).toString()).toBe('x');
        const t0 = performance.now();
        server.stop(150);
        yield* main;
        expect(performance.now() - t0).toBeGreaterThanOrEqual(145);
        expect(server.connections).toBe(0);
        expect(yield* c.read(Buffer.alloc(1))).toBe(0);
        c.close();
      })(),
    );
  });

  test('aborting the server task closes the listener and every connection', async () => {
    await run(
      (function* (): Async<void> {
        const server = yield* EchoServer.bind('127.0.0.1:0');
        const main = rt.spawn(server);
        const c = yield* TcpStream.connect(server.localAddr() as SocketAddress);
        expect((yield* roundTrip(c, Buffer.from('y'))).toString()).toBe('y');
        main.abort();
        expect(server.listener.isOpen).toBe(false);
        expect(server.connections).toBe(0);
        expect(yield* c.read(Buffer.alloc(1))).toBe(0);
        c.close();
      })(),
    );
  });

  test('on a Unix socket, under blockOn', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'polled-echosrv-'));
    try {
      rt.blockOn(
        (function* (): Async<void> {
          const server = yield* EchoServer.bindUnix(path.join(dir, 'e.sock'), { bufferSize: 7 });
          const main = rt.spawn(server);
          const c = yield* UnixStream.connect(path.join(dir, 'e.sock'));
          const m = randomBytes(100000);
          const writer = rt.spawn(c.writeAll(m));
          const back = Buffer.alloc(m.length);
          yield* c.readExact(back);
          yield* writer;
          expect(back.equals(m)).toBe(true);
          c.close();
          server.stop();
          yield* main;
        })(),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('echo(stream, buf) returns the byte count at end of stream', async () => {
    await run(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const acc = rt.spawn(l.accept());
        const c = yield* TcpStream.connect(l.localAddr());
        const [s] = yield* acc;
        const task = rt.spawn(echo(s, new Uint8Array(3)));
        yield* c.writeAll(Buffer.from('0123456789'));
        c.shutdown('write');
        const back = Buffer.alloc(10);
        yield* c.readExact(back);
        expect(back.toString()).toBe('0123456789');
        expect(yield* task).toBe(10);
        s.close();
        c.close();
        l.close();
      })(),
    );
  });

  test('connections share the read buffer: a stalled peer keeps its own bytes while others echo', async () => {
    await run(
      (function* (): Async<void> {
        const server = yield* EchoServer.bind('127.0.0.1:0', { bufferSize: 4096 });
        const addr = server.localAddr() as SocketAddress;
        const main = rt.spawn(server);
        // The stalled client sends far more than the two socket buffers hold and reads nothing,
        // so the server's echo of it stops part way through a 4 KiB read.
        const stalled = yield* TcpStream.connect(addr);
        const big = randomBytes(8 << 20);
        const sender = rt.spawn(stalled.writeAll(big));
        yield* sleep(50);
        // Meanwhile other connections echo through the same shared buffer, byte for byte.
        for (let i = 0; i < 20; i++) {
          const c = yield* TcpStream.connect(addr);
          const m = randomBytes(1 + ((i * 977) % 6000));
          expect((yield* roundTrip(c, m)).equals(m)).toBe(true);
          c.close();
        }
        // Now the stalled client reads: every byte comes back in order.
        const back = Buffer.alloc(big.length);
        yield* stalled.readExact(back);
        yield* sender;
        expect(back.equals(big)).toBe(true);
        stalled.close();
        server.stop(0);
        yield* main;
      })(),
    );
  });

  test('an echo future dropped while it waits (reading, or flushing to a stalled peer) leaves nothing in flight: the stream reads again', async () => {
    await run(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const acc = rt.spawn(l.accept());
        const c = yield* TcpStream.connect(l.localAddr());
        const [s] = yield* acc;
        // Waiting to read.
        const reading = rt.spawn(echo(s, new Uint8Array(64)));
        yield* sleep(10);
        expect(s.io.inFlight).toBe(1);
        reading.abort();
        expect(s.io.inFlight).toBe(0);
        // Flushing: the client sends far more than the socket buffers hold and reads nothing.
        const flushing = rt.spawn(echo(s, new Uint8Array(64 * 1024)));
        const sender = rt.spawn(c.writeAll(randomBytes(8 << 20)));
        for (let i = 0; i < 500 && s.io.inFlight === 0; i++) yield* sleep(2);
        yield* sleep(20);
        expect(s.io.inFlight).toBe(1);
        flushing.abort();
        sender.abort();
        expect(s.io.inFlight).toBe(0);
        // The stream is whole: a plain read still gets the bytes the echo had not taken.
        expect(yield* s.read(Buffer.alloc(16))).toBeGreaterThan(0);
        s.close();
        c.close();
        l.close();
      })(),
    );
  });

  test('echo(stream, scratch) checks scratch', () => {
    const fake = {} as TcpStream;
    expect(() => echo(fake, 'x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => echo(fake, new Uint8Array(0))).toThrow(RangeError);
  });

  test('options are validated', () => {
    expect(() => EchoServer.bind('127.0.0.1:0', { bufferSize: 0 })).toThrow(RangeError);
    expect(() => EchoServer.bind('127.0.0.1:0', { graceMs: -1 })).toThrow(/-1/);
    expect(() => EchoServer.bindUnix('/tmp/x.sock', { noDelay: 'no' as unknown as boolean })).toThrow(TypeError);
    expect(() => EchoServer.bind('127.0.0.1:0', { backlog: 1e9 })).toThrow(RangeError);
    expect(() => new EchoServer({} as TcpListener)).toThrow(TypeError);
  });
});

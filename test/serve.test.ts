// serve(listener, handler, options): one task per connection running the handler, the stream
// closed when it ends, a graceful stop (drain within graceMs, abort after), cancellation, and
// accept backoff under EMFILE (in a child process with a low RLIMIT_NOFILE).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { IoError } from '../lib/errors';
import { PENDING, type Async, type IntoFuture } from '../lib/future';
import { SocketAddress, TcpListener, TcpStream, UnixListener, UnixStream, type Stream } from '../lib/net';
import { Runtime } from '../lib/runtime';
import { Server, serve } from '../lib/serve';
import { CancellationToken } from '../lib/sync/cancellation';
import { sleep } from '../lib/time';
import { ROOT, killAll, requireBuild, sleepMs, startServer, waitFor } from './fixtures/servers';
import { catching, cx, eachRuntime, readToEnd } from './helpers';

let rt: Runtime;
eachRuntime((r) => (rt = r), { checkHandles: true });
afterAll(killAll);

const run = <T>(g: IntoFuture<T>): Promise<T> => rt.spawn(g).promise();

/** Echo until end of stream. */
function* echoHandler(s: Stream<unknown>): Async<void> {
  const buf = Buffer.alloc(4096);
  for (let n; (n = yield* s.read(buf)) > 0; ) yield* s.writeAll(buf, 0, n);
}

function* roundTrip(s: TcpStream | UnixStream, msg: string): Async<string> {
  yield* s.writeAll(Buffer.from(msg));
  const back = Buffer.alloc(Buffer.byteLength(msg));
  yield* s.readExact(back);
  return back.toString();
}

function* connectRefused(addr: SocketAddress): Async<boolean> {
  const e = yield* catching(TcpStream.connect(addr));
  if (e === undefined) return false;
  return e instanceof IoError && e.code === 'ECONNREFUSED';
}

describe('serve', () => {
  test('runs the handler once per connection, each in its own task, with the peer; closes the stream after', async () => {
    await run(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const peers: string[] = [];
        const server = serve(l, (stream, peer) => {
          peers.push(peer.toString());
          return echoHandler(stream);
        });
        expect(server).toBeInstanceOf(Server);
        const main = rt.spawn(server);
        const addr = server.localAddr();
        expect(addr.port).toBe(l.localAddr().port);
        // Three clients open at once: each is served while the others stay open.
        const clients: TcpStream[] = [];
        for (let i = 0; i < 3; i++) clients.push(yield* TcpStream.connect(addr));
        for (let i = 2; i >= 0; i--) expect(yield* roundTrip(clients[i], `hello ${i}`)).toBe(`hello ${i}`);
        expect(server.connections).toBe(3);
        expect(server.accepted).toBe(3);
        expect(peers.sort()).toEqual(clients.map((c) => c.localAddr().toString()).sort());
        // The handler returns at end of stream; the server closes the stream: the client reads 0.
        clients[0].shutdown('write');
        expect(yield* clients[0].read(Buffer.alloc(1))).toBe(0);
        for (let i = 0; i < 100 && server.connections !== 2; i++) yield* sleep(5);
        expect(server.connections).toBe(2);
        for (const c of clients) c.close();
        server.stop(0);
        yield* main;
        expect(server.isStopping).toBe(true);
        expect(l.isOpen).toBe(false); // the server owns the listener and closed it
      })(),
    );
  });

  test('a handler may return any future, not only a generator', async () => {
    await run(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const server = serve(l, (stream) => stream.write(Buffer.from('hi'))); // a leaf WriteFuture
        const main = rt.spawn(server);
        const c = yield* TcpStream.connect(l.localAddr());
        expect((yield* readToEnd(c)).toString()).toBe('hi'); // written, then closed by the server
        c.close();
        server.stop();
        yield* main;
      })(),
    );
  });

  test('a failing handler ends its connection only: IoError quietly, anything else is logged and reported as an unobserved task failure', async () => {
    const lines: string[] = [];
    const reports: string[] = [];
    // A runtime of its own, to hear the report (the default would print it and set process.exitCode).
    const rt = new Runtime({ onUnhandledError: (err, task) => reports.push(`${task.name}: ${(err as Error).message}`) });
    const run = <T>(g: IntoFuture<T>): Promise<T> => rt.spawn(g).promise();
    await run(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        let n = 0;
        const server = serve(
          l,
          function* (stream) {
            const which = n++;
            if (which === 0) throw new IoError(os.constants.errno.ECONNRESET, 'read');
            if (which === 1) throw new RangeError('handler bug');
            yield* echoHandler(stream);
          },
          { log: (line) => lines.push(line) },
        );
        const main = rt.spawn(server);
        for (let i = 0; i < 2; i++) {
          const c = yield* TcpStream.connect(l.localAddr());
          expect(yield* c.read(Buffer.alloc(1))).toBe(0); // closed by the server after the error
          c.close();
        }
        const c = yield* TcpStream.connect(l.localAddr());
        expect(yield* roundTrip(c, 'still serving')).toBe('still serving');
        c.close();
        server.stop(0);
        yield* main;
      })(),
    );
    rt.close();
    expect(lines.filter((l) => /ECONNRESET/.test(l))).toEqual([]);
    expect(lines.some((l) => /^connection 127\.0\.0\.1:\d+: handler bug$/.test(l))).toBe(true);
    expect(reports).toEqual(['connection: handler bug']);
  });

  test('stop(): refuses new clients at once, lets open ones finish, completes when they do (well within graceMs)', async () => {
    const lines: string[] = [];
    await run(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const addr = l.localAddr();
        const server = serve(l, echoHandler, { graceMs: 20000, log: (line) => lines.push(line) });
        const main = rt.spawn(server);
        const c = yield* TcpStream.connect(addr);
        expect(yield* roundTrip(c, 'before')).toBe('before');
        server.stop();
        server.stop(); // idempotent
        yield* sleep(20);
        expect(l.isOpen).toBe(false);
        expect(yield* connectRefused(addr)).toBe(true);
        // The open connection is still served during the grace period.
        expect(yield* roundTrip(c, 'during')).toBe('during');
        expect(main.isFinished()).toBe(false);
        const t0 = performance.now();
        c.shutdown('write'); // the client finishes: its handler returns, the server completes
        yield* main;
        expect(performance.now() - t0).toBeLessThan(15000);
        expect(yield* c.read(Buffer.alloc(1))).toBe(0);
        expect(server.connections).toBe(0);
        c.close();
      })(),
    );
    expect(lines).toEqual(['stopping: 1 open connections get 20000 ms to finish']);
  });

  test('after graceMs the connections still open are aborted: their finally blocks run, their streams close', async () => {
    const lines: string[] = [];
    const cleanedUp: string[] = [];
    await run(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const server = serve(
          l,
          function* (stream, peer) {
            try {
              yield* echoHandler(stream);
            } finally {
              cleanedUp.push(peer.toString());
            }
          },
          { graceMs: 60000, log: (line) => lines.push(line) },
        );
        const main = rt.spawn(server);
        const c = yield* TcpStream.connect(l.localAddr());
        expect(yield* roundTrip(c, 'x')).toBe('x');
        const t0 = performance.now();
        server.stop(300); // overrides the 60 s
        yield* main;
        const ms = performance.now() - t0;
        expect(ms).toBeGreaterThanOrEqual(290);
        expect(ms).toBeLessThan(20000);
        expect(cleanedUp).toEqual([c.localAddr().toString()]);
        expect(server.connections).toBe(0);
        expect(yield* c.read(Buffer.alloc(1))).toBe(0);
        c.close();
      })(),
    );
    expect(lines).toEqual(['stopping: 1 open connections get 300 ms to finish', 'closing 1 connections still open after 300 ms']);
  });

  test("an aborted connection's finally block that awaits is driven to its end (the server has closed the stream by then)", async () => {
    const steps: string[] = [];
    await run(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const server = serve(l, function* (stream) {
          try {
            yield* echoHandler(stream);
          } finally {
            steps.push('cleanup');
            yield* sleep(20); // cancelled here: the task keeps polling the cleanup
            steps.push('after sleep');
            try {
              yield* stream.writeAll('bye');
            } catch (e) {
              steps.push((e as IoError).code);
            }
          }
        }, { graceMs: 0 });
        const main = rt.spawn(server);
        const c = yield* TcpStream.connect(l.localAddr());
        expect(yield* roundTrip(c, 'x')).toBe('x');
        server.stop();
        yield* main;
        expect(server.connections).toBe(0);
        expect((yield* readToEnd(c)).length).toBe(0);
        c.close();
        yield* sleep(60);
      })(),
    );
    expect(steps).toEqual(['cleanup', 'after sleep', 'EBADF']);
  });

  test('the shutdown option: cancelling the token stops the server; stop() does not cancel the token', async () => {
    await run(
      (function* (): Async<void> {
        const token = new CancellationToken();
        const l1 = yield* TcpListener.bind('127.0.0.1:0');
        const s1 = serve(l1, echoHandler, { shutdown: token, graceMs: 0 });
        const m1 = rt.spawn(s1);
        const l2 = yield* TcpListener.bind('127.0.0.1:0');
        const s2 = serve(l2, echoHandler, { shutdown: token, graceMs: 0 });
        const m2 = rt.spawn(s2);
        s1.stop();
        yield* m1;
        expect(token.isCancelled()).toBe(false);
        expect(m2.isFinished()).toBe(false);
        const c = yield* TcpStream.connect(l2.localAddr());
        expect(yield* roundTrip(c, 'two')).toBe('two');
        token.cancel();
        yield* m2;
        expect(s2.isStopping).toBe(true);
        expect(yield* c.read(Buffer.alloc(1))).toBe(0);
        c.close();
      })(),
    );
  });

  test('aborting the server task closes the listener and aborts every connection at once', async () => {
    await run(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const server = serve(l, echoHandler, { graceMs: 60000 });
        const main = rt.spawn(server);
        const c = yield* TcpStream.connect(l.localAddr());
        expect(yield* roundTrip(c, 'y')).toBe('y');
        main.abort();
        expect(l.isOpen).toBe(false);
        expect(server.connections).toBe(0);
        expect(yield* c.read(Buffer.alloc(1))).toBe(0);
        c.close();
      })(),
    );
  });

  test('a connection accepted but not yet run when the server is dropped is closed too (no fd leak)', async () => {
    let ran = 0;
    await run(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const server = serve(l, (stream) => {
          ran++;
          return echoHandler(stream);
        });
        const c = yield* TcpStream.connect(l.localAddr()); // now in the listener's backlog
        // Poll the server by hand inside this task: it accepts and spawns the connection's task,
        // and is dropped before that task is ever polled.
        for (let i = 0; i < 200 && server.accepted === 0; i++) {
          expect(server.poll(cx)).toBe(PENDING);
          if (server.accepted === 0) yield* sleep(5);
        }
        expect(server.accepted).toBe(1);
        expect(server.connections).toBe(1);
        server.drop();
        expect(ran).toBe(0);
        expect(server.connections).toBe(0);
        expect(l.isOpen).toBe(false);
        expect(yield* c.read(Buffer.alloc(1))).toBe(0);
        c.close();
      })(),
    );
  });

  test('a server that is never run closes its listener when dropped; a server runs once', async () => {
    await run(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        serve(l, echoHandler).drop();
        expect(l.isOpen).toBe(false);

        const l2 = yield* TcpListener.bind('127.0.0.1:0');
        const server = serve(l2, echoHandler);
        server.stop();
        yield* server; // stopped before it started: returns at once
        expect(l2.isOpen).toBe(false);
        expect(yield* catching(server)).toBeInstanceOf(Error);
      })(),
    );
  });

  test('on a Unix listener, under blockOn', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'polled-serve-'));
    try {
      const sock = path.join(dir, 's.sock');
      const got = rt.blockOn(
        (function* (): Async<string[]> {
          const l = yield* UnixListener.bind(sock);
          const peers: string[] = [];
          const server = serve(l, (stream, peer) => {
            peers.push(peer.path);
            return echoHandler(stream);
          });
          const main = rt.spawn(server);
          expect(server.localAddr()).toEqual({ family: 'unix', path: sock });
          const c = yield* UnixStream.connect(sock);
          expect(yield* roundTrip(c, 'unix')).toBe('unix');
          c.close();
          server.stop();
          yield* main;
          return peers;
        })(),
      );
      expect(got).toEqual(['']); // a connecting Unix client is unnamed
      expect(fs.existsSync(sock)).toBe(false); // the listener's close removed the file
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('arguments are validated, naming the value', async () => {
    const l = await run(TcpListener.bind('127.0.0.1:0'));
    try {
      expect(() => serve({} as never, echoHandler)).toThrow(/listener must be a TcpListener, a UnixListener or another Acceptor, got an object/);
      expect(() => serve(l, 'echo' as never)).toThrow(/handler must be a function, got string "echo"/);
      expect(() => serve(l, echoHandler, { graceMs: -1 })).toThrow(RangeError);
      expect(() => serve(l, echoHandler, { graceMs: 'soon' as never })).toThrow(TypeError);
      expect(() => serve(l, echoHandler, { log: 1 as never })).toThrow(/log must be a function/);
      expect(() => serve(l, echoHandler, { shutdown: {} as never })).toThrow(/shutdown must be a CancellationToken/);
      expect(() => serve(l, echoHandler, { bogus: 1 } as never)).toThrow(/bogus/);
      const s = serve(l, echoHandler);
      expect(() => s.stop(-5)).toThrow(RangeError);
      expect(s.isStopping).toBe(false);
    } finally {
      l.close();
    }
  });
});

describe('serve under EMFILE (child process, RLIMIT_NOFILE 64)', () => {
  beforeAll(requireBuild);

  test('backs off (and logs it), keeps serving what it has, accepts the rest as fds free up', async () => {
    const dist = (m: string): string => JSON.stringify(path.join(ROOT, 'dist', 'cjs', m));
    const script = `
      const { Runtime } = require(${dist('runtime.js')});
      const { TcpListener } = require(${dist('net/tcp.js')});
      const { serve } = require(${dist('serve.js')});
      let server = null;
      process.on('SIGTERM', () => server && server.stop());
      const rt = Runtime.default();
      rt.spawn((function* () {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        server = serve(l, function* (s) {
          const buf = Buffer.alloc(1024);
          for (let n; (n = yield* s.read(buf)) > 0; ) yield* s.writeAll(buf, 0, n);
        }, { graceMs: 200, log: (line) => process.stderr.write(line + '\\n') });
        console.log('listening 127.0.0.1 ' + l.localAddr().port);
        yield* server;
      })()).promise().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });`;
    const srv = await startServer(['bash', '-c', 'ulimit -n 64 && exec "$0" "$@"', process.execPath, '-e', script]);
    const clients: { sock: net.Socket; msg: string; got: string }[] = [];
    try {
      for (let i = 0; i < 100; i++) {
        const c = { sock: net.connect(srv.port, srv.host), msg: `ping ${i};`, got: '' };
        c.sock.setEncoding('utf8');
        c.sock.on('data', (d: string) => (c.got += d));
        c.sock.on('error', () => {});
        c.sock.write(c.msg);
        clients.push(c);
      }
      const served = (): typeof clients => clients.filter((c) => c.got === c.msg);
      expect(await waitFor(() => /accept: EMFILE; backing off/.test(srv.stderr()), 20000)).toBe(true);
      expect(await waitFor(() => served().length > 0, 20000)).toBe(true);
      await sleepMs(300);
      expect(served().length).toBeLessThan(clients.length);
      expect(srv.child.exitCode).toBeNull();
      // Free descriptors by closing served clients, round by round, until all were served.
      const closed = new Set<net.Socket>();
      for (let round = 0; round < 30 && served().length < clients.length; round++) {
        for (const c of served()) {
          if (!closed.has(c.sock)) {
            closed.add(c.sock);
            c.sock.destroy();
          }
        }
        const before = served().length;
        await waitFor(() => served().length > before, 10000, 50);
      }
      expect(served().length).toBe(clients.length);
      for (const c of clients) c.sock.destroy();
      expect(await srv.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    } finally {
      for (const c of clients) c.sock.destroy();
      await srv.stop('SIGKILL');
    }
  });
});

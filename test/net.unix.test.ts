// Unix-domain stream sockets: the same stream code as TCP, with paths for addresses.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { IoError } from '../lib/errors';
import type { Async, IntoFuture } from '../lib/future';
import { UnixListener, UnixStream } from '../lib/net';
import { Runtime } from '../lib/runtime';
import { catching, eachRuntime, readToEnd, sha } from './helpers';

let rt: Runtime;
let dir: string;
eachRuntime((r) => (rt = r), { checkHandles: true });
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'polled-unix-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const run = <T>(gen: IntoFuture<T>): Promise<T> => rt.spawn(gen).promise();

describe('UnixListener / UnixStream', () => {
  test('echo through a Unix socket, 4 MiB with half-close; addresses are paths', async () => {
    const sock = path.join(dir, 'echo.sock');
    const data = randomBytes(4 << 20);
    const r = await run(
      (function* (): Async<{ got: Buffer; local: string; peer: string; accepted: string }> {
        const l = yield* UnixListener.bind(sock);
        expect(fs.lstatSync(sock).isSocket()).toBe(true);
        const server = rt.spawn(
          (function* (): Async<string> {
            const [s, peer] = yield* l.accept();
            const buf = Buffer.alloc(16 * 1024);
            for (let n; (n = yield* s.read(buf)) > 0; ) yield* s.writeAll(buf, 0, n);
            s.close();
            return peer.path;
          })(),
        );
        const c = yield* UnixStream.connect(sock);
        const writer = rt.spawn(
          (function* (): Async<void> {
            yield* c.writeAll(data);
            c.shutdown('write');
          })(),
        );
        const got = yield* readToEnd(c);
        yield* writer;
        const out = { got, local: c.localAddr().path, peer: c.peerAddr().path, accepted: yield* server };
        expect(l.localAddr()).toEqual({ family: 'unix', path: sock });
        c.close();
        l.close();
        return out;
      })(),
    );
    expect(sha(r.got)).toBe(sha(data));
    expect(r.peer).toBe(sock);
    expect(r.local).toBe(''); // an unnamed client socket
    expect(r.accepted).toBe('');
    expect(fs.existsSync(sock)).toBe(false); // close() removed the socket file
  });

  test('errors: bind to an existing path, connect to a missing one, EBADF after close', async () => {
    const sock = path.join(dir, 's.sock');
    await run(
      (function* (): Async<void> {
        const l = yield* UnixListener.bind(sock);
        const e1 = yield* catching(UnixListener.bind(sock));
        expect(e1).toBeInstanceOf(IoError);
        expect((e1 as IoError).code).toBe('EADDRINUSE');
        expect((e1 as IoError).syscall).toBe('bind');
        const e2 = yield* catching(UnixStream.connect(path.join(dir, 'missing.sock')));
        expect(e2).toBeInstanceOf(IoError);
        expect((e2 as IoError).code).toBe('ENOENT');
        const c = yield* UnixStream.connect(sock);
        c.close();
        const e3 = yield* catching(c.read(Buffer.alloc(1)));
        expect((e3 as IoError).code).toBe('EBADF');
        expect(() => c.localAddr()).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'getsockname' }));
        expect(() => c.peerAddr()).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'getpeername' }));
        expect(l.localAddr()).toEqual({ family: 'unix', path: sock });
        l.close();
        l.close();
        expect(() => l.localAddr()).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'getsockname' }));
        const e4 = yield* catching(UnixStream.connect(sock));
        expect(['ENOENT', 'ECONNREFUSED']).toContain((e4 as IoError).code);
      })(),
    );
  });

  test('interop with node:net over a Unix socket, both ways', async () => {
    // node:net client → UnixListener
    const a = path.join(dir, 'a.sock');
    const l = await run(UnixListener.bind(a));
    const srv = rt.spawn(
      (function* (): Async<void> {
        const [s] = yield* l.accept();
        const all = yield* readToEnd(s);
        yield* s.writeAll(Buffer.from(`<${all.toString()}>`));
        s.close();
      })(),
    );
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(a);
      let out = '';
      s.on('data', (d) => (out += d.toString()));
      s.on('end', () => resolve(out));
      s.on('error', reject);
      s.end('node');
    });
    expect(reply).toBe('<node>');
    await srv.promise();
    l.close();

    // UnixStream → node:net server
    const b = path.join(dir, 'b.sock');
    const server = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(b, r));
    try {
      const got = await run(
        (function* (): Async<string> {
          const c = yield* UnixStream.connect(b, { timeout: 5000 });
          yield* c.writevAll([Buffer.from('po'), Buffer.from('lled')]);
          c.shutdown('write');
          const out = (yield* readToEnd(c)).toString();
          c.close();
          return out;
        })(),
      );
      expect(got).toBe('polled');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('arguments are validated', () => {
    expect(() => UnixListener.bind(42 as unknown as string)).toThrow(TypeError);
    expect(() => UnixListener.bind('')).toThrow(TypeError);
    expect(() => UnixListener.bind('/tmp/' + 'y'.repeat(300))).toThrow(RangeError);
    expect(() => UnixListener.bind(path.join(dir, 'x'), { backlog: 1.5 })).toThrow(TypeError);
    expect(() => UnixStream.connect('/tmp/x', { timeout: 'soon' as unknown as number })).toThrow(TypeError);
  });
});

// The echo server's behaviour, against clients no one here wrote (netcat, socat, Python
// asyncio) and our own. One test body, three servers: polled under the embedded driver, polled
// under blockOn, and a node:net server as the reference for what correct behaviour is.
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { IoError } from '../lib/errors';
import type { Async, IntoFuture } from '../lib/future';
import { TcpStream, UnixStream, type Stream } from '../lib/net';
import { Runtime } from '../lib/runtime';
import { sleep } from '../lib/time';
import {
  CLI,
  NODE_ECHO,
  PY_CLIENT,
  killAll,
  nodeEcho,
  requireBuild,
  rssKb,
  runCmd,
  sleepMs,
  startServer,
  type ServerProc,
} from './fixtures/servers';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
// .ci/run installs socat and netcat-openbsd; say so loudly rather than skip silently.
const HAVE_NC = have('nc');
const HAVE_SOCAT = have('socat');
const HAVE_PY = have('python3');
for (const [ok, name] of [[HAVE_NC, 'nc (netcat-openbsd)'], [HAVE_SOCAT, 'socat'], [HAVE_PY, 'python3']] as const) {
  if (!ok) console.warn(`echo.test: ${name} is not installed; its tests are skipped (apt-get install -y socat netcat-openbsd python3)`);
}
const ncTest = HAVE_NC ? test : test.skip;
const socatTest = HAVE_SOCAT ? test : test.skip;
const pyTest = HAVE_PY ? test : test.skip;

interface ServerKind {
  name: string;
  argv(extra: string[]): string[];
}
const SERVERS: ServerKind[] = [
  { name: 'polled (embedded driver)', argv: (x) => [process.execPath, CLI, 'echo', '--port', '0', '--driver', 'embedded', '--quiet', ...x] },
  { name: 'polled (block driver)', argv: (x) => [process.execPath, CLI, 'echo', '--port', '0', '--driver', 'block', '--quiet', ...x] },
  { name: 'node:net (reference)', argv: (x) => [process.execPath, NODE_ECHO, ...x] },
];

let rt: Runtime;
beforeAll(() => {
  requireBuild();
  rt = new Runtime();
});
afterAll(() => {
  rt.close();
  killAll();
});

const run = <T>(gen: IntoFuture<T>): Promise<T> => rt.spawn(gen).promise();

function* readToEnd(s: Stream): Async<Buffer> {
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  for (let n; (n = yield* s.read(buf)) > 0; ) parts.push(Buffer.from(buf.subarray(0, n)));
  return Buffer.concat(parts);
}

/** A polled client: one task writes all of `payload` then shuts down its write side, another reads. */
function* polledEcho(s: Stream, payload: Uint8Array): Async<Buffer> {
  const writer = rt.spawn(
    (function* (): Async<void> {
      yield* s.writeAll(payload);
      s.shutdown('write');
    })(),
  );
  try {
    const got = yield* readToEnd(s);
    yield* writer;
    return got;
  } finally {
    s.close();
  }
}

describe.each(SERVERS)('echo server: $name', (kind) => {
  let srv: ServerProc;
  beforeAll(async () => {
    srv = await startServer(kind.argv([]));
  });
  afterAll(async () => {
    if (srv) await srv.stop('SIGKILL');
  });

  ncTest('netcat: printf hi | nc -N host port echoes hi', async () => {
    const r = await runCmd('nc', ['-N', srv.host, String(srv.port)], 'hi');
    expect(r.stdout.toString()).toBe('hi');
    expect(r.code).toBe(0);
  });

  socatTest('socat: 1 MiB of random bytes come back byte for byte', async () => {
    const data = randomBytes(1 << 20);
    const r = await runCmd('socat', ['-t', '30', '-', `TCP:${srv.host}:${srv.port}`], data);
    expect(r.stderr).toBe('');
    expect(r.stdout.length).toBe(data.length);
    expect(sha(r.stdout)).toBe(sha(data));
  });

  pyTest('Python asyncio client: 100 concurrent connections with random payloads', async () => {
    const r = await runCmd('python3', [PY_CLIENT, '--host', srv.host, '--port', String(srv.port), '--conns', '100', '--max-size', '200000', '--seed', '7']);
    const result = JSON.parse(r.stdout.toString().trim()) as { ok: number; failed: number; errors: string[] };
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(100);
    expect(r.code).toBe(0);
  });

  test('1,000 concurrent connections, random payloads verified byte for byte', async () => {
    const N = 1000;
    const payloads = Array.from({ length: N }, (_, i) => randomBytes(1 + ((i * 104729) % 32768)));
    // Every client connects first, so the server holds all 1,000 at once; then they all send.
    const socks = await Promise.all(
      payloads.map(
        () =>
          new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect(srv.port, srv.host, () => resolve(s));
            s.once('error', reject);
          }),
      ),
    );
    const results = await Promise.all(
      socks.map(
        (s, i) =>
          new Promise<Buffer>((resolve, reject) => {
            const parts: Buffer[] = [];
            s.on('data', (d: Buffer) => parts.push(d));
            s.on('end', () => {
              s.destroy();
              resolve(Buffer.concat(parts));
            });
            s.on('error', reject);
            s.end(payloads[i]);
          }),
      ),
    );
    let same = 0;
    results.forEach((got, i) => {
      if (got.equals(payloads[i])) same++;
    });
    expect(same).toBe(N);
  });

  test('16 MiB through one connection (a polled client: partial writes, reader and writer tasks)', async () => {
    const data = randomBytes(16 << 20);
    const got = await run(
      (function* (): Async<Buffer> {
        const s = yield* TcpStream.connect({ host: srv.host, port: srv.port });
        return yield* polledEcho(s, data);
      })(),
    );
    expect(got.length).toBe(data.length);
    expect(sha(got)).toBe(sha(data));
  });

  test('half-close: the client shuts its write side at once and still receives the rest', async () => {
    const data = randomBytes(3 << 20);
    // Write everything, shut down, and only then start reading: the server echoes after our FIN.
    const got = await run(
      (function* (): Async<Buffer> {
        const s = yield* TcpStream.connect({ host: srv.host, port: srv.port });
        try {
          const reader = rt.spawn(
            (function* (): Async<Buffer> {
              yield* sleep(50);
              return yield* readToEnd(s);
            })(),
          );
          yield* s.writeAll(data);
          s.shutdown('write');
          return yield* reader;
        } finally {
          s.close();
        }
      })(),
    );
    expect(sha(got)).toBe(sha(data));
    // node:net's end() is the same gesture.
    const small = randomBytes(100000);
    expect(sha(await nodeEcho(srv, small))).toBe(sha(small));
  });

  test('a client reset in the middle of the echo (SO_LINGER 0) does not hurt the server', async () => {
    for (let round = 0; round < 3; round++) {
      await new Promise<void>((resolve, reject) => {
        const sock = net.connect(srv.port, srv.host);
        let got = 0;
        sock.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= 64 * 1024) {
            sock.resetAndDestroy();
            resolve();
          }
        });
        sock.on('error', reject);
        sock.write(Buffer.alloc(8 << 20, round));
      });
    }
    await sleepMs(50);
    expect(srv.child.exitCode).toBeNull();
    const p = randomBytes(5000);
    expect((await nodeEcho(srv, p)).equals(p)).toBe(true);
  });

  test('backpressure: a client that never reads stalls, and the server does not buffer it', async () => {
    const rssBefore = rssKb(srv.pid);
    const { written, stalled } = await run(
      (function* (): Async<{ written: number; stalled: boolean }> {
        const s = yield* TcpStream.connect({ host: srv.host, port: srv.port });
        const chunk = Buffer.alloc(1 << 20, 0x61);
        let written = 0;
        const writer = rt.spawn(
          (function* (): Async<void> {
            for (let i = 0; i < 512; i++) written += yield* s.write(chunk);
          })(),
        );
        // Wait until the writes stop making progress (server send buffer and our receive
        // buffer full, the server has stopped reading, our send buffer is full).
        let last = -1;
        for (let i = 0; i < 100 && written !== last; i++) {
          last = written;
          yield* sleep(150);
        }
        const stalled = !writer.isFinished() && written === last;
        writer.abort();
        s.close();
        return { written, stalled };
      })(),
    );
    expect(stalled).toBe(true);
    expect(written).toBeLessThan(256 << 20);
    // Whatever the kernel holds is not the server's memory; allow generous noise.
    expect(rssKb(srv.pid) - rssBefore).toBeLessThan(64 * 1024);
    const p = randomBytes(1000);
    expect((await nodeEcho(srv, p)).equals(p)).toBe(true);
  });

  test('IPv6 loopback (::1)', async () => {
    const v6 = await startServer(kind.argv(['--host', '::1']));
    try {
      expect(v6.host).toBe('::1');
      const p = randomBytes(70000);
      expect(sha(await nodeEcho(v6, p))).toBe(sha(p));
      if (HAVE_NC) {
        const r = await runCmd('nc', ['-N', '::1', String(v6.port)], 'six');
        expect(r.stdout.toString()).toBe('six');
      }
      if (HAVE_PY) {
        const r = await runCmd('python3', [PY_CLIENT, '--host', '::1', '--port', String(v6.port), '--conns', '20']);
        expect(JSON.parse(r.stdout.toString()).ok).toBe(20);
      }
      const got = await run(
        (function* (): Async<Buffer> {
          const s = yield* TcpStream.connect(`[::1]:${v6.port}`);
          expect(s.peerAddr().family).toBe('IPv6');
          return yield* polledEcho(s, p);
        })(),
      );
      expect(got.equals(p)).toBe(true);
    } finally {
      expect((await v6.stop('SIGTERM')).code).toBe(0);
    }
  });

  test('Unix socket', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'polled-echo-'));
    const sockPath = path.join(dir, 'echo.sock');
    const u = await startServer(kind.argv(['--unix', sockPath]));
    try {
      expect(u.path).toBe(sockPath);
      const p = randomBytes(300000);
      expect(sha(await nodeEcho(u, p))).toBe(sha(p));
      if (HAVE_SOCAT) {
        const r = await runCmd('socat', ['-t', '30', '-', `UNIX-CONNECT:${sockPath}`], p);
        expect(sha(r.stdout)).toBe(sha(p));
      }
      if (HAVE_PY) {
        const r = await runCmd('python3', [PY_CLIENT, '--unix', sockPath, '--conns', '50']);
        expect(JSON.parse(r.stdout.toString()).ok).toBe(50);
      }
      const got = await run(
        (function* (): Async<Buffer> {
          return yield* polledEcho(yield* UnixStream.connect(sockPath), p);
        })(),
      );
      expect(got.equals(p)).toBe(true);
    } finally {
      expect((await u.stop('SIGTERM')).code).toBe(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('SIGTERM: exit status 0, then connecting is refused', async () => {
    const { port, host } = srv;
    const r = await srv.stop('SIGTERM');
    expect(r).toEqual({ code: 0, signal: null });
    const err = await run(
      (function* (): Async<unknown> {
        try {
          (yield* TcpStream.connect({ host, port })).close();
        } catch (e) {
          return e;
        }
        return null;
      })(),
    );
    expect(err).toBeInstanceOf(IoError);
    expect((err as IoError).code).toBe('ECONNREFUSED');
  });
});

// Worker runtimes (lib/workers.ts): N threads, each with its own Runtime. These tests run the
// built package (dist/), in the workers and here, so that one copy of polled meets itself.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CLI, ROOT, killAll, refused, requireBuild, runCmd, startServer, waitFor, sleepMs } from './fixtures/servers';

type Polled = typeof import('../lib/index');
const FIX = path.join(ROOT, 'test', 'fixtures', 'workers');
let polled: Polled;

beforeAll(() => {
  requireBuild();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  polled = require(path.join(ROOT, 'dist', 'cjs', 'index.js')) as Polled;
});
afterAll(killAll);

const fdCount = (): number => fs.readdirSync('/proc/self/fd').length;

/** Echo `payload` through one new connection; resolves with what came back. */
function echoOnce(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const s = net.connect(port, '127.0.0.1', () => s.write(payload));
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= payload.length) s.end();
    });
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

function perWorker(stderr: string): number[] {
  const m = /connections accepted per worker: (.*)/.exec(stderr);
  if (!m) return [];
  return [...m[1].matchAll(/worker \d+: (\d+)/g)].map((x) => Number(x[1]));
}

describe.each([
  ['embedded', 'reuseport'],
  ['block', 'reuseport'],
  ['embedded', 'handoff'],
  ['block', 'handoff'],
])('polled echo --threads 2 (%s driver, %s)', (driver, balance) => {
  const threadArgs = ['--threads', '2', '--driver', driver, ...(balance === 'handoff' ? ['--handoff'] : [])];
  test('2 workers x 500 connections: every byte comes back and both workers serve', async () => {
    const srv = await startServer([process.execPath, CLI, 'echo', '--port', '0', ...threadArgs]);
    try {
      const payloads = Array.from({ length: 500 }, (_, i) => randomBytes(1 + ((i * 7919) % 8192)));
      // Every connection is open at once before the first one ends: batches of 100 in flight.
      for (let i = 0; i < payloads.length; i += 100) {
        const batch = payloads.slice(i, i + 100);
        const back = await Promise.all(batch.map((p) => echoOnce(srv.port, p)));
        back.forEach((b, j) => expect(b.equals(batch[j])).toBe(true));
      }
    } finally {
      expect(await srv.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    }
    const counts = perWorker(srv.stderr());
    console.log(`${driver}, ${balance}: connections per worker ${JSON.stringify(counts)}`);
    expect(counts).toHaveLength(2);
    expect(counts[0] + counts[1]).toBe(500);
    expect(Math.min(...counts)).toBeGreaterThan(0);
    // The acceptor hands them out round robin: one each in turn.
    if (balance === 'handoff') expect(counts).toEqual([250, 250]);
  });

  test('SIGTERM: every worker stops accepting, an open connection keeps echoing during the grace period, exit 0', async () => {
    const srv = await startServer([process.execPath, CLI, 'echo', '--port', '0', ...threadArgs, '--grace-ms', '1500']);
    const sock = net.connect(srv.port, srv.host);
    let received = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (received += d));
    sock.on('error', () => {});
    sock.write('a;');
    expect(await waitFor(() => received === 'a;', 10000)).toBe(true);
    srv.child.kill('SIGTERM');
    // Both listeners close: a new client is refused (not served by the other worker).
    let isRefused = false;
    for (let i = 0; i < 100 && !isRefused; i++) {
      isRefused = await refused(srv.port);
      if (!isRefused) await sleepMs(20);
    }
    expect(isRefused).toBe(true);
    sock.write('b;');
    expect(await waitFor(() => received === 'a;b;', 10000)).toBe(true);
    expect(await srv.exited()).toEqual({ code: 0, signal: null });
    sock.destroy();
    expect(srv.stderr()).toMatch(/stopped; connections accepted per worker: worker 0: \d+, worker 1: \d+/);
  });
});

describe('polled echo --threads: combinations that cannot work are refused at start', () => {
  test.each([
    [['--threads', '2', '--unix', '/tmp/x.sock'], /--threads cannot share a --unix socket/],
    [['--handoff'], /--handoff needs --threads/],
    [['--threads', '0'], /--threads must be in 1\.\.256/],
    [['--threads', 'many'], /--threads needs a non-negative integer/],
  ])('%j', async (args, message) => {
    const r = await runCmd(process.execPath, [CLI, 'echo', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

describe('startWorkers', () => {
  test('each worker runs main(ctx) with its index, the data and its own runtime; results come back by index', async () => {
    const errors: Array<[number, string]> = [];
    const group = polled.startWorkers(path.join(FIX, 'throws.js'), { threads: 3, data: { n: 7 }, signals: false, onError: (i, e) => errors.push([i, e.message]) });
    expect(group.threads).toBe(3);
    const exits = await group.join();
    expect(exits.map((e) => e.index)).toEqual([0, 1, 2]);
    expect(exits[0].result).toEqual({ index: 0, threads: 3, data: { n: 7 } });
    expect(exits[2].result).toEqual({ index: 2, threads: 3, data: { n: 7 } });
    // A worker that throws is reported with its index and error; the others are unaffected.
    expect(errors).toEqual([[1, 'boom in worker 1']]);
    expect(exits[1].error?.message).toBe('boom in worker 1');
    expect(exits[1].exitCode).toBe(1);
    expect(exits[0].exitCode).toBe(0);
  });

  test('an ES module worker, and messages to the main thread', async () => {
    const messages: Array<[number, unknown]> = [];
    const group = polled.startWorkers(new URL(`file://${path.join(FIX, 'esm.mjs')}`), { threads: 2, signals: false, onMessage: (i, m) => messages.push([i, m]) });
    const exits = await group.join();
    expect(exits.map((e) => e.result)).toEqual(['esm 0', 'esm 1']);
    expect(messages.sort((a, b) => a[0] - b[0])).toEqual([
      [0, { hello: 0 }],
      [1, { hello: 1 }],
    ]);
  });

  test('a module without main(ctx) is a reported failure, not a hang', async () => {
    const errors: string[] = [];
    const exits = await polled.startWorkers(path.join(FIX, 'no-main.js'), { threads: 1, signals: false, onError: (_i, e) => errors.push(e.message) }).join();
    expect(errors[0]).toMatch(/exports no main\(ctx\) function/);
    expect(exits[0].exitCode).toBe(1);
  });

  test.each(['embedded', 'block'] as const)('stop() reaches every worker through its mailbox (%s driver), even one not started yet', async (driver) => {
    // Stopped at once: some workers have not made their runtime yet.
    const early = polled.startWorkers(path.join(FIX, 'wait-stop.js'), { threads: 2, driver, signals: false });
    early.stop();
    expect((await early.join()).map((e) => e.result)).toEqual([
      { index: 0, stopped: true },
      { index: 1, stopped: true },
    ]);
    // Stopped while every worker waits (parked in epoll_wait under the block driver).
    let ready = 0;
    const group = polled.startWorkers(path.join(FIX, 'wait-stop.js'), { threads: 2, driver, signals: false, onMessage: () => ready++ });
    expect(await waitFor(() => ready === 2, 20000)).toBe(true);
    await sleepMs(20);
    group.stop();
    group.stop(); // idempotent
    expect(group.isStopping).toBe(true);
    const exits = await group.join();
    expect(exits.map((e) => [e.exitCode, e.result])).toEqual([
      [0, { index: 0, stopped: true }],
      [0, { index: 1, stopped: true }],
    ]);
  });

  test.each(['embedded', 'block'] as const)('50 rounds of terminate() mid-I/O (%s driver): no crash, the fd count is back where it started', async (driver) => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
      s.pipe(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const before = fdCount();
    const errors: string[] = [];
    for (let round = 0; round < 50; round++) {
      let started = 0;
      const group = polled.startWorkers(path.join(FIX, 'io-loop.js'), { threads: 2, driver, signals: false, data: { port, connections: 3 }, onMessage: () => started++, onError: (i, e) => errors.push(`${i}: ${e.message}`) });
      expect(await waitFor(() => started === 2, 20000)).toBe(true);
      await sleepMs(round % 5); // somewhere in the middle of a write or a read
      await group.terminate();
      const exits = await group.join();
      expect(exits.every((e) => e.exitCode === 1)).toBe(true);
    }
    expect(errors).toEqual([]);
    // The workers' sockets, pollers and eventfds are closed by the addon's per-thread cleanup.
    expect(await waitFor(() => sockets.size === 0 && fdCount() === before, 10000)).toBe(true);
    expect(fdCount()).toBe(before);
    server.close();
  });

  test.each(['reuseport', 'handoff'] as const)('connections still queued at stop are counted (%s: the kernel resets them, or the channel closes them)', async (balance) => {
    const bound: Array<{ host: string; port: number }> = [];
    // 'localhost:0': a name, resolved in each worker; port 0, bound by worker 0 and shared.
    const group = polled.startWorkers(path.join(FIX, 'listen-no-accept.js'), { threads: 2, balance, signals: false, data: { host: 'localhost', port: 0 }, onMessage: (_i, m) => bound.push(m as { host: string; port: number }) });
    expect(await waitFor(() => bound.length === 2, 20000)).toBe(true);
    expect(bound[0]).toEqual(bound[1]);
    const clients = Array.from({ length: 6 }, () => net.connect(bound[0].port, bound[0].host));
    for (const c of clients) c.on('error', () => {});
    await Promise.all(clients.map((c) => new Promise((r) => c.once('connect', r)))); // the handshake is done: queued
    // handoff: worker 0's acceptor takes them off the kernel's queue into the workers' channels.
    if (balance === 'handoff') await sleepMs(200);
    group.stop();
    const exits = await group.join();
    expect(exits.map((e) => e.result)).toEqual(['stopped', 'stopped']);
    expect(exits[0].queuedAtStop + exits[1].queuedAtStop).toBe(6);
    for (const c of clients) c.destroy();
  });

  test('bad arguments are TypeErrors / RangeErrors, and nothing starts', () => {
    const m = path.join(FIX, 'throws.js');
    expect(() => polled.startWorkers(42 as unknown as string)).toThrow(TypeError);
    expect(() => polled.startWorkers('')).toThrow(TypeError);
    expect(() => polled.startWorkers(new URL('http://example.com/x.js'))).toThrow(/only file: URLs/);
    expect(() => polled.startWorkers(m, { threads: 0 })).toThrow(RangeError);
    expect(() => polled.startWorkers(m, { threads: 1.5 })).toThrow(TypeError);
    expect(() => polled.startWorkers(m, { driver: 'fast' as 'block' })).toThrow(TypeError);
    expect(() => polled.startWorkers(m, { balance: 'random' as 'handoff' })).toThrow(TypeError);
    expect(() => polled.startWorkers(m, { onError: 1 as unknown as () => void })).toThrow(TypeError);
    expect(() => polled.startWorkers(m, { thread: 2 } as unknown as object)).toThrow(/unknown option "thread"/);
    expect(polled.availableCores()).toBeGreaterThanOrEqual(1);
  });
});

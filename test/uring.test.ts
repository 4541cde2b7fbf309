// The io_uring backend (native/poller_uring.h): choosing it, its setup failures, and what the
// completion model must keep that readiness gets for free: a dropped read loses no byte, a peer
// nobody reads cannot make the server hold unbounded memory, connections the multishot accept
// took wait for the next accept(), close with ops in flight leaks no fd, and completions wake the
// embedded driver with nothing else to wake Node's loop. (The whole net / echo suite also runs
// under io_uring: jest.config.js, project `uring`.)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { IoError, TimeoutError } from '../lib/errors';
import type { Async } from '../lib/future';
import { POLLER_URING, native } from '../lib/native';
import { TcpListener, TcpStream } from '../lib/net';
import { Runtime } from '../lib/runtime';
import { sleep, timeout } from '../lib/time';
import { CLI, ROOT, killAll, nodeEcho, requireBuild, startServer } from './fixtures/servers';
import { catching, sha } from './helpers';

/** Whether this build and kernel can set up a ring (the suite says why it skips otherwise). */
function uringWorks(): string | null {
  if (!native.uring) return 'this build has no io_uring';
  const p = native.pollerCreate(POLLER_URING);
  if (p < 0) return `io_uring setup fails here (errno ${-p})`;
  native.close(p);
  return null;
}
const unavailable = uringWorks();
if (unavailable !== null) process.stderr.write(`test/uring.test.ts: skipped: ${unavailable}\n`);
const describeRing = unavailable === null ? describe : describe.skip;

/** The server side of the first pair. */
function s0(pairs: [TcpStream, TcpStream][]): TcpStream {
  return pairs[0][1];
}

const DIST = path.join(ROOT, 'dist', 'cjs', 'index.js');

/** Run `script` in a fresh node with `env` added: its stdout and stderr. */
function runNode(script: string, env: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', () => resolve({ stdout, stderr }));
  });
}

function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

describe('choosing the backend', () => {
  const saved = process.env.POLLED_IO;
  afterEach(() => {
    if (saved === undefined) delete process.env.POLLED_IO;
    else process.env.POLLED_IO = saved;
  });

  test("readiness by default (POLLED_IO unset); 'epoll' / 'kqueue' name it on their platform", () => {
    delete process.env.POLLED_IO;
    const rt = new Runtime();
    expect(rt.io).toBe(native.backend);
    rt.close();
    const named = new Runtime({ io: native.backend });
    expect(named.io).toBe(native.backend);
    named.close();
    expect(() => new Runtime({ io: native.backend === 'epoll' ? 'kqueue' : 'epoll' })).toThrow(TypeError);
  });

  test('a wrong io is a TypeError, from the option and from POLLED_IO', () => {
    expect(() => new Runtime({ io: 'iouring' as never })).toThrow(/'readiness', 'uring' or 'auto'/);
    process.env.POLLED_IO = 'fast';
    expect(() => new Runtime()).toThrow(/POLLED_IO must be/);
  });

  test("a wrong POLLED_URING_RECV is a TypeError for 'uring' and 'auto' (checked before any ring is set up); readiness ignores it", () => {
    const saved = process.env.POLLED_URING_RECV;
    process.env.POLLED_URING_RECV = 'multi';
    try {
      expect(() => new Runtime({ io: 'uring' })).toThrow(/POLLED_URING_RECV must be 'multishot' \(the default\) or 'single', got "multi"/);
      expect(() => new Runtime({ io: 'auto' })).toThrow(TypeError);
      const rt = new Runtime({ io: 'readiness' });
      expect(rt.io).toBe(native.backend);
      rt.close();
    } finally {
      if (saved === undefined) delete process.env.POLLED_URING_RECV;
      else process.env.POLLED_URING_RECV = saved;
    }
  });

  test("a forced setup failure (POLLED_URING_FAIL, read by the addon): 'uring' throws an IoError saying why, 'auto' falls back with one line on stderr", async () => {
    // A child process: the variable must be in the real environment, which the addon reads.
    const script = `
      const { Runtime } = require(${JSON.stringify(DIST)});
      try { new Runtime({ io: 'uring' }); console.log('no error'); }
      catch (e) { console.log(e.constructor.name, e.code, e.syscall, e.message); }
      const rt = new Runtime({ io: 'auto' });
      console.log('auto', rt.io);
      rt.close();`;
    for (const [fail, why] of [['EPERM', /not permitted.*seccomp/], ['ENOSYS', /kernel has no io_uring/], ['EOPNOTSUPP', /needs Linux 5\.19/]] as const) {
      const r = await runNode(script, { POLLED_URING_FAIL: fail });
      const [line1, line2] = r.stdout.trim().split('\n');
      // Node names EOPNOTSUPP's number ENOTSUP on Linux.
      expect(line1).toMatch(new RegExp(`^IoError ${native.uring ? fail.replace('EOPNOTSUPP', 'ENOTSUP') : 'ENOSYS'} io_uring_setup `));
      expect(line1).toMatch(native.uring ? why : /this build has no io_uring/);
      expect(line2).toBe(`auto ${native.backend}`);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^polled: io 'auto': .*; using ${native.backend}$`));
    }
  });
});

// Both ways a ring reads a stream (POLLED_URING_RECV, passed to the addon at ring setup): one
// multishot recv per stream into the ring's shared provided buffers (the default: unset), or a
// single-shot recv per read into the stream's own buffer (POLLED_URING_RECV=single).
describeRing.each(['multishot', 'single-shot'])('io_uring streams and listeners (%s recv)', (recv) => {
  let rt: Runtime;
  let handles: number;
  beforeEach(() => {
    handles = native.handleCount();
    const saved = process.env.POLLED_URING_RECV;
    if (recv === 'single-shot') process.env.POLLED_URING_RECV = 'single';
    else delete process.env.POLLED_URING_RECV;
    try {
      rt = new Runtime({ io: 'uring' });
    } finally {
      if (saved === undefined) delete process.env.POLLED_URING_RECV;
      else process.env.POLLED_URING_RECV = saved;
    }
    expect(rt.io).toBe('uring');
  });
  afterEach(() => {
    rt.close();
    expect(native.handleCount()).toBe(handles);
  });

  function* pair(): Async<[TcpStream, TcpStream, TcpListener]> {
    const l = yield* TcpListener.bind('127.0.0.1:0');
    const acc = rt.spawn(l.accept());
    const c = yield* TcpStream.connect(l.localAddr());
    const [s] = yield* acc;
    return [c, s, l];
  }

  test('reads dropped while data arrives lose no byte: what the kernel delivered after a drop goes to the next read', async () => {
    const data = randomBytes(1 << 20);
    const back = await rt.spawn(
      (function* (): Async<Buffer> {
        const [c, s, l] = yield* pair();
        const writer = rt.spawn(
          (function* (): Async<void> {
            // Pauses between bursts: the reader's 1 ms timeouts then drop reads in the middle.
            for (let off = 0; off < data.length; off += 1500) {
              yield* c.writeAll(data, off, Math.min(1500, data.length - off));
              if (off % 60000 === 0) yield* sleep(3);
            }
            c.close();
          })(),
        );
        const chunks: Buffer[] = [];
        let drops = 0;
        for (;;) {
          const buf = Buffer.alloc(777);
          let n: number;
          try {
            n = yield* timeout(s.read(buf), 1);
          } catch {
            drops++; // dropped while pending: its recv may complete now, into the addon's buffer
            continue;
          }
          if (n === 0) break;
          chunks.push(buf.subarray(0, n));
        }
        expect(drops).toBeGreaterThan(0);
        yield* writer;
        s.close();
        l.close();
        return Buffer.concat(chunks);
      })(),
    ).promise();
    expect(back.length).toBe(data.length);
    expect(sha(back)).toBe(sha(data));
  });

  /** This runtime's ring counters (native.pollerRingStats): capStops, directReads, directSends, backToMultishot. */
  function ringStats(): number[] {
    const r = native.pollerRingStats(rt.poller);
    if (typeof r === 'number') throw new Error(`pollerRingStats: ${r}`);
    return r;
  }

  /** How far each ring counter has moved since `before` (an earlier `ringStats()`). */
  function ringStatsSince(before: number[]): number[] {
    return ringStats().map((x, i) => x - before[i]);
  }

  test('a bulk stream that outruns the shared buffers reads its socket itself, and small messages take it back to them: no byte lost or reordered across the switches, reads dropped included', async () => {
    const bulk1 = randomBytes(4 << 20);
    const small = Array.from({ length: 60 }, (_, i) => randomBytes(1 + ((i * 377) % 3000)));
    const bulk2 = randomBytes(4 << 20);
    const before = ringStats();
    const got = await rt.spawn(
      (function* (): Async<Buffer> {
        const [c, s, l] = yield* pair();
        const writer = rt.spawn(
          (function* (): Async<void> {
            yield* c.writeAll(bulk1);
            for (const m of small) {
              yield* c.writeAll(m);
              yield* sleep(1);
            }
            yield* c.writeAll(bulk2);
            c.close();
          })(),
        );
        // Nobody reads yet: the bulk bytes arrive faster than a reader takes them, up to the cap.
        yield* sleep(30);
        const chunks: Buffer[] = [];
        for (;;) {
          const buf = Buffer.alloc(64 << 10);
          let n: number;
          try {
            n = yield* timeout(s.read(buf), 2);
          } catch {
            continue; // dropped while pending; what came meanwhile goes to the next read
          }
          if (n === 0) break;
          chunks.push(buf.subarray(0, n));
        }
        yield* writer;
        s.close();
        l.close();
        return Buffer.concat(chunks);
      })(),
    ).promise();
    expect(got.length).toBe(bulk1.length + bulk2.length + small.reduce((a, m) => a + m.length, 0));
    expect(sha(got)).toBe(sha(Buffer.concat([bulk1, ...small, bulk2])));
    const [capStops, directReads, directSends, back] = ringStatsSince(before);
    expect(directSends).toBeGreaterThan(0); // 4 MiB written with nothing queued: send(2) at once
    if (recv === 'multishot') {
      expect(capStops).toBeGreaterThan(0);
      expect(directReads).toBeGreaterThan(0);
      expect(back).toBeGreaterThan(0);
    } else {
      expect([capStops, directReads, back]).toEqual([0, 0, 0]); // single-shot recvs have no cap
    }
  });

  test('a bulk stream that meets an empty socket between two bursts stays a direct reader: only a short read of bytes sends it back to the shared buffers', async () => {
    const R = 32 << 10; // every read but the first asks for this much
    const FIRST = 4096; // one of the ring's buffers
    const burst = randomBytes(FIRST + 5 * R); // past the widest cap (32 buffers of 4 KiB): the multishot stops
    const more = randomBytes(2 * R); // sent once it stopped: it waits in the socket, for direct reads
    const next = randomBytes(2 * R); // after the empty read
    const before = ringStats();
    const out = await rt.spawn(
      (function* (): Async<{ reads: number[]; got: Buffer; mid: number[]; end: number[] }> {
        const [c, s, l] = yield* pair();
        yield* c.writeAll(burst);
        const buf = Buffer.alloc(R);
        const got: Buffer[] = [];
        // The first read arms the multishot recv (a stream nobody reads holds no buffer) and
        // takes its first buffer; then nobody reads, and the multishot holds up to the cap and
        // is stopped.
        const reads = [yield* s.read(buf, 0, FIRST)];
        got.push(Buffer.from(buf.subarray(0, reads[0])));
        yield* sleep(50);
        yield* c.writeAll(more);
        yield* sleep(20);
        // 7 reads of R take the 7 R there are: the ring's buffers first, then the socket itself.
        for (let i = 0; i < 7; i++) {
          const n = yield* s.read(buf);
          reads.push(n);
          got.push(Buffer.from(buf.subarray(0, n)));
        }
        // Every read was full, so the stream still looks readable: this one meets the empty
        // socket (EAGAIN with nothing read) and pends until the timeout drops it.
        let n = 0;
        try {
          n = yield* timeout(s.read(buf), 20);
          got.push(Buffer.from(buf.subarray(0, n))); // single-shot recvs: what the short reads above left
        } catch (err) {
          if (!(err instanceof TimeoutError)) throw err;
        }
        reads.push(n);
        const mid = ringStatsSince(before);
        yield* c.writeAll(next);
        // The rest (all of `next`, and with single-shot recvs, which read less per call, what
        // the reads above left).
        let have = got.reduce((a, b) => a + b.length, 0);
        while (have < burst.length + more.length + next.length) {
          const n = yield* s.read(buf);
          got.push(Buffer.from(buf.subarray(0, n)));
          have += n;
        }
        const end = ringStatsSince(before);
        c.close();
        s.close();
        l.close();
        return { reads, got: Buffer.concat(got), mid, end };
      })(),
    ).promise();
    expect(sha(out.got)).toBe(sha(Buffer.concat([burst, more, next])));
    if (recv === 'multishot') {
      expect(out.reads).toEqual([FIRST, R, R, R, R, R, R, R, 0]);
      const [capStops, directReads, , back] = out.mid;
      expect(capStops).toBe(1);
      expect(directReads).toBeGreaterThan(0); // `more` came straight from the socket
      expect(back).toBe(0); // the empty read did not count as a small one
      const [capStops2, directReads2, , back2] = out.end;
      // `next` too: no multishot was armed again (it would have taken `next` into the ring's buffers).
      expect(directReads2).toBeGreaterThan(directReads);
      expect([capStops2, back2]).toEqual([1, 0]);
    } else {
      expect(out.end[1]).toBe(0); // single-shot recvs never read directly
    }
  });

  test("a write after shutdown('write') says EPIPE, whether the shutdown waited for queued bytes or went at once", async () => {
    const before = ringStats();
    const codes = await rt.spawn(
      (function* (): Async<string[]> {
        const out: string[] = [];
        // 10 bytes are still in the send buffer at shutdown, which waits for them; 32 KiB go out
        // at once (a large write with nothing queued), and the shutdown with them.
        for (const size of [10, 32 << 10]) {
          const [c, s, l] = yield* pair();
          yield* c.writeAll(Buffer.alloc(size, 1));
          c.shutdown('write');
          const e = yield* catching(c.write(Buffer.from('x')));
          out.push(e instanceof IoError ? `${e.code} ${e.syscall}` : String(e));
          const buf = Buffer.alloc(64 << 10);
          let total = 0;
          for (let n = 1; n > 0; total += n) n = yield* s.read(buf);
          out.push(String(total));
          c.close();
          s.close();
          l.close();
        }
        return out;
      })(),
    ).promise();
    expect(codes).toEqual(['EPIPE write', '10', 'EPIPE write', String(32 << 10)]);
    expect(ringStatsSince(before)[2]).toBe(1);
  });

  test('writes of every size keep their order, whether sent at once (large, nothing queued) or through the send buffer', async () => {
    const SIZES = [70000, 5, 20000, 3, 300000, 1, 16384, 16383, 1 << 20, 7, 40000];
    const parts = Array.from({ length: 3 * SIZES.length }, (_, i) => randomBytes(SIZES[i % SIZES.length]));
    const before = ringStats();
    const got = await rt.spawn(
      (function* (): Async<Buffer> {
        const [c, s, l] = yield* pair();
        const writer = rt.spawn(
          (function* (): Async<void> {
            for (const p of parts) yield* c.writeAll(p);
            c.close();
          })(),
        );
        // A slow reader at first, so that the socket fills and large writes go out in part.
        const chunks: Buffer[] = [];
        for (let i = 0; ; i++) {
          const buf = Buffer.alloc(i < 200 ? 1000 : 64 << 10);
          const n = yield* s.read(buf);
          if (n === 0) break;
          chunks.push(buf.subarray(0, n));
          if (i < 200 && i % 20 === 0) yield* sleep(2);
        }
        yield* writer;
        s.close();
        l.close();
        return Buffer.concat(chunks);
      })(),
    ).promise();
    expect(sha(got)).toBe(sha(Buffer.concat(parts)));
    expect(ringStatsSince(before)[2]).toBeGreaterThan(0);
  });

  test('a peer that never reads cannot make the server hold unbounded memory: the writer is held back', async () => {
    const r = await rt.spawn(
      (function* (): Async<[string, number]> {
        const [c, s, l] = yield* pair();
        // The server side never reads. Its ring stream stops receiving at one buffer, so the
        // kernel's socket buffers fill and the client's writeAll of 256 MiB pends.
        const big = Buffer.alloc(256 << 20);
        const e = yield* catching(timeout(c.writeAll(big), 1500));
        const rss = process.memoryUsage().rss;
        c.close();
        s.close();
        l.close();
        return [(e as Error).name, rss];
      })(),
    ).promise();
    expect(r[0]).toBe('TimeoutError');
  });

  test('streams whose readers stop cannot starve the others of receive buffers; what each held is read back in order', async () => {
    // 300 streams each read 1 byte (arming their recv), then nobody reads them while their peers
    // send 32 KiB each: more than the shared provided-buffer ring holds (1024 x 4 KiB), so the
    // per-stream cap stops their multishot recvs and some meet ENOBUFS. A fresh stream must
    // still echo, and every held stream must then read its bytes back whole, in order.
    const N = 300;
    const SIZE = 32 << 10;
    const ok = await rt.spawn(
      (function* (): Async<boolean> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const pairs: [TcpStream, TcpStream][] = [];
        const sent: Buffer[] = [];
        const first: Buffer[] = [];
        for (let i = 0; i < N; i++) {
          const acc = rt.spawn(l.accept());
          const c = yield* TcpStream.connect(l.localAddr());
          const [s] = yield* acc;
          pairs.push([c, s]);
          sent.push(randomBytes(SIZE));
        }
        const firsts = pairs.map(([, s], i) => {
          first.push(Buffer.alloc(1));
          return rt.spawn(s.readExact(first[i]));
        });
        for (let i = 0; i < N; i++) yield* pairs[i][0].writeAll(sent[i]);
        for (const f of firsts) yield* f;
        yield* sleep(50); // the kernel hands the rest to the recvs meanwhile, up to each cap
        const [c, s, l2] = yield* pair();
        const msg = randomBytes(1 << 20);
        const w = rt.spawn(c.writeAll(msg));
        const back = Buffer.alloc(msg.length);
        yield* s.readExact(back);
        yield* w;
        c.close();
        s.close();
        l2.close();
        let same = back.equals(msg);
        for (let i = 0; i < N; i++) {
          const rest = Buffer.alloc(SIZE - 1);
          yield* pairs[i][1].readExact(rest);
          same &&= first[i][0] === sent[i][0] && rest.equals(sent[i].subarray(1));
          pairs[i][0].close();
          pairs[i][1].close();
        }
        l.close();
        return same;
      })(),
    ).promise();
    expect(ok).toBe(true);
  });

  test('connections the multishot accept took wait in the listener for the next accept()', async () => {
    const got = await rt.spawn(
      (function* (): Async<string[]> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        // A first accept() arms the multishot accept; dropped, it takes nothing with it.
        expect((yield* catching(timeout(l.accept(), 5))) as Error).toBeInstanceOf(Error);
        const port = l.localAddr().port;
        const clients: net.Socket[] = [];
        for (let i = 0; i < 5; i++) {
          const sock = net.connect(port, '127.0.0.1');
          sock.write(String(i));
          clients.push(sock);
        }
        const out: string[] = [];
        for (let i = 0; i < 5; i++) {
          const [s] = yield* l.accept();
          const buf = Buffer.alloc(4);
          const n = yield* s.read(buf);
          out.push(buf.toString('utf8', 0, n));
          s.close();
        }
        for (const c of clients) c.destroy();
        l.close();
        return out.sort();
      })(),
    ).promise();
    expect(got).toEqual(['0', '1', '2', '3', '4']);
  });

  test('close with reads, writes and accepts in flight leaks no fd; new sockets on the reused numbers work', async () => {
    const before = fdCount();
    await rt.spawn(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const pairs: [TcpStream, TcpStream][] = [];
        for (let i = 0; i < 50; i++) {
          const acc = rt.spawn(l.accept());
          const c = yield* TcpStream.connect(l.localAddr());
          const [s] = yield* acc;
          pairs.push([c, s]);
        }
        for (const [c, s] of pairs) {
          rt.spawn(catching(s.read(Buffer.alloc(100)))); // a recv in flight
          rt.spawn(catching(c.writeAll(Buffer.alloc(300 << 10)))); // sends in flight, more staged
        }
        const pendingAccept = rt.spawn(catching(l.accept())); // the multishot accept in flight
        yield* catching(timeout(s0(pairs).read(Buffer.alloc(1)), 20)); // one turn: all of it submitted
        for (const [c, s] of pairs) {
          c.close();
          s.close();
        }
        l.close();
        yield* pendingAccept;
        // The numbers just closed are handed out again: the ring's late completions must not
        // reach these sockets.
        const l2 = yield* TcpListener.bind('127.0.0.1:0');
        for (let i = 0; i < 20; i++) {
          const acc = rt.spawn(l2.accept());
          const c = yield* TcpStream.connect(l2.localAddr());
          const [s] = yield* acc;
          const msg = randomBytes(5000);
          yield* c.writeAll(msg);
          const back = Buffer.alloc(msg.length);
          yield* s.readExact(back);
          expect(back.equals(msg)).toBe(true);
          c.close();
          s.close();
        }
        l2.close();
      })(),
    ).promise();
    // Give the ring one more turn for the last cancels' completions, then count.
    await new Promise((r) => setTimeout(r, 50));
    expect(fdCount()).toBe(before);
  });

  test('completions wake the embedded driver with no timer armed (the ring fd turns readable by itself)', async () => {
    const l = rt.blockOn(TcpListener.bind('127.0.0.1:0'));
    const port = l.localAddr().port;
    // The only thing that can wake this process is the ring: another process connects and
    // writes after a pause; no runtime timer, no Node timer, no other handle.
    const child = spawn(
      process.execPath,
      ['-e', `const s=require('net').connect(${port},'127.0.0.1',()=>setTimeout(()=>s.end('late'),300));s.resume()`],
      { stdio: 'ignore' },
    );
    const got = await rt
      .spawn(
        (function* (): Async<string> {
          const [s] = yield* l.accept();
          const buf = Buffer.alloc(16);
          let text = '';
          for (;;) {
            const n = yield* s.read(buf);
            if (n === 0) break;
            text += buf.toString('utf8', 0, n);
          }
          s.close();
          l.close();
          return text;
        })(),
      )
      .promise();
    child.kill();
    expect(got).toBe('late');
  });
});

describeRing('polled echo --io uring (CLI)', () => {
  beforeAll(requireBuild);
  afterAll(killAll);

  test('echoes, and SIGTERM drains and exits 0', async () => {
    const srv = await startServer([process.execPath, CLI, 'echo', '--port', '0', '--io', 'uring', '--grace-ms', '500']);
    const msg = randomBytes(300_000);
    expect(sha(await nodeEcho(srv, msg))).toBe(sha(msg));
    expect(await srv.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  test('worker threads each with their own ring (--threads 2)', async () => {
    const srv = await startServer([process.execPath, CLI, 'echo', '--port', '0', '--io', 'uring', '--threads', '2']);
    const results = await Promise.all(Array.from({ length: 8 }, () => nodeEcho(srv, Buffer.from('abc'))));
    for (const r of results) expect(r.toString()).toBe('abc');
    expect(await srv.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  test('a forced setup failure: --io uring exits 1 saying why', async () => {
    const bad = spawn(process.execPath, [CLI, 'echo', '--port', '0', '--io', 'uring'], { env: { ...process.env, POLLED_URING_FAIL: 'EPERM' } });
    let err = '';
    bad.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => bad.on('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(err).toMatch(/io_uring_setup.*not permitted/);
  });
});

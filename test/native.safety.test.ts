/**
 * Memory safety at the JS ↔ C++ boundary, and threads parked in the kernel that must still stop.
 *
 * Each case here is a reproduction from the addon probe (issue 18) that once gave a
 * heap-use-after-free, a segfault, freed bytes on the wire or a hung thread. The rule they hold:
 * the addon never keeps a pointer into memory JavaScript can free, move or resize between two
 * calls, and never runs JavaScript between taking a pointer and its last use. The suite also runs
 * under ASan + UBSan (npm run test:asan), where any slip is a report, not a silent pass.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipe } from '../lib/io';
import { READABLE, native, type Handle } from '../lib/native';
import { TcpListener, TcpStream } from '../lib/net/tcp';
import { Runtime } from '../lib/runtime';
import { IoError } from '../lib/errors';
import { sleep } from '../lib/time';
import { catching, eachRuntime } from './helpers';
import { ROOT, requireBuild } from './fixtures/servers';

const E = os.constants.errno as Readonly<Record<string, number>>;
const DIST = path.join(ROOT, 'dist', 'cjs', 'index.js');
const LIBKQUEUE = native.backend === 'kqueue' && process.platform === 'linux';

function detach(buf: ArrayBufferLike): void {
  structuredClone(buf, { transfer: [buf as ArrayBuffer] });
}

function rawPipe(): [Handle, Handle] {
  const ends = native.pipe();
  if (typeof ends === 'number') throw new Error(`pipe: ${ends}`);
  return ends;
}

// The addon's objects come from the real global, not jest's sandbox: compare by tag, not instanceof.
function isShared(buf: ArrayBufferLike): boolean {
  return Object.prototype.toString.call(buf) === '[object SharedArrayBuffer]';
}

function thrown(f: () => unknown): Error & { code?: string } {
  try {
    f();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

/** Runs `script` in a child node process (CommonJS, cwd = ROOT); resolves with its output. */
function runNode(script: string, timeoutMs: number, onStdout?: (text: string, pid: number) => void): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(stdout, child.pid!);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

let rt: Runtime;
eachRuntime((r) => (rt = r));

describe('the events batch', () => {
  test('is shared memory the addon made: a transfer fails at the attempt, and the reactor goes on', () => {
    const events = rt.events;
    expect(isShared(events.buffer)).toBe(true);
    expect((events.buffer as SharedArrayBuffer & { growable?: boolean }).growable ?? false).toBe(false);
    // The reproduction: this transfer used to detach the array the poller writes into.
    expect(() => detach(events.buffer)).toThrow(/invalid object in transferList/);
    expect(events.length).toBeGreaterThan(0);
    // Driving events still works, in both drivers' path (dispatch reads the same array).
    const [r, w] = pipe(rt);
    const got = rt.blockOn(
      (function* () {
        const buf = new Uint8Array(8);
        yield* w.write(Buffer.from('ok'));
        return Buffer.from(buf.subarray(0, yield* r.read(buf))).toString();
      })(),
    );
    expect(got).toBe('ok');
    r.close();
    w.close();
  });

  test('a worker cannot be handed it by transfer either', async () => {
    const { MessageChannel } = await import('node:worker_threads');
    const { port1, port2 } = new MessageChannel();
    expect(() => port1.postMessage(rt.events.buffer, [rt.events.buffer as unknown as ArrayBuffer])).toThrow();
    port1.close();
    port2.close();
  });

  test('pollerEvents replaces the array, and the old one is never written again', () => {
    const p = native.pollerCreate();
    try {
      const a = native.pollerEvents(p, 4) as Uint32Array;
      const b = native.pollerEvents(p, 2) as Uint32Array;
      expect(b.length).toBe(4);
      a.fill(7);
      expect(native.pollerNotify(p)).toBe(0);
      expect(native.pollerWait(p, 1000)).toBe(1);
      expect(Array.from(a)).toEqual(new Array(8).fill(7));
      expect(b[0]).toBe(0xffffffff); // NOTIFY_TOKEN
    } finally {
      native.close(p);
    }
  });
});

describe('ioArgs (the bound fast path)', () => {
  test('is shared memory: a transfer throws, and bound reads and writes go on', () => {
    expect(isShared(native.ioArgs.buffer)).toBe(true);
    expect(() => detach(native.ioArgs.buffer)).toThrow(/invalid object in transferList/);
    const [r, w] = pipe(rt);
    const out = Buffer.from('abcd');
    const inBuf = new Uint8Array(4);
    const seen = rt.blockOn(
      (function* () {
        const all: string[] = [];
        for (let i = 0; i < 4; i++) {
          // The same buffers each time: from the second call on they are bound.
          yield* w.write(out);
          all.push(Buffer.from(inBuf.subarray(0, yield* r.read(inBuf))).toString());
        }
        return all;
      })(),
    );
    expect(seen).toEqual(['abcd', 'abcd', 'abcd', 'abcd']);
    r.close();
    w.close();
  });
});

describe('writev', () => {
  test('a getter that detaches an earlier buffer gets a TypeError, and no byte is sent', () => {
    const [r, w] = rawPipe();
    try {
      const first = new Uint8Array(64).fill(0x61);
      const second = new Uint8Array(64).fill(0x62);
      const bufs: Uint8Array[] = [first, second];
      Object.defineProperty(bufs, 1, {
        get() {
          detach(first.buffer);
          return second;
        },
      });
      const err = thrown(() => native.writev(w, bufs));
      expect(err.name).toBe('TypeError');
      expect(err.message).toMatch(/"bufs\[0\]" is detached/);
      // Nothing went out: the freed memory of `first` once did.
      expect(native.read(r, new Uint8Array(256), 0, 256)).toBe(-E.EAGAIN);
    } finally {
      native.close(r);
      native.close(w);
    }
  });

  test('through TcpStream.writev the caller sees the TypeError too, and the peer gets nothing', () => {
    const got = rt.blockOn(
      (function* () {
        const listener = yield* TcpListener.bind('127.0.0.1:0');
        const client = yield* TcpStream.connect(listener.localAddr());
        const [server] = yield* listener.accept();
        const first = new Uint8Array(64).fill(0x61);
        const bufs: Uint8Array[] = [first, new Uint8Array(4)];
        Object.defineProperty(bufs, 1, {
          get() {
            detach(first.buffer);
            return new Uint8Array(4);
          },
        });
        const err = yield* catching({
          *[Symbol.iterator]() {
            return yield* client.writev(bufs);
          },
        });
        client.shutdown('write');
        const buf = new Uint8Array(256);
        const n = yield* server.read(buf);
        client.close();
        server.close();
        listener.close();
        return { err, n };
      })(),
    );
    expect((got.err as Error).name).toBe('TypeError');
    expect(got.n).toBe(0); // end of stream, no stray bytes
  });
});

describe('reads never lie with a 0', () => {
  test('a read into 0 bytes is a RangeError, natively and on a stream', () => {
    const [r, w] = rawPipe();
    try {
      const err = thrown(() => native.read(r, new Uint8Array(4), 4, 0));
      expect(err.name).toBe('RangeError');
      expect(err.message).toMatch(/"length" must be at least 1/);
      expect(native.write(w, new Uint8Array(0), 0, 0)).toBe(0); // a 0-byte write is fine
    } finally {
      native.close(r);
      native.close(w);
    }
    const [pr, pw] = pipe(rt);
    expect(() => pr.read(Buffer.alloc(0))).toThrow(RangeError);
    expect(() => pr.read(Buffer.alloc(8), 8)).toThrow(/length 0/);
    pr.close();
    pw.close();
  });

  test('a detached buffer is a TypeError that says so, natively and on a stream', () => {
    const [r, w] = rawPipe();
    try {
      const buf = new Uint8Array(8);
      detach(buf.buffer);
      expect(thrown(() => native.read(r, buf, 0, 0)).message).toMatch(/"buf" is detached/);
      expect(thrown(() => native.write(w, buf, 0, 0)).name).toBe('TypeError');
    } finally {
      native.close(r);
      native.close(w);
    }
    const [pr, pw] = pipe(rt);
    const buf = new Uint8Array(8);
    detach(buf.buffer);
    expect(() => pr.read(buf)).toThrow(/detached/);
    expect(() => pw.write(buf)).toThrow(/detached/);
    pr.close();
    pw.close();
  });

  test('a resizable buffer shrunk under a pending read is a TypeError, never a segfault or a 0', () => {
    const [r, w] = pipe(rt);
    // Resizable ArrayBuffers are newer than the ES2022 lib these tests are typed with.
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void };
    const ab = new Resizable(16, { maxByteLength: 32 });
    const view = new Uint8Array(ab, 0, 16);
    const err = rt.blockOn(
      (function* () {
        for (let i = 0; i < 2; i++) {
          yield* w.write(Buffer.from('xy'));
          yield* r.read(view); // bound from the second read on
        }
        yield* w.write(Buffer.from('zz'));
        const fut = r.read(view);
        ab.resize(0);
        return yield* catching(fut);
      })(),
    );
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toMatch(/detached|shrunk/);
    r.close();
    w.close();
  });
});

describe('writeAll', () => {
  test('closed by another task part-way, it fails with EBADF and says how many bytes went out', () => {
    const got = rt.blockOn(
      (function* () {
        const listener = yield* TcpListener.bind('127.0.0.1:0');
        const client = yield* TcpStream.connect(listener.localAddr());
        const [server] = yield* listener.accept(); // never reads: the send buffer fills
        const big = new Uint8Array(64 << 20);
        const writer = rt.spawn(
          (function* () {
            return yield* catching(client.writeAll(big));
          })(),
        );
        // Let the writer fill the buffers and park, then close under it.
        yield* sleep(100);
        client.close();
        const err = (yield* writer) as IoError;
        server.close();
        listener.close();
        return err;
      })(),
    );
    expect(got).toBeInstanceOf(IoError);
    expect(got.code).toBe('EBADF');
    expect(got.bytesWritten).toBeGreaterThan(0);
    expect(got.bytesWritten).toBeLessThan(64 << 20);
  });
});

describe('pollerNotifyFromThread', () => {
  test('joins its threads as they finish: 3,000 calls leave the address space as it was', async () => {
    const p = native.pollerCreate();
    const vmKb = () => Number(/VmSize:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]);
    native.pollerEvents(p, 64);
    try {
      const before = vmKb();
      for (let i = 0; i < 3000; i++) {
        let rc = native.pollerNotifyFromThread(p, 0);
        while (rc === -E.EAGAIN) {
          await new Promise((resolve) => setTimeout(resolve, 1));
          rc = native.pollerNotifyFromThread(p, 0);
        }
        expect(rc).toBe(0);
      }
      // Once, every thread (64 KiB stack each) would stay until the poller closed: 3,000 of
      // them were gigabytes. Now at most 64 are alive at once.
      expect(vmKb() - before).toBeLessThan(256 * 1024);
    } finally {
      native.close(p);
    }
  });

  test('at most 64 sleep at once: the next call is EAGAIN, not another thread', () => {
    const p = native.pollerCreate();
    native.pollerEvents(p, 64);
    try {
      for (let i = 0; i < 64; i++) expect(native.pollerNotifyFromThread(p, 60_000)).toBe(0);
      expect(native.pollerNotifyFromThread(p, 60_000)).toBe(-E.EAGAIN);
    } finally {
      native.close(p); // wakes and joins all 64 at once
    }
  });
});

// ---- threads parked in the kernel ----------------------------------------------------------------

describe('a thread parked in blockOn', () => {
  beforeAll(requireBuild);

  test('50 workers parked in blockOn(accept) all terminate, the process exits, and no fd is left', async () => {
    const script = `
      const { Worker } = require('node:worker_threads');
      const fs = require('node:fs');
      const fds = () => fs.readdirSync('/proc/self/fd').length;
      process.stdout; process.stderr; process.stdin; // Node opens their fds lazily: count them in
      // libkqueue opens fds of its own with the first kqueue, for the life of the process (the
      // addon stays loaded): a runtime open from here to the end counts them in.
      const keep = ${LIBKQUEUE} ? new (require(${JSON.stringify(DIST)}).Runtime)() : null;
      const before = fds();
      const code = \`
        const { parentPort } = require('node:worker_threads');
        const p = require(${JSON.stringify(DIST)});
        const rt = new p.Runtime();
        const l = rt.blockOn(p.TcpListener.bind('127.0.0.1:0'));
        parentPort.postMessage('parked');
        rt.blockOn(l.accept());
        parentPort.postMessage('accept returned');\`;
      const workers = [];
      let parked = 0;
      for (let i = 0; i < 50; i++) {
        const w = new Worker(code, { eval: true });
        w.on('message', (m) => {
          if (m !== 'parked') console.log('unexpected ' + m);
          else if (++parked === 50) setTimeout(stop, 200);
        });
        w.on('error', (e) => console.log('error ' + e.message));
        workers.push(w);
      }
      async function stop() {
        await Promise.all(workers.map((w) => w.terminate()));
        // libkqueue frees a closed kqueue's own fds from its monitoring thread, a moment later.
        for (let i = 0; i < 40 && fds() !== before; i++) await new Promise((r) => setTimeout(r, 50));
        console.log('terminated ' + workers.length + ', fds ' + before + ' -> ' + fds());
        if (keep) keep.close();
      }`;
    const r = await runNode(script, 45_000);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = /terminated 50, fds (\d+) -> (\d+)/.exec(r.stdout);
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBe(Number(m![1]));
  });

  test('process.exit() on the main thread ends workers parked in blockOn', async () => {
    const script = `
      const { Worker } = require('node:worker_threads');
      const code = \`
        const { parentPort } = require('node:worker_threads');
        const p = require(${JSON.stringify(DIST)});
        const rt = new p.Runtime();
        parentPort.postMessage('parked');
        rt.blockOn(p.sleep(600000));\`;
      let parked = 0;
      for (let i = 0; i < 5; i++) {
        new Worker(code, { eval: true }).on('message', () => {
          if (++parked === 5) setTimeout(() => process.exit(7), 100);
        });
      }`;
    const r = await runNode(script, 45_000);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(7);
  });

  test('wakes for a signal Node caught (nodeLoopReady), and the handler runs once blockOn returns', async () => {
    const script = `
      const p = require(${JSON.stringify(DIST)});
      const rt = new p.Runtime();
      process.on('SIGUSR2', () => {
        console.log('handler');
        process.exit(0);
      });
      setImmediate(() => {
        console.log('parked');
        const t0 = Date.now();
        const first = rt.blockOn(p.select({ loop: rt.nodeLoopReady(), timer: p.sleep(60000) }));
        console.log('woke by ' + first.key + ' after ' + (Date.now() - t0 < 30000 ? 'less' : 'more') + ' than 30 s');
        setTimeout(() => console.log('no handler'), 20000); // signal listeners keep no loop alive
      });`;
    let sent = false;
    const r = await runNode(script, 45_000, (out, pid) => {
      if (!sent && out.includes('parked')) {
        sent = true;
        process.kill(pid, 'SIGUSR2');
      }
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('parked\nwoke by loop after less than 30 s\nhandler\n');
  });

  test('does not spin while Node-side I/O waits and blockOn is parked', async () => {
    const script = `
      const net = require('node:net');
      const p = require(${JSON.stringify(DIST)});
      const srv = net.createServer((s) => s.on('data', () => {})).listen(0, '127.0.0.1', () => {
        const c = net.connect(srv.address().port, '127.0.0.1', () => {
          setTimeout(() => {
            const rt = new p.Runtime();
            // Node's socket gets data it cannot read while blockOn holds the thread: libuv's
            // own (level-triggered) watch stays ready for the whole second.
            c.write('x'.repeat(1000));
            const cpu0 = process.cpuUsage();
            rt.blockOn(p.sleep(1000));
            const cpu = process.cpuUsage(cpu0);
            console.log(JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, wakes: rt.reactor.nodeLoop.count }));
            process.exit(0);
          }, 50);
        });
      });`;
    const r = await runNode(script, 45_000);
    expect(r.code).toBe(0);
    const { cpuMs, wakes } = JSON.parse(r.stdout) as { cpuMs: number; wakes: number };
    // A level watch would wake on every wait: a full core for the second, and a count in the
    // hundreds of thousands. Bounds are loose: the machine may be loaded.
    expect(wakes).toBeLessThanOrEqual(10);
    expect(cpuMs).toBeLessThan(500);
  });

  test('the block-mode echo server stops on SIGTERM within its slice, not after it', async () => {
    const script = `
      const { runEchoServer } = require(${JSON.stringify(path.join(ROOT, 'dist', 'cjs', 'cli.js'))});
      runEchoServer({ driver: 'block', port: 0, sliceMs: 600000, onListening: (line) => console.log(line) })
        .then(() => console.log('stopped'));`;
    let sent = false;
    const r = await runNode(script, 45_000, (out, pid) => {
      if (!sent && out.includes('listening')) {
        sent = true;
        process.kill(pid, 'SIGTERM');
      }
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^listening 127\.0\.0\.1 \d+\nstopped\n$/);
  });
});

describe('pollers never nest', () => {
  test('a poller cannot be registered in a poller (a chain of them once made libuv abort the process)', () => {
    const a = native.pollerCreate();
    const b = native.pollerCreate();
    try {
      native.pollerEvents(a, 4);
      native.pollerEvents(b, 4);
      expect(native.pollerAdd(a, b, 1, READABLE)).toBe(-E.EINVAL);
      expect(native.pollerModify(a, b, 1, READABLE)).toBe(-E.ENOENT);
    } finally {
      native.close(a);
      native.close(b);
    }
  });
});

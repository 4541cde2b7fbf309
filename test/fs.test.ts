// Files on the blocking pool (lib/fs.ts over native/pool.h): round trips under both drivers, many
// reads through a small pool, File's calls, the errors, and what happens to a call whose future
// is dropped, whose File is closed, or whose runtime is closed while it runs on the pool. A FIFO
// makes a call that blocks on the pool until the test lets it go: open(2) of a FIFO waits for the
// other end, read(2) from an empty one for a write.
import { spawn as spawnChild, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fs } from '../lib';
import { IoError } from '../lib/errors';
import type { Async, IntoFuture } from '../lib/future';
import { joinAll } from '../lib/combinators';
import { native } from '../lib/native';
import { Runtime } from '../lib/runtime';
import { TimerRuntime } from '../lib/timer-runtime';
import { catching, eachRuntime, sha } from './helpers';

let rt: Runtime;
eachRuntime((r) => (rt = r), { checkHandles: true });

let dir: string;
beforeEach(() => {
  dir = nodeFs.mkdtempSync(path.join(os.tmpdir(), 'polled-fs-'));
});
afterEach(() => {
  nodeFs.rmSync(dir, { recursive: true, force: true });
});

function run<T>(gen: IntoFuture<T>): Promise<T> {
  return rt.spawn(gen).promise();
}

const fdCount = (): number => nodeFs.readdirSync('/proc/self/fd').length;
const hasProc = nodeFs.existsSync('/proc/self/fd');

/** Wait (bounded) until `cond()` holds; the pool finishes forgotten jobs on its own time. */
async function eventually(cond: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function mkfifo(p: string): void {
  execFileSync('mkfifo', [p]);
}

/**
 * Writes `text` into the FIFO and closes it, if a reader has it open or waits in open(2) for a
 * writer (which this lets through); false when there is none yet. Never blocks (O_NONBLOCK).
 */
function poke(fifo: string, text: string): boolean {
  let fd: number;
  try {
    fd = nodeFs.openSync(fifo, nodeFs.constants.O_WRONLY | nodeFs.constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') return false; // no reader yet
    throw err;
  }
  try {
    nodeFs.writeSync(fd, text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err; // the reader went meanwhile
  } finally {
    nodeFs.closeSync(fd);
  }
  return true;
}

/** A writer in a child process: opens the FIFO (waiting for a reader), writes `text`, exits. For when this thread is blocked. */
function writerChild(fifo: string, text: string): Promise<void> {
  const child = spawnChild('sh', ['-c', 'printf %s "$2" > "$1"', 'sh', fifo, text], { stdio: 'ignore' });
  return new Promise((resolve) => child.on('exit', () => resolve()));
}

const poolJobs = (r: Runtime): number => (native.poolStats(r.poller) as [number, number])[0];
const poolThreads = (r: Runtime): number => (native.poolStats(r.poller) as [number, number])[1];

function expectIoError(err: unknown, code: string, syscall: string, p: string): void {
  expect(err).toBeInstanceOf(IoError);
  const e = err as IoError;
  expect([e.code, e.syscall, e.path]).toEqual([code, syscall, p]);
  expect(e.message).toContain(p);
}

describe('readFile / writeFile', () => {
  const big = randomBytes(64 * 1024 * 1024);

  test.each(['blockOn', 'embedded'])('a 64 MiB writeFile / readFile round trip (%s)', async (driver) => {
    const p = path.join(dir, 'big');
    const body = function* (): Async<Uint8Array> {
      yield* fs.writeFile(p, big);
      return yield* fs.readFile(p);
    };
    const back = driver === 'blockOn' ? rt.blockOn(body()) : await run(body());
    expect(back).toBeInstanceOf(Uint8Array);
    expect(back.length).toBe(big.length);
    expect(Buffer.compare(Buffer.from(back.buffer, back.byteOffset, back.length), big)).toBe(0);
    expect(nodeFs.statSync(p).size).toBe(big.length);
  });

  test('strings are written as UTF-8; empty files read as empty arrays; /proc files (size 0) read to their end', () => {
    const p = path.join(dir, 's');
    const [text, empty, proc] = rt.blockOn(
      (function* (): Async<[string, number, string]> {
        yield* fs.writeFile(p, 'héllo ✓');
        const t = Buffer.from(yield* fs.readFile(p)).toString('utf8');
        yield* fs.writeFile(p, new Uint8Array(0));
        const e = (yield* fs.readFile(p)).length;
        const pr = hasProc ? Buffer.from(yield* fs.readFile('/proc/self/status')).toString() : 'Name:';
        return [t, e, pr];
      })(),
    );
    expect(text).toBe('héllo ✓');
    expect(empty).toBe(0);
    expect(proc).toMatch(/^Name:/);
  });

  test('1,000 concurrent reads through a pool of 4 threads all come back right (both drivers)', async () => {
    const small = new Runtime({ blockingThreads: 4 });
    try {
      const files = Array.from({ length: 50 }, (_, i) => {
        const p = path.join(dir, `f${i}`);
        const data = randomBytes(4096 + i * 97);
        nodeFs.writeFileSync(p, data);
        return { p, sum: sha(data) };
      });
      const reads = () => Array.from({ length: 1000 }, (_, i) => fs.readFile(files[i % files.length].p));
      const check = (got: Uint8Array[]): void => {
        expect(got).toHaveLength(1000);
        got.forEach((b, i) => expect(sha(b)).toBe(files[i % files.length].sum));
      };
      check(small.blockOn(joinAll(reads())));
      check(await small.spawn(joinAll(reads())).promise());
      const [jobs, threads] = native.poolStats(small.poller) as [number, number];
      expect(jobs).toBe(0);
      expect(threads).toBeGreaterThanOrEqual(1);
      expect(threads).toBeLessThanOrEqual(4);
    } finally {
      small.close();
    }
  });

  test('errors: ENOENT with the path, EISDIR from read, ENOENT from a missing directory on write', () => {
    const missing = path.join(dir, 'nope');
    const errs = rt.blockOn(
      (function* (): Async<unknown[]> {
        return [yield* catching(fs.readFile(missing)), yield* catching(fs.readFile(dir)), yield* catching(fs.writeFile(path.join(missing, 'x'), 'x'))];
      })(),
    );
    expectIoError(errs[0], 'ENOENT', 'open', missing);
    expectIoError(errs[1], 'EISDIR', 'read', dir);
    expectIoError(errs[2], 'ENOENT', 'open', path.join(missing, 'x'));
  });
});

describe('File', () => {
  test('read / write / readAt / writeAt / sync / stat / close', async () => {
    const p = path.join(dir, 'f');
    const out = await run(
      (function* (): Async<unknown[]> {
        const f = yield* fs.File.open(p, 'w+', 0o600);
        const w1 = yield* f.write(Buffer.from('hello '));
        const w2 = yield* f.write(Buffer.from('world'));
        const w3 = yield* f.writeAt(Buffer.from('W'), 6);
        yield* f.sync();
        const st = yield* f.stat();
        const buf = Buffer.alloc(5);
        const n1 = yield* f.readAt(buf, 6);
        const at = buf.toString();
        const eof = yield* f.read(Buffer.alloc(4)); // the offset is at the end
        f.close();
        f.close(); // idempotent
        const after = yield* catching(f.read(Buffer.alloc(1)));
        const g = yield* fs.File.open(p); // 'r'
        const all = Buffer.alloc(64);
        const n2 = yield* g.read(all);
        const n3 = yield* g.read(all);
        const ro = yield* catching(g.write(Buffer.from('x')));
        g.close();
        return [w1, w2, w3, st.size, st.isFile(), st.mode & 0o777, n1, at, eof, after, all.toString('utf8', 0, n2), n3, ro];
      })(),
    );
    expect(out.slice(0, 5)).toEqual([6, 5, 1, 11, true]);
    expect(out[5]).toBe(0o600 & ~process.umask());
    expect(out.slice(6, 9)).toEqual([5, 'World', 0]);
    expectIoError(out[9], 'EBADF', 'read', p);
    expect(out.slice(10, 12)).toEqual(['hello World', 0]);
    expectIoError(out[12], 'EBADF', 'write', p);
  });

  test("flags: 'wx' refuses an existing file, 'a' appends, 'r' needs the file; bad flags and modes are TypeErrors", () => {
    const p = path.join(dir, 'a');
    const r = rt.blockOn(
      (function* (): Async<unknown[]> {
        const missing = yield* catching(fs.File.open(p, 'r'));
        const f = yield* fs.File.open(p, 'wx');
        f.close();
        const exists = yield* catching(fs.File.open(p, 'xw'));
        for (const s of ['one', 'two']) {
          const a = yield* fs.File.open(p, 'a');
          yield* a.writeAt(Buffer.from(s), 0); // O_APPEND: at the end whatever the position (Linux)
          a.close();
        }
        return [missing, exists, Buffer.from(yield* fs.readFile(p)).toString()];
      })(),
    );
    expectIoError(r[0], 'ENOENT', 'open', p);
    expectIoError(r[1], 'EEXIST', 'open', p);
    if (process.platform === 'linux') expect(r[2]).toBe('onetwo');
    expect(() => fs.File.open(p, 'q' as 'r')).toThrow(TypeError);
    expect(() => fs.File.open(p, -1)).toThrow(TypeError);
    expect(() => fs.File.open(p, 'r', 0o10000)).toThrow(TypeError);
  });

  test('closing a File while its read waits on the pool: the read finishes with the fd, which closes after', async () => {
    const fifo = path.join(dir, 'fifo');
    mkfifo(fifo);
    const fds = hasProc ? fdCount() : 0;
    const f = await run(fs.File.open(fifo, 'r+')); // O_RDWR: a FIFO open that does not wait
    const buf = Buffer.alloc(16);
    const reading = rt.spawn(f.read(buf)); // blocks in read(2) on a pool thread: the FIFO is empty
    await eventually(() => poolThreads(rt) >= 1 && poolJobs(rt) === 1, 'the read on a pool thread');
    f.close();
    expect(f.isOpen).toBe(false);
    if (hasProc) expect(fdCount()).toBe(fds + 1); // the handle is gone, the fd is not
    expect(poke(fifo, 'late bytes')).toBe(true); // the File's fd is still a reader
    const n = await reading.promise();
    expect(buf.toString('utf8', 0, n)).toBe('late bytes');
    if (hasProc) await eventually(() => fdCount() === fds, 'the fd to close');
  });

  test('bad arguments are TypeErrors (RangeError for an empty read or a negative position)', () => {
    expect(() => fs.readFile(1 as unknown as string)).toThrow(TypeError);
    expect(() => fs.readFile('')).toThrow(TypeError);
    expect(() => fs.readFile('a\0b')).toThrow(TypeError);
    expect(() => fs.writeFile('x', 5 as unknown as string)).toThrow(TypeError);
    expect(() => fs.rename('x', null as unknown as string)).toThrow(TypeError);
    const f = new fs.File(-1, 'nothing');
    expect(() => f.read('abc' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => f.read(new Uint8Array(0))).toThrow(RangeError);
    expect(() => f.readAt(new Uint8Array(1), -1)).toThrow(RangeError);
    expect(() => f.writeAt(new Uint8Array(1), 1.5)).toThrow(TypeError);
    // A handle that is no File: EBADF, at the first poll.
    expectIoError(rt.blockOn(catching(f.stat())), 'EBADF', 'fstat', 'nothing');
  });
});

describe('paths: stat, remove, rename, readDir', () => {
  test('stat, readDir, rename, remove (file and empty directory) and their errors', () => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    const sub = path.join(dir, 'sub');
    const c = path.join(dir, 'c');
    nodeFs.writeFileSync(a, 'abc');
    nodeFs.mkdirSync(sub);
    nodeFs.writeFileSync(path.join(sub, 'inside'), '');
    const r = rt.blockOn(
      (function* (): Async<unknown[]> {
        const st = yield* fs.stat(a);
        const dst = yield* fs.stat(dir);
        const names = (yield* fs.readDir(dir)).sort();
        yield* fs.rename(a, b);
        const renamedAway = yield* catching(fs.stat(a));
        const notEmpty = yield* catching(fs.remove(sub));
        yield* fs.remove(path.join(sub, 'inside'));
        yield* fs.remove(sub);
        yield* fs.remove(b);
        const gone = yield* catching(fs.remove(b));
        const noDir = yield* catching(fs.readDir(path.join(dir, 'nope')));
        yield* fs.writeFile(c, 'c');
        const notDir = yield* catching(fs.readDir(c));
        yield* fs.remove(c);
        const renameErr = yield* catching(fs.rename(a, b));
        return [st.size, st.isFile(), st.isDirectory(), dst.isDirectory(), names, renamedAway, notEmpty, gone, noDir, notDir, renameErr, yield* fs.readDir(dir)];
      })(),
    );
    expect(r.slice(0, 5)).toEqual([3, true, false, true, ['a', 'sub']]);
    expectIoError(r[5], 'ENOENT', 'stat', a);
    expect(['ENOTEMPTY', 'EEXIST']).toContain((r[6] as IoError).code);
    expect((r[6] as IoError).syscall).toBe('rmdir');
    expectIoError(r[7], 'ENOENT', 'unlink', b);
    expectIoError(r[8], 'ENOENT', 'opendir', path.join(dir, 'nope'));
    expectIoError(r[9], 'ENOTDIR', 'opendir', c);
    expectIoError(r[10], 'ENOENT', 'rename', a);
    expect((r[10] as IoError).message).toContain(`${a} -> ${b}`);
    expect(r[11]).toEqual([]);
  });

  test('needs a full Runtime: a clear error on a TimerRuntime', () => {
    const trt = new TimerRuntime();
    try {
      expect(() => trt.blockOn(fs.stat(dir))).toThrow(/fs\.stat runs on the blocking pool.*TimerRuntime/);
    } finally {
      trt.close();
    }
  });
});

describe('cancellation and close: nothing leaks', () => {
  test('futures are lazy: nothing is submitted before the first poll', () => {
    const f = fs.writeFile(path.join(dir, 'lazy'), 'x');
    expect(native.poolStats(rt.poller)).toEqual([0, 0]);
    f.drop?.();
    expect(nodeFs.existsSync(path.join(dir, 'lazy'))).toBe(false);
  });

  test('an open and a readFile dropped while they wait on the pool finish there; the file is closed, the bytes freed', async () => {
    const fifo = path.join(dir, 'fifo');
    mkfifo(fifo);
    const handles = native.handleCount();
    const fds = hasProc ? fdCount() : 0;
    const opening = rt.spawn(fs.File.open(fifo, 'r')); // waits in open(2) for a writer
    const reading = rt.spawn(fs.readFile(fifo)); // so does this one
    await eventually(() => poolJobs(rt) === 2 && poolThreads(rt) === 2, 'both jobs on threads');
    opening.abort();
    reading.abort();
    await eventually(() => poolJobs(rt) === 0, 'the jobs to be forgotten');
    // Let the opens through (each poke serves every reader waiting then), until both jobs have
    // closed what they opened: the forgotten open its File's fd, the readFile its fd after EOF.
    await eventually(() => {
      poke(fifo, 'dropped');
      return !hasProc || fdCount() === fds;
    }, 'the forgotten jobs to close their fds');
    expect(native.handleCount()).toBe(handles);
    expect(rt.reactor.remote.size).toBe(0);
  });

  test('closing a runtime with jobs in flight: the running job finishes, queued ones are dropped, no fd is left', async () => {
    const fifo = path.join(dir, 'fifo');
    mkfifo(fifo);
    const regular = path.join(dir, 'r');
    nodeFs.writeFileSync(regular, 'x');
    const handles = native.handleCount();
    const fds = hasProc ? fdCount() : 0;
    const one = new Runtime({ blockingThreads: 1 });
    one.spawn(fs.File.open(fifo, 'r')); // runs: waits for a writer
    for (let i = 0; i < 10; i++) one.spawn(fs.readFile(regular)); // queued behind it
    await eventually(() => poolJobs(one) === 11 && poolThreads(one) === 1, 'the jobs to be submitted');
    // The close joins the pool thread, which waits in open(2) (this thread is blocked in close
    // meanwhile): a writer in a child process lets it go.
    const writer = writerChild(fifo, 'bye');
    one.close();
    await writer;
    if (hasProc) await eventually(() => fdCount() === fds, 'every fd to close');
    expect(native.handleCount()).toBe(handles);
  });
});

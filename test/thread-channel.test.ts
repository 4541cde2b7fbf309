// Thread channels (lib/thread-channel.ts): values, streams and senders moving between threads.
//
// Everything here runs against the *built* package (dist/cjs, made by `npm run build:ts`): the
// workers load it (test/fixtures/thread-channel-worker.js), and the objects of this file that meet
// theirs must be the same classes, and use the same addon instance (a second copy of polled in
// this thread, through ts-jest, would load a second instance with its own handle table). So this
// file imports polled's types only, and requires dist at run time.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type * as Polled from '../lib/index';
import type { NativeBinding } from '../lib/native';

if (!fs.existsSync(path.join(__dirname, '..', 'dist', 'cjs', 'index.js'))) {
  throw new Error('test/thread-channel.test.ts runs against the build: run `npm run build:ts` first (npm test does)');
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const polled = require('../dist/cjs/index.js') as typeof Polled;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { native } = require('../dist/cjs/native.js') as { native: NativeBinding };
const { Runtime, TimerRuntime, threadChannel, ThreadSender, ThreadReceiver, TcpListener, TcpStream, UnixListener, UnixStream, SendError, TrySendError, RecvError, IoError, TransferBusyError, spawn, sleep, timeout } = polled;
type Runtime = Polled.Runtime;
type Async<T> = Polled.Async<T>;

const WORKER = path.join(__dirname, 'fixtures', 'thread-channel-worker.js');
const DRIVERS = ['blockOn', 'embedded'] as const;
type Driver = (typeof DRIVERS)[number];

/** The error `f` throws (the addon's errors come from another realm than jest's: compare names). */
function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Run `main` on a fresh Runtime with `driver`; the runtime is closed after. */
async function run<T>(driver: Driver, main: (rt: Runtime) => Async<T>): Promise<T> {
  const rt = new Runtime();
  try {
    if (driver === 'blockOn') return rt.blockOn(main(rt));
    return await rt.spawn(main(rt)).promise();
  } finally {
    rt.close();
  }
}

interface WorkerResult {
  done?: boolean;
  result?: unknown;
  error?: string;
  ready?: boolean;
}

function startWorker(data: Record<string, unknown>): { worker: Worker; result: Promise<unknown>; messages: WorkerResult[]; ready: Promise<WorkerResult>; exit: Promise<number> } {
  const worker = new Worker(WORKER, { workerData: data });
  const exit = new Promise<number>((r) => worker.once('exit', r));
  const messages: WorkerResult[] = [];
  let readyResolve: (m: WorkerResult) => void = () => {};
  const ready = new Promise<WorkerResult>((r) => (readyResolve = r));
  const result = new Promise<unknown>((resolve, reject) => {
    worker.on('message', (m: WorkerResult) => {
      messages.push(m);
      if (m.ready) readyResolve(m);
      if (m.error) reject(new Error(`worker: ${m.error}`));
      if (m.done) resolve(m.result);
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      if (!messages.some((m) => m.done)) reject(new Error(`worker exited with ${code} before it finished`));
    });
  });
  return { worker, result, messages, ready, exit };
}

/**
 * Wait until `f()` (an fd count, which settles a moment after threads exit) is at most `want`, up
 * to 5 s; the last value. (At most: the start count may still have held fds of an earlier test's
 * worker that was finishing its exit.)
 */
async function settle(f: () => number, want: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const n = f();
    if (n <= want) return n;
    await new Promise((r) => setTimeout(r, 50));
  }
  return f();
}

/** A connected TCP pair on `rt`: [client, server]. */
function* tcpPair(): Async<[Polled.TcpStream, Polled.TcpStream, Polled.TcpListener]> {
  const l = yield* TcpListener.bind('127.0.0.1:0');
  const c = yield* TcpStream.connect(l.localAddr());
  const [s] = yield* l.accept();
  return [c, s, l];
}

describe('thread channel, in one thread', () => {
  for (const driver of DRIVERS) {
    describe(driver, () => {
      it('carries what structured clone carries, in order, and ends when every sender is closed', async () => {
        const values = [1, -0, NaN, 'héllo \ud800', null, undefined, true, 10n, [1, [2, [3]]], { a: { b: new Map([[1, 2]]) } }, new Set([1]), new Date(5), Buffer.from('xyz'), new Uint16Array([1, 2])];
        const got = await run(driver, function* () {
          const [tx, rx] = threadChannel<unknown>(4);
          const tx2 = tx.clone();
          const out: unknown[] = [];
          const producer = spawn(
            (function* () {
              for (const v of values) yield* tx.send(v);
              tx.close();
            })(),
          );
          tx2.close();
          for (let m; !(m = yield* rx.next()).done; ) out.push(m.value);
          yield* producer;
          let err: unknown;
          try {
            yield* rx.recv();
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(RecvError);
          expect(rx.isClosed()).toBe(true);
          return out;
        });
        expect(got).toEqual(values);
        expect(Object.is(got[1], -0)).toBe(true);
        expect(native.channelCounts()[0]).toBe(0);
      });

      it('send pends while full and completes when the receiver takes one; trySend says full, then closed', async () => {
        await run(driver, function* () {
          const [tx, rx] = threadChannel<number>(2);
          tx.trySend(1);
          yield* tx.send(2);
          expect(tx.capacity()).toBe(0);
          expect(tx.maxCapacity).toBe(2);
          let e: unknown;
          try {
            tx.trySend(3);
          } catch (err) {
            e = err;
          }
          expect(e).toBeInstanceOf(TrySendError);
          expect((e as Polled.TrySendError<number>).kind).toBe('full');
          expect((e as Polled.TrySendError<number>).value).toBe(3);
          const pending = spawn(tx.send(3));
          yield* sleep(5);
          expect(pending.isFinished()).toBe(false);
          expect(yield* rx.recv()).toBe(1);
          yield* pending;
          expect([yield* rx.recv(), yield* rx.recv()]).toEqual([2, 3]);
          rx.close();
          expect(rx.isClosed()).toBe(true);
          try {
            tx.trySend(4);
          } catch (err) {
            e = err;
          }
          expect((e as Polled.TrySendError<number>).kind).toBe('closed');
          expect(tx.isClosed()).toBe(true);
          tx.close();
          rx.drop();
        });
      });

      it('a send dropped while the channel is full sent nothing, and a dropped recv lost nothing', async () => {
        await run(driver, function* () {
          const [tx, rx] = threadChannel<string>(1);
          tx.trySend('a');
          let e: unknown;
          try {
            yield* timeout(tx.send('dropped'), 5);
          } catch (err) {
            e = err;
          }
          expect((e as Error).name).toBe('TimeoutError');
          expect(rx.tryRecv()).toBe('a');
          try {
            yield* timeout(rx.recv(), 5);
          } catch (err) {
            e = err;
          }
          expect((e as Error).name).toBe('TimeoutError');
          tx.trySend('b');
          expect(yield* rx.recv()).toBe('b');
          expect(rx.length).toBe(0);
          tx.close();
          rx.drop();
        });
      });

      it('reserve() holds a slot for a synchronous send; a dropped reserve holds none; release() gives it back', async () => {
        await run(driver, function* () {
          const [tx, rx] = threadChannel<string>(2);
          const p1 = yield* tx.reserve();
          tx.trySend('a');
          expect(() => tx.trySend('b')).toThrow(TrySendError); // the permit's slot is taken
          let e: unknown;
          try {
            yield* timeout(tx.reserve(), 5);
          } catch (err) {
            e = err;
          }
          expect((e as Error).name).toBe('TimeoutError');
          p1.send('reserved');
          expect(() => p1.send('twice')).toThrow(SendError);
          expect([yield* rx.recv(), yield* rx.recv()]).toEqual(['a', 'reserved']);
          const p2 = yield* tx.reserve();
          const p3 = yield* tx.reserve();
          const waiting = spawn(tx.reserve());
          yield* sleep(2);
          expect(waiting.isFinished()).toBe(false);
          p2.release();
          const p4 = yield* waiting;
          rx.close();
          expect(() => p3.send('late')).toThrow(SendError);
          p4.release();
          tx.close();
          rx.drop();
        });
      });

      it('moves a TcpStream with its unread bytes; the old object fails with EBADF and says moved', async () => {
        await run(driver, function* () {
          const handles = native.handleCount();
          const [c, s, l] = yield* tcpPair();
          yield* c.writeAll(Buffer.from('in flight'));
          const [tx, rx] = threadChannel<{ conn: Polled.TcpStream; tag: string }[]>(1);
          const msg = [{ conn: s, tag: 'x' }];
          yield* tx.send(msg);
          expect(msg[0].conn).toBe(s); // the caller's value is not modified
          expect(s.isOpen).toBe(false);
          expect(s.isMoved).toBe(true);
          const buf = Buffer.alloc(64);
          let e: unknown;
          try {
            yield* s.read(buf);
          } catch (err) {
            e = err;
          }
          expect(e).toBeInstanceOf(IoError);
          expect((e as Polled.IoError).code).toBe('EBADF');
          expect((e as Error).message).toMatch(/\(the stream was moved to another thread\)$/);
          expect(() => s.peerAddr()).toThrow(/EBADF/);
          const [{ conn, tag }] = yield* rx.recv();
          expect(tag).toBe('x');
          expect(conn).toBeInstanceOf(TcpStream);
          const n = yield* conn.read(buf);
          expect(buf.subarray(0, n).toString()).toBe('in flight');
          yield* conn.writeAll(Buffer.from('back'));
          expect((yield* c.read(buf)) > 0).toBe(true);
          conn.close();
          c.close();
          l.close();
          tx.close();
          rx.drop();
          expect(native.handleCount()).toBe(handles);
        });
      });

      it('a send to a closed receiver is a SendError and the stream in it still works in the sender', async () => {
        await run(driver, function* () {
          const [c, s, l] = yield* tcpPair();
          const [tx, rx] = threadChannel<Polled.TcpStream>(4);
          rx.drop();
          let e: unknown;
          try {
            yield* tx.send(s);
          } catch (err) {
            e = err;
          }
          expect(e).toBeInstanceOf(SendError);
          expect((e as Polled.SendError<Polled.TcpStream>).value).toBe(s);
          expect(s.isOpen).toBe(true);
          yield* s.writeAll(Buffer.from('still mine'));
          const buf = Buffer.alloc(32);
          const n = yield* c.read(buf);
          expect(buf.subarray(0, n).toString()).toBe('still mine');
          // and trySend to a full channel leaves it too
          const [tx2, rx2] = threadChannel<unknown>(1);
          tx2.trySend(0);
          try {
            tx2.trySend({ s });
          } catch (err) {
            e = err;
          }
          expect((e as Polled.TrySendError<unknown>).kind).toBe('full');
          expect(s.isOpen).toBe(true);
          c.close();
          s.close();
          l.close();
          tx.close();
          tx2.close();
          rx2.drop();
        });
      });

      it('a stream with a read in progress refuses to move', async () => {
        await run(driver, function* () {
          const [c, s, l] = yield* tcpPair();
          const reading = spawn(s.read(Buffer.alloc(8)));
          yield* sleep(2);
          const [tx, rx] = threadChannel<unknown>(1);
          expect(() => tx.trySend({ s })).toThrow(TransferBusyError);
          expect(s.isOpen).toBe(true);
          yield* c.writeAll(Buffer.from('x'));
          expect(yield* reading).toBe(1);
          tx.trySend({ s }); // done reading: it moves now
          expect(s.isMoved).toBe(true);
          const { s: moved } = (yield* rx.recv()) as { s: Polled.TcpStream };
          moved.close();
          c.close();
          l.close();
          tx.close();
          rx.drop();
        });
      });

      it('a sender travels inside a message, and a shared end is claimed once', async () => {
        await run(driver, function* () {
          const [tx, rx] = threadChannel<string>(4);
          const [ctx, crx] = threadChannel<{ reply: Polled.ThreadSender<string> }>(1);
          yield* ctx.send({ reply: tx });
          expect(() => tx.trySend('x')).toThrow(TrySendError);
          const { reply } = yield* crx.recv();
          expect(reply).toBeInstanceOf(ThreadSender);
          yield* reply.send('via a moved sender');
          reply.close();
          expect(yield* rx.recv()).toBe('via a moved sender');
          const d = rx.share();
          expect(JSON.parse(JSON.stringify(d))).toEqual(d); // plain data
          const rx2 = ThreadReceiver.from(d);
          expect(() => ThreadReceiver.from(d)).toThrow(/claimed already/);
          expect(rx2.isClosed()).toBe(true);
          rx2.drop();
          ctx.close();
          crx.drop();
        });
        expect(native.channelCounts()).toEqual([0, 0, 0]);
      });
    });
  }

  it('refuses bad arguments with a TypeError', () => {
    expect(thrown(() => threadChannel('1' as unknown as number)).name).toBe('TypeError');
    expect(thrown(() => threadChannel(0)).name).toBe('RangeError');
    expect(thrown(() => ThreadSender.from({} as never)).name).toBe('TypeError');
    expect(thrown(() => ThreadReceiver.from({ polledThreadChannel: 'sender', id: 1 } as never)).name).toBe('TypeError');
    expect(thrown(() => native.channelSend('x' as unknown as number, Buffer.alloc(1), undefined, undefined, 0, 0)).name).toBe('TypeError');
    expect(thrown(() => native.channelSend(1, 'bytes' as unknown as Uint8Array, undefined, undefined, 0, 0)).name).toBe('TypeError');
    expect(thrown(() => native.channelSend(1, Buffer.alloc(1), 5 as unknown as number[], undefined, 0, 0)).name).toBe('TypeError');
    expect(thrown(() => native.channelSend(1, Buffer.alloc(1), ['h'] as unknown as number[], undefined, 0, 0)).name).toBe('TypeError');
    expect(thrown(() => native.channelRecv(1, -1, 0)).name).toBe('RangeError');
    expect(thrown(() => native.channelClaim(1, 'yes' as unknown as boolean)).name).toBe('TypeError');
    expect(native.channelSend(1, Buffer.alloc(1), undefined, undefined, 0, 0)).toBe(-os.constants.errno.EBADF);
    expect(native.channelRecv(12345, 0, 0)).toBe(-os.constants.errno.EBADF);
    expect(native.channelClaim(2 ** 52, true)).toBe(-os.constants.errno.ENOENT);
    const [tx, rx] = threadChannel<unknown>(1);
    expect(() => tx.trySend(() => 1)).toThrow(/could not be cloned/);
    const [t, r] = native.channelCreate(1) as [number, number];
    expect(native.channelSend(t, Buffer.alloc(1), [r], undefined, 0, 0)).toBe(-os.constants.errno.EBADF); // an end is not a socket handle
    expect(native.channelSend(t, Buffer.alloc(1), undefined, [t], 0, 0)).toBe(-os.constants.errno.EINVAL);
    expect(native.channelSend(r, Buffer.alloc(1), undefined, undefined, 0, 0)).toBe(-os.constants.errno.EINVAL);
    native.channelClose(t);
    native.channelClose(r);
    tx.close();
    rx.drop();
  });

  it('needs a Runtime: a clear error on a TimerRuntime', () => {
    const trt = new TimerRuntime();
    const [tx, rx] = threadChannel<number>(1);
    expect(() => trt.blockOn(rx.recv())).toThrow(/needs a Runtime .*TimerRuntime/);
    expect(() => trt.blockOn(tx.send(1))).toThrow(/needs a Runtime .*TimerRuntime/);
    trt.close();
    tx.close();
    rx.drop();
  });

  it('a channel dropped with unreceived streams in it closes their fds', async () => {
    const fds = fdCount();
    const handles = native.handleCount();
    await run('blockOn', function* () {
      const [tx, rx] = threadChannel<unknown>(64);
      const l = yield* TcpListener.bind('127.0.0.1:0');
      const f0 = fdCount();
      const h0 = native.handleCount();
      const clients: Polled.TcpStream[] = [];
      for (let i = 0; i < 20; i++) {
        const c = yield* TcpStream.connect(l.localAddr());
        const [s] = yield* l.accept();
        clients.push(c);
        yield* tx.send({ i, s });
      }
      expect(native.handleCount()).toBe(h0 + 20); // the 20 servers' handles are gone: they are in the channel
      expect(fdCount()).toBe(f0 + 40); // ... and their fds are still open, owned by it
      tx.close();
      rx.drop();
      expect(fdCount()).toBe(f0 + 20);
      // the clients see their peers closed
      const buf = Buffer.alloc(4);
      for (const c of clients) expect(yield* c.read(buf)).toBe(0);
      for (const c of clients) c.close();
      l.close();
    });
    expect(fdCount()).toBe(fds);
    expect(native.handleCount()).toBe(handles);
    expect(native.channelCounts()).toEqual([0, 0, 0]);
  });
});

describe('thread channel, across threads', () => {
  it('1,000,000 messages from 2 producer workers arrive in order per producer', async () => {
    const N = 1_000_000;
    const [tx, rx] = threadChannel<[number, number]>(1024);
    const tx2 = tx.clone();
    const t0 = process.hrtime.bigint();
    // One producer on each driver.
    const producers = [tx, tx2].map((s, id) => startWorker({ role: 'produce', driver: DRIVERS[id], tx: s.share(), id, count: N / 2 }));
    const next = [0, 0];
    let got = 0;
    await run('blockOn', function* () {
      for (let m; !(m = yield* rx.next()).done; ) {
        const [id, seq] = m.value;
        if (seq !== next[id]) throw new Error(`producer ${id}: got ${seq} after ${next[id] - 1}`);
        next[id]++;
        got++;
      }
    });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    expect(await Promise.all(producers.map((p) => p.result))).toEqual([N / 2, N / 2]);
    expect(got).toBe(N);
    expect(next).toEqual([N / 2, N / 2]);
    console.log(`thread channel: ${N} messages from 2 workers in ${secs.toFixed(2)} s, ${Math.round(N / secs)} messages/s`);
    await Promise.all(producers.map((p) => p.exit));
  });

  for (const driver of DRIVERS) {
    // Not on io_uring: there a stream's recv pulls the payload into the addon's buffer, and bytes
    // already received cannot travel with the fd (the move is refused with EBUSY). A known gap
    // of the ring backend (README, "Readiness and completion").
    const itReadiness = process.env.POLLED_IO === 'uring' ? it.skip : it;
    itReadiness(`hands 1,000 TCP streams with data in flight to 2 workers round robin, every byte echoed (${driver})`, async () => {
      const COUNT = 1000;
      const BATCH = 100;
      const fds = fdCount();
      const handles = native.handleCount();
      const chans = [0, 1].map(() => threadChannel<{ conn: Polled.TcpStream; id: number; len: number }>(64));
      const workers = chans.map(([, rx], i) => startWorker({ role: 'echoStreams', driver: DRIVERS[i], rx: rx.share() }));
      await run(driver, function* () {
        const listener = yield* TcpListener.bind('127.0.0.1:0');
        const addr = listener.localAddr();
        const acceptor = spawn(
          (function* () {
            const head = Buffer.alloc(8);
            for (let i = 0; i < COUNT; i++) {
              const [conn] = yield* listener.accept();
              // Read the header here; the payload stays in the kernel and moves with the stream.
              yield* conn.readExact(head);
              const id = head.readUInt32LE(0);
              const len = head.readUInt32LE(4);
              yield* chans[i % 2][0].send({ conn, id, len });
            }
            for (const [tx] of chans) tx.close();
          })(),
        );
        for (let b = 0; b < COUNT; b += BATCH) {
          const clients = [];
          for (let id = b; id < b + BATCH; id++) {
            clients.push(
              spawn(
                (function* () {
                  const payload = randomBytes(1 + ((id * 7919) % 16384));
                  const c = yield* TcpStream.connect(addr);
                  const head = Buffer.alloc(8);
                  head.writeUInt32LE(id, 0);
                  head.writeUInt32LE(payload.length, 4);
                  yield* c.writeAll(Buffer.concat([head, payload]));
                  const back = Buffer.alloc(payload.length);
                  yield* c.readExact(back);
                  expect(yield* c.read(Buffer.alloc(1))).toBe(0);
                  c.close();
                  return createHash('sha256').update(back).digest('hex') === createHash('sha256').update(payload).digest('hex');
                })(),
              ),
            );
          }
          for (const c of clients) expect(yield* c).toBe(true);
        }
        yield* acceptor;
        listener.close();
      });
      const served = (await Promise.all(workers.map((w) => w.result))) as number[];
      console.log(`thread channel (${driver}): streams served per worker: ${served.join(', ')}`);
      expect(served).toEqual([COUNT / 2, COUNT / 2]);
      await Promise.all(workers.map((w) => w.exit));
      expect(native.handleCount()).toBe(handles);
      expect(await settle(fdCount, fds)).toBeLessThanOrEqual(fds);
    });
  }

  it('moves a Unix stream to a worker, which echoes it', async () => {
    const sock = path.join(os.tmpdir(), `polled-tc-${process.pid}-${Date.now()}.sock`);
    const [tx, rx] = threadChannel<{ conn: Polled.UnixStream }>(1);
    const w = startWorker({ role: 'echoOne', driver: 'blockOn', rx: rx.share() });
    const total = await run('embedded', function* () {
      const l = yield* UnixListener.bind(sock);
      const c = yield* UnixStream.connect(sock);
      const [s] = yield* l.accept();
      yield* c.writeAll(Buffer.from('before the move,'));
      yield* tx.send({ conn: s });
      tx.close();
      yield* c.writeAll(Buffer.from(' after it'));
      c.shutdown('write');
      const buf = Buffer.alloc(64);
      let got = '';
      for (let n; (n = yield* c.read(buf)) > 0; ) got += buf.subarray(0, n).toString();
      c.close();
      l.close();
      return got;
    });
    expect(total).toBe('before the move, after it');
    expect(await w.result).toBe(total.length);
  });

  it('a worker terminated while it holds channel ends and streams: no crash, no fd leak, the other side sees closed', async () => {
    const fds = fdCount();
    const handles = native.handleCount();
    const [tx, rx] = threadChannel<{ conn: Polled.TcpStream }>(8);
    const [btx, brx] = threadChannel<number>(8);
    const rt = new Runtime();
    const clients: Polled.TcpStream[] = [];
    let listener: Polled.TcpListener | null = null;
    rt.blockOn(
      (function* () {
        listener = yield* TcpListener.bind('127.0.0.1:0');
        for (let i = 0; i < 5; i++) {
          clients.push(yield* TcpStream.connect(listener.localAddr()));
          const [s] = yield* listener.accept();
          yield* tx.send({ conn: s });
        }
        // and two streams that are never received: they travel with the worker's receiver
        for (let i = 0; i < 2; i++) {
          clients.push(yield* TcpStream.connect(listener.localAddr()));
          const [s] = yield* listener.accept();
          yield* tx.send({ conn: s });
        }
      })(),
    );
    const w = startWorker({ role: 'hold', driver: 'blockOn', rx: rx.share(), tx: btx.share(), streams: 5 });
    w.result.catch(() => {}); // it never finishes: it is terminated
    const ready = await w.ready;
    expect(ready).toMatchObject({ held: 5, sender: true });
    await w.worker.terminate();
    rt.blockOn(
      (function* () {
        // The worker's receiver is gone: sends fail; its sender is gone: our receiver ends.
        let e: unknown;
        try {
          yield* tx.send({ conn: clients[0] });
        } catch (err) {
          e = err;
        }
        expect(e).toBeInstanceOf(SendError);
        expect(clients[0].isOpen).toBe(true);
        expect(yield* brx.next()).toEqual({ done: true, value: undefined });
        // Every stream the worker held (or that waited in its channel) is closed.
        const buf = Buffer.alloc(4);
        for (const c of clients) expect(yield* c.read(buf)).toBe(0);
      })(),
    );
    for (const c of clients) c.close();
    listener!.close();
    tx.close();
    rt.close();
    expect(native.handleCount()).toBe(handles);
    expect(native.channelCounts()[0]).toBe(0);
    expect(await settle(fdCount, fds)).toBeLessThanOrEqual(fds);
  });
});

// Fairness (issue 23): a stream that is always readable must not keep another connection's data,
// nor a new connection's accept, waiting behind it. Counted in executor runs (a run is the work
// between two looks at the kernel: `Executor.runs`), never in time, under both drivers.
import { BYTE_BUDGET } from '../lib/coop';
import type { Async } from '../lib/future';
import { pipe } from '../lib/io';
import { TcpListener, TcpStream } from '../lib/net';
import type { Runtime } from '../lib/runtime';
import { oneshot } from '../lib/sync';
import { eachRuntime } from './helpers';

let rt: Runtime;
eachRuntime((r) => (rt = r), { checkHandles: true });

/** Iterations after which the always-ready task gives up (so that a regression fails rather than hangs). */
const HOSE_CAP = 20_000;

/** Executor runs, and the always-ready task's reads so far, at each step. */
interface Seen {
  connectRun: number;
  acceptRun: number;
  writeRun: number;
  servedRun: number;
  /** hoseReads at connect, accept, write and served. */
  reads: number[];
  hoseReads: number;
  hoseCapped: boolean;
}

/**
 * One stream always readable at full speed: a pipe holding 32 KiB whose reader writes every
 * 16 KiB chunk it reads straight back in (`tryWrite`, as the echo loop does), so the reader never
 * sees a short read nor EAGAIN and never waits for the kernel. Beside it a listener, a client
 * that connects and then sends one message, and the server side that reads it.
 */
function* scenario(): Async<Seen> {
  const ex = rt.executor;
  const [r, w] = pipe(rt);
  const chunk = Buffer.alloc(16 * 1024, 7);
  expect(w.io.tryWrite(Buffer.alloc(32 * 1024, 7))).toBe(32 * 1024);
  let stop = false;
  let hoseReads = 0;
  const hose = rt.spawn(
    (function* (): Async<boolean> {
      while (!stop && hoseReads < HOSE_CAP) {
        const n = yield* r.read(chunk);
        hoseReads++;
        if (w.io.tryWrite(chunk, 0, n) !== n) throw new Error('the pipe should take back what was read');
      }
      return !stop;
    })(),
  );

  const l = yield* TcpListener.bind('127.0.0.1:0');
  const [acceptedTx, accepted] = oneshot<void>();
  const seen: Seen = { connectRun: -1, acceptRun: -1, writeRun: -1, servedRun: -1, reads: [], hoseReads: 0, hoseCapped: false };
  const server = rt.spawn(
    (function* (): Async<void> {
      const [s] = yield* l.accept();
      seen.acceptRun = ex.runs;
      seen.reads[1] = hoseReads;
      acceptedTx.send();
      const buf = Buffer.alloc(64);
      const n = yield* s.read(buf);
      seen.servedRun = ex.runs;
      seen.reads[3] = hoseReads;
      expect(buf.toString('utf8', 0, n)).toBe('ping');
      s.close();
    })(),
  );
  // Let the hose get going, and the server park in accept, before the client starts.
  for (let i = 0; i < 3; i++) yield* yieldToKernel();
  expect(hoseReads).toBeGreaterThan(0);

  seen.connectRun = ex.runs; // connect(2) is issued in this poll
  seen.reads[0] = hoseReads;
  const c = yield* TcpStream.connect(l.localAddr());
  yield* accepted.recv();
  seen.writeRun = ex.runs; // the write's syscall happens in this poll
  seen.reads[2] = hoseReads;
  yield* c.writeAll(Buffer.from('ping'));
  yield* server;
  stop = true;
  seen.hoseCapped = yield* hose;
  seen.hoseReads = hoseReads;
  c.close();
  l.close();
  r.close();
  w.close();
  return seen;
}

/** A wait that ends only after the kernel was asked: a pipe read the kernel must report. */
function* yieldToKernel(): Async<void> {
  const [r, w] = pipe(rt);
  const poke = rt.spawn(
    (function* (): Async<void> {
      yield* w.write(Buffer.from('x'));
    })(),
  );
  yield* r.read(Buffer.alloc(1));
  yield* poke;
  r.close();
  w.close();
}

function check(seen: Seen): void {
  if (process.env.FAIR_DEBUG) console.log(JSON.stringify(seen));
  // The hose really was busy throughout (it neither ran dry nor hit its cap).
  expect(seen.hoseCapped).toBe(false);
  expect(seen.hoseReads).toBeGreaterThan(4);
  // A new connection's accept, and another connection's message, within two runs...
  expect(seen.acceptRun - seen.connectRun).toBeLessThanOrEqual(2);
  expect(seen.servedRun - seen.writeRun).toBeLessThanOrEqual(2);
  // ...and in arrival order: meanwhile the busy stream got at most two polls' worth of its budget
  // (each of its reads moves 16 KiB in and 16 KiB back out), not a slice's.
  const perPoll = BYTE_BUDGET / (32 * 1024) + 1;
  expect(seen.reads[1] - seen.reads[0]).toBeLessThanOrEqual(2 * perPoll);
  expect(seen.reads[3] - seen.reads[2]).toBeLessThanOrEqual(2 * perPoll);
}

describe('fairness: an always-readable stream does not starve the others', () => {
  test('the budget bounds a poll in bytes as well as operations', () => {
    expect(BYTE_BUDGET).toBeGreaterThanOrEqual(64 * 1024);
    expect(BYTE_BUDGET).toBeLessThanOrEqual(256 * 1024);
  });

  test('blockOn: accept and another connection\'s message within two executor runs', () => {
    check(rt.blockOn(scenario()));
  });

  test('embedded: accept and another connection\'s message within two executor runs', async () => {
    check(await rt.spawn(scenario()).promise());
  });
});

// mpsc (bounded and unbounded): delivery, backpressure, closing from either side, values handed
// back in SendError, cancel safety of recv / send / reserve, 1,000 contending senders, bad input.
import { select } from '../lib/combinators';
import { PENDING, type Async } from '../lib/future';
import { TimerRuntime } from '../lib/timer-runtime';
import { eachTimerRuntime } from './core-helpers';
import { mpsc, oneshot, RecvError, SendError, TryRecvError, TrySendError } from '../lib/sync';
import { pauseClock, sleep, yieldNow } from '../lib/time';
import { catchErr, cx} from './helpers';

let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

describe('mpsc bounded', () => {
  test('messages arrive in order; clones send into the same channel; all closed ends the receiver', () => {
    const [tx, rx] = mpsc.channel<string>(4);
    const got = rt.blockOn(
      (function* (): Async<string[]> {
        const tx2 = tx.clone();
        expect(tx.sameChannel(tx2)).toBe(true);
        rt.spawn((function* (): Async<void> { try { for (let i = 0; i < 3; i++) yield* tx.send(`a${i}`); } finally { tx.close(); } })());
        rt.spawn((function* (): Async<void> { try { for (let i = 0; i < 3; i++) yield* tx2.send(`b${i}`); } finally { tx2.close(); } })());
        const out: string[] = [];
        for (let m; !(m = yield* rx.next()).done; ) out.push(m.value);
        return out;
      })(),
    );
    expect(got.filter((m) => m[0] === 'a')).toEqual(['a0', 'a1', 'a2']);
    expect(got.filter((m) => m[0] === 'b')).toEqual(['b0', 'b1', 'b2']);
    expect(rx.isClosed()).toBe(true);
    expect(() => rt.blockOn(rx.recv())).toThrow(RecvError);
  });

  test('backpressure: send waits while the channel is full, and senders are served FIFO', () => {
    const [tx, rx] = mpsc.channel<number>(2);
    const log: string[] = [];
    rt.blockOn(
      (function* (): Async<void> {
        pauseClock();
        const hs = [0, 1, 2, 3].map((i) =>
          rt.spawn(
            (function* (): Async<void> {
              yield* sleep(i); // senders arrive in order 0..3
              yield* tx.send(i);
              log.push(`sent ${i}`);
            })(),
          ),
        );
        yield* sleep(10);
        expect(tx.capacity()).toBe(0);
        expect(log).toEqual(['sent 0', 'sent 1']); // 2 and 3 are waiting for a slot
        expect(yield* rx.recv()).toBe(0);
        yield* yieldNow();
        expect(log).toEqual(['sent 0', 'sent 1', 'sent 2']);
        expect(yield* rx.recv()).toBe(1);
        expect(yield* rx.recv()).toBe(2);
        expect(yield* rx.recv()).toBe(3);
        for (const h of hs) yield* h;
        expect(tx.capacity()).toBe(2);
      })(),
    );
  });

  test('trySend: full and closed, with the value handed back', () => {
    const [tx, rx] = mpsc.channel<number>(1);
    tx.trySend(1);
    const full = catchErr(() => tx.trySend(2)) as TrySendError<number>;
    expect(full.kind).toBe('full');
    expect(full.value).toBe(2);
    rx.close();
    const closed = catchErr(() => tx.trySend(3)) as TrySendError<number>;
    expect(closed.kind).toBe('closed');
    expect(closed.value).toBe(3);
    expect(rx.tryRecv()).toBe(1); // a closed receiver still drains what was queued
    expect((catchErr(() => rx.tryRecv()) as TryRecvError).kind).toBe('closed');
  });

  test('closing the receiver fails every waiting sender with its own value', () => {
    const [tx, rx] = mpsc.channel<string>(1);
    const errors = rt.blockOn(
      (function* (): Async<string[]> {
        yield* tx.send('fills the slot');
        const hs = ['x', 'y', 'z'].map((v) =>
          rt.spawn(
            (function* (): Async<string> {
              try {
                yield* tx.clone().send(v);
                return 'sent';
              } catch (e) {
                return e instanceof SendError ? `back: ${String(e.value)}` : 'other';
              }
            })(),
          ),
        );
        yield* yieldNow();
        const closed = tx.closed();
        rx.close();
        yield* closed;
        const out: string[] = [];
        for (const h of hs) out.push(yield* h);
        return out;
      })(),
    );
    expect(errors).toEqual(['back: x', 'back: y', 'back: z']);
    expect(tx.isClosed()).toBe(true);
  });

  test('closing the receiver ends its own waiting recv once the queue is drained', () => {
    const [tx, rx] = mpsc.channel<number>(2);
    const r = rx.recv();
    expect(r.poll(cx)).toBe(PENDING);
    rx.close();
    expect((catchErr(() => r.poll(cx)) as RecvError).kind).toBe('closed');
    expect(tx.isClosed()).toBe(true);
  });

  test('send after close is a SendError carrying the value', () => {
    const [tx] = mpsc.channel<number>(1);
    tx.close();
    const e = catchErr(() => rt.blockOn(tx.send(42))) as SendError<number>;
    expect(e).toBeInstanceOf(SendError);
    expect(e.value).toBe(42);
    expect(e.message).toMatch(/closed/);
    expect(() => tx.clone()).toThrow(/closed/);
  });

  test('cancel-safe recv: a select that drops recv loses no message (1,000 contending senders)', () => {
    const [tx, rx] = mpsc.channel<number>(16);
    const N = 1000;
    const PER = 10;
    const got = rt.blockOn(
      (function* (): Async<number[][]> {
        pauseClock();
        for (let s = 0; s < N; s++) {
          const mine = tx.clone();
          rt.spawn(
            (function* (): Async<void> {
              try {
                for (let k = 0; k < PER; k++) {
                  if ((s + k) % 3 === 0) yield* sleep(1);
                  yield* mine.send(s * PER + k);
                }
              } finally {
                mine.close();
              }
            })(),
          );
        }
        tx.close();
        const perSender: number[][] = Array.from({ length: N }, () => []);
        let ticks = 0;
        for (let guard = 0; guard < 100_000; guard++) {
          const r = yield* select({ tick: sleep(1), msg: rx.next() });
          if (r.key === 'tick') {
            ticks++;
            continue;
          }
          if (r.value.done) break;
          perSender[Math.floor(r.value.value / PER)].push(r.value.value % PER);
        }
        expect(ticks).toBeGreaterThan(0);
        return perSender;
      })(),
    );
    for (const msgs of got) expect(msgs).toEqual(Array.from({ length: PER }, (_, k) => k));
    expect(rx.length).toBe(0);
  });

  test('cancel-safe send: a cancelled send sent nothing and holds no slot', () => {
    const [tx, rx] = mpsc.channel<string>(1);
    rt.blockOn(
      (function* (): Async<void> {
        pauseClock();
        yield* tx.send('first');
        const r = yield* select({ sent: tx.send('second'), gaveUp: sleep(5) });
        expect(r.key).toBe('gaveUp');
        expect(yield* rx.recv()).toBe('first');
        expect(rx.isEmpty()).toBe(true); // 'second' was not sent
        expect(tx.capacity()).toBe(1); // and its place held no slot
      })(),
    );
  });

  test('reserve: wait for a slot, then send synchronously; a dropped reserve holds nothing', () => {
    const [tx, rx] = mpsc.channel<number>(1);
    rt.blockOn(
      (function* (): Async<void> {
        pauseClock();
        const permit = yield* tx.reserve();
        expect(tx.capacity()).toBe(0);
        const r = yield* select({ p: tx.reserve(), t: sleep(3) });
        expect(r.key).toBe('t');
        permit.send(7);
        expect(() => permit.send(8)).toThrow(/already used/);
        expect(yield* rx.recv()).toBe(7);
        expect(tx.capacity()).toBe(1);
        const p2 = yield* tx.reserve();
        p2.release();
        expect(tx.capacity()).toBe(1);
      })(),
    );
  });

  test('a recv woken for a message and then cancelled passes the wake-up on', () => {
    const [tx, rx] = mpsc.channel<number>(4);
    const a = rx.recv();
    const b = rx.recv();
    expect(a.poll(cx)).toBe(PENDING);
    expect(b.poll(cx)).toBe(PENDING);
    tx.trySend(1); // wakes a
    a.drop();
    expect(b.poll(cx)).toBe(1);
  });

  test('bad capacities and arguments', () => {
    expect(() => mpsc.channel(0)).toThrow(RangeError);
    expect(() => mpsc.channel(-5)).toThrow(/capacity.*-5/);
    expect(() => mpsc.channel(1.5)).toThrow(TypeError);
    expect(() => mpsc.channel(undefined as never)).toThrow(TypeError);
  });
});

describe('mpsc unbounded', () => {
  test('send never waits; the receiver drains after the senders are gone', () => {
    const [tx, rx] = mpsc.unboundedChannel<number>();
    for (let i = 0; i < 10_000; i++) tx.send(i);
    tx.close();
    const sum = rt.blockOn(
      (function* (): Async<number> {
        let s = 0;
        for (let m; !(m = yield* rx.next()).done; ) s += m.value;
        return s;
      })(),
    );
    expect(sum).toBe((10_000 * 9_999) / 2);
    expect(() => tx.send(1)).toThrow(SendError);
  });

  test('a receiver closed with messages queued: sends fail with the value, the queue still drains', () => {
    const [tx, rx] = mpsc.unboundedChannel<string>();
    tx.send('a');
    rx.close();
    const e = catchErr(() => tx.send('b')) as SendError<string>;
    expect(e.value).toBe('b');
    expect(rx.tryRecv()).toBe('a');
    expect(rx.isClosed()).toBe(true);
  });

  test('1,000 tasks ping-pong through unbounded channels, each with its reply oneshot', () => {
    const [tx, rx] = mpsc.unboundedChannel<{ n: number; reply: ReturnType<typeof oneshot<number>>[0] }>();
    const total = rt.blockOn(
      (function* (): Async<number> {
        const server = rt.spawn(
          (function* (): Async<void> {
            for (let m; !(m = yield* rx.next()).done; ) m.value.reply.send(m.value.n * 2);
          })(),
        );
        const hs = [];
        for (let i = 0; i < 1000; i++) {
          const mine = tx.clone();
          hs.push(
            rt.spawn(
              (function* (): Async<number> {
                const [rtx, rrx] = oneshot<number>();
                mine.send({ n: i, reply: rtx });
                mine.close();
                return yield* rrx.recv();
              })(),
            ),
          );
        }
        tx.close();
        let sum = 0;
        for (const h of hs) sum += yield* h;
        yield* server;
        return sum;
      })(),
    );
    expect(total).toBe(1000 * 999);
  });
});

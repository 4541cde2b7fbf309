// broadcast: every receiver sees every message, lagging receivers are told how many they missed,
// closing, cancel safety, 1,000 receivers, bad input.
import { select } from '../lib/combinators';
import { PENDING, type Async } from '../lib/future';
import { TimerRuntime } from '../lib/timer-runtime';
import { eachTimerRuntime } from './core-helpers';
import { broadcast, RecvError, SendError, TryRecvError } from '../lib/sync';
import { pauseClock, sleep, yieldNow } from '../lib/time';
import { catchErr, cx} from './helpers';

let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

describe('broadcast', () => {
  test('every receiver sees every message, in order; send returns the receiver count', () => {
    const [tx, rx1] = broadcast.channel<number>(8);
    const rx2 = tx.subscribe();
    expect(tx.send(1)).toBe(2);
    expect(tx.send(2)).toBe(2);
    expect([rx1.tryRecv(), rx1.tryRecv()]).toEqual([1, 2]);
    expect([rx2.tryRecv(), rx2.tryRecv()]).toEqual([1, 2]);
    const late = tx.subscribe(); // sees only what is sent from now on
    tx.send(3);
    expect(late.tryRecv()).toBe(3);
    expect((catchErr(() => late.tryRecv()) as TryRecvError).kind).toBe('empty');
  });

  test('a lagging receiver is told how many messages it missed, then resumes at the oldest kept', () => {
    const [tx, rx] = broadcast.channel<number>(4);
    for (let i = 0; i < 10; i++) tx.send(i);
    const e = catchErr(() => rt.blockOn(rx.recv())) as RecvError;
    expect(e).toBeInstanceOf(RecvError);
    expect(e.kind).toBe('lagged');
    expect(e.missed).toBe(6);
    const rest = rt.blockOn(
      (function* (): Async<number[]> {
        const out: number[] = [];
        while (!rx.isEmpty()) out.push(yield* rx.recv());
        return out;
      })(),
    );
    expect(rest).toEqual([6, 7, 8, 9]);
    // tryRecv reports the lag the same way.
    for (let i = 10; i < 20; i++) tx.send(i);
    const t = catchErr(() => rx.tryRecv()) as TryRecvError;
    expect([t.kind, t.missed]).toEqual(['lagged', 6]);
    expect(rx.tryRecv()).toBe(16);
  });

  test('a slow receiver never slows the sender or the other receivers', () => {
    const [tx, fast] = broadcast.channel<number>(2);
    const slow = tx.subscribe();
    const got = rt.blockOn(
      (function* (): Async<number[]> {
        pauseClock();
        const reader = rt.spawn(
          (function* (): Async<number[]> {
            const out: number[] = [];
            for (let m; !(m = yield* fast.next()).done; ) out.push(m.value);
            return out;
          })(),
        );
        for (let i = 0; i < 100; i++) {
          tx.send(i);
          yield* yieldNow();
        }
        tx.close();
        return yield* reader;
      })(),
    );
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const e = catchErr(() => slow.tryRecv()) as TryRecvError;
    expect([e.kind, e.missed]).toEqual(['lagged', 98]);
  });

  test('when every sender is closed, receivers get what is left, then RecvError closed', () => {
    const [tx, rx] = broadcast.channel<string>(4);
    const tx2 = tx.clone();
    tx.send('a');
    tx.close();
    tx2.send('b');
    const pending = rx.resubscribe().recv();
    expect(pending.poll(cx)).toBe(PENDING);
    tx2.close();
    expect((catchErr(() => pending.poll(cx)) as RecvError).kind).toBe('closed');
    expect(rt.blockOn(rx.recv())).toBe('a');
    expect(rt.blockOn(rx.recv())).toBe('b');
    expect((catchErr(() => rt.blockOn(rx.recv())) as RecvError).kind).toBe('closed');
  });

  test('send with no receiver hands the value back; sending after close too', () => {
    const [tx, rx] = broadcast.channel<{ v: number }>(2);
    rx.close();
    expect(tx.receiverCount).toBe(0);
    const value = { v: 1 };
    expect((catchErr(() => tx.send(value)) as SendError<{ v: number }>).value).toBe(value);
    const r = tx.subscribe();
    tx.close();
    expect((catchErr(() => tx.send(value)) as SendError).message).toMatch(/closed/);
    expect(r.isEmpty()).toBe(true);
  });

  test('closing a receiver ends its own waiting recv, not the others', () => {
    const [tx, rx] = broadcast.channel<number>(2);
    const other = rx.resubscribe();
    const mine = rx.recv();
    const theirs = other.recv();
    expect(mine.poll(cx)).toBe(PENDING);
    expect(theirs.poll(cx)).toBe(PENDING);
    rx.close();
    expect((catchErr(() => mine.poll(cx)) as RecvError).kind).toBe('closed');
    expect(theirs.poll(cx)).toBe(PENDING);
    tx.send(1);
    expect(theirs.poll(cx)).toBe(1);
  });

  test('tx.closed() completes once no receiver is left', () => {
    const [tx, rx] = broadcast.channel<number>(2);
    const rx2 = rx.resubscribe();
    const c = tx.closed();
    expect(c.poll(cx)).toBe(PENDING);
    rx.close();
    expect(c.poll(cx)).toBe(PENDING);
    rx2.close();
    expect(c.poll(cx)).toBeUndefined();
  });

  test('cancel-safe: recv dropped by a select loses no message', () => {
    const [tx, rx] = broadcast.channel<number>(64);
    const got = rt.blockOn(
      (function* (): Async<number[]> {
        pauseClock();
        rt.spawn(
          (function* (): Async<void> {
            for (let i = 0; i < 50; i++) {
              tx.send(i);
              yield* sleep(i % 3);
            }
            tx.close();
          })(),
        );
        const out: number[] = [];
        for (let guard = 0; guard < 10_000; guard++) {
          const r = yield* select({ tick: sleep(1), msg: rx.next() });
          if (r.key === 'msg') {
            if (r.value.done) break;
            out.push(r.value.value);
          }
        }
        return out;
      })(),
    );
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  test('1,000 receiver tasks each get all 20 messages', () => {
    const [tx, rx] = broadcast.channel<number>(32);
    const sums = rt.blockOn(
      (function* (): Async<number[]> {
        const hs = [];
        for (let i = 0; i < 1000; i++) {
          const mine = rx.resubscribe();
          hs.push(
            rt.spawn(
              (function* (): Async<number> {
                let s = 0;
                for (let m; !(m = yield* mine.next()).done; ) s += m.value;
                return s;
              })(),
            ),
          );
        }
        rx.close();
        yield* yieldNow();
        for (let i = 0; i < 20; i++) {
          expect(tx.send(i)).toBe(1000);
          if (i % 5 === 0) yield* yieldNow();
        }
        tx.close();
        const out: number[] = [];
        for (const h of hs) out.push(yield* h);
        return out;
      })(),
    );
    expect(sums).toEqual(Array(1000).fill(190));
  });

  test('a message is released once every receiver has read it', () => {
    const [tx, rx] = broadcast.channel<object>(4);
    const rx2 = rx.resubscribe();
    tx.send({});
    const buf = (tx as unknown as { shared: { buf: unknown[] } }).shared.buf;
    expect(buf[0]).toBeDefined();
    rx.tryRecv();
    expect(buf[0]).toBeDefined();
    rx2.close(); // a closing receiver gives up its claim
    expect(buf[0]).toBeUndefined();
  });

  test('bad capacities', () => {
    expect(() => broadcast.channel(0)).toThrow(RangeError);
    expect(() => broadcast.channel(-1)).toThrow(RangeError);
    expect(() => broadcast.channel(2 ** 30)).toThrow(RangeError);
    expect(() => broadcast.channel('8' as never)).toThrow(TypeError);
  });
});

// oneshot: delivery before or after the receiver waits, closing from either side, the value handed
// back in SendError, cancel safety of recv.
import { select } from '../lib/combinators';
import { TimeoutError } from '../lib/errors';
import { PENDING, type Async } from '../lib/future';
import { TimerRuntime } from '../lib/timer-runtime';
import { eachTimerRuntime } from './core-helpers';
import { oneshot, RecvError, SendError, TryRecvError } from '../lib/sync';
import { pauseClock, sleep, timeout } from '../lib/time';
import { catchErr, cx} from './helpers';

let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

describe('oneshot', () => {
  test('delivers one value, sent before or after recv starts waiting', () => {
    const [tx, rx] = oneshot<number>();
    tx.send(1);
    expect(rt.blockOn(rx.recv())).toBe(1);
    const [tx2, rx2] = oneshot<string>();
    const v = rt.blockOn(
      (function* (): Async<string> {
        pauseClock();
        rt.spawn((function* (): Async<void> { yield* sleep(10); tx2.send('late'); })());
        return yield* rx2.recv();
      })(),
    );
    expect(v).toBe('late');
  });

  test('a sender closed without sending ends the receiver with RecvError closed', () => {
    const [tx, rx] = oneshot<number>();
    const r = rx.recv();
    expect(r.poll(cx)).toBe(PENDING);
    tx.close();
    const e = catchErr(() => r.poll(cx)) as RecvError;
    expect(e).toBeInstanceOf(RecvError);
    expect(e.kind).toBe('closed');
    expect((catchErr(() => rx.tryRecv()) as TryRecvError).kind).toBe('closed');
  });

  test('a closed receiver hands the value back in SendError; tx.closed() completes', () => {
    const [tx, rx] = oneshot<{ big: string }>();
    const closed = tx.closed();
    expect(closed.poll(cx)).toBe(PENDING);
    expect(tx.isClosed()).toBe(false);
    rx.close();
    expect(tx.isClosed()).toBe(true);
    expect(closed.poll(cx)).toBeUndefined();
    const value = { big: 'payload' };
    const e = catchErr(() => tx.send(value)) as SendError<{ big: string }>;
    expect(e).toBeInstanceOf(SendError);
    expect(e.value).toBe(value);
  });

  test('sending twice is a clear error with the value handed back', () => {
    const [tx, rx] = oneshot<number>();
    tx.send(1);
    const e = catchErr(() => tx.send(2)) as SendError<number>;
    expect(e.message).toMatch(/already used/);
    expect(e.value).toBe(2);
    expect(rx.tryRecv()).toBe(1);
  });

  test('closing the receiver ends its own waiting recv; a value sent before the close is still received', () => {
    const [, rx] = oneshot<number>();
    const r = rx.recv();
    expect(r.poll(cx)).toBe(PENDING);
    rx.close();
    expect((catchErr(() => r.poll(cx)) as RecvError).kind).toBe('closed');
    const [tx2, rx2] = oneshot<number>();
    tx2.send(3);
    rx2.close();
    expect(rt.blockOn(rx2.recv())).toBe(3);
  });

  test('tryRecv: empty, then the value', () => {
    const [tx, rx] = oneshot<number>();
    expect((catchErr(() => rx.tryRecv()) as TryRecvError).kind).toBe('empty');
    tx.send(5);
    expect(rx.tryRecv()).toBe(5);
  });

  test('cancel-safe: a recv cancelled by timeout leaves the value for the next recv', () => {
    const [tx, rx] = oneshot<number>();
    const v = rt.blockOn(
      (function* (): Async<number> {
        pauseClock();
        try {
          yield* timeout(rx.recv(), 5);
        } catch (e) {
          expect(e).toBeInstanceOf(TimeoutError);
        }
        tx.send(9);
        const r = yield* select({ tick: sleep(0), v: rx.recv() }); // `tick` is ready first and wins
        expect(r.key).toBe('tick');
        return yield* rx.recv();
      })(),
    );
    expect(v).toBe(9);
  });
});

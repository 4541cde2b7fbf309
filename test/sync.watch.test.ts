// watch: receivers see the latest value, every waiting receiver woken by a change, closing,
// cancel safety, 1,000 receivers, bad input.
import { select } from '../lib/combinators';
import { PENDING, type Async } from '../lib/future';
import { TimerRuntime } from '../lib/timer-runtime';
import { eachTimerRuntime } from './core-helpers';
import { RecvError, SendError, watch } from '../lib/sync';
import { pauseClock, sleep, yieldNow } from '../lib/time';
import { catchErr, cx} from './helpers';

let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

describe('watch', () => {
  test('receivers see the latest value; intermediate values may be skipped', () => {
    const [tx, rx] = watch.channel('init');
    expect(rx.borrow()).toBe('init');
    expect(rx.hasChanged()).toBe(false);
    tx.send('a');
    tx.send('b');
    expect(rx.hasChanged()).toBe(true);
    expect(rt.blockOn(rx.changed())).toBe('b');
    expect(rx.hasChanged()).toBe(false);
    const c = rx.changed();
    expect(c.poll(cx)).toBe(PENDING);
    tx.sendModify(() => {});
    expect(c.poll(cx)).toBe('b');
  });

  test('changed() wakes every waiting receiver; a new subscriber starts with the current value seen', () => {
    const [tx, rx] = watch.channel(0);
    const seen = rt.blockOn(
      (function* (): Async<number[]> {
        const hs = [];
        for (let i = 0; i < 1000; i++) {
          const mine = i === 0 ? rx : rx.clone();
          hs.push(rt.spawn((function* (): Async<number> { return yield* mine.changed(); })()));
        }
        yield* yieldNow();
        tx.send(42);
        const out: number[] = [];
        for (const h of hs) out.push(yield* h);
        return out;
      })(),
    );
    expect(seen).toEqual(Array(1000).fill(42));
    expect(tx.subscribe().hasChanged()).toBe(false);
    expect(tx.receiverCount).toBeGreaterThanOrEqual(1000);
  });

  test('every sender closed: an unseen value is still returned, then RecvError closed', () => {
    const [tx, rx] = watch.channel(1);
    tx.send(2);
    tx.close();
    expect(rx.isClosed()).toBe(true);
    expect(rt.blockOn(rx.changed())).toBe(2);
    expect((catchErr(() => rt.blockOn(rx.changed())) as RecvError).kind).toBe('closed');
    expect(rx.borrow()).toBe(2);
  });

  test('send with no receiver hands the value back and stores nothing; sendReplace stores anyway', () => {
    const [tx, rx] = watch.channel<string>('keep');
    rx.close();
    const e = catchErr(() => tx.send('lost?')) as SendError<string>;
    expect(e.value).toBe('lost?');
    expect(tx.borrow()).toBe('keep');
    expect(tx.sendReplace('new')).toBe('keep');
    expect(tx.borrow()).toBe('new');
    const closed = tx.closed();
    expect(closed.poll(cx)).toBeUndefined();
    tx.close();
    expect((catchErr(() => tx.send('after close')) as SendError<string>).value).toBe('after close');
  });

  test('waitFor checks the current value first, then each change', () => {
    const [tx, rx] = watch.channel(0);
    expect(rt.blockOn(rx.waitFor((v) => v === 0))).toBe(0);
    const v = rt.blockOn(
      (function* (): Async<number> {
        pauseClock();
        rt.spawn((function* (): Async<void> { for (let i = 1; i <= 10; i++) { yield* sleep(1); tx.send(i); } })());
        return yield* rx.waitFor((x) => x >= 7);
      })(),
    );
    expect(v).toBe(7);
    expect(() => rx.waitFor(5 as never)).toThrow(TypeError);
  });

  test('cancel-safe: a changed() dropped by select leaves the change for the next call', () => {
    const [tx, rx] = watch.channel(0);
    const r = rt.blockOn(
      (function* (): Async<number> {
        pauseClock();
        const first = yield* select({ t: sleep(1), c: rx.changed() });
        expect(first.key).toBe('t');
        tx.send(5);
        const s = yield* select({ now: sleep(0), c: rx.changed() }); // `now` wins; the change stays unseen
        expect(s.key).toBe('now');
        expect(rx.hasChanged()).toBe(true);
        return yield* rx.changed();
      })(),
    );
    expect(r).toBe(5);
  });

  test('closing a receiver ends its own waiting changed()', () => {
    const [tx, rx] = watch.channel(0);
    const c = rx.changed();
    expect(c.poll(cx)).toBe(PENDING);
    rx.close();
    expect((catchErr(() => c.poll(cx)) as RecvError).kind).toBe('closed');
    expect(tx.isClosed()).toBe(true);
  });

  test('markChanged / markUnchanged / borrowAndUpdate', () => {
    const [tx, rx] = watch.channel('x');
    rx.markChanged();
    expect(rx.hasChanged()).toBe(true);
    rx.markUnchanged();
    expect(rx.hasChanged()).toBe(false);
    tx.send('y');
    expect(rx.borrowAndUpdate()).toBe('y');
    expect(rx.hasChanged()).toBe(false);
    expect(() => tx.sendModify('nope' as never)).toThrow(TypeError);
  });
});

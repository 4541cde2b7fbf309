// Notify: notifyOne (FIFO, a stored permit, no lost permit), notifyWaiters, cancel safety, load.
import { select } from '../lib/combinators';
import { PENDING, ready, type Async } from '../lib/future';
import { TimerRuntime } from '../lib/timer-runtime';
import { eachTimerRuntime } from './core-helpers';
import { Notify } from '../lib/sync';
import { pauseClock, sleep, timeout, yieldNow } from '../lib/time';
import { cx} from './helpers';

let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

describe('Notify', () => {
  test('notifyOne wakes the oldest waiter, one per call', () => {
    const n = new Notify();
    const log: number[] = [];
    for (let i = 0; i < 3; i++) rt.spawn((function* (): Async<void> { yield* n.notified(); log.push(i); })());
    rt.executor.run();
    expect(n.waiterCount).toBe(3);
    n.notifyOne();
    rt.executor.run();
    expect(log).toEqual([0]);
    n.notifyOne();
    n.notifyOne();
    rt.executor.run();
    expect(log).toEqual([0, 1, 2]);
  });

  test('notifyOne with nobody waiting stores one permit (not two): no lost wake-up', () => {
    const n = new Notify();
    n.notifyOne();
    n.notifyOne();
    expect(n.notified().poll(cx)).toBeUndefined(); // the permit
    const second = n.notified();
    expect(second.poll(cx)).toBe(PENDING); // permits do not add up
    second.drop();
    expect(n.waiterCount).toBe(0);
  });

  test('notifyWaiters wakes every waiter, and every Notified created before it, and stores no permit', () => {
    const n = new Notify();
    const a = n.notified();
    const b = n.notified();
    expect(a.poll(cx)).toBe(PENDING);
    const created = n.notified(); // created, never polled
    n.notifyWaiters();
    expect(a.poll(cx)).toBeUndefined();
    expect(created.poll(cx)).toBeUndefined();
    expect(b.poll(cx)).toBeUndefined();
    const after = n.notified();
    expect(after.poll(cx)).toBe(PENDING); // no permit stored
    after.drop();
  });

  test('a notified future dropped after being handed notifyOne passes it on (no lost permit)', () => {
    const n = new Notify();
    const first = n.notified();
    const second = n.notified();
    expect(first.poll(cx)).toBe(PENDING);
    expect(second.poll(cx)).toBe(PENDING);
    n.notifyOne(); // goes to `first`
    first.drop(); // ... which never takes it
    expect(second.poll(cx)).toBeUndefined();
    // And with nobody else waiting it becomes the permit.
    const lone = n.notified();
    expect(lone.poll(cx)).toBe(PENDING);
    n.notifyOne();
    lone.drop();
    expect(n.notified().poll(cx)).toBeUndefined();
  });

  test('cancel-safe: a waiter cancelled by select or timeout leaves the list, and loses no notification', () => {
    const n = new Notify();
    const got = rt.blockOn(
      (function* (): Async<string[]> {
        pauseClock();
        const out: string[] = [];
        for (let i = 0; i < 10; i++) {
          const r = yield* select({ woke: n.notified(), idle: sleep(5) });
          out.push(r.key);
          expect(n.waiterCount).toBe(0);
        }
        // A waker that fires while the select's other branch also completes in the same poll.
        rt.spawn((function* (): Async<void> { yield* sleep(3); n.notifyOne(); })());
        const r = yield* select({ idle: sleep(3), woke: n.notified() });
        out.push(r.key);
        yield* timeout(n.notified(), 100); // the notification was kept as the permit: at once
        out.push('kept');
        return out;
      })(),
    );
    expect(got.slice(0, 10)).toEqual(Array(10).fill('idle'));
    expect(got.slice(10)).toEqual(['idle', 'kept']);
  });

  test('a ready branch beats a notified one; the notification is not consumed', () => {
    const n = new Notify();
    n.notifyOne();
    const r = rt.blockOn(select({ now: ready(1), later: n.notified() }));
    expect(r.key).toBe('now');
    // `later` was dropped before its first poll: the permit is still there.
    expect(n.notified().poll(cx)).toBeUndefined();
  });

  test('1,000 waiting tasks are woken in FIFO order, each exactly once', () => {
    const n = new Notify();
    const order: number[] = [];
    const N = 1000;
    rt.blockOn(
      (function* (): Async<void> {
        const hs = [];
        for (let i = 0; i < N; i++) hs.push(rt.spawn((function* (): Async<void> { yield* n.notified(); order.push(i); })()));
        yield* yieldNow();
        expect(n.waiterCount).toBe(N);
        for (let i = 0; i < N; i++) {
          n.notifyOne();
          if (i % 100 === 0) yield* yieldNow();
        }
        for (const h of hs) yield* h;
      })(),
    );
    expect(order).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(n.waiterCount).toBe(0);
  });

  test('producer / consumer with 1,000 contending consumers: every notification reaches someone', () => {
    const n = new Notify();
    let woken = 0;
    rt.blockOn(
      (function* (): Async<void> {
        pauseClock();
        const hs = [];
        for (let i = 0; i < 1000; i++) {
          hs.push(
            rt.spawn(
              (function* (): Async<void> {
                // Some consumers give up and retry: cancelled waits must not swallow notifications.
                for (;;) {
                  const r = yield* select({ ok: n.notified(), retry: sleep(1 + (i % 5)) });
                  if (r.key === 'ok') break;
                }
                woken++;
              })(),
            ),
          );
        }
        for (let i = 0; i < 1000; i++) {
          n.notifyOne();
          if (i % 7 === 0) yield* sleep(1);
        }
        for (const h of hs) yield* h;
      })(),
    );
    expect(woken).toBe(1000);
  });
});

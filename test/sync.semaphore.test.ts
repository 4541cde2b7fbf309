// Semaphore: fairness (FIFO), permits released on cancel, close, misuse errors, load.
import { TimeoutError } from '../lib/errors';
import { PENDING, type Async } from '../lib/future';
import { TimerRuntime } from '../lib/timer-runtime';
import { eachTimerRuntime } from './core-helpers';
import { AcquireError, Semaphore } from '../lib/sync';
import { pauseClock, sleep, timeout, yieldNow } from '../lib/time';
import { cx, rng } from './helpers';

let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

describe('Semaphore', () => {
  test('acquire, release, availablePermits', () => {
    const sem = new Semaphore(3);
    const p = rt.blockOn(sem.acquire(2));
    expect(p.count).toBe(2);
    expect(sem.availablePermits()).toBe(1);
    p.release();
    expect(sem.availablePermits()).toBe(3);
  });

  test('fair FIFO: a large request is not starved by small ones behind it', () => {
    const sem = new Semaphore(2);
    const order: string[] = [];
    rt.blockOn(
      (function* (): Async<void> {
        pauseClock();
        const held = yield* sem.acquire(1);
        const big = rt.spawn((function* (): Async<void> { const p = yield* sem.acquire(2); order.push('big'); yield* sleep(1); p.release(); })());
        yield* yieldNow();
        // One permit is free, but `big` (needing 2) is first in line: small ones queue behind it.
        const smalls = [0, 1, 2].map((i) => rt.spawn((function* (): Async<void> { const p = yield* sem.acquire(1); order.push(`small${i}`); p.release(); })()));
        yield* yieldNow();
        expect(order).toEqual([]);
        expect(sem.tryAcquire(1)).toBeNull(); // tryAcquire does not jump the queue either
        held.release();
        yield* big;
        for (const h of smalls) yield* h;
      })(),
    );
    expect(order).toEqual(['big', 'small0', 'small1', 'small2']);
    expect(sem.availablePermits()).toBe(2);
  });

  test('cancel-safe: a cancelled acquire leaks no permit, whether still queued or already granted', () => {
    const sem = new Semaphore(0);
    // Queued, then dropped.
    const a = sem.acquire(2);
    expect(a.poll(cx)).toBe(PENDING);
    expect(sem.waiterCount).toBe(1);
    a.drop();
    expect(sem.waiterCount).toBe(0);
    // Granted (woken) but dropped before it was polled again: the permits go back.
    const b = sem.acquire(2);
    expect(b.poll(cx)).toBe(PENDING);
    sem.addPermits(2);
    expect(sem.availablePermits()).toBe(0); // handed to b
    b.drop();
    expect(sem.availablePermits()).toBe(2);
  });

  test('dropping the head waiter lets the waiters behind it through', () => {
    const sem = new Semaphore(1);
    const big = sem.acquire(5);
    const small = sem.acquire(1);
    expect(big.poll(cx)).toBe(PENDING);
    expect(small.poll(cx)).toBe(PENDING); // behind big, though a permit is free
    big.drop();
    const p = small.poll(cx);
    expect(p).not.toBe(PENDING);
    expect(sem.availablePermits()).toBe(0);
  });

  test('acquire cancelled by timeout / select under load: every permit comes back', () => {
    const sem = new Semaphore(5);
    const rand = rng(7);
    let maxHeld = 0;
    let held = 0;
    let timedOut = 0;
    rt.blockOn(
      (function* (): Async<void> {
        pauseClock();
        const hs = [];
        for (let i = 0; i < 1000; i++) {
          const wait = 1 + Math.floor(rand() * 20);
          const work = 1 + Math.floor(rand() * 5);
          hs.push(
            rt.spawn(
              (function* (): Async<void> {
                let p;
                try {
                  p = yield* timeout(sem.acquire(1 + (i % 2)), wait);
                } catch (e) {
                  if (!(e instanceof TimeoutError)) throw e;
                  timedOut++;
                  return;
                }
                held += p.count;
                maxHeld = Math.max(maxHeld, held);
                try {
                  yield* sleep(work);
                } finally {
                  held -= p.count;
                  p.release();
                }
              })(),
            ),
          );
        }
        for (const h of hs) yield* h;
      })(),
    );
    expect(timedOut).toBeGreaterThan(0);
    expect(maxHeld).toBeLessThanOrEqual(5);
    expect(sem.availablePermits()).toBe(5);
    expect(sem.waiterCount).toBe(0);
  });

  test('1,000 contending tasks: at most `permits` inside at once, all served in FIFO order', () => {
    const sem = new Semaphore(3);
    let inside = 0;
    let max = 0;
    const order: number[] = [];
    rt.blockOn(
      (function* (): Async<void> {
        const hs = [];
        for (let i = 0; i < 1000; i++) {
          hs.push(
            rt.spawn(
              (function* (): Async<void> {
                const p = yield* sem.acquire();
                try {
                  order.push(i);
                  inside++;
                  max = Math.max(max, inside);
                  yield* yieldNow();
                  inside--;
                } finally {
                  p.release();
                }
              })(),
            ),
          );
        }
        for (const h of hs) yield* h;
      })(),
    );
    expect(max).toBe(3);
    expect(order).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(sem.availablePermits()).toBe(3);
  });

  test('close: waiting and later acquires throw AcquireError; held permits stay valid', () => {
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const w = sem.acquire();
    expect(w.poll(cx)).toBe(PENDING);
    sem.close();
    expect(() => w.poll(cx)).toThrow(AcquireError);
    expect(() => rt.blockOn(sem.acquire())).toThrow(AcquireError);
    expect(() => sem.tryAcquire()).toThrow(AcquireError);
    held.release();
    expect(sem.availablePermits()).toBe(1);
  });

  test('misuse is a clear error and loses nothing', () => {
    expect(() => new Semaphore(-1)).toThrow(RangeError);
    expect(() => new Semaphore(-1)).toThrow(/permits.*-1/);
    expect(() => new Semaphore(1.5)).toThrow(TypeError);
    expect(() => new Semaphore('3' as never)).toThrow(TypeError);
    const sem = new Semaphore(2);
    expect(() => sem.acquire(-1)).toThrow(RangeError);
    expect(() => sem.acquire(NaN)).toThrow(TypeError);
    expect(() => sem.tryAcquire(-2)).toThrow(RangeError);
    expect(() => sem.addPermits(-1)).toThrow(RangeError);
    expect(() => sem.addPermits(Number.MAX_SAFE_INTEGER)).toThrow(RangeError);
    const p = sem.tryAcquire(2)!;
    p.release();
    expect(() => p.release()).toThrow(/already released/);
    expect(sem.availablePermits()).toBe(2); // the double release added nothing
    const q = sem.tryAcquire(1)!;
    q.forget();
    expect(sem.availablePermits()).toBe(1);
    expect(() => q.release()).toThrow(/already released or forgotten/);
  });
});

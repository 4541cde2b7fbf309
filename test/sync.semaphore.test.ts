// Semaphore, Mutex, Barrier: fairness (FIFO), permits released on cancel, misuse errors, load.
import { join, select } from '../lib/combinators';
import { TimeoutError } from '../lib/errors';
import { PENDING, type Async } from '../lib/future';
import { Runtime } from '../lib/runtime';
import { AcquireError, Barrier, Mutex, Semaphore } from '../lib/sync';
import { now, pause, sleep, timeout, yieldNow } from '../lib/time';
import { cx, eachRuntime, rng } from './helpers';

let rt: Runtime;
eachRuntime((r) => (rt = r));

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
        pause();
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
        pause();
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

describe('Mutex', () => {
  test('mutual exclusion across suspension points, FIFO, with 1,000 contending tasks', () => {
    const m = new Mutex({ n: 0, holder: -1 });
    const order: number[] = [];
    let overlaps = 0;
    rt.blockOn(
      (function* (): Async<void> {
        const hs = [];
        for (let i = 0; i < 1000; i++) {
          hs.push(
            rt.spawn(
              (function* (): Async<void> {
                const g = yield* m.lock();
                try {
                  if (g.value.holder !== -1) overlaps++;
                  g.value.holder = i;
                  order.push(i);
                  const n = g.value.n;
                  yield* yieldNow(); // others run meanwhile; none may enter
                  g.value.n = n + 1;
                  g.value.holder = -1;
                } finally {
                  g.release();
                }
              })(),
            ),
          );
        }
        for (const h of hs) yield* h;
      })(),
    );
    expect(overlaps).toBe(0);
    expect(rt.blockOn(m.withLock((g) => g.value.n))).toBe(1000);
    expect(order).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(m.isLocked()).toBe(false);
  });

  test('withLock releases on return, throw and cancel', () => {
    const m = new Mutex(0);
    rt.blockOn(m.withLock(function* (g): Async<void> { g.value = 1; yield* yieldNow(); }));
    expect(m.isLocked()).toBe(false);
    expect(() => rt.blockOn(m.withLock((): number => { throw new Error('inside'); }))).toThrow('inside');
    expect(m.isLocked()).toBe(false);
    expect(() =>
      rt.blockOn(
        (function* (): Async<void> {
          pause();
          yield* timeout(m.withLock(function* (): Async<void> { yield* sleep(1000); }), 10);
        })(),
      ),
    ).toThrow(TimeoutError);
    expect(m.isLocked()).toBe(false);
    expect(rt.blockOn(m.withLock((g) => g.value))).toBe(1);
  });

  test('cancel-safe: a lock() cancelled after it was handed the lock gives it back', () => {
    const m = new Mutex('v');
    const g = m.tryLock()!;
    const waiting = m.lock();
    expect(waiting.poll(cx)).toBe(PENDING);
    g.release(); // hands the lock to `waiting`
    expect(m.isLocked()).toBe(true);
    waiting.drop(); // ... which is cancelled before it sees it
    expect(m.isLocked()).toBe(false);
    expect(m.tryLock()).not.toBeNull();
  });

  test('a select between lock() and a timer does not leave the mutex locked', () => {
    const m = new Mutex(0);
    const r = rt.blockOn(
      (function* (): Async<string[]> {
        pause();
        const out: string[] = [];
        const holder = rt.spawn(m.withLock(function* (): Async<void> { yield* sleep(50); }));
        yield* yieldNow();
        for (let i = 0; i < 10; i++) {
          const s = yield* select({ lock: m.lock(), tick: sleep(10) });
          out.push(s.key);
          if (s.key === 'lock') s.value.release();
        }
        yield* holder;
        return out;
      })(),
    );
    expect(r.slice(0, 4)).toEqual(['tick', 'tick', 'tick', 'tick']);
    expect(r).toContain('lock');
    expect(m.isLocked()).toBe(false);
    expect(m.waiterCount).toBe(0);
  });

  test('releasing a lock that is not held is a clear error', () => {
    const m = new Mutex([1]);
    const g = m.tryLock()!;
    expect(m.tryLock()).toBeNull();
    g.release();
    expect(() => g.release()).toThrow(/already released, so the lock is not held/);
    expect(() => g.value).toThrow(/already released/);
    expect(() => {
      g.value = [2];
    }).toThrow(/already released/);
    expect(m.isLocked()).toBe(false);
    expect(() => rt.blockOn(m.withLock(3 as never))).toThrow(TypeError);
  });
});

describe('Barrier', () => {
  test('releases the group together; exactly one leader per group; reusable', () => {
    const b = new Barrier(3);
    const log: string[] = [];
    rt.blockOn(
      (function* (): Async<void> {
        pause();
        const start = now();
        const hs = [0, 1, 2, 3, 4, 5].map((i) =>
          rt.spawn(
            (function* (): Async<void> {
              yield* sleep(i * 10);
              const r = yield* b.wait();
              log.push(`${i}@${now() - start}${r.isLeader ? ' leader' : ''}`);
            })(),
          ),
        );
        for (const h of hs) yield* h;
      })(),
    );
    // The last arrival of each group leads and goes on at once; the others are woken in arrival order.
    expect(log).toEqual(['2@20 leader', '0@20', '1@20', '5@50 leader', '3@50', '4@50']);
  });

  test('1,000 tasks through a barrier of 10: 100 groups, 100 leaders', () => {
    const b = new Barrier(10);
    let leaders = 0;
    let passed = 0;
    rt.blockOn(
      (function* (): Async<void> {
        const hs = [];
        for (let i = 0; i < 1000; i++) hs.push(rt.spawn((function* (): Async<void> { if ((yield* b.wait()).isLeader) leaders++; passed++; })()));
        for (const h of hs) yield* h;
      })(),
    );
    expect(leaders).toBe(100);
    expect(passed).toBe(1000);
  });

  test('cancel-safe: a wait cancelled before the release withdraws its arrival', () => {
    const b = new Barrier(2);
    const w = b.wait();
    expect(w.poll(cx)).toBe(PENDING);
    w.drop();
    // Had the dropped wait still counted, this one would be released alone.
    const w2 = b.wait();
    expect(w2.poll(cx)).toBe(PENDING);
    const w3 = b.wait();
    expect(w3.poll(cx)).toEqual({ isLeader: true });
    expect(w2.poll(cx)).toEqual({ isLeader: false });
    expect(() =>
      rt.blockOn(
        (function* (): Async<unknown> {
          pause();
          return yield* join(timeout(b.wait(), 5), timeout(b.wait(), 50));
        })(),
      ),
    ).not.toThrow(); // both arrive: released together before either timeout
  });

  test('bad sizes are rejected', () => {
    expect(() => new Barrier(0)).toThrow(RangeError);
    expect(() => new Barrier(-3)).toThrow(RangeError);
    expect(() => new Barrier(2.5)).toThrow(TypeError);
    expect(new Barrier(1).wait().poll(cx)).toEqual({ isLeader: true });
  });
});

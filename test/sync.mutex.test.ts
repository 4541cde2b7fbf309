// Mutex: mutual exclusion across suspension points, FIFO, the lock given back on return, throw
// and cancel, misuse errors, load.
import { select } from '../lib/combinators';
import { TimeoutError } from '../lib/errors';
import { PENDING, type Async } from '../lib/future';
import { TimerRuntime } from '../lib/timer-runtime';
import { eachTimerRuntime } from './core-helpers';
import { Mutex } from '../lib/sync';
import { pauseClock, sleep, timeout, yieldNow } from '../lib/time';
import { cx} from './helpers';

let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

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
          pauseClock();
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
        pauseClock();
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

// The paused clock for users' tests (tokio's test-util): pause / advance / resume, auto-advance
// only when every task is idle, exact virtual time, and a deterministic order of events.
import { join, select } from '../lib/combinators';
import { TimeoutError } from '../lib/errors';
import type { Async } from '../lib/future';
import { TimerRuntime } from '../lib/timer-runtime';
import { eachTimerRuntime } from './core-helpers';
import { mpsc, Mutex } from '../lib/sync';
import { advanceClock, interval, now, pauseClock, resumeClock, sleep, timeout, yieldNow } from '../lib/time';
import { rng } from './helpers';

let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

/**
 * A small simulation: workers sleep for seeded random times, take a mutex, send to a bounded
 * channel; a consumer reads with a timeout. Returns the log of (virtual time, event).
 */
function simulate(runtime: TimerRuntime, seed: number): string[] {
  return runtime.blockOn(
    (function* (): Async<string[]> {
      pauseClock();
      const start = now();
      const t = (): number => now() - start;
      const rand = rng(seed);
      const log: string[] = [];
      const lock = new Mutex(0);
      const [tx, rx] = mpsc.channel<string>(4);
      for (let w = 0; w < 50; w++) {
        const mine = tx.clone();
        const delays = Array.from({ length: 5 }, () => Math.floor(rand() * 100));
        runtime.spawn(
          (function* (): Async<void> {
            try {
              for (const d of delays) {
                yield* sleep(d);
                const g = yield* lock.lock();
                try {
                  g.value++;
                  log.push(`${t()} w${w} locked #${g.value}`);
                  yield* sleep(1);
                } finally {
                  g.release();
                }
                yield* mine.send(`w${w}@${t()}`);
              }
            } finally {
              mine.close();
            }
          })(),
        );
      }
      tx.close();
      for (;;) {
        try {
          const m = yield* timeout(rx.next(), 30);
          if (m.done) break;
          log.push(`${t()} got ${m.value}`);
        } catch (e) {
          if (!(e instanceof TimeoutError)) throw e;
          log.push(`${t()} idle`);
        }
      }
      log.push(`${t()} end`);
      return log;
    })(),
  );
}

describe('paused clock', () => {
  test('a seeded simulation replays identically, event for event', () => {
    const a = simulate(rt, 42);
    const rt2 = new TimerRuntime();
    let b: string[];
    try {
      b = simulate(rt2, 42);
    } finally {
      rt2.close();
    }
    expect(a.length).toBeGreaterThan(500);
    expect(b).toEqual(a);
    const times = a.map((l) => Number(l.split(' ')[0]));
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1]);
    expect(a.filter((l) => l.includes('locked')).length).toBe(250);
    expect(a.filter((l) => l.includes(' got ')).length).toBe(250);
  });

  test('virtual time is exact: pauseClock() starts at a whole millisecond and deadlines are met exactly', () => {
    const r = rt.blockOn(
      (function* (): Async<number[]> {
        pauseClock();
        const t0 = now();
        expect(Number.isInteger(t0)).toBe(true);
        const out: number[] = [];
        for (const d of [1, 0.5, 300, 2.25, 10_000]) {
          yield* sleep(d);
          out.push(now() - t0);
        }
        return out;
      })(),
    );
    expect(r).toEqual([1, 1.5, 301.5, 303.75, 10_303.75]);
  });

  test('auto-advance happens only when every task is idle', () => {
    const log: string[] = [];
    rt.blockOn(
      (function* (): Async<void> {
        pauseClock();
        const t0 = now();
        const sleeper = rt.spawn((function* (): Async<void> { yield* sleep(1); log.push(`sleeper woke at ${now() - t0}`); })());
        const busy = rt.spawn(
          (function* (): Async<void> {
            for (let i = 0; i < 1000; i++) yield* yieldNow(); // always runnable: time must not move
            log.push(`busy done at ${now() - t0}`);
          })(),
        );
        yield* join(sleeper, busy);
      })(),
    );
    expect(log).toEqual(['busy done at 0', 'sleeper woke at 1']);
  });

  test('timers with equal deadlines fire in the order they were created; tasks run in wake order', () => {
    const order: number[] = [];
    rt.blockOn(
      (function* (): Async<void> {
        pauseClock();
        const hs = [];
        for (let i = 0; i < 100; i++) hs.push(rt.spawn((function* (): Async<void> { yield* sleep(i % 2 === 0 ? 10 : 5); order.push(i); })()));
        for (const h of hs) yield* h;
      })(),
    );
    const odds = Array.from({ length: 50 }, (_, k) => 2 * k + 1);
    const evens = Array.from({ length: 50 }, (_, k) => 2 * k);
    expect(order).toEqual([...odds, ...evens]);
  });

  test('advanceClock() fires exactly the timers that became due, in order, none early (auto-advance off)', () => {
    const fired: number[] = [];
    rt.blockOn(
      (function* (): Async<void> {
        pauseClock();
        rt.timers.clock.autoAdvance = false;
        try {
          for (const d of [30, 10, 20, 20.5]) rt.spawn((function* (): Async<void> { yield* sleep(d); fired.push(d); })());
          yield* yieldNow();
          yield* advanceClock(9.999);
          expect(fired).toEqual([]);
          yield* advanceClock(0.001);
          expect(fired).toEqual([10]);
          yield* advanceClock(10);
          expect(fired).toEqual([10, 20]);
          yield* advanceClock(100);
          yield* yieldNow();
          expect(fired).toEqual([10, 20, 20.5, 30]);
        } finally {
          rt.timers.clock.autoAdvance = true;
        }
      })(),
    );
  });

  test('timeout and select race timers deterministically in virtual time', () => {
    const r = rt.blockOn(
      (function* (): Async<string[]> {
        pauseClock();
        const t0 = now();
        const out: string[] = [];
        try {
          yield* timeout(sleep(100), 99.5);
        } catch (e) {
          out.push(`${(e as Error).name} at ${now() - t0}`);
        }
        const s = yield* select({ a: sleep(7), b: sleep(7), c: sleep(3) });
        out.push(`${s.key} at ${now() - t0}`);
        const tie = yield* select({ a: sleep(5), b: sleep(5) }); // same deadline: created first, fires first
        out.push(`${tie.key} at ${now() - t0}`);
        return out;
      })(),
    );
    expect(r).toEqual(['TimeoutError at 99.5', 'c at 102.5', 'a at 107.5']);
    expect(rt.timers.size).toBe(0);
  });

  test('the embedded driver auto-advances too: an hour of sleeps takes no real hour', async () => {
    const h = rt.spawn(
      (function* (): Async<number> {
        pauseClock();
        const t0 = now();
        const iv = interval(60_000);
        for (let i = 0; i < 61; i++) yield* iv.tick();
        return now() - t0;
      })(),
    );
    expect(await h.promise()).toBe(3_600_000);
  });

  test('a timer cancelled while an auto-advance is pending does not send the clock to Infinity', async () => {
    const h = rt.spawn(
      (function* (): Async<void> {
        pauseClock();
        yield* sleep(100);
      })(),
    );
    await Promise.resolve(); // the first turn runs; an auto-advance is now scheduled for t+100
    h.abort();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(Number.isFinite(rt.timers.clock.now())).toBe(true);
    await expect(h.promise()).rejects.toThrow(/cancelled/);
    // The runtime still works afterwards.
    const h2 = rt.spawn((function* (): Async<number> { const t0 = now(); yield* sleep(5); return now() - t0; })());
    expect(await h2.promise()).toBe(5);
  });

  test('resumeClock() continues from the paused instant: the clock never goes backwards', () => {
    const [paused, after] = rt.blockOn(
      (function* (): Async<[number, number]> {
        pauseClock();
        yield* sleep(50_000);
        const p = now();
        resumeClock();
        const a = now();
        yield* sleep(1);
        return [p, a];
      })(),
    );
    expect(after).toBeGreaterThanOrEqual(paused);
    expect(after - paused).toBeLessThan(10_000); // continued from the paused instant, not real time
    expect(rt.timers.clock.paused).toBe(false);
  });

  test('with auto-advance off and nothing to advance the clock, blockOn reports a deadlock instead of hanging', () => {
    expect(() =>
      rt.blockOn(
        (function* (): Async<void> {
          pauseClock();
          rt.timers.clock.autoAdvance = false;
          yield* sleep(10);
        })(),
      ),
    ).toThrow(/paused with auto-advance off/);
  });

  test('misuse: advance without pause, negative or NaN advance', () => {
    rt.blockOn(
      (function* (): Async<void> {
        expect(() => advanceClock(5)).toThrow(/paused clock/);
        pauseClock();
        expect(() => advanceClock(-1)).toThrow(RangeError);
        expect(() => advanceClock(NaN)).toThrow(TypeError);
        resumeClock();
      })(),
    );
  });
});

// Timers: order, never early, cancel, timeout, interval, the paused clock.
import { TimeoutError } from '../lib/errors';
import type { Async } from '../lib/future';
import { TimerRuntime } from '../lib/timer-runtime';
import { eachTimerRuntime } from './core-helpers';
import { advanceClock, interval, now, pauseClock, sleep, sleepUntil, timeout, yieldNow } from '../lib/time';


let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

const hrMs = (): number => Number(process.hrtime.bigint()) / 1e6;

describe('time', () => {
  test('timers fire in deadline order and never early (blockOn)', () => {
    const fired: Array<[number, number]> = [];
    const delays = [30, 5, 20, 5, 0, 12, 1];
    const deadlines: number[] = [];
    rt.blockOn(
      (function* (): Async<void> {
        const hs = delays.map((d, i) =>
          rt.spawn(
            (function* (): Async<void> {
              const t0 = hrMs();
              const s = sleep(d);
              try {
                yield* s;
              } finally {
                deadlines[i] = s.when; // fixed at the first poll
              }
              fired.push([i, hrMs() - t0]);
            })(),
          ),
        );
        for (const h of hs) yield* h;
      })(),
    );
    const order = fired.map(([i]) => i);
    // In deadline order, equal deadlines in the order they were set (a stall between two first
    // polls moves deadlines, so the expectation comes from the deadlines, not from the delays).
    const expected = delays.map((_, i) => i).sort((a, b) => deadlines[a] - deadlines[b] || a - b);
    expect(order).toEqual(expected);
    for (const [i, elapsed] of fired) expect(elapsed).toBeGreaterThanOrEqual(delays[i]);
  });

  test('timers fire in order and never early (embedded driver)', async () => {
    const fired: number[] = [];
    const deadlines = new Map<number, number>();
    const t0 = hrMs();
    const hs = [25, 10, 15].map((d) =>
      rt.spawn(
        (function* (): Async<number> {
          const s = sleep(d);
          yield* s;
          deadlines.set(d, s.when);
          fired.push(d);
          return hrMs() - t0;
        })(),
      ),
    );
    const elapsed = await Promise.all(hs.map((h) => h.promise()));
    expect(fired).toEqual([...fired].sort((a, b) => deadlines.get(a)! - deadlines.get(b)!));
    expect(new Set(fired)).toEqual(new Set([10, 15, 25]));
    expect(elapsed[0]).toBeGreaterThanOrEqual(25);
    expect(elapsed[1]).toBeGreaterThanOrEqual(10);
  });

  test('a sleep measures from its first poll (lazy)', () => {
    const s = sleep(20);
    const t0 = hrMs();
    rt.blockOn(s);
    expect(hrMs() - t0).toBeGreaterThanOrEqual(20);
  });

  test('sleepUntil a past deadline completes at once', () => {
    rt.blockOn(
      (function* (): Async<void> {
        yield* sleepUntil(now() - 5);
      })(),
    );
    expect(rt.timers.size).toBe(0);
  });

  test('timeout fails with TimeoutError and cancels the inner future', () => {
    const log: string[] = [];
    function* slow(): Async<string> {
      try {
        yield* sleep(10_000);
        return 'slow';
      } finally {
        log.push('inner finally');
      }
    }
    expect(() => rt.blockOn(timeout(slow(), 10))).toThrow(TimeoutError);
    expect(log).toEqual(['inner finally']);
    expect(rt.timers.size).toBe(0);
  });

  test('timeout passes the value through when the inner future wins', () => {
    function* fast(): Async<string> {
      yield* sleep(1);
      return 'fast';
    }
    expect(rt.blockOn(timeout(fast(), 5_000))).toBe('fast');
    expect(rt.timers.size).toBe(0);
  });

  test('100,000 timers insert, cancel and fire in order', () => {
    const t = rt.timers;
    const fired: number[] = [];
    const entries = [];
    for (let i = 0; i < 100_000; i++) {
      const d = (i * 7919) % 1000;
      entries.push(t.insert(d, { wakeByRef: () => fired.push(d) } as never));
    }
    for (let i = 0; i < 100_000; i += 2) t.cancel(entries[i]);
    expect(t.size).toBe(50_000);
    t.fire(499.5);
    for (let i = 1; i < fired.length; i++) expect(fired[i]).toBeGreaterThanOrEqual(fired[i - 1]);
    t.fire(1000);
    expect(fired.length).toBe(50_000);
    expect(t.size).toBe(0);
  });

  test('bad durations are TypeError / RangeError naming the value', () => {
    expect(() => sleep(-1)).toThrow(RangeError);
    expect(() => sleep(NaN)).toThrow(TypeError);
    expect(() => sleep('5' as never)).toThrow(TypeError);
    expect(() => timeout(sleep(1), Infinity)).toThrow(RangeError);
    expect(() => interval(0)).toThrow(RangeError);
    expect(() => interval(5, 'sometimes' as never)).toThrow(TypeError);
  });

  describe('paused clock', () => {
    test('sleeps complete instantly and in order under a paused clock (auto-advance)', () => {
      const log: string[] = [];
      const t0 = hrMs();
      const virtual = rt.blockOn(
        (function* (): Async<number> {
          pauseClock();
          const start = now();
          const a = rt.spawn((function* (): Async<void> { yield* sleep(3_600_000); log.push('hour'); })());
          const b = rt.spawn((function* (): Async<void> { yield* sleep(60_000); log.push('minute'); })());
          yield* a;
          yield* b;
          return now() - start;
        })(),
      );
      expect(log).toEqual(['minute', 'hour']);
      expect(virtual).toBe(3_600_000);
      expect(hrMs() - t0).toBeLessThan(30_000); // not an hour; no tight timing
    });

    test('advance fires exactly the timers that became due', () => {
      const log: number[] = [];
      rt.blockOn(
        (function* (): Async<void> {
          pauseClock();
          rt.timers.clock.autoAdvance = false;
          for (const d of [10, 20, 30]) rt.spawn((function* (): Async<void> { yield* sleep(d); log.push(d); })());
          yield* yieldNow();
          yield* advanceClock(20);
          yield* yieldNow();
          expect(log).toEqual([10, 20]);
          yield* advanceClock(10);
          yield* yieldNow();
          expect(log).toEqual([10, 20, 30]);
        })(),
      );
    });

    test('interval ticks on schedule; missed ticks burst by default, or skip, or delay', () => {
      const run = (missed: 'burst' | 'skip' | 'delay'): number[] =>
        rt.blockOn(
          (function* (): Async<number[]> {
            pauseClock();
            rt.timers.clock.autoAdvance = true;
            const start = now();
            const iv = interval(10, missed);
            const ticks: number[] = [];
            ticks.push((yield* iv.tick()) - start); // immediate
            rt.timers.clock.advance(35); // busy for 35 ms: ticks at 10, 20, 30 were missed
            for (let i = 0; i < 3; i++) ticks.push((yield* iv.tick()) - start);
            rt.timers.clock.resume();
            return ticks;
          })(),
        );
      expect(run('burst')).toEqual([0, 10, 20, 30]);
      expect(run('skip')).toEqual([0, 10, 40, 50]);
      expect(run('delay')).toEqual([0, 10, 45, 55]);
    });
  });
});

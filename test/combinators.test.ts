// Combinators (join, tryJoin, select, race, joinAll): typed results, cancellation of losers with
// their finally blocks, per-child wakers, errors, bad input.
import { join, joinAll, race, select, tryJoin, tryJoinAll } from '../lib/combinators';
import { TimeoutError } from '../lib/errors';
import { FutureBase, PENDING, never, ready, type Async, type Context, type Poll, type Waker } from '../lib/future';
import { TimerRuntime } from '../lib/timer-runtime';
import { after, eachTimerRuntime, failAfter } from './core-helpers';
import { now, pauseClock, sleep, timeout, yieldNow } from '../lib/time';


let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

/** A future the test opens by hand; counts its polls. */
class Gate<T> extends FutureBase<T> {
  polls = 0;
  drops = 0;
  waker: Waker | null = null;
  value: T | typeof PENDING = PENDING;
  poll(cx: Context): Poll<T> {
    this.polls++;
    this.waker = cx.waker;
    return this.value;
  }
  open(v: T): void {
    this.value = v;
    this.waker?.wake();
  }
  override drop(): void {
    this.drops++;
  }
}

describe('join', () => {
  test('gives a typed tuple in argument order, the children running concurrently', () => {
    const log: string[] = [];
    const [r, elapsed] = rt.blockOn(
      (function* (): Async<[[number, string, boolean, void], number]> {
        pauseClock();
        const t0 = now();
        const out = yield* join(after(300, 1, log, 'a'), after(100, 'two', log, 'b'), ready(true), sleep(200));
        const typed: [number, string, boolean, void] = out; // compile-time check of the tuple type
        return [typed, now() - t0];
      })(),
    );
    expect(r).toEqual([1, 'two', true, undefined]);
    expect(elapsed).toBe(300); // concurrent: the longest, not the sum
    expect(log).toEqual(['a start', 'b start', 'b end', 'b finally', 'a end', 'a finally']);
  });

  test('of nothing is an empty tuple at once', () => {
    expect(rt.blockOn(join())).toEqual([]);
  });

  test('a child that throws does not cancel the others; the first error is thrown after all finish', () => {
    const log: string[] = [];
    expect(() =>
      rt.blockOn(
        (function* (): Async<unknown> {
          pauseClock();
          return yield* join(after(50, 1, log, 'slow'), failAfter(10, 'first'), failAfter(20, 'second'));
        })(),
      ),
    ).toThrow('first');
    expect(log).toEqual(['slow start', 'slow end', 'slow finally']);
  });

  test('polls only the child that was woken (per-child wakers)', () => {
    const gates = Array.from({ length: 100 }, () => new Gate<number>());
    const h = rt.spawn(joinAll(gates));
    rt.executor.run();
    expect(gates.every((g) => g.polls === 1)).toBe(true);
    gates[42].open(42);
    rt.executor.run();
    expect(gates[42].polls).toBe(2);
    expect(gates.filter((g) => g.polls === 1).length).toBe(99);
    for (let i = 0; i < gates.length; i++) if (i !== 42) gates[i].open(i);
    rt.executor.run();
    expect(h.isFinished()).toBe(true);
    expect(gates.every((g) => g.polls === 2)).toBe(true);
  });

  test('joinAll over 1,000 generator futures, each yielding and sleeping', () => {
    const N = 1000;
    const out = rt.blockOn(
      (function* (): Async<number[]> {
        pauseClock();
        return yield* joinAll(
          Array.from({ length: N }, (_, i) =>
            (function* (): Async<number> {
              yield* yieldNow();
              yield* sleep(N - i);
              return i;
            })(),
          ),
        );
      })(),
    );
    expect(out).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(rt.timers.size).toBe(0);
  });

  test('dropping a join (timeout) cancels every child and runs their finally blocks', () => {
    const log: string[] = [];
    expect(() =>
      rt.blockOn(
        (function* (): Async<unknown> {
          pauseClock();
          return yield* timeout(join(after(100, 1, log, 'a'), after(200, 2, log, 'b')), 150);
        })(),
      ),
    ).toThrow(TimeoutError);
    expect(log).toEqual(['a start', 'b start', 'a end', 'a finally', 'b finally']);
    expect(rt.timers.size).toBe(0);
  });
});

describe('tryJoin', () => {
  test('gives the typed tuple when all succeed', () => {
    const log: string[] = [];
    const r = rt.blockOn(
      (function* (): Async<[string, number]> {
        pauseClock();
        return yield* tryJoin(after(5, 'x', log, 'a'), after(1, 7, log, 'b'));
      })(),
    );
    expect(r).toEqual(['x', 7]);
  });

  test('the first error cancels the rest (finally blocks run) and is thrown', () => {
    const log: string[] = [];
    let caught: unknown;
    rt.blockOn(
      (function* (): Async<void> {
        pauseClock();
        const t0 = now();
        try {
          yield* tryJoin(after(1000, 1, log, 'a'), failAfter(10, 'boom'), after(2000, 2, log, 'b'));
        } catch (e) {
          caught = e;
        }
        expect(now() - t0).toBe(10);
      })(),
    );
    expect((caught as Error).message).toBe('boom');
    expect(log).toEqual(['a start', 'b start', 'a finally', 'b finally']);
    expect(rt.timers.size).toBe(0);
  });

  test('tryJoinAll over a list', () => {
    expect(() => rt.blockOn(tryJoinAll([sleep(1), failAfter(2, 'x'), never<void>()]))).toThrow('x');
  });
});

describe('select and race', () => {
  test('select says, typed, which branch won; the losers are cancelled with their finally blocks run', () => {
    const log: string[] = [];
    const r = rt.blockOn(
      (function* (): Async<string> {
        pauseClock();
        const s = yield* select({ num: after(20, 5, log, 'num'), str: after(10, 'ten', log, 'str'), never: never<boolean>() });
        // The discriminated union narrows on key.
        if (s.key === 'num') return `num ${s.value.toFixed(0)}`;
        if (s.key === 'str') return `str ${s.value.toUpperCase()}`;
        return `never ${String(s.value satisfies boolean)}`;
      })(),
    );
    expect(r).toBe('str TEN');
    expect(log).toEqual(['num start', 'str start', 'str end', 'str finally', 'num finally']);
    expect(rt.timers.size).toBe(0);
  });

  test('select over an array gives the index', () => {
    const r = rt.blockOn(
      (function* (): Async<string> {
        pauseClock();
        const s = yield* select([sleep(30), after(10, 'b', [], 'b'), ready(3)]); // a typed tuple, no `as const` needed
        return `${s.index}:${String(s.value)}`;
      })(),
    );
    expect(r).toBe('2:3');
  });

  test('when several are ready at the first poll, the first argument wins (biased)', () => {
    const r = rt.blockOn(select({ a: ready('a'), b: ready('b') }));
    expect(r).toEqual({ key: 'a', value: 'a' });
  });

  test('race gives the first value and cancels the losers', () => {
    const log: string[] = [];
    const v = rt.blockOn(
      (function* (): Async<number | string> {
        pauseClock();
        return yield* race(after(30, 'slow', log, 'slow'), after(20, 2, log, 'fast'));
      })(),
    );
    expect(v).toBe(2);
    expect(log).toEqual(['slow start', 'fast start', 'fast end', 'fast finally', 'slow finally']);
  });

  test('a loser whose finally awaits finishes its cleanup as a task', () => {
    const log: string[] = [];
    function* loser(): Async<string> {
      try {
        yield* sleep(1000);
        return 'never';
      } finally {
        yield* sleep(5);
        log.push('async cleanup done');
      }
    }
    rt.blockOn(
      (function* (): Async<void> {
        pauseClock();
        const r = yield* race(loser(), sleep(10));
        expect(r).toBe(undefined);
        expect(log).toEqual([]);
        yield* sleep(10);
        expect(log).toEqual(['async cleanup done']);
      })(),
    );
    expect(rt.executor.tasks.size).toBe(0);
  });

  test('a branch that throws ends the select with its error and cancels the others', () => {
    const log: string[] = [];
    expect(() =>
      rt.blockOn(
        (function* (): Async<unknown> {
          pauseClock();
          return yield* select({ a: after(50, 1, log, 'a'), b: failAfter(5, 'bad branch') });
        })(),
      ),
    ).toThrow('bad branch');
    expect(log).toEqual(['a start', 'a finally']);
  });

  test('the woken child completes in the next poll; unwoken children are not polled again', () => {
    const a = new Gate<string>();
    const b = new Gate<string>();
    const h = rt.spawn(select({ a, b }));
    rt.executor.run();
    b.open('B');
    rt.executor.run();
    expect(a.polls).toBe(1);
    expect(b.polls).toBe(2);
    expect(a.drops).toBe(1); // the loser was dropped
    expect(h.isFinished()).toBe(true);
  });

  test('select in a loop: a timer branch per iteration does not leak timers', () => {
    const n = rt.blockOn(
      (function* (): Async<number> {
        pauseClock();
        let ticks = 0;
        for (let i = 0; i < 200; i++) {
          const r = yield* select({ tick: sleep(1), idle: sleep(1000) });
          if (r.key === 'tick') ticks++;
        }
        return ticks;
      })(),
    );
    expect(n).toBe(200);
    expect(rt.timers.size).toBe(0);
  });

  test('bad input is a TypeError / RangeError naming the problem', () => {
    expect(() => select(5 as never)).toThrow(TypeError);
    expect(() => select(sleep(1) as never)).toThrow(/single future/);
    expect(() => select({})).toThrow(RangeError);
    expect(() => select([])).toThrow(RangeError);
    expect(() => race()).toThrow(RangeError);
    expect(() => join(1 as never)).toThrow(/join\(\): argument 0/);
    expect(() => select({ a: Promise.resolve(1) as never })).toThrow(/select\(\{ a \}\).*fromPromise/);
    expect(() => joinAll(7 as never)).toThrow(TypeError);
    expect(() => race((function* () {}) as never)).toThrow(/race\(main\) got the generator function; call it: race\(main\(\)\)/);
  });
});

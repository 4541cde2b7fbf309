// JoinSet: outcomes in finish order, failures as outcomes, abort one or all (finally blocks run),
// joinAll, cancel safety of joinNext, shutdown with 1,000 tasks, bad input.
import { select } from '../lib/combinators';
import { CancelledError } from '../lib/errors';
import { never, ready, type Async } from '../lib/future';
import { JoinSet } from '../lib/joinset';
import { TimerRuntime } from '../lib/timer-runtime';
import { after, eachTimerRuntime, failAfter } from './core-helpers';
import { pauseClock, sleep, yieldNow } from '../lib/time';


let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

describe('JoinSet', () => {
  test('joinNext gives outcomes in the order the tasks finish, then undefined', () => {
    const order = rt.blockOn(
      (function* (): Async<number[]> {
        pauseClock();
        const set = new JoinSet<number>();
        for (const d of [30, 10, 20]) set.spawn((function* (): Async<number> { yield* sleep(d); return d; })());
        expect(set.size).toBe(3);
        const out: number[] = [];
        for (let r; (r = yield* set.joinNext()) !== undefined; ) {
          if (!r.ok) throw r.error;
          out.push(r.value);
        }
        expect(set.isEmpty()).toBe(true);
        return out;
      })(),
    );
    expect(order).toEqual([10, 20, 30]);
  });

  test('a failing task is an outcome, not an exception; the loop goes on', () => {
    const results = rt.blockOn(
      (function* (): Async<string[]> {
        pauseClock();
        const set = new JoinSet<string>();
        set.spawn(failAfter(5, 'bad'));
        set.spawn((function* (): Async<string> { yield* sleep(10); return 'good'; })());
        const out: string[] = [];
        for (let r; (r = yield* set.joinNext()) !== undefined; ) out.push(r.ok ? r.value : `error ${(r.error as Error).message}`);
        return out;
      })(),
    );
    expect(results).toEqual(['error bad', 'good']);
  });

  test('abortAll cancels every task (finally blocks run); their outcomes say cancelled', () => {
    const log: string[] = [];
    const outcomes = rt.blockOn(
      (function* (): Async<string[]> {
        pauseClock();
        const set = new JoinSet<number>();
        for (let i = 0; i < 3; i++) set.spawn(after(1000, i, log, `t${i}`));
        yield* yieldNow();
        set.abortAll();
        const out: string[] = [];
        for (let r; (r = yield* set.joinNext()) !== undefined; ) out.push(r.ok ? 'ok' : r.cancelled ? 'cancelled' : 'error');
        return out;
      })(),
    );
    expect(outcomes).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(log).toEqual(['t0 start', 't1 start', 't2 start', 't0 finally', 't1 finally', 't2 finally']);
    expect(rt.timers.size).toBe(0);
  });

  test('AbortHandle cancels one task', () => {
    const r = rt.blockOn(
      (function* (): Async<string[]> {
        pauseClock();
        const set = new JoinSet<string>();
        const h = set.spawn((function* (): Async<string> { yield* sleep(100); return 'a'; })());
        set.spawn((function* (): Async<string> { yield* sleep(50); return 'b'; })());
        yield* yieldNow();
        h.abort();
        const out: string[] = [];
        for (let x; (x = yield* set.joinNext()) !== undefined; ) out.push(x.ok ? x.value : x.error instanceof CancelledError ? `cancelled ${x.id === h.id}` : '?');
        return out;
      })(),
    );
    expect(r).toEqual(['cancelled true', 'b']);
  });

  test('joinAll returns values in finish order; a failure aborts the rest and is thrown', () => {
    const ok = rt.blockOn(
      (function* (): Async<number[]> {
        pauseClock();
        const set = new JoinSet<number>();
        for (const d of [3, 1, 2]) set.spawn((function* (): Async<number> { yield* sleep(d); return d; })());
        return yield* set.joinAll();
      })(),
    );
    expect(ok).toEqual([1, 2, 3]);
    const log: string[] = [];
    expect(() =>
      rt.blockOn(
        (function* (): Async<number[]> {
          pauseClock();
          const set = new JoinSet<number>();
          set.spawn(after(100, 1, log, 'long'));
          set.spawn(failAfter(5, 'nope'));
          return yield* set.joinAll();
        })(),
      ),
    ).toThrow('nope');
    expect(log).toEqual(['long start', 'long finally']);
  });

  test('joinNext is cancel-safe: a select that drops it loses no outcome', () => {
    const got = rt.blockOn(
      (function* (): Async<number[]> {
        pauseClock();
        const set = new JoinSet<number>();
        for (let i = 0; i < 50; i++) set.spawn((function* (): Async<number> { yield* sleep(2 * (i % 7) + 1); return i; })());
        const out: number[] = [];
        let ticks = 0;
        for (let guard = 0; !set.isEmpty() && guard < 1000; guard++) {
          // Both branches become ready at the same instants: the tick (first) often wins.
          const r = yield* select({ tick: sleep(1), next: set.joinNext() });
          if (r.key === 'next' && r.value !== undefined && r.value.ok) out.push(r.value.value);
          else ticks++;
        }
        expect(ticks).toBeGreaterThan(0);
        return out.sort((a, b) => a - b);
      })(),
    );
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  test('1,000 tasks in a set; shutdown aborts and drains', () => {
    const log = { finally: 0 };
    const done = rt.blockOn(
      (function* (): Async<number> {
        pauseClock();
        const set = new JoinSet<number>();
        for (let i = 0; i < 1000; i++) {
          set.spawn(
            (function* (): Async<number> {
              try {
                yield* sleep(i < 500 ? 1 : 1_000_000);
                return i;
              } finally {
                log.finally++;
              }
            })(),
          );
        }
        let n = 0;
        for (let i = 0; i < 500; i++) {
          const r = yield* set.joinNext();
          if (r?.ok) n++;
        }
        yield* set.shutdown();
        expect(set.size).toBe(0);
        return n;
      })(),
    );
    expect(done).toBe(500);
    expect(log.finally).toBe(1000);
    expect(rt.executor.tasks.size).toBe(0);
  });

  test('tryJoinNext, detachAll and bad input', () => {
    const set = new JoinSet<number>(rt);
    expect(set.tryJoinNext()).toBeUndefined();
    set.spawn(ready(1));
    rt.executor.run();
    expect(set.tryJoinNext()).toEqual({ id: expect.any(Number), ok: true, value: 1 });
    set.spawn(never<number>());
    set.detachAll();
    expect(set.isEmpty()).toBe(true);
    expect(() => new JoinSet(5 as never)).toThrow(TypeError);
    expect(() => set.spawn(undefined as never)).toThrow(TypeError);
  });
});

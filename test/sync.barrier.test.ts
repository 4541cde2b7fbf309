// Barrier: groups released together with one leader each, reuse, an arrival withdrawn on cancel,
// bad sizes, load.
import { join } from '../lib/combinators';
import { PENDING, type Async } from '../lib/future';
import { TimerRuntime } from '../lib/timer-runtime';
import { eachTimerRuntime } from './core-helpers';
import { Barrier } from '../lib/sync';
import { now, pauseClock, sleep, timeout } from '../lib/time';
import { cx} from './helpers';

let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

describe('Barrier', () => {
  test('releases the group together; exactly one leader per group; reusable', () => {
    const b = new Barrier(3);
    const log: string[] = [];
    rt.blockOn(
      (function* (): Async<void> {
        pauseClock();
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
          pauseClock();
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

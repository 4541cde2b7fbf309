// The Future model: laziness, yield* as .await, and the TypeError for a missing star; the small
// generic leaves (MapFuture, LazyFuture).
import { FutureBase, GenFuture, LazyFuture, MapFuture, PENDING, Context, Waker, asyncFn, intoFuture, noopWaker, pollFn, ready, type Async, type Poll } from '../lib/future';
import { Runtime } from '../lib/runtime';

/** Ready on its `n`th poll; counts polls. */
class CountDown extends FutureBase<string> {
  polls = 0;
  constructor(private n: number) {
    super();
  }
  poll(cx: Context): Poll<string> {
    this.polls++;
    if (this.polls >= this.n) return 'done';
    cx.waker.wakeByRef();
    return PENDING;
  }
}

describe('futures', () => {
  test('futures are lazy: a generator body runs only when polled', () => {
    let ran = false;
    function* body(): Async<number> {
      ran = true;
      return 1;
    }
    const fut = new GenFuture(body());
    expect(ran).toBe(false);
    expect(fut.poll(new Context(noopWaker))).toBe(1);
    expect(ran).toBe(true);
  });

  test('asyncFn makes a lazy future-returning function', () => {
    const calls: number[] = [];
    const add = asyncFn(function* (a: number, b: number): Async<number> {
      calls.push(a);
      return a + b;
    });
    const f = add(2, 3);
    expect(calls).toEqual([]);
    expect(f.poll(new Context(noopWaker))).toBe(5);
  });

  test('yield* on a leaf polls it with the task context and suspends while pending', () => {
    const leaf = new CountDown(3);
    function* body(): Async<string> {
      const v = yield* leaf;
      return v + '!';
    }
    const fut = new GenFuture(body());
    let wakes = 0;
    const cx = new Context(new Waker({ wakeByRef: () => wakes++ }));
    expect(fut.poll(cx)).toBe(PENDING);
    expect(fut.poll(cx)).toBe(PENDING);
    expect(fut.poll(cx)).toBe('done!');
    expect(leaf.polls).toBe(3);
    expect(wakes).toBe(2);
  });

  test('yielding a future without the star is a TypeError that names yield*', () => {
    function* body(): Async<void> {
      yield ready(1) as never;
    }
    const fut = new GenFuture(body());
    expect(() => fut.poll(new Context(noopWaker))).toThrow(/yield\* fut/);
  });

  test('the TypeError is thrown inside the generator, so it can be caught there', () => {
    function* body(): Async<string> {
      try {
        yield 42 as never;
        return 'not reached';
      } catch (e) {
        return (e as Error).name;
      }
    }
    expect(new GenFuture(body()).poll(new Context(noopWaker))).toBe('TypeError');
  });

  test('awaiting a leaf outside any poll explains how to run it', () => {
    function* body(): Async<string> {
      return yield* new CountDown(1);
    }
    expect(() => body().next()).toThrow(/spawn\(gen\) or runtime.blockOn/);
  });

  test('intoFuture rejects what is not a future, naming the fix', () => {
    function* g(): Async<void> {}
    expect(() => intoFuture(g as never)).toThrow(/spawn\(g\) got the generator function; call it: spawn\(g\(\)\)/);
    expect(() => intoFuture(Promise.resolve(1) as never)).toThrow(/fromPromise/);
    expect(() => intoFuture(42 as never)).toThrow(TypeError);
    expect(() => intoFuture(null as never)).toThrow(TypeError);
    expect(() => pollFn(5 as never)).toThrow(TypeError);
  });

  test('a plain object with poll() becomes awaitable', () => {
    let n = 0;
    const rt = new Runtime();
    try {
      const v = rt.blockOn(
        (function* (): Async<number> {
          return yield* intoFuture<number>({
            poll(cx: Context) {
              if (++n < 2) {
                cx.waker.wake();
                return PENDING;
              }
              return 7;
            },
          } as never);
        })(),
      );
      expect(v).toBe(7);
    } finally {
      rt.close();
    }
  });

  test('waker clone and willWake', () => {
    const target = { wakeByRef: jest.fn() };
    const w = new Waker(target);
    const c = w.clone();
    expect(c).not.toBe(w);
    expect(c.willWake(w)).toBe(true);
    expect(w.willWake(new Waker({ wakeByRef() {} }))).toBe(false);
    c.wake();
    w.wakeByRef();
    expect(target.wakeByRef).toHaveBeenCalledTimes(2);
  });

  test('cancelling a generator future runs its finally blocks and drops the leaf it awaits', () => {
    const log: string[] = [];
    class Leaf extends FutureBase<void> {
      poll(): Poll<void> {
        return PENDING;
      }
      override drop(): void {
        log.push('leaf dropped');
      }
    }
    function* body(): Async<void> {
      try {
        yield* new Leaf();
      } finally {
        log.push('finally');
      }
    }
    const fut = new GenFuture(body());
    expect(fut.poll(new Context(noopWaker))).toBe(PENDING);
    fut.drop();
    expect(log).toEqual(['leaf dropped', 'finally']);
  });
});

describe('MapFuture and LazyFuture', () => {
  const cx = new Context(noopWaker);

  /** Pending until `open`; records drops. */
  class Gate extends FutureBase<number> {
    open = false;
    drops = 0;
    poll(): Poll<number> {
      return this.open ? 21 : PENDING;
    }
    override drop(): void {
      this.drops++;
    }
  }

  test('MapFuture: pending while its inner future is, then f(value), f called once', () => {
    const inner = new Gate();
    const f = jest.fn((n: number) => `${n * 2}`);
    const m = new MapFuture(inner, f);
    expect(m.poll(cx)).toBe(PENDING);
    expect(f).not.toHaveBeenCalled();
    inner.open = true;
    expect(m.poll(cx)).toBe('42');
    expect(f).toHaveBeenCalledTimes(1);
    expect(() => m.poll(cx)).toThrow(/after it completed/);
    m.drop(); // done: the inner future is not dropped again
    expect(inner.drops).toBe(0);
  });

  test('MapFuture: dropped while pending drops its inner future; awaitable with yield*', () => {
    const inner = new Gate();
    const m = new MapFuture(inner, (n) => n + 1);
    expect(m.poll(cx)).toBe(PENDING);
    m.drop();
    m.drop();
    expect(inner.drops).toBe(1);

    const g = new Gate();
    const fut = new GenFuture(
      (function* (): Async<number> {
        return (yield* new MapFuture(g, (n) => n + 1)) * 10;
      })(),
    );
    expect(fut.poll(cx)).toBe(PENDING);
    g.open = true;
    expect(fut.poll(cx)).toBe(220);
  });

  test('MapFuture: an error from f is thrown from the poll', () => {
    const inner = new Gate();
    inner.open = true;
    const m = new MapFuture(inner, () => {
      throw new RangeError('no');
    });
    expect(() => m.poll(cx)).toThrow(RangeError);
  });

  test('LazyFuture: f runs at the first poll, not before; a second poll throws; dropped first, f never runs', () => {
    const f = jest.fn(() => 'made');
    const lazy = new LazyFuture(f);
    expect(f).not.toHaveBeenCalled();
    expect(lazy.poll(cx)).toBe('made');
    expect(f).toHaveBeenCalledTimes(1);
    expect(() => lazy.poll(cx)).toThrow(/after it completed/);
    expect(f).toHaveBeenCalledTimes(1);

    const never = jest.fn(() => 1);
    const dropped = new LazyFuture(never);
    dropped.drop();
    expect(() => dropped.poll(cx)).toThrow();
    expect(never).not.toHaveBeenCalled();

    const failing = new LazyFuture(() => {
      throw new TypeError('bad');
    });
    expect(() => failing.poll(cx)).toThrow(TypeError);
  });
});

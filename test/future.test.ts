// The Future model: laziness, yield* as .await, and the TypeError for a missing star.
import { FutureBase, GenFuture, PENDING, Context, Waker, asyncFn, intoFuture, noopWaker, pollFn, ready, type Async, type Poll } from '../lib/future';
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
    expect(() => intoFuture(g as never)).toThrow(/call it first/);
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

// Tasks and the executor: the state machine, wakes in every state, abort, errors, fan-out.
import { CancelledError } from '../lib/errors';
import { FutureBase, PENDING, SELF_WAKE, Waker, noopWaker, type Async, type Context, type Poll } from '../lib/future';
import { TimerRuntime } from '../lib/timer-runtime';
import { eachTimerRuntime } from './core-helpers';
import { TaskState } from '../lib/task';
import { sleep, yieldNow } from '../lib/time';


let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

/** A future whose test decides when it is ready; records its polls and keeps its last waker. */
class Gate<T> extends FutureBase<T> {
  polls = 0;
  waker: Waker | null = null;
  value: T | typeof PENDING = PENDING;
  onPoll: (cx: Context) => void = () => {};
  poll(cx: Context): Poll<T> {
    this.polls++;
    this.waker = cx.waker;
    this.onPoll(cx);
    return this.value;
  }
  open(v: T): void {
    this.value = v;
    this.waker?.wake();
  }
}

describe('tasks', () => {
  test('spawn polls nothing until the executor runs: tasks are lazy too', async () => {
    const g = new Gate<number>();
    const h = rt.spawn(g);
    expect(g.polls).toBe(0);
    g.value = 3;
    expect(await h.promise()).toBe(3);
    expect(g.polls).toBe(1);
  });

  test('a wake before PENDING is returned is not lost', () => {
    const g = new Gate<string>();
    g.onPoll = (cx) => {
      if (g.polls === 1) cx.waker.wake(); // wake first, then return PENDING
      else g.value = 'ok';
    };
    expect(rt.blockOn(g)).toBe('ok');
    expect(g.polls).toBe(2);
  });

  test('a double wake queues the task once and polls it once', () => {
    const g = new Gate<number>();
    const h = rt.spawn(g);
    rt.enter(() => rt.executor.run()); // by hand, inside rt (timers go to its queue)
    expect(g.polls).toBe(1);
    g.waker!.wake();
    g.waker!.wake();
    g.waker!.clone().wakeByRef();
    expect(rt.executor.queued).toBe(1);
    rt.enter(() => rt.executor.run()); // by hand, inside rt (timers go to its queue)
    expect(g.polls).toBe(2);
    h.abort();
  });

  test('a task woken while running is polled exactly once more', () => {
    const g = new Gate<number>();
    const states: number[] = [];
    g.onPoll = (cx) => {
      if (g.polls === 1) {
        cx.waker.wake();
        cx.waker.wake(); // twice while running: still one more poll
      }
    };
    const h = rt.spawn(g);
    rt.enter(() => rt.executor.run()); // by hand, inside rt (timers go to its queue)
    expect(g.polls).toBe(2); // the notified re-poll happened in the same run
    states.push(rt.executor.queued);
    expect(states).toEqual([0]);
    h.abort();
  });

  test('a task is its own Waker and Context: every poll sees the same one, and a clone wakes the same task', () => {
    const g = new Gate<number>();
    const seen: Context[] = [];
    g.onPoll = (cx) => {
      seen.push(cx);
      if (g.polls === 1) cx.waker.wake();
    };
    const h = rt.spawn(g);
    rt.enter(() => rt.executor.run()); // by hand, inside rt (timers go to its queue)
    expect(g.polls).toBe(2);
    expect(seen[1]).toBe(seen[0]);
    const w = seen[0].waker;
    expect(w).toBe(seen[0]); // nothing between the waker and its task: the task itself
    const twin = w.clone();
    expect(twin).not.toBe(w);
    expect(w.willWake(twin) && twin.willWake(w)).toBe(true);
    expect(w.willWake(new Gate<number>().waker ?? noopWaker)).toBe(false);
    twin.wakeByRef();
    expect(rt.executor.queued).toBe(1);
    rt.enter(() => rt.executor.run());
    expect(g.polls).toBe(3);
    h.abort();
  });

  test('new Waker(SELF_WAKE) is refused for a class that does not wake something of its own', () => {
    class Loop extends Waker {
      constructor() {
        super(SELF_WAKE);
      }
    }
    expect(() => new Loop()).toThrow(TypeError);
  });

  test('a wake after the task is done does nothing', () => {
    const g = new Gate<number>();
    g.value = 1;
    const h = rt.spawn(g);
    rt.enter(() => rt.executor.run()); // by hand, inside rt (timers go to its queue)
    expect(h.isFinished()).toBe(true);
    g.waker!.wake();
    expect(rt.executor.queued).toBe(0);
    expect(g.polls).toBe(1);
  });

  test('abort runs the finally blocks of the task and fails its JoinHandle with CancelledError', async () => {
    const log: string[] = [];
    function* worker(): Async<void> {
      try {
        log.push('start');
        yield* sleep(60_000);
        log.push('not reached');
      } finally {
        log.push('finally');
      }
    }
    const h = rt.spawn(worker());
    rt.enter(() => rt.executor.run()); // by hand, inside rt (timers go to its queue)
    expect(log).toEqual(['start']);
    h.abort();
    expect(log).toEqual(['start', 'finally']);
    expect(h.isFinished()).toBe(true);
    await expect(h.promise()).rejects.toBeInstanceOf(CancelledError);
    expect(rt.timers.size).toBe(0); // the sleep's timer was removed
  });

  test('abort of a task whose finally awaits finishes the cleanup before it is cancelled', async () => {
    const log: string[] = [];
    function* worker(): Async<void> {
      try {
        yield* sleep(60_000);
      } finally {
        yield* sleep(5);
        log.push('async cleanup done');
      }
    }
    const h = rt.spawn(worker());
    rt.enter(() => rt.executor.run()); // by hand, inside rt (timers go to its queue)
    h.abort();
    expect(h.isFinished()).toBe(false);
    await expect(h.promise()).rejects.toBeInstanceOf(CancelledError);
    expect(log).toEqual(['async cleanup done']);
  });

  test('a task aborting itself stops at its next suspension', () => {
    let handle: { abort(): void } | null = null;
    const log: string[] = [];
    function* selfAbort(): Async<void> {
      try {
        handle!.abort();
        log.push('still running this poll');
        yield* yieldNow();
        log.push('not reached');
      } finally {
        log.push('finally');
      }
    }
    const h = rt.spawn(selfAbort());
    handle = h;
    rt.enter(() => rt.executor.run()); // by hand, inside rt (timers go to its queue)
    expect(log).toEqual(['still running this poll', 'finally']);
    expect(h.isFinished()).toBe(true);
  });

  test('a throwing task fails its JoinHandle and nothing else', () => {
    function* boom(): Async<number> {
      yield* yieldNow();
      throw new Error('boom');
    }
    function* fine(): Async<number> {
      yield* yieldNow();
      return 2;
    }
    const result = rt.blockOn(
      (function* (): Async<string[]> {
        const a = rt.spawn(boom());
        const b = rt.spawn(fine());
        const out: string[] = [];
        try {
          yield* a;
        } catch (e) {
          out.push((e as Error).message);
        }
        out.push(String(yield* b));
        return out;
      })(),
    );
    expect(result).toEqual(['boom', '2']);
  });

  test('a 10,000-task fan-out and fan-in', () => {
    const N = 10_000;
    const total = rt.blockOn(
      (function* (): Async<number> {
        const handles = [];
        for (let i = 0; i < N; i++) {
          handles.push(
            rt.spawn(
              (function* (): Async<number> {
                yield* yieldNow();
                if (i % 3 === 0) yield* sleep(1);
                return i;
              })(),
            ),
          );
        }
        let sum = 0;
        for (const h of handles) sum += yield* h;
        return sum;
      })(),
    );
    expect(total).toBe((N * (N - 1)) / 2);
    expect(rt.executor.tasks.size).toBe(0);
  });

  test('the run queue is FIFO', () => {
    const order: number[] = [];
    for (let i = 0; i < 5; i++) {
      rt.spawn(
        (function* (): Async<void> {
          order.push(i);
          yield* yieldNow();
          order.push(10 + i);
        })(),
      );
    }
    rt.enter(() => rt.executor.run()); // by hand, inside rt (timers go to its queue)
    expect(order).toEqual([0, 1, 2, 3, 4, 10, 11, 12, 13, 14]);
  });

  test('task states move Idle → Scheduled → Running → Idle → Done', () => {
    const g = new Gate<number>();
    const seen: number[] = [];
    const h = rt.spawn(g);
    const task = (h as unknown as { task: { state: number } }).task;
    seen.push(task.state);
    g.onPoll = () => seen.push(task.state);
    rt.enter(() => rt.executor.run()); // by hand, inside rt (timers go to its queue)
    seen.push(task.state);
    g.open(1);
    seen.push(task.state);
    rt.enter(() => rt.executor.run()); // by hand, inside rt (timers go to its queue)
    seen.push(task.state);
    expect(seen).toEqual([TaskState.Scheduled, TaskState.Running, TaskState.Idle, TaskState.Scheduled, TaskState.Running, TaskState.Done]);
  });

  test('a cooperative budget makes an always-ready task yield to the others', () => {
    // A leaf that is always ready but spends budget, like a socket read on a fast stream.
    const { pollProceed, consume } = jest.requireActual('../lib/coop') as typeof import('../lib/coop');
    class AlwaysReady extends FutureBase<number> {
      poll(cx: Context): Poll<number> {
        if (!pollProceed(cx)) return PENDING;
        consume(0);
        return 1;
      }
    }
    const log: string[] = [];
    let stop = false;
    rt.spawn(
      (function* (): Async<void> {
        let n = 0;
        while (!stop) n += yield* new AlwaysReady();
        log.push(`greedy stopped after ${n > 0 ? 'some' : 'no'} reads`);
      })(),
    );
    rt.spawn(
      (function* (): Async<void> {
        log.push('other ran');
        stop = true;
      })(),
    );
    rt.executor.run(10);
    expect(log[0]).toBe('other ran');
  });

  test('spawn and blockOn reject bad arguments with TypeError', () => {
    expect(() => rt.spawn(undefined as never)).toThrow(TypeError);
    expect(() => rt.spawn((function* () {}) as never)).toThrow(/got the generator function; call it: spawn\(main\(\)\)/);
    expect(() => rt.spawn(Promise.resolve() as never)).toThrow(/fromPromise/);
    expect(() => rt.blockOn(3 as never)).toThrow(TypeError);
    expect(() => rt.spawn((function* () {})(), 5 as never)).toThrow(TypeError);
  });
});

describe('JoinHandle', () => {
  let rt2: TimerRuntime;
  beforeEach(() => {
    rt2 = new TimerRuntime();
  });
  afterEach(() => {
    rt2.close();
  });

  test('several tasks awaiting one JoinHandle are all woken, even if one of them is aborted', () => {
    const out = rt2.blockOn(
      (function* (): Async<number[]> {
        const target = rt2.spawn((function* (): Async<number> { yield* sleep(5); return 7; })());
        const waiter = (): Async<number> => (function* (): Async<number> { return (yield* target) + 1; })();
        const a = rt2.spawn(waiter());
        const b = rt2.spawn(waiter());
        const c = rt2.spawn(waiter());
        yield* yieldNow(); // all three parked on `target`
        b.abort();
        return [yield* a, yield* c];
      })(),
    );
    expect(out).toEqual([8, 8]);
  });
});

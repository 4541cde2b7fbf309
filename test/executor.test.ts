// The executor on its own: a FIFO run queue of tasks, the hooks its runtime gives it, the bounds
// of one run. No runtime, no driver, no addon: tasks are driven by calling `run()` by hand.
import { Executor } from '../lib/executor';
import { FutureBase, PENDING, type Context, type Poll, type Waker } from '../lib/future';
import { Task } from '../lib/task';

/** A future that is pending until `open()`, recording the order it was polled in. */
class Step extends FutureBase<string> {
  waker: Waker | null = null;
  ready = false;
  /** Woken (opened) from inside this step's poll. */
  wakesOnPoll: Step | null = null;
  constructor(
    private readonly name: string,
    private readonly log: string[],
  ) {
    super();
  }
  poll(cx: Context): Poll<string> {
    this.log.push(this.name);
    this.waker = cx.waker;
    this.wakesOnPoll?.open();
    return this.ready ? this.name : PENDING;
  }
  open(): void {
    this.ready = true;
    this.waker?.wake();
  }
}

function hooks() {
  const calls = { work: 0, enter: 0 };
  return {
    calls,
    hooks: {
      onWork: () => calls.work++,
      enter: <R>(f: () => R): R => {
        calls.enter++;
        return f();
      },
    },
  };
}

describe('Executor', () => {
  test('polls tasks in the order they were woken (FIFO)', () => {
    const ex = new Executor();
    const log: string[] = [];
    const steps = ['a', 'b', 'c'].map((n) => new Step(n, log));
    const tasks = steps.map((s) => new Task(s, ex));
    for (const t of tasks) ex.spawn(t as Task<unknown>);
    expect(ex.queued).toBe(3);
    expect(ex.run()).toBe(true);
    expect(log).toEqual(['a', 'b', 'c']);
    steps[2].open();
    steps[0].open();
    expect(ex.run()).toBe(true);
    expect(log).toEqual(['a', 'b', 'c', 'c', 'a']);
    expect(ex.tasks.size).toBe(1); // b is still pending
  });

  test('asks its runtime for a run when the queue goes from empty to non-empty, not during a run', () => {
    const { calls, hooks: h } = hooks();
    const ex = new Executor(h);
    const log: string[] = [];
    const a = new Step('a', log);
    const b = new Step('b', log);
    ex.spawn(new Task(a, ex) as Task<unknown>);
    ex.spawn(new Task(b, ex) as Task<unknown>);
    expect(calls.work).toBe(1); // only the first push found the queue empty
    ex.run();
    expect(calls.work).toBe(1);
    a.wakesOnPoll = b;
    a.waker!.wake(); // from outside a run: the queue goes non-empty, the runtime is asked
    expect(calls.work).toBe(2);
    ex.run(); // a's poll wakes b: inside the run, so no request
    expect(calls.work).toBe(2);
    expect(log).toEqual(['a', 'b', 'a', 'b']);
  });

  test('a run stops after maxPolls and reports that work remains', () => {
    const ex = new Executor();
    const log: string[] = [];
    for (let i = 0; i < 10; i++) ex.spawn(new Task(new Step(String(i), log), ex) as Task<unknown>);
    expect(ex.run(4)).toBe(false);
    expect(log).toEqual(['0', '1', '2', '3']);
    expect(ex.queued).toBe(6);
    expect(ex.run()).toBe(true);
    expect(log.length).toBe(10);
  });

  test('a run cannot start inside a run', () => {
    const ex = new Executor();
    let err: unknown = null;
    const inner = new (class extends FutureBase<void> {
      poll(): Poll<void> {
        try {
          ex.run();
        } catch (e) {
          err = e;
        }
        return undefined;
      }
    })();
    ex.spawn(new Task(inner, ex) as Task<unknown>);
    ex.run();
    expect(String(err)).toMatch(/already running/);
    expect(ex.isRunning).toBe(false);
  });

  test('tracks live tasks, and calls onIdle when the last one finishes', () => {
    const ex = new Executor();
    const log: string[] = [];
    const a = new Step('a', log);
    const b = new Step('b', log);
    ex.spawn(new Task(a, ex) as Task<unknown>);
    ex.spawn(new Task(b, ex) as Task<unknown>);
    ex.run();
    let idle = 0;
    ex.onIdle = () => idle++;
    a.open();
    ex.run();
    expect([ex.tasks.size, idle]).toEqual([1, 0]);
    b.open();
    ex.run();
    expect([ex.tasks.size, idle]).toEqual([0, 1]);
  });

  test('aborting a task drops its future inside the runtime (the enter hook)', () => {
    const { calls, hooks: h } = hooks();
    const ex = new Executor(h);
    let dropped = 0;
    const fut = new (class extends FutureBase<void> {
      poll(): Poll<void> {
        return PENDING;
      }
      override drop(): void {
        dropped++;
      }
    })();
    const task = new Task(fut, ex);
    ex.spawn(task as Task<unknown>);
    ex.run();
    task.abort();
    expect([dropped, calls.enter, ex.tasks.size]).toEqual([1, 1, 0]);
  });

  test('a task cancelled while queued is skipped, not polled', () => {
    const ex = new Executor();
    const log: string[] = [];
    const task = new Task(new Step('a', log), ex);
    ex.spawn(task as Task<unknown>);
    task.abort();
    ex.run();
    expect(log).toEqual([]);
    expect(ex.tasks.size).toBe(0);
  });
});

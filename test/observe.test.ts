// Seeing inside a runtime (lib/observe.ts, lib/trace.ts): metrics counted exactly, the task dump
// naming the leaf every task waits on, long-poll warnings, and the bounded trace. Durations come
// from an injected clock, so nothing here depends on wall time.
import { performance as nodePerformance } from 'node:perf_hooks';
import { join, select } from '../lib/combinators';
import { spawn } from '../lib/context';
import { FutureBase, PENDING, type Async, type Context, type Poll } from '../lib/future';
import { Executor } from '../lib/executor';
import type { LongPollWarning, TaskInfo } from '../lib/observe';
import { fromPromise } from '../lib/promise';
import { Barrier, broadcast, CancellationToken, mpsc, Mutex, Notify, oneshot, Semaphore, watch } from '../lib/sync';
import { interval, pauseClock, sleep, timeout, yieldNow } from '../lib/time';
import { TimerRuntime } from '../lib/timer-runtime';
import type { TraceEvent } from '../lib/trace';

/** A clock the test moves by hand. */
function fakeClock(): { now: () => number; advance(ms: number): void } {
  let t = 1000;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

/** A leaf that moves the fake clock by `ms` inside its (only) poll: a task computing for that long. */
class Busy extends FutureBase<void> {
  constructor(
    private readonly advance: () => void,
  ) {
    super();
  }
  poll(_cx: Context): Poll<void> {
    this.advance();
    return undefined;
  }
}

/** A leaf pending until `open` is set, that wakes nobody: its task must be woken by hand. */
class Gate extends FutureBase<void> {
  open = false;
  waker: Context['waker'] | null = null;
  poll(cx: Context): Poll<void> {
    if (this.open) return undefined;
    this.waker = cx.waker;
    return PENDING;
  }
  override waitingFor(): string {
    return 'the gate';
  }
}

describe('an unobserved runtime', () => {
  test('adds nothing: no observer, no wrappers on the executor, the plain FutureBase.next', () => {
    const before = FutureBase.prototype.next;
    const rt = new TimerRuntime();
    try {
      expect(rt.isObserved).toBe(false);
      expect(rt.executor.observer).toBeNull();
      expect(rt.executor.wakeObserver).toBeNull();
      expect(Object.getOwnPropertyNames(rt.executor)).not.toContain('spawn');
      expect(FutureBase.prototype.next).toBe(before);
      const m = rt.metrics();
      expect(m.enabled).toBe(false);
      expect(m.polls).toBe(0);
    } finally {
      rt.close();
    }
  });

  test('unobserve takes every wrapper off again', () => {
    const before = FutureBase.prototype.next;
    const rt = new TimerRuntime({ metrics: true });
    try {
      expect(Object.getOwnPropertyNames(rt.executor)).toContain('spawn');
      expect(rt.executor.wakeObserver).not.toBeNull();
      expect(FutureBase.prototype.next).not.toBe(before);
      rt.unobserve();
      expect(rt.executor.observer).toBeNull();
      expect(rt.executor.wakeObserver).toBeNull();
      expect(Object.getOwnPropertyNames(rt.executor)).not.toContain('spawn');
      expect(rt.executor.spawn).toBe(Executor.prototype.spawn);
      expect(FutureBase.prototype.next).toBe(before);
    } finally {
      rt.close();
    }
  });

  test('closing an observed runtime unhooks it, and its metrics stay readable', () => {
    const before = FutureBase.prototype.next;
    const rt = new TimerRuntime({ metrics: true });
    rt.blockOn(yieldNow());
    rt.close();
    expect(FutureBase.prototype.next).toBe(before);
    expect(rt.executor.observer).toBeNull();
    expect(rt.metrics()).toMatchObject({ enabled: true, polls: 2, tasks: { spawned: 1, completed: 1 } });
  });

  test('bad options are typed errors', () => {
    expect(() => new TimerRuntime({ metrics: 3 as unknown as boolean })).toThrow(TypeError);
    expect(() => new TimerRuntime({ metrics: { longPollMs: 0 } })).toThrow(RangeError);
    expect(() => new TimerRuntime({ metrics: { longPollMs: 'x' as unknown as number } })).toThrow(TypeError);
    expect(() => new TimerRuntime({ metrics: { clock: 5 as unknown as () => number } })).toThrow(TypeError);
    expect(() => new TimerRuntime({ metrics: { trace: { capacity: 4 } } })).toThrow(RangeError);
    const rt = new TimerRuntime();
    try {
      expect(() => rt.dumpTasks({ format: 'xml' as 'json' })).toThrow(TypeError);
      expect(() => rt.trace.writeFile('' as string)).toThrow(TypeError);
    } finally {
      rt.close();
    }
  });
});

describe('metrics', () => {
  test('counts spawns, polls, completions and wakes by source exactly', () => {
    const clock = fakeClock();
    const rt = new TimerRuntime({ metrics: { clock: clock.now, spawnSites: false } });
    try {
      rt.blockOn(
        (function* (): Async<void> {
          pauseClock();
          const [tx, rx] = mpsc.channel<number>(4);
          const child = spawn(
            (function* (): Async<number> {
              yield* yieldNow(); // wakes itself: a task wake
              return 1;
            })(),
          );
          const receiver = spawn(
            (function* (): Async<number> {
              return yield* rx.recv(); // woken by the send: a task (channel) wake
            })(),
          );
          const sleeper = spawn(
            (function* (): Async<void> {
              yield* sleep(50); // woken by the timer queue
            })(),
          );
          yield* tx.send(7);
          yield* child;
          yield* receiver;
          yield* sleeper;
        })(),
      );
      const m = rt.metrics();
      expect(m.enabled).toBe(true);
      expect(m.tasks).toEqual({ spawned: 4, alive: 0, completed: 4, cancelled: 0 });
      expect(m.wakes.spawn).toBe(4);
      expect(m.wakes.timer).toBe(1);
      expect(m.wakes.reactor).toBe(0);
      expect(m.wakes.thread).toBe(0);
      // Every poll but the first of each task was caused by one wake.
      expect(m.polls).toBe(m.wakes.spawn + m.wakes.timer + m.wakes.task + m.wakes.external);
      expect(m.timers).toEqual({ pending: 0, fired: 1 });
      expect(m.busyMs).toBe(0); // the fake clock did not move during any poll
      expect(m.pollDurationUs.counts[0]).toBe(m.polls);
      expect(m.runQueue.maxDepth).toBeGreaterThanOrEqual(3);
    } finally {
      rt.close();
    }
  });

  test('busy time, poll durations and per-task counters follow the injected clock', () => {
    const clock = fakeClock();
    const rt = new TimerRuntime({ metrics: { clock: clock.now, longPollMs: false } });
    try {
      rt.blockOn(
        (function* (): Async<void> {
          const h = spawn(
            (function* (): Async<void> {
              yield* new Busy(() => clock.advance(3));
              yield* yieldNow();
              yield* new Busy(() => clock.advance(5));
            })(),
            'worker',
          );
          yield* h;
        })(),
      );
      const m = rt.metrics();
      expect(m.busyMs).toBe(8);
      // 3 ms = 3000 µs: the bucket ≤ 4096 µs (index 12); 5 ms: ≤ 8192 µs (index 13).
      expect(m.pollDurationUs.bounds[12]).toBe(4096);
      expect(m.pollDurationUs.counts[12]).toBe(1);
      expect(m.pollDurationUs.counts[13]).toBe(1);
      expect(m.longPolls).toBe(0);
    } finally {
      rt.close();
    }
  });

  test('cancelled tasks are counted as cancelled', () => {
    const rt = new TimerRuntime({ metrics: { spawnSites: false } });
    try {
      rt.blockOn(
        (function* (): Async<void> {
          const h = spawn(sleep(10_000));
          yield* yieldNow();
          h.abort();
        })(),
      );
      expect(rt.metrics().tasks).toEqual({ spawned: 2, alive: 0, completed: 1, cancelled: 1 });
    } finally {
      rt.close();
    }
  });

  test('observe() later adopts the live tasks and counts from then on', () => {
    const clock = fakeClock();
    const rt = new TimerRuntime();
    const gate = new Gate();
    try {
      const h = rt.spawn(gate, 'gated');
      rt.executor.run();
      rt.observe({ clock: clock.now });
      gate.open = true;
      gate.waker!.wake(); // outside any poll, batch or timer: an external wake
      rt.executor.run();
      expect(h.isFinished()).toBe(true);
      const m = rt.metrics();
      expect(m.polls).toBe(1);
      expect(m.wakes.external).toBe(1);
      expect(m.tasks.completed).toBe(1);
    } finally {
      rt.close();
    }
  });
});

test('the dump reports the time from a wake to the poll it caused, on the injected clock', () => {
  const clock = fakeClock();
  const rt = new TimerRuntime({ metrics: { clock: clock.now } });
  try {
    const first = new Gate();
    const second = new Gate();
    rt.spawn(
      (function* (): Async<void> {
        yield* first;
        yield* second;
      })(),
      'gated',
    );
    rt.executor.run();
    first.open = true;
    first.waker!.wake(); // at 1000
    clock.advance(7);
    rt.executor.run(); // polled at 1007: 7 ms after its wake
    clock.advance(5);
    const t = rt.dumpTasks({ format: 'json' }).find((i) => i.name === 'gated')!;
    expect(t).toMatchObject({ state: 'idle', polls: 2, ageMs: 12, scheduleDelayMs: { mean: 3.5, max: 7 }, waitingOn: ['the gate'] });
  } finally {
    rt.close();
  }
});

describe('long-poll warning', () => {
  test('a poll seen to take 150 ms gives exactly one warning, naming the task and where it was spawned', () => {
    const clock = fakeClock();
    const warnings: LongPollWarning[] = [];
    const rt = new TimerRuntime({ metrics: { clock: clock.now, onLongPoll: (w) => warnings.push(w) } });
    try {
      rt.blockOn(
        (function* (): Async<void> {
          const quick = spawn(new Busy(() => clock.advance(99)), 'quick');
          const hog = spawn(new Busy(() => clock.advance(150)), 'hog');
          yield* join(quick, hog);
        })(),
      );
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ name: 'hog', durationMs: 150, thresholdMs: 100 });
      expect(warnings[0].spawnSite).toMatch(/observe\.test\.ts:\d+:\d+/);
      expect(rt.metrics().longPolls).toBe(1);
    } finally {
      rt.close();
    }
  });

  test('the threshold is an option, and false turns the warning off', () => {
    const clock = fakeClock();
    const warnings: LongPollWarning[] = [];
    for (const longPollMs of [200, false] as const) {
      const rt = new TimerRuntime({ metrics: { clock: clock.now, longPollMs, onLongPoll: (w) => warnings.push(w) } });
      try {
        rt.blockOn(new Busy(() => clock.advance(150)));
      } finally {
        rt.close();
      }
    }
    expect(warnings).toHaveLength(0);
  });

  test('printed to stderr by default, with the task and the duration', () => {
    const clock = fakeClock();
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const rt = new TimerRuntime({ metrics: { clock: clock.now } });
    try {
      rt.blockOn(
        (function* (): Async<void> {
          yield* spawn(new Busy(() => clock.advance(150)), 'hog');
        })(),
      );
      const lines = spy.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('one poll'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^polled: task \d+ \(hog\) ran 150\.0 ms in one poll/);
    } finally {
      spy.mockRestore();
      rt.close();
    }
  });
});

describe('the long-poll warning alone (longPoll option)', () => {
  test('warns once for a poll of 150 ms, with the spawn site, and adds no metrics wrappers', () => {
    const clock = fakeClock();
    const warnings: LongPollWarning[] = [];
    const rt = new TimerRuntime({ longPoll: { clock: clock.now, onLongPoll: (w) => warnings.push(w) } });
    try {
      expect(rt.isObserved).toBe(false);
      expect(rt.executor.wakeObserver).toBeNull();
      rt.blockOn(
        (function* (): Async<void> {
          yield* join(spawn(new Busy(() => clock.advance(99)), 'quick'), spawn(new Busy(() => clock.advance(150)), 'hog'));
        })(),
      );
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ name: 'hog', durationMs: 150, thresholdMs: 100 });
      expect(warnings[0].spawnSite).toMatch(/observe\.test\.ts:\d+:\d+/);
      expect(rt.metrics().enabled).toBe(false);
    } finally {
      rt.close();
    }
    expect(rt.executor.observer).toBeNull();
    expect(Object.getOwnPropertyNames(rt.executor)).not.toContain('spawn');
  });

  test('on the real clock, one reading per poll: a timed run starts its first poll at its own reading', () => {
    // performance.now() made a hand-moved clock: the executor's slice and the check read the same one.
    let t = 5000;
    const spies = [...new Set([globalThis.performance, nodePerformance])].map((p) => jest.spyOn(p, 'now').mockImplementation(() => t));
    const warnings: LongPollWarning[] = [];
    const rt = new TimerRuntime({ longPoll: { onLongPoll: (w) => warnings.push(w) } });
    try {
      rt.blockOn(
        (function* (): Async<void> {
          yield* join(spawn(new Busy(() => (t += 99)), 'quick'), spawn(new Busy(() => (t += 150)), 'hog'), spawn(new Busy(() => (t += 99)), 'quick too'));
        })(),
      );
    } finally {
      for (const s of spies) s.mockRestore();
      rt.close();
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ name: 'hog', durationMs: 150, thresholdMs: 100 });
  });

  test('bad options are typed errors', () => {
    expect(() => new TimerRuntime({ longPoll: 'yes' as unknown as boolean })).toThrow(TypeError);
    expect(() => new TimerRuntime({ longPoll: { thresholdMs: -1 } })).toThrow(RangeError);
    expect(() => new TimerRuntime({ longPoll: { onLongPoll: 1 as unknown as () => void } })).toThrow(TypeError);
  });
});

describe('the task dump', () => {
  test('names the leaf each task waits on, for the core leaves', () => {
    const rt = new TimerRuntime({ metrics: true });
    let infos: TaskInfo[] = [];
    let text = '';
    try {
      rt.blockOn(
        (function* (): Async<void> {
          pauseClock(); // the descriptions say "until +5000 ms" exactly
          const handles = [];
          const [, rx] = mpsc.channel<number>(4);
          const [ftx, frx] = mpsc.channel<number>(1);
          ftx.trySend(1);
          const [, orx] = oneshot<number>();
          const [btx, brx] = broadcast.channel<number>(8);
          const [wtx, wrx] = watch.channel(0);
          const mutex = new Mutex(0);
          const guard = yield* mutex.lock();
          const sem = new Semaphore(0);
          const notify = new Notify();
          const barrier = new Barrier(3);
          const token = new CancellationToken();
          const iv = interval(10_000);
          yield* iv.tick(); // the first tick is immediate
          const sleeper = spawn(sleep(10_000), 'sleeper');
          handles.push(sleeper);
          const named: Array<[string, () => Async<unknown>]> = [
            ['sleep', function* () { yield* sleep(5_000); }],
            ['timeout', function* () { yield* timeout(rx.recv(), 7_000); }],
            ['interval', function* () { yield* iv.tick(); }],
            ['mpsc.recv', function* () { yield* rx.recv(); }],
            ['mpsc.send', function* () { yield* ftx.send(2); }],
            ['oneshot', function* () { yield* orx.recv(); }],
            ['broadcast', function* () { yield* brx.recv(); }],
            ['watch', function* () { yield* wrx.changed(); }],
            ['mutex', function* () { yield* mutex.lock(); }],
            ['sem1', function* () { yield* sem.acquire(1); }],
            ['sem2', function* () { yield* sem.acquire(2); }],
            ['notify', function* () { yield* notify.notified(); }],
            ['barrier', function* () { yield* barrier.wait(); }],
            ['cancelled', function* () { yield* token.cancelled(); }],
            ['join', function* () { yield* sleeper; }],
            ['select', function* () { yield* select([sleep(9_000), rx.recv()]); }],
          ];
          for (const [name, f] of named) handles.push(spawn(f(), name));
          handles.push(spawn(rx.recv(), 'leaf-root'));
          yield* yieldNow();
          infos = rt.dumpTasks({ format: 'json' });
          text = rt.dumpTasks();
          for (const h of handles) h.abort();
          guard.release();
          void btx;
          void wtx;
        })(),
      );
    } finally {
      rt.close();
    }
    const by = new Map(infos.map((t) => [t.name, t]));
    const waits = (name: string): string => {
      const t = by.get(name);
      expect(t).toBeDefined();
      expect(t!.waitingOn).not.toBeNull();
      return t!.waitingOn!.join(' & ');
    };
    expect(waits('sleeper')).toMatch(/^sleep until \+10000 ms$/);
    expect(waits('sleep')).toBe('sleep until +5000 ms');
    expect(waits('timeout')).toBe('timeout(7000 ms, until +7000 ms) of mpsc.recv, 0 queued, 1 sender');
    expect(waits('interval')).toBe('interval(10000 ms).tick, until +10000 ms');
    expect(waits('mpsc.recv')).toBe('mpsc.recv, 0 queued, 1 sender');
    expect(waits('mpsc.send')).toBe('mpsc.send, channel full (1 of 1 queued), 0 ahead');
    expect(waits('oneshot')).toBe('oneshot.recv, nothing sent yet');
    expect(waits('broadcast')).toBe('broadcast.recv, 0 unread (capacity 8), 1 sender');
    expect(waits('watch')).toBe('watch.changed, seen version 0 of 0');
    expect(waits('mutex')).toBe('Mutex.lock, 0 ahead');
    expect(waits('sem1')).toBe('Semaphore.acquire(1), 0 ahead, 0 free');
    expect(waits('sem2')).toBe('Semaphore.acquire(2), 1 ahead, 0 free');
    expect(waits('notify')).toBe('Notify.notified, 0 ahead');
    expect(waits('barrier')).toBe('Barrier.wait, 1 of 3 arrived');
    expect(waits('cancelled')).toBe('CancellationToken.cancelled');
    expect(waits('join')).toBe(`JoinHandle of task ${by.get('sleeper')!.id} (sleeper)`);
    expect(waits('select')).toBe('select of 2, 2 running: sleep until +9000 ms | mpsc.recv, 0 queued, 1 sender');
    expect(waits('leaf-root')).toBe('mpsc.recv, 0 queued, 1 sender');
    const main = infos.find((t) => t.name === undefined)!;
    expect(main.state).toBe('running');
    expect(by.get('sleep')).toMatchObject({ state: 'idle', polls: 1 });
    expect(by.get('sleep')!.spawnSite).toMatch(/observe\.test\.ts:\d+:\d+/);
    expect(text).toContain(`task ${by.get('mutex')!.id} (mutex), idle`);
    expect(text).toContain('    waiting on Mutex.lock, 0 ahead');
  });

  test('fromPromise describes itself (under the embedded driver, where Promises settle)', async () => {
    const rt = new TimerRuntime({ metrics: true });
    try {
      let resolve!: (v: number) => void;
      const p = new Promise<number>((r) => (resolve = r));
      const h = rt.spawn(
        (function* (): Async<number> {
          return yield* fromPromise(p);
        })(),
        'awaiting',
      );
      await new Promise<void>((r) => setImmediate(r));
      const t = rt.dumpTasks({ format: 'json' }).find((i) => i.name === 'awaiting')!;
      expect(t.waitingOn).toEqual(['fromPromise, pending']);
      resolve(3);
      expect(await h).toBe(3);
    } finally {
      rt.close();
    }
  });

  test('without metrics the dump still lists the tasks, and says what it cannot know', () => {
    const rt = new TimerRuntime();
    try {
      const gate = new Gate();
      rt.spawn(gate, 'leaf');
      const inner = new Gate();
      rt.spawn(
        (function* (): Async<void> {
          yield* inner;
        })(),
        'gen',
      );
      rt.executor.run();
      const infos = rt.dumpTasks({ format: 'json' });
      expect(infos.map((t) => [t.name, t.waitingOn])).toEqual([
        ['leaf', ['the gate']],
        ['gen', null],
      ]);
      expect(rt.dumpTasks()).toContain('not observed');
    } finally {
      rt.close();
    }
  });
});

describe('the trace', () => {
  /** Every B has its E on the same track, in order, and nothing else is open at the end. */
  function checkSlices(events: TraceEvent[]): number {
    const open = new Map<number, number>();
    let slices = 0;
    for (const e of events) {
      if (e.ph === 'B') {
        expect(open.has(e.tid)).toBe(false);
        open.set(e.tid, e.args!.task as number);
      } else if (e.ph === 'E') {
        expect(open.get(e.tid)).toBe(e.args!.task);
        open.delete(e.tid);
        slices++;
      }
    }
    expect(open.size).toBe(0);
    return slices;
  }

  function* workload(n: number): Async<void> {
    const [tx, rx] = mpsc.channel<number>(1);
    const consumer = spawn(
      (function* (): Async<void> {
        for (let i = 0; i < n; i++) yield* rx.recv();
      })(),
      'consumer',
    );
    for (let i = 0; i < n; i++) yield* tx.send(i);
    yield* consumer;
  }

  test('is Chrome trace-event JSON with a begin and an end per poll on the runtime\'s track', () => {
    const clock = fakeClock();
    const rt = new TimerRuntime({ metrics: { clock: clock.now, trace: true } });
    try {
      rt.blockOn(workload(5));
      const doc = JSON.parse(JSON.stringify(rt.trace.document())) as { traceEvents: TraceEvent[] };
      const events = doc.traceEvents;
      expect(events[0]).toMatchObject({ ph: 'M', name: 'thread_name', args: { name: rt.label } });
      expect(checkSlices(events)).toBe(rt.metrics().polls);
      expect(events.filter((e) => e.ph === 'B' && e.name === 'consumer').length).toBeGreaterThanOrEqual(5);
      const wakes = events.filter((e) => e.ph === 'i');
      expect(wakes.length).toBe(Object.values(rt.metrics().wakes).reduce((a, b) => a + b, 0));
      expect(new Set(wakes.map((w) => w.args!.source))).toEqual(new Set(['spawn', 'task']));
      expect(events.some((e) => e.ph === 'C' && e.name === 'run queue')).toBe(true);
      expect(new Set(events.map((e) => e.tid)).size).toBe(1);
    } finally {
      rt.close();
    }
  });

  test('the ring never holds more than its capacity, and a poll cut by the wrap is left out', () => {
    const rt = new TimerRuntime({ metrics: { trace: { capacity: 64 } } });
    try {
      rt.blockOn(workload(200));
      expect(rt.trace.capacity).toBe(64);
      expect(rt.trace.size).toBe(64);
      expect(rt.trace.written).toBeGreaterThan(600);
      const events = rt.trace.events();
      expect(events.length).toBeLessThanOrEqual(64 + 2); // + the track's name (+ a closing end)
      checkSlices(events);
    } finally {
      rt.close();
    }
  });

  test('trace.start observes the runtime; stop keeps the metrics on', () => {
    const rt = new TimerRuntime();
    try {
      expect(rt.trace.enabled).toBe(false);
      rt.trace.start({ capacity: 128 });
      expect(rt.isObserved).toBe(true);
      rt.blockOn(workload(3));
      expect(rt.trace.size).toBeGreaterThan(0);
      rt.trace.stop();
      expect(rt.trace.enabled).toBe(false);
      expect(rt.trace.events()).toEqual([]);
      expect(rt.metrics().enabled).toBe(true);
      expect(() => rt.trace.start({ capacity: 1.5 })).toThrow(TypeError);
    } finally {
      rt.close();
    }
  });
});

/**
 * Seeing inside a runtime: metrics, the task dump, long-poll warnings and the trace.
 *
 * polled knows exactly where every task is: which leaf future each one returned `PENDING` from,
 * how long each poll took, who woke it. This module collects that, and costs nothing while it is
 * off: an unobserved runtime's executor tests one field per wake (`executor.wakeObserver`) and per
 * poll (`executor.observer`, and a local for `executor.longPoll`), and nothing else is touched.
 * Observing *adds* itself to the runtime's objects rather than testing flags on the hot path:
 *
 * - the executor calls `RuntimeObserver.poll(task)` instead of `task.run()`: the poll is timed
 *   (one clock read per poll: the end of one poll is the start of the next, and the first poll
 *   of a batch starts at the batch's reading), counted per task and in a histogram (bucket by
 *   `Math.clz32`), checked against the long-poll threshold, traced; counters are fields and
 *   typed arrays, nothing is allocated per poll;
 * - the executor's `schedule` tells `RuntimeObserver.woken(task)` of each wake (counted by the
 *   source in effect: a wake inside the reactor's dispatch is from an fd, inside a poll from a
 *   channel or sync primitive, ...);
 * - the executor's `spawn` / `retire` / `run`, the park's `wait` / `dispatch`, the timer queue's
 *   `fire` and the reactor's `dispatch` / `register` get instance-level wrappers (once per task,
 *   batch or run, not per poll) that count and set the wake source;
 * - `FutureBase.next` (each step of `yield* leaf`) notes the leaves that return PENDING in the
 *   polled task's list (lib/future.ts `recordPendingLeaves`), which is what the dump shows.
 *
 * Turn it on with the runtime option `metrics: true` (or an object of `MetricsOptions`), with
 * `runtime.observe(...)` later, or for every runtime with `POLLED_METRICS=1`; `trace` (or
 * `POLLED_TRACE=out.json`) adds the trace. `longPoll: true` is the long-poll warning alone
 * (`LongPollObserver`: the executor reads the clock after each poll, nothing else). Durations
 * come from `performance.now()` unless a `clock` is injected (tests).
 *
 * What it costs on the echo benchmark (README, "Seeing inside"; callgrind, user-space
 * instructions per message against 1,308 off): off, one field test per wake and per poll; metrics
 * +574 (≈ 2.7 % of the CPU per message by the user time it adds); the trace +1,084 (≈ 3.8 %);
 * the warning alone +241 (≈ 1 %), most of it the one `performance.now()` per poll (≈ 190
 * instructions with its brand check), so it is not on by default.
 */
import { performance } from 'node:perf_hooks';
import type { Executor, LongPollCheck } from './executor';
import { GenFuture, recordPendingLeaves, setPendingSink, type Future } from './future';
import type { Park } from './park';
import type { IoSource, Reactor } from './reactor';
import { Task, TaskState } from './task';
import type { Timers } from './timers';
import { DEFAULT_TRACE_CAPACITY, TraceRing, WAKE_SOURCE_NAMES, WakeSource, traceFileOfThread, traceToFileAtExit, type TraceOptions } from './trace';
import { describe } from './validate';

/** What a long-poll warning says (given to `onLongPoll`, else printed to stderr). */
export interface LongPollWarning {
  taskId: number;
  name: string | undefined;
  /** Where the task was spawned (first frame outside the runtime), when spawn sites are recorded. */
  spawnSite: string | undefined;
  durationMs: number;
  thresholdMs: number;
}

export interface MetricsOptions {
  /** The clock durations are read on, in ms (default `performance.now`). Tests inject one. */
  clock?: () => number;
  /**
   * Warn when one poll of a task takes this long (ms), the cooperative-scheduling failure of a
   * task computing without returning PENDING; `false` turns it off. Default 100.
   */
  longPollMs?: number | false;
  /** Called with each long poll instead of printing it to stderr. */
  onLongPoll?: (warning: LongPollWarning) => void;
  /** Record where each task was spawned (a stack trace per spawn, read only by the dump). Default true. */
  spawnSites?: boolean;
  /** Also record the trace (a ring of the last events; see lib/trace.ts). */
  trace?: boolean | TraceOptions;
}

/** A histogram: `counts[i]` values were at most `bounds[i]` (and above `bounds[i - 1]`); the last bound is Infinity. */
export interface Histogram {
  bounds: number[];
  counts: number[];
}

/** `runtime.metrics()`: counters since the runtime was observed (gauges are read now). */
export interface RuntimeMetrics {
  /** False while nothing observes the runtime: then only the gauges (alive, depth, pending, registrations) are filled in. */
  enabled: boolean;
  /** ms since observing started. */
  uptimeMs: number;
  tasks: { spawned: number; alive: number; completed: number; cancelled: number };
  polls: number;
  /** Time spent inside polls, ms. */
  busyMs: number;
  runQueue: { depth: number; maxDepth: number };
  reactor: {
    /** Times the kernel was asked (blockOn's waits and the executor's looks between runs). */
    waits: number;
    /** ms parked: in the kernel (blockOn), or handed back to Node's loop until the next batch (embedded). */
    parkedMs: number;
    batches: number;
    events: number;
    /** Events per batch; bounds 0, 1, 2, 4, ... 1024, Infinity. */
    eventsPerBatch: Histogram;
    /** Registered now. */
    registrations: number;
    /** Registered in all. */
    registered: number;
  };
  timers: { pending: number; fired: number };
  wakes: { reactor: number; timer: number; task: number; thread: number; spawn: number; external: number };
  /** Poll durations in µs; bounds 1, 2, 4, ... 2^20 (about 1 s), Infinity. */
  pollDurationUs: Histogram;
  longPolls: number;
}

/** One task in `runtime.dumpTasks({ format: 'json' })`. */
export interface TaskInfo {
  id: number;
  name: string | undefined;
  state: 'idle' | 'scheduled' | 'running' | 'notified' | 'done' | 'cancelled';
  /** ms since spawn (observed tasks only). */
  ageMs: number | undefined;
  polls: number | undefined;
  busyMs: number | undefined;
  /** Mean and longest time from a wake to the poll it caused, ms. */
  scheduleDelayMs: { mean: number; max: number } | undefined;
  spawnSite: string | undefined;
  /**
   * What the task waits on: each leaf that returned PENDING in its last poll, in its own words.
   * Null when it is not known (the runtime was not observed when the task last polled).
   */
  waitingOn: string[] | null;
}

/** @internal Per-task counters (`Task.stats`). */
export class TaskStats {
  polls = 0;
  busyMs = 0;
  /** When the task was woken and not yet polled, or -1. */
  wokenAt = -1;
  delaySum = 0;
  delayMax = 0;
  delays = 0;
  /** The leaves that returned PENDING in the last poll: `waits[0 .. nWaits)` (filled by FutureBase.next while recording). */
  readonly waits: unknown[] = [];
  nWaits = 0;
  constructor(
    readonly spawnedAt: number,
    readonly site: { stack?: string } | null,
  ) {}
}

const POLL_BUCKETS = 22; // ≤1 µs, ≤2 µs, ... ≤2^20 µs, more
const BATCH_BUCKETS = 13; // 0, ≤1, ≤2, ≤4, ... ≤1024, more

/** Index of the first power-of-two bound ≥ v (v ≥ 0): 0 for v ≤ 1. */
function log2Bucket(v: number, n: number): number {
  if (v <= 1) return 0;
  if (v >= 2 ** 30) return n - 1;
  // ceil(log2(v)) without log2: the bit length of ceil(v) - 1.
  const b = 32 - Math.clz32(Math.ceil(v) - 1);
  return b < n - 1 ? b : n - 1;
}

const WAIT_NAME = 'wait';

/** The objects an observer wraps: a runtime's executor, park, timers (and reactor, for a full Runtime). */
export interface Observable {
  readonly executor: Executor;
  readonly timers: Timers;
  readonly park: Park;
  readonly label: string;
  /** True while blockOn owns the thread (then waits are the park's own; embedded, Node's loop has the thread between runs). */
  readonly isBlocking?: boolean;
}

type Wrapped = { target: object; key: string };

/**
 * Everything a runtime is observed with. Made by `RuntimeCore.observe`; `close()` takes every
 * wrapper off again.
 */
export class RuntimeObserver {
  /** The injected clock (tests), or null: then `performance.now()`, called directly (a closure around it is not inlined everywhere). */
  private readonly injected: (() => number) | null;
  private readonly longPollMs: number;
  private readonly onLongPoll: ((w: LongPollWarning) => void) | null;
  private readonly spawnSites: boolean;
  /** @internal */
  ring: TraceRing | null = null;
  private readonly wrapped: Wrapped[] = [];
  /** The observed executor (read on every wake and poll: a field of its own, not through `rt`). */
  private readonly ex: Executor;
  readonly startedAt: number;
  /** Where a wake happening now comes from. */
  private source: WakeSource = WakeSource.External;
  /** A time read for the phase in progress (a batch, a timer firing, a poll): wakes in it use it. */
  private phaseNow = -1;
  /** When the executor last gave the thread back (embedded: the wait for Node's loop starts), or -1. */
  private runEndedAt = -1;
  /**
   * A clock reading that is still "now" as far as the runtime can tell, else -1: the end of the
   * last poll (the next poll starts there: one read per poll, not two), the start of a batch (its
   * first poll starts there). Reset whenever the thread may have done something else.
   */
  private recent = -1;

  // counters
  spawned = 0;
  completed = 0;
  cancelled = 0;
  polls = 0;
  busyMs = 0;
  maxDepth = 0;
  waits = 0;
  parkedMs = 0;
  batches = 0;
  events = 0;
  registered = 0;
  fired = 0;
  longPolls = 0;
  // Typed arrays: no elements-kind transitions (a count past 2^31 is no longer a Smi), no holes.
  readonly wakes = new Float64Array(6);
  readonly pollHist = new Float64Array(POLL_BUCKETS);
  readonly batchHist = new Float64Array(BATCH_BUCKETS);

  constructor(
    private readonly rt: Observable,
    options: MetricsOptions,
  ) {
    this.ex = rt.executor;
    const clock = options.clock;
    if (clock !== undefined && typeof clock !== 'function') throw new TypeError(`metrics.clock must be a function returning ms, got ${describe(clock)}`);
    // `performance` is imported, not the global: Node's global one is a lazy getter, costly per read.
    this.injected = clock ?? null;
    const lp = options.longPollMs;
    if (lp !== undefined && lp !== false && (typeof lp !== 'number' || Number.isNaN(lp))) throw new TypeError(`metrics.longPollMs must be a number of ms or false, got ${describe(lp)}`);
    if (typeof lp === 'number' && lp <= 0) throw new RangeError(`metrics.longPollMs must be greater than 0, got ${lp}`);
    this.longPollMs = lp === false ? Infinity : (lp ?? 100);
    if (options.onLongPoll !== undefined && typeof options.onLongPoll !== 'function') throw new TypeError(`metrics.onLongPoll must be a function, got ${describe(options.onLongPoll)}`);
    this.onLongPoll = options.onLongPoll ?? null;
    this.spawnSites = options.spawnSites ?? true;
    if (options.trace !== undefined && options.trace !== false) {
      const t = options.trace === true ? {} : options.trace;
      this.ring = makeRing(t, clock === undefined ? performance.timeOrigin : 0, rt.label);
    }
    this.startedAt = this.clock();
    this.install();
  }

  /** Start (or restart, emptied) the trace ring. */
  startTrace(t: TraceOptions): void {
    this.ring = makeRing(t, this.injected !== null ? 0 : performance.timeOrigin, this.rt.label);
  }

  /** Now, on the observer's clock. */
  now(): number {
    return this.clock();
  }

  private clock(): number {
    const c = this.injected;
    return c === null ? performance.now() : c();
  }

  private wrap<O extends object, K extends keyof O & string>(target: O, key: K, f: O[K]): void {
    // A plain assignment, not defineProperty with other attributes: that would put the object in
    // dictionary mode and slow every property read of the executor. Removed in reverse order
    // (`close`), so each delete undoes the last transition and the object stays fast.
    target[key] = f;
    this.wrapped.push({ target, key });
  }

  private install(): void {
    const ex = this.rt.executor;
    const proto = Object.getPrototypeOf(ex) as Executor;
    for (const t of ex.tasks) this.adopt(t, this.clock(), null);
    this.wrap(ex, 'spawn', (task: Task<unknown>) => {
      this.spawned++;
      this.adopt(task, this.clock(), this.spawnSites ? captureSite() : null);
      const prev = this.source;
      this.source = WakeSource.Spawn;
      try {
        proto.spawn.call(ex, task);
      } finally {
        this.source = prev;
      }
    });
    this.wrap(ex, 'retire', (task: Task<unknown>) => {
      if (task.state === TaskState.Cancelled) this.cancelled++;
      else this.completed++;
      proto.retire.call(ex, task);
    });
    this.wrap(ex, 'run', (maxPolls?: number, maxMs?: number, look?: (() => void) | null) => {
      if (this.runEndedAt >= 0) {
        // Embedded, a turn without a batch (a microtask turn, a setImmediate): Node's loop had the thread.
        const t = this.clock();
        this.recent = t;
        this.parkedMs += t - this.runEndedAt;
        if (this.ring !== null) this.ring.wait(this.runEndedAt, t - this.runEndedAt, 'node loop');
        this.runEndedAt = -1;
      }
      try {
        return proto.run.call(ex, maxPolls, maxMs, look);
      } finally {
        if (!this.ex.isRunning && !blockingOf(this.rt)) this.runEndedAt = this.recent >= 0 ? this.recent : this.clock();
        this.recent = -1; // the thread goes back to its driver
      }
    });
    const park = this.rt.park;
    const parkProto = Object.getPrototypeOf(park) as Park;
    const waitName = park.waitName ?? WAIT_NAME;
    this.wrap(park, 'wait', (timeoutMs: number) => {
      const t0 = this.recent >= 0 ? this.recent : this.clock();
      const prev = this.source;
      this.source = WakeSource.Reactor;
      this.phaseNow = t0;
      try {
        return parkProto.wait.call(park, timeoutMs);
      } finally {
        this.source = prev;
        this.phaseNow = -1;
        const t1 = this.clock();
        this.recent = t1;
        this.waits++;
        this.parkedMs += t1 - t0;
        if (this.ring !== null && timeoutMs !== 0) this.ring.wait(t0, t1 - t0, waitName);
      }
    });
    this.wrap(park, 'dispatch', (count: number) => {
      const t = this.clock();
      this.recent = t;
      if (this.runEndedAt >= 0) {
        // Embedded: the thread was Node's since the last run; a batch ends that wait.
        this.parkedMs += t - this.runEndedAt;
        if (this.ring !== null) this.ring.wait(this.runEndedAt, t - this.runEndedAt, 'node loop');
        this.runEndedAt = -1;
      }
      const prev = this.source;
      this.source = WakeSource.Reactor;
      this.phaseNow = t;
      try {
        return parkProto.dispatch.call(park, count);
      } finally {
        this.source = prev;
        this.phaseNow = -1;
      }
    });
    const timers = this.rt.timers;
    const timersProto = Object.getPrototypeOf(timers) as Timers;
    this.wrap(timers, 'fire', (now: number) => {
      const prev = this.source;
      this.source = WakeSource.Timer;
      this.phaseNow = this.recent >= 0 ? this.recent : (this.recent = this.clock());
      try {
        const n = timersProto.fire.call(timers, now);
        this.fired += n;
        return n;
      } finally {
        this.source = prev;
        this.phaseNow = -1;
      }
    });
    const reactor = park.reactor;
    if (reactor !== undefined) this.wrapReactor(reactor);
    ex.observer = this;
    ex.wakeObserver = this;
    recordPendingLeaves(true);
  }

  private wrapReactor(reactor: Reactor): void {
    const proto = Object.getPrototypeOf(reactor) as Reactor;
    this.wrap(reactor, 'dispatch', (count: number) => {
      this.batches++;
      this.events += count;
      this.batchHist[count === 0 ? 0 : 1 + log2Bucket(count, BATCH_BUCKETS - 1)]++;
      const prev = this.source;
      this.source = WakeSource.Reactor;
      try {
        return proto.dispatch.call(reactor, count);
      } finally {
        this.source = prev;
      }
    });
    this.wrap(reactor, 'register', <S extends IoSource>(src: S): S => {
      proto.register.call(reactor, src);
      this.registered++;
      return src;
    });
    const remote = reactor.remote;
    const remoteProto = Object.getPrototypeOf(remote) as typeof remote;
    this.wrap(remote, 'drain', () => {
      const prev = this.source;
      this.source = WakeSource.Thread;
      try {
        return remoteProto.drain.call(remote);
      } finally {
        this.source = prev;
      }
    });
  }

  /** Take every wrapper off: the runtime is as if it had never been observed. */
  close(): void {
    if (this.ex.observer !== this) return;
    this.ex.observer = null;
    this.ex.wakeObserver = null;
    for (const { target, key } of this.wrapped.reverse()) delete (target as Record<string, unknown>)[key];
    this.wrapped.length = 0;
    recordPendingLeaves(false);
    for (const t of this.rt.executor.tasks) t.stats = null;
  }

  private adopt(task: Task<unknown>, now: number, site: { stack?: string } | null): TaskStats {
    const st = new TaskStats(now, site);
    task.stats = st;
    return st;
  }

  /** A wake (`Executor.wakeObserver`): counted by source, the run-queue depth's maximum, the task's wake time. */
  woken(task: Task<unknown>): void {
    const src = this.source;
    this.wakes[src]++;
    const depth = this.ex.queued;
    if (depth > this.maxDepth) this.maxDepth = depth;
    const st = task.stats;
    let now = this.phaseNow;
    if (st !== null && st.wokenAt < 0) {
      if (now < 0) now = this.clock();
      st.wokenAt = now;
    }
    const ring = this.ring;
    if (ring !== null) ring.wake(now < 0 ? this.clock() : now, task.id, src);
  }

  /** The executor's poll of `task`, timed and counted (`Executor.observer`). */
  poll(task: Task<unknown>): void {
    if (task.state !== TaskState.Scheduled) {
      task.run(); // cancelled while queued: not a poll
      return;
    }
    const last = this.recent;
    const t0 = last >= 0 ? last : this.clock();
    const st = task.stats ?? this.adopt(task, t0, null);
    if (st.wokenAt >= 0) {
      const d = t0 - st.wokenAt;
      st.delaySum += d;
      st.delays++;
      if (d > st.delayMax) st.delayMax = d;
      st.wokenAt = -1;
    }
    const ring = this.ring;
    if (ring !== null) ring.pollBegin(t0, task.id, task.name, this.ex.queued);
    const prevWaits = st.nWaits;
    st.nWaits = 0;
    const prevSink = setPendingSink(st);
    const prevSource = this.source;
    this.source = WakeSource.Task;
    this.phaseNow = t0;
    try {
      task.run();
    } finally {
      this.source = prevSource;
      this.phaseNow = -1;
      setPendingSink(prevSink);
      // Let go of leaves an earlier poll recorded beyond this poll's (they may be finished).
      for (let i = st.nWaits; i < prevWaits; i++) st.waits[i] = undefined;
      const t1 = this.clock();
      this.recent = t1;
      if (ring !== null) ring.pollEnd(t1, task.id);
      const d = t1 - t0;
      st.polls++;
      st.busyMs += d;
      this.polls++;
      this.busyMs += d;
      this.pollHist[log2Bucket(d * 1000, POLL_BUCKETS)]++;
      if (d >= this.longPollMs) this.longPoll(task, d);
    }
  }

  private longPoll(task: Task<unknown>, d: number): void {
    this.longPolls++;
    warnLongPoll(task, d, this.longPollMs, this.onLongPoll);
  }

  /** The counters, with the gauges read now. */
  snapshot(): RuntimeMetrics {
    return metricsOf(this.rt, this);
  }
}

/** The options of the long-poll warning on its own (`new Runtime({ longPoll })`). */
export interface LongPollOptions {
  /** The threshold in ms (default 100). */
  thresholdMs?: number;
  /** Called with each long poll instead of printing it to stderr. */
  onLongPoll?: (warning: LongPollWarning) => void;
  /** The clock, in ms (default `performance.now`). */
  clock?: () => number;
}

/**
 * The long-poll warning without the rest of the metrics: the executor reads the clock after each
 * poll (`Executor.longPoll`; the end of one poll is the start of the next, and a timed run's first
 * poll starts at the run's own start reading) and compares; the spawn site is recorded per spawn.
 * No counters, no wrapper around the poll, the run or the wakes, no leaf recording. What the
 * warning alone costs (bench: `--observe longpoll`).
 */
export class LongPollObserver implements LongPollCheck {
  private readonly injected: (() => number) | null;
  readonly realClock: boolean;
  readonly thresholdMs: number;
  private readonly onLongPoll: ((w: LongPollWarning) => void) | null;
  private readonly wrapped: Array<'spawn'> = [];
  /** @internal */
  longPolls = 0;

  constructor(
    private readonly executor: Executor,
    options: LongPollOptions,
  ) {
    if (options.clock !== undefined && typeof options.clock !== 'function') throw new TypeError(`longPoll.clock must be a function returning ms, got ${describe(options.clock)}`);
    this.injected = options.clock ?? null;
    this.realClock = this.injected === null;
    const ms = options.thresholdMs ?? 100;
    if (typeof ms !== 'number' || Number.isNaN(ms)) throw new TypeError(`longPoll.thresholdMs must be a number of ms, got ${describe(ms)}`);
    if (ms <= 0) throw new RangeError(`longPoll.thresholdMs must be greater than 0, got ${ms}`);
    this.thresholdMs = ms;
    if (options.onLongPoll !== undefined && typeof options.onLongPoll !== 'function') throw new TypeError(`longPoll.onLongPoll must be a function, got ${describe(options.onLongPoll)}`);
    this.onLongPoll = options.onLongPoll ?? null;
    const ex = executor;
    const proto = Object.getPrototypeOf(ex) as Executor;
    ex.spawn = (task: Task<unknown>) => {
      task.stats = new TaskStats(0, captureSite());
      proto.spawn.call(ex, task);
    };
    this.wrapped.push('spawn');
    // The executor times each poll itself (Executor.longPoll): no wrapper around the poll or the run.
    ex.longPoll = this;
  }

  /** Now, in ms (`LongPollCheck`: read by the executor after every poll). */
  now(): number {
    const c = this.injected;
    return c === null ? performance.now() : c();
  }

  /** A poll of `thresholdMs` or more (`LongPollCheck`). */
  warn(task: Task<unknown>, d: number): void {
    this.longPolls++;
    warnLongPoll(task, d, this.thresholdMs, this.onLongPoll);
  }

  close(): void {
    if (this.executor.longPoll !== this) return;
    this.executor.longPoll = null;
    for (const k of this.wrapped.reverse()) delete (this.executor as unknown as Record<string, unknown>)[k];
    this.wrapped.length = 0;
  }
}

/** A long-poll warning as printed: names the task, its spawn site and the poll's duration. */
export function formatLongPoll(w: LongPollWarning, label = w.name ? `task ${w.taskId} (${w.name})` : `task ${w.taskId}`): string {
  return (
    `polled: ${label} ran ${w.durationMs.toFixed(1)} ms in one poll without returning PENDING (threshold ${w.thresholdMs} ms); ` +
    `every other task on this thread waited. Await something (yieldNow()) inside long loops, or move the work to a worker thread.` +
    (w.spawnSite !== undefined ? ` Spawned at ${w.spawnSite}.` : '')
  );
}

function makeRing(t: TraceOptions, origin: number, label: string): TraceRing {
  if (t === null || typeof t !== 'object') throw new TypeError(`trace must be true or an object of options, got ${describe(t)}`);
  const cap = t.capacity ?? DEFAULT_TRACE_CAPACITY;
  if (typeof cap !== 'number' || !Number.isInteger(cap)) throw new TypeError(`trace.capacity must be an integer, got ${describe(cap)}`);
  if (cap < 16 || cap > 1 << 24) throw new RangeError(`trace.capacity must be in 16..16777216, got ${cap}`);
  return new TraceRing(cap, origin, label);
}

function blockingOf(rt: Observable): boolean {
  return rt.isBlocking === true;
}

/** A stack captured now, formatted only if the dump reads it (V8 formats `stack` lazily). */
function captureSite(): { stack?: string } {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder);
  return holder;
}

const RUNTIME_FRAME = /[\\/](observe|runtime-core|context|executor|task)\.(ts|js)\b/;

/** The first frame of a spawn's stack outside the runtime's own spawn path: "lib/serve.ts:193:36". */
function siteOf(st: TaskStats | null): string | undefined {
  const stack = st?.site?.stack;
  if (stack === undefined) return undefined;
  for (const line of stack.split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?[^()\s]+:\d+:\d+)\)?\s*$/.exec(line.trim());
    if (m === null || RUNTIME_FRAME.test(m[1])) continue;
    const cwd = process.cwd() + '/';
    return m[1].startsWith(cwd) ? m[1].slice(cwd.length) : m[1];
  }
  return undefined;
}

function histogram(bounds: number[], counts: ArrayLike<number>): Histogram {
  return { bounds, counts: Array.from(counts) };
}

const POLL_BOUNDS = Array.from({ length: POLL_BUCKETS }, (_, i) => (i === POLL_BUCKETS - 1 ? Infinity : 2 ** i));
const BATCH_BOUNDS = Array.from({ length: BATCH_BUCKETS }, (_, i) => (i === 0 ? 0 : i === BATCH_BUCKETS - 1 ? Infinity : 2 ** (i - 1)));

/** `runtime.metrics()`: the observer's counters, or only the gauges when `obs` is null. */
export function metricsOf(rt: Observable, obs: RuntimeObserver | null): RuntimeMetrics {
  const ex = rt.executor;
  const reactor = rt.park.reactor;
  const w: ArrayLike<number> = obs?.wakes ?? [0, 0, 0, 0, 0, 0];
  return {
    enabled: obs !== null,
    uptimeMs: obs !== null ? obs.now() - obs.startedAt : 0,
    tasks: { spawned: obs?.spawned ?? 0, alive: ex.tasks.size, completed: obs?.completed ?? 0, cancelled: obs?.cancelled ?? 0 },
    polls: obs?.polls ?? 0,
    busyMs: obs?.busyMs ?? 0,
    runQueue: { depth: ex.queued, maxDepth: obs?.maxDepth ?? 0 },
    reactor: {
      waits: obs?.waits ?? 0,
      parkedMs: obs?.parkedMs ?? 0,
      batches: obs?.batches ?? 0,
      events: obs?.events ?? 0,
      eventsPerBatch: histogram(BATCH_BOUNDS, obs?.batchHist ?? new Array<number>(BATCH_BUCKETS).fill(0)),
      registrations: reactor?.registrations ?? 0,
      registered: obs?.registered ?? 0,
    },
    timers: { pending: rt.timers.size, fired: obs?.fired ?? 0 },
    wakes: { external: w[0], reactor: w[1], timer: w[2], task: w[3], thread: w[4], spawn: w[5] },
    pollDurationUs: histogram(POLL_BOUNDS, obs?.pollHist ?? new Array<number>(POLL_BUCKETS).fill(0)),
    longPolls: obs?.longPolls ?? 0,
  };
}


/** A percentile of a histogram: the bound of the bucket it falls in. */
export function percentile(h: Histogram, p: number): number {
  let total = 0;
  for (const c of h.counts) total += c;
  if (total === 0) return 0;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    seen += h.counts[i];
    if (seen >= total * p) return h.bounds[i];
  }
  return Infinity;
}

/** One line of metrics (`polled echo --stats 5`); with `prev`, rates over `intervalMs`. */
export function formatMetricsLine(m: RuntimeMetrics, prev: RuntimeMetrics | null, intervalMs: number): string {
  const d = (a: number, b: number | undefined): number => a - (b ?? 0);
  const secs = intervalMs / 1000;
  const polls = d(m.polls, prev?.polls);
  const busy = d(m.busyMs, prev?.busyMs);
  const p99 = percentile(diffHist(m.pollDurationUs, prev?.pollDurationUs), 0.99);
  const wakes = (['reactor', 'timer', 'task', 'thread', 'external'] as const).map((k) => `${k} ${d(m.wakes[k], prev?.wakes[k])}`).join(', ');
  return (
    `tasks ${m.tasks.alive} alive (+${d(m.tasks.spawned, prev?.tasks.spawned)} spawned, ${d(m.tasks.completed, prev?.tasks.completed)} done, ${d(m.tasks.cancelled, prev?.tasks.cancelled)} cancelled); ` +
    `polls ${Math.round(polls / secs)}/s, busy ${((100 * busy) / intervalMs).toFixed(1)}%, poll p99 ${polls === 0 ? '–' : p99 === Infinity ? '>1 s' : `≤${p99} µs`}; ` +
    `queue ${m.runQueue.depth} (max ${m.runQueue.maxDepth}); wakes ${wakes}; ` +
    `batches ${d(m.reactor.batches, prev?.reactor.batches)} (${d(m.reactor.events, prev?.reactor.events)} events); fds ${m.reactor.registrations}; timers ${m.timers.pending}; long polls ${d(m.longPolls, prev?.longPolls)}`
  );
}

function diffHist(h: Histogram, prev: Histogram | undefined): Histogram {
  if (prev === undefined) return h;
  return { bounds: h.bounds, counts: h.counts.map((c, i) => c - (prev.counts[i] ?? 0)) };
}

// ---- the task dump ------------------------------------------------------------------------

const STATE_NAMES = ['idle', 'scheduled', 'running', 'notified', 'done', 'cancelled'] as const;

/** One long poll: to `onLongPoll` if given (printed instead if that throws: the runtime goes on), else to stderr. */
function warnLongPoll(task: Task<unknown>, d: number, thresholdMs: number, onLongPoll: ((w: LongPollWarning) => void) | null): void {
  const w: LongPollWarning = { taskId: task.id, name: task.name, spawnSite: siteOf(task.stats), durationMs: d, thresholdMs };
  if (onLongPoll !== null) {
    try {
      onLongPoll(w);
      return;
    } catch {
      // A failing handler must not take the runtime down: print the warning instead.
    }
  }
  process.stderr.write(formatLongPoll(w, task.label) + '\n');
}

/** What `f` says it waits for (its `waitingFor()`), else its class name. Never throws. */
export function waitingForOf(f: unknown): string {
  if (f !== null && typeof f === 'object') {
    const w = (f as Future<unknown>).waitingFor;
    if (typeof w === 'function') {
      try {
        return w.call(f);
      } catch (err) {
        return `${(f as object).constructor?.name ?? 'future'} (waitingFor() threw: ${err instanceof Error ? err.message : String(err)})`;
      }
    }
    return (f as object).constructor?.name ?? 'future';
  }
  return describe(f);
}

/** The dump of every live task of `rt`, as data. */
export function taskInfos(rt: Observable, obs: RuntimeObserver | null): TaskInfo[] {
  const now = obs?.now() ?? 0;
  const out: TaskInfo[] = [];
  for (const t of rt.executor.tasks) {
    const st = t.stats;
    const root = t.root;
    // The leaves recorded in the last poll; a task whose future is itself a leaf (spawn(rx.recv()))
    // polls it directly, not through `yield*`, so that one is asked instead.
    let waitingOn: string[] | null;
    if (st !== null && st.nWaits > 0) waitingOn = st.waits.slice(0, st.nWaits).map(waitingForOf);
    else if (!(root instanceof GenFuture)) waitingOn = [waitingForOf(root)];
    else waitingOn = st !== null ? [] : null;
    out.push({
      id: t.id,
      name: t.name,
      state: STATE_NAMES[t.state],
      ageMs: st !== null ? now - st.spawnedAt : undefined,
      polls: st?.polls,
      busyMs: st?.busyMs,
      scheduleDelayMs: st !== null && st.delays > 0 ? { mean: st.delaySum / st.delays, max: st.delayMax } : undefined,
      spawnSite: siteOf(st),
      waitingOn,
    });
  }
  return out;
}

function ms(v: number): string {
  return v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(v >= 10 ? 1 : 2)} ms`;
}

/** The dump as text, for people: a header, then a block per task. */
export function formatTaskDump(label: string, infos: readonly TaskInfo[], observed: boolean): string {
  const lines = [`${label}: ${infos.length} live task${infos.length === 1 ? '' : 's'}`];
  if (!observed) lines.push('  (not observed: polls, ages and what generator tasks wait on are recorded once metrics are on: `metrics: true`, runtime.observe(), POLLED_METRICS=1)');
  for (const t of infos) {
    const head = [`task ${t.id}${t.name ? ` (${t.name})` : ''}`, t.state];
    if (t.ageMs !== undefined) head.push(`age ${ms(t.ageMs)}`);
    if (t.polls !== undefined) head.push(`${t.polls} poll${t.polls === 1 ? '' : 's'}, busy ${ms(t.busyMs ?? 0)}`);
    if (t.scheduleDelayMs !== undefined) head.push(`wake→poll mean ${ms(t.scheduleDelayMs.mean)}, max ${ms(t.scheduleDelayMs.max)}`);
    lines.push('  ' + head.join(', '));
    if (t.spawnSite !== undefined) lines.push(`    spawned at ${t.spawnSite}`);
    if (t.state === 'scheduled' || t.state === 'notified') lines.push('    waiting to be polled (in the run queue)');
    else if (t.state === 'running') lines.push('    running now');
    else if (t.waitingOn === null) lines.push('    waiting on: (not recorded)');
    else if (t.waitingOn.length === 0) lines.push('    waiting on: nothing recorded (woken by hand, or not polled yet)');
    else for (const w of t.waitingOn) lines.push(`    waiting on ${w}`);
  }
  return lines.join('\n');
}

/** Metrics read from the environment: POLLED_METRICS=1, POLLED_TRACE=file. Null when neither is set. */
export function envObserveOptions(): { options: MetricsOptions; traceFile: string | null } | null {
  const m = process.env.POLLED_METRICS;
  const t = process.env.POLLED_TRACE;
  const metricsOn = m !== undefined && m !== '' && m !== '0';
  const traceFile = t !== undefined && t !== '' ? t : null;
  if (!metricsOn && traceFile === null) return null;
  return { options: traceFile !== null ? { trace: true } : {}, traceFile };
}

/** Hook the runtime's ring to the POLLED_TRACE file. */
export function traceEnvRing(obs: RuntimeObserver, file: string): void {
  if (obs.ring !== null) traceToFileAtExit(obs.ring, file);
}

export { WakeSource, WAKE_SOURCE_NAMES, traceFileOfThread };

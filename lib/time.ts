/**
 * Time: `sleep`, `sleepUntil`, `timeout`, `interval`, and the paused clock for tests.
 *
 * Every timer is a leaf future over its runtime's timer queue (`timers.ts`). It is lazy like
 * every future: `sleep(100)` measures its 100 ms from its *first poll*, not from the call. A
 * timer never fires early: it completes only once the clock has reached its deadline.
 *
 * Times are milliseconds on a monotonic clock (`now()`), fractional allowed.
 */
import { TimeoutError } from './errors';
import { FutureBase, PENDING, intoFuture, type Context, type Future, type IntoFuture, type Poll } from './future';
import { runtimeOrDefault, type RuntimeContext } from './context';
import type { TimerEntry } from './timers';
import { checkMs } from './validate';

/** The current runtime's clock, in milliseconds (monotonic; stands still while paused). */
export function now(): number {
  return runtimeOrDefault().timers.clock.now();
}

const enum SleepState {
  /** Not polled yet: the deadline may still be relative. */
  Init,
  /** In the timer queue. */
  Waiting,
  Done,
}

/** A timer future. Cancel-safe: dropping it removes its entry from the queue. */
export class Sleep extends FutureBase<void> {
  private state = SleepState.Init;
  private entry: TimerEntry | null = null;
  private rt: RuntimeContext | null = null;
  private deadline: number;

  constructor(
    amount: number,
    private readonly relative: boolean,
  ) {
    super();
    this.deadline = amount;
  }

  poll(cx: Context): Poll<void> {
    switch (this.state) {
      case SleepState.Init: {
        const rt = runtimeOrDefault();
        const now = rt.timers.clock.now();
        if (this.relative) this.deadline += now;
        if (now >= this.deadline) {
          this.state = SleepState.Done;
          return undefined;
        }
        this.rt = rt;
        this.entry = rt.timers.insert(this.deadline, cx.waker);
        this.state = SleepState.Waiting;
        return PENDING;
      }
      case SleepState.Waiting: {
        const rt = this.rt!;
        if (rt.timers.clock.now() >= this.deadline) {
          rt.timers.cancel(this.entry!);
          this.entry = null;
          this.state = SleepState.Done;
          return undefined;
        }
        const e = this.entry!;
        if (e.fired) {
          // Woken a hair before the deadline (the kernel and the JS clock round differently): queue again.
          this.entry = rt.timers.insert(this.deadline, cx.waker);
          rt.rearmTimer();
        } else if (!e.waker.willWake(cx.waker)) {
          e.waker = cx.waker;
        }
        return PENDING;
      }
      default:
        return undefined;
    }
  }

  override waitingFor(): string {
    if (this.state !== SleepState.Waiting || this.rt === null) return this.relative && this.state === SleepState.Init ? `sleep ${this.deadline} ms, not started` : 'sleep';
    const left = this.deadline - this.rt.timers.clock.now();
    return `sleep until +${left >= 10 ? Math.round(left) : Math.max(0, left).toFixed(1)} ms`;
  }

  /** The deadline, once the timer has been polled (or for `sleepUntil`). */
  get when(): number {
    return this.deadline;
  }

  override drop(): void {
    if (this.entry !== null) this.rt!.timers.cancel(this.entry);
    this.entry = null;
  }
}

/** Complete after `ms` milliseconds, counted from the first poll. */
export function sleep(ms: number): Sleep {
  return new Sleep(checkMs(ms, 'sleep(ms)'), true);
}

/** Complete once `now() >= deadline`. */
export function sleepUntil(deadline: number): Sleep {
  if (typeof deadline !== 'number' || Number.isNaN(deadline)) throw new TypeError(`sleepUntil(deadline) needs a number from now(), got ${String(deadline)}`);
  return new Sleep(deadline, false);
}

const enum TimeoutState {
  Running,
  Done,
}

/**
 * Run `future`, but give up after `ms`: then the inner future is dropped (a generator's
 * `finally` blocks run) and this throws `TimeoutError`. Cancel-safe if the inner future is.
 */
export class TimeoutFuture<T> extends FutureBase<T> {
  private state = TimeoutState.Running;
  private readonly inner: Future<T>;
  private readonly timer: Sleep;
  constructor(
    future: IntoFuture<T>,
    private readonly ms: number,
  ) {
    super();
    this.inner = intoFuture(future, 'timeout(future, ms)');
    this.timer = new Sleep(ms, true);
  }
  override waitingFor(): string {
    const inner = this.inner as { waitingFor?: () => string };
    const what = typeof inner.waitingFor === 'function' ? inner.waitingFor() : this.inner.constructor.name;
    return `timeout(${this.ms} ms, ${this.timer.waitingFor().replace(/^sleep /, '')}) of ${what}`;
  }

  poll(cx: Context): Poll<T> {
    if (this.state === TimeoutState.Done) throw new Error('polled: timeout future polled after completion');
    let v: Poll<T>;
    try {
      v = this.inner.poll(cx);
    } catch (err) {
      this.finish();
      throw err;
    }
    if (v !== PENDING) {
      this.finish();
      return v;
    }
    if (this.timer.poll(cx) !== PENDING) {
      this.state = TimeoutState.Done;
      this.inner.drop?.();
      throw new TimeoutError(this.ms);
    }
    return PENDING;
  }
  private finish(): void {
    this.state = TimeoutState.Done;
    this.timer.drop();
  }
  override drop(): void {
    if (this.state === TimeoutState.Done) return;
    this.state = TimeoutState.Done;
    this.timer.drop();
    this.inner.drop?.();
  }
}

export function timeout<T>(future: IntoFuture<T>, ms: number): TimeoutFuture<T> {
  return new TimeoutFuture(future, checkMs(ms, 'timeout(future, ms)'));
}

/**
 * What an interval does when ticks were missed (the task was busy past one or more periods),
 * as tokio's `MissedTickBehavior`:
 * - `'burst'` (the default, as in tokio): fire the missed ticks back to back until caught up;
 *   the schedule stays `start + k * period`.
 * - `'delay'`: the next tick is one period after the late tick was taken; the schedule shifts.
 * - `'skip'`: drop the missed ticks and fire at the next multiple of the period that is still
 *   in the future; the schedule stays aligned to `start + k * period`.
 */
export type MissedTickBehavior = 'burst' | 'delay' | 'skip';

export class Interval {
  private next: number | null = null;
  private current: Sleep | null = null;
  constructor(
    readonly period: number,
    readonly missed: MissedTickBehavior,
  ) {}

  /**
   * Wait for the next tick; resolves to the scheduled time of that tick. The first tick is
   * immediate (as in tokio). Cancel-safe: a dropped tick() loses no tick.
   */
  tick(): Future<number> {
    return new IntervalTick(this);
  }

  /** @internal For the task dump. */
  describeTick(): string {
    const next = this.current?.waitingFor().replace(/^sleep /, '') ?? 'first tick now';
    return `interval(${this.period} ms).tick, ${next}`;
  }

  /** @internal */
  pollTick(cx: Context): Poll<number> {
    const clock = runtimeOrDefault().timers.clock;
    if (this.next === null) this.next = clock.now();
    if (this.current === null) this.current = new Sleep(this.next, false);
    if (this.current.poll(cx) === PENDING) return PENDING;
    this.current = null;
    const scheduled = this.next;
    const now = clock.now();
    let next = scheduled + this.period;
    if (next <= now) {
      // Missed at least one tick.
      if (this.missed === 'delay') next = now + this.period;
      else if (this.missed === 'skip') next = scheduled + (Math.floor((now - scheduled) / this.period) + 1) * this.period;
    }
    this.next = next;
    return scheduled;
  }

  /** @internal */
  dropTick(): void {
    // The pending Sleep keeps its deadline; the next tick() polls it again. Remove its entry now.
    this.current?.drop();
    this.current = null;
  }

  /** Restart the schedule: the next tick is one period from now. */
  reset(): void {
    this.dropTick();
    this.next = runtimeOrDefault().timers.clock.now() + this.period;
  }
}

class IntervalTick extends FutureBase<number> {
  constructor(private readonly iv: Interval) {
    super();
  }
  poll(cx: Context): Poll<number> {
    return this.iv.pollTick(cx);
  }
  override waitingFor(): string {
    return this.iv.describeTick();
  }
  override drop(): void {
    this.iv.dropTick();
  }
}

export function interval(period: number, missed: MissedTickBehavior = 'burst'): Interval {
  checkMs(period, 'interval(period)');
  if (period <= 0) throw new RangeError(`interval(period) must be greater than 0, got ${period}`);
  if (missed !== 'burst' && missed !== 'delay' && missed !== 'skip') {
    throw new TypeError(`interval(period, missed): missed must be 'burst', 'delay' or 'skip', got ${String(missed)}`);
  }
  return new Interval(period, missed);
}

/** Freeze the current runtime's clock (tests). Timers then fire only when time is advanced, or auto-advanced when every task is idle. */
export function pauseClock(): void {
  runtimeOrDefault().timers.clock.pause();
}

/** Let the clock run again from where it stands. */
export function resumeClock(): void {
  runtimeOrDefault().timers.clock.resume();
}

/** Move a paused clock forward by `ms`, and fire the timers that became due. Returns a future to await (so the woken tasks run). */
export function advanceClock(ms: number): Future<void> {
  checkMs(ms, 'advanceClock(ms)');
  const rt = runtimeOrDefault();
  rt.timers.clock.advance(ms);
  rt.timers.fire(rt.timers.clock.now());
  return yieldNow();
}

const enum YieldState {
  First,
  Done,
}

class YieldNow extends FutureBase<void> {
  private state = YieldState.First;
  override waitingFor(): string {
    return 'yieldNow (woken already: queued behind the other ready tasks)';
  }
  poll(cx: Context): Poll<void> {
    if (this.state === YieldState.Done) return undefined;
    this.state = YieldState.Done;
    cx.waker.wakeByRef();
    return PENDING;
  }
}

/** Let the other ready tasks run, then continue (tokio's `task::yield_now`). */
export function yieldNow(): Future<void> {
  return new YieldNow();
}

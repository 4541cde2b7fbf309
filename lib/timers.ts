/**
 * The timer queue of one runtime: a binary min-heap of deadlines, and the clock they are read on.
 *
 * Inserting and cancelling are O(log n) (every entry knows its index in the heap, so a cancel
 * removes it in place instead of leaving a tombstone); firing pops every entry whose deadline
 * has passed. Entries with equal deadlines fire in the order they were inserted. The runtime arms
 * the poller's one kernel timer (timerfd / EVFILT_TIMER) to the earliest deadline, or uses it as
 * `blockOn`'s wait timeout, so the kernel wakes us exactly when the first timer is due.
 *
 * The clock is `performance.now()` (monotonic milliseconds) unless paused: then time stands
 * still until `advance()` moves it, which is what makes timer-heavy tests instant and
 * deterministic (tokio's `time::pause`).
 */
import type { Waker } from './future';

export class TimerEntry {
  /** Position in the heap, or -1 once fired or cancelled. */
  index = -1;
  constructor(
    readonly deadline: number,
    readonly seq: number,
    public waker: Waker,
  ) {}
  get fired(): boolean {
    return this.index === -1;
  }
}

export class Clock {
  private pausedAt = -1;
  private offset = 0;
  /** Auto-advance: when paused and every task is idle, jump to the next deadline. */
  autoAdvance = true;

  now(): number {
    return this.pausedAt >= 0 ? this.pausedAt : performance.now() + this.offset;
  }
  get paused(): boolean {
    return this.pausedAt >= 0;
  }
  pause(): void {
    // Whole milliseconds from here on: with integer delays, paused time stays exact (no
    // 299.99999 for 300 after an advance), and deadlines are met exactly. Rounded up: never backwards.
    if (this.pausedAt < 0) this.pausedAt = Math.ceil(this.now());
  }
  resume(): void {
    if (this.pausedAt < 0) return;
    this.offset = this.pausedAt - performance.now();
    this.pausedAt = -1;
  }
  /** Move paused time forward by `ms` (monotonic: never backwards). */
  advance(ms: number): void {
    if (this.pausedAt < 0) throw new Error('polled: advanceClock() needs a paused clock; call pauseClock() first');
    this.pausedAt += ms;
  }
  /** Move paused time forward to exactly `t` (a deadline), if it is ahead; auto-advance uses this. */
  advanceTo(t: number): void {
    if (this.pausedAt < 0) throw new Error('polled: advanceClock() needs a paused clock; call pauseClock() first');
    if (t > this.pausedAt && t !== Infinity) this.pausedAt = t;
  }
}

export class Timers {
  private heap: TimerEntry[] = [];
  private seq = 0;
  readonly clock = new Clock();

  get size(): number {
    return this.heap.length;
  }

  /** The earliest deadline, or Infinity. */
  nextDeadline(): number {
    return this.heap.length > 0 ? this.heap[0].deadline : Infinity;
  }

  /**
   * Paused-clock auto-advance, for a driver whose tasks are all idle: jump the paused clock to the
   * next deadline. True if it moved (the driver then fires and runs again), false if the clock
   * runs, auto-advance is off, or no timer is pending. Both drivers call this at their idle point.
   */
  advanceIfIdle(): boolean {
    const clock = this.clock;
    const next = this.nextDeadline();
    if (!clock.paused || !clock.autoAdvance || next === Infinity) return false;
    clock.advanceTo(next);
    return true;
  }

  insert(deadline: number, waker: Waker): TimerEntry {
    const e = new TimerEntry(deadline, this.seq++, waker);
    const h = this.heap;
    e.index = h.length;
    h.push(e);
    this.up(e.index);
    return e;
  }

  cancel(e: TimerEntry): void {
    const i = e.index;
    const h = this.heap;
    // Not queued, or queued in another runtime's heap: nothing of ours to remove.
    if (i < 0 || h[i] !== e) return;
    const last = h.pop()!;
    e.index = -1;
    if (last !== e) {
      h[i] = last;
      last.index = i;
      this.down(i);
      this.up(last.index);
    }
  }

  /** Wake every entry due at `now`, in deadline order. Returns how many fired. */
  fire(now: number): number {
    const h = this.heap;
    let n = 0;
    while (h.length > 0 && h[0].deadline <= now) {
      const e = h[0];
      const last = h.pop()!;
      if (last !== e) {
        h[0] = last;
        last.index = 0;
        this.down(0);
      }
      e.index = -1;
      e.waker.wakeByRef();
      n++;
    }
    return n;
  }

  private less(a: TimerEntry, b: TimerEntry): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
  }

  private up(i: number): void {
    const h = this.heap;
    const e = h[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(e, h[p])) break;
      h[i] = h[p];
      h[i].index = i;
      i = p;
    }
    h[i] = e;
    e.index = i;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const e = h[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.less(h[r], h[l]) ? r : l;
      if (!this.less(h[c], e)) break;
      h[i] = h[c];
      h[i].index = i;
      i = c;
    }
    h[i] = e;
    e.index = i;
  }
}

/**
 * The embedded driver (the default): the runtime lives inside Node's event loop.
 *
 * Node already owns the thread and has a loop (libuv), so polled hands it one thing to watch
 * (the poller's own fd, through the `Park`). When it turns readable the addon drains the poller
 * and calls back once per batch; the reactor wakes the tasks, and the executor polls them for a
 * bounded slice (`sliceMs`, `slicePolls`) before giving the thread back, so `setTimeout`, `fs`
 * and Promise code keep running beside a busy runtime. Inside a slice, once only tasks that spent
 * their budget are left, the driver looks at the poller itself (a zero-timeout wait, as the addon
 * does per batch) so that what arrived meanwhile runs before them, without waiting for the
 * slice to end and Node's loop to turn. A wake from outside a batch (a Promise
 * settling, `spawn` at top level) schedules a turn as a microtask. After each turn the driver
 * arms the park's one timer for the earliest deadline, and keeps Node's process alive only
 * while something is pending (a registration, a timer, a queued task).
 */
import { swapCurrent, type RuntimeContext } from './context';
import type { Executor } from './executor';
import type { Park } from './park';

/** What the driver needs of the runtime it drives. */
export interface EmbeddedHost extends RuntimeContext {
  readonly executor: Executor;
}

export class EmbeddedDriver {
  private started = false;
  private dispatching = false;
  private turnQueued = false;
  private immediate: NodeJS.Immediate | null = null;
  /** The deadline the park's timer is armed for (Infinity: disarmed; NaN: unknown, arm afresh). */
  private armedDeadline = Infinity;
  private refd = false;
  private readonly turnFn = (): void => this.turn();
  private readonly batchFn = (count: number): void => this.onBatch(count);
  /** The executor's look between runs: what arrived meanwhile is queued before the busy tasks. */
  private readonly lookFn = (): void => {
    // The timer is one-shot: if this look took its report, whatever is next must be armed afresh.
    if (this.park.wait(0)) this.armedDeadline = NaN;
  };

  constructor(
    private readonly host: EmbeddedHost,
    private readonly park: Park,
    private readonly sliceMs: number,
    private readonly slicePolls: number,
  ) {}

  /** Arrange for the executor to run soon (a microtask). */
  requestTurn(): void {
    const host = this.host;
    if (host.isBlocking || this.dispatching || this.turnQueued || host.isClosed) return;
    this.turnQueued = true;
    queueMicrotask(this.turnFn);
  }

  /** Start watching once: 0, or -errno where Node's loop cannot watch the park (then only blockOn drives). */
  start(): number {
    if (this.started || this.host.isClosed) return 0;
    const r = this.park.startDriver(this.batchFn);
    if (r < 0) return r;
    this.started = true;
    this.refd = true;
    return 0;
  }

  /** A timer was woken early by a hair, or the deadline moved: arm again after this turn. */
  rearmTimer(): void {
    this.armedDeadline = NaN;
  }

  /** After blockOn: tasks left behind go on in Node's loop; refresh the timer and ref state. */
  resume(): void {
    if (this.host.executor.tasks.size > 0 || this.started) this.afterTurn();
  }

  stop(): void {
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.immediate = null;
    if (this.started) this.park.stopDriver();
  }

  private onBatch(count: number): void {
    const host = this.host;
    if (host.isClosed || host.isBlocking) return;
    this.dispatching = true;
    try {
      // The timer is one-shot: once it fired, whatever is next must be armed afresh.
      if (this.park.dispatch(count)) this.armedDeadline = NaN;
    } finally {
      this.dispatching = false;
    }
    this.turn();
  }

  /** One slice of work: fire due timers, poll ready tasks, then re-arm the timer and ref state. */
  private turn(): void {
    this.turnQueued = false;
    const host = this.host;
    if (host.isClosed || host.isBlocking) return;
    // The runtime is current while its tasks run (no closure: this runs once per batch).
    const prev = swapCurrent(host);
    let drained: boolean;
    try {
      host.timers.fire(host.timers.clock.now());
      drained = host.executor.run(this.slicePolls, this.sliceMs, this.lookFn);
    } finally {
      swapCurrent(prev);
    }
    if (!drained) {
      // The slice is over but work remains: let Node's loop run its timers and I/O first.
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        this.turn();
      });
    }
    this.afterTurn();
  }

  /** Keep the park's timer on the earliest deadline, and Node's loop alive only while needed. */
  private afterTurn(): void {
    // Without a driver (see start), tasks left idle wait for the next blockOn.
    if (this.host.isClosed || this.start() < 0) return;
    const { executor, timers } = this.host;
    const clock = timers.clock;
    const next = timers.nextDeadline();
    if (clock.paused) {
      if (next !== Infinity && clock.autoAdvance && executor.queued === 0 && this.immediate === null) {
        // Every task is idle under a paused clock: look at I/O once more, then jump ahead.
        this.immediate = setImmediate(() => {
          this.immediate = null;
          if (executor.queued === 0) timers.advanceIfIdle();
          this.turn();
        });
      }
    } else if (next !== this.armedDeadline) {
      if (next === Infinity) this.park.disarmTimer();
      else this.park.armTimer(Math.max(0, next - clock.now()));
      this.armedDeadline = next;
    }
    const wantRef = this.park.registrations > 0 || timers.size > 0 || executor.queued > 0;
    if (wantRef !== this.refd) {
      this.park.ref(wantRef);
      this.refd = wantRef;
    }
  }
}

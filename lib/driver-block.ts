/**
 * The `blockOn` driver: owns the thread, like Rust's `block_on`.
 *
 * Loop: fire the timers that are due, run the ready tasks for a bounded slice (`sliceMs`,
 * `slicePolls`, as the embedded driver does), and if the future is not done, park in the kernel
 * (`epoll_wait` / `kevent`, through the `Park`) with the nearest timer deadline as the timeout (0
 * while tasks are still queued); dispatch what arrived and go round again. Inside a slice, once
 * only tasks that spent their budget are left, the executor looks at the kernel (a zero-timeout
 * wait) before polling them again, so tasks that keep each other busy never keep a new
 * connection or another socket's data waiting. Node's own loop does not turn meanwhile.
 * A future that nothing could ever wake (no ready task, no timer, no I/O registration) is a
 * deadlock, reported as an error rather than a thread parked forever.
 */
import type { Executor } from './executor';
import type { Park } from './park';
import type { Task } from './task';
import type { Timers } from './timers';

/** Drive `task` (already spawned on `executor`) until it is finished. */
export function driveBlocking(task: Task<unknown>, executor: Executor, timers: Timers, park: Park, sliceMs = 4, slicePolls = 4096): void {
  const look = (): void => {
    park.wait(0);
  };
  // While blockOn owns the thread, the poller watches Node's loop too, so that a parked wait
  // wakes when Node asks this thread to stop (worker.terminate(), process.exit()) or a signal
  // arrives. Where it cannot (a backend without it), blockOn still runs, just deaf to those.
  park.setBlocking(true);
  try {
    for (;;) {
      timers.fire(timers.clock.now());
      executor.run(slicePolls, sliceMs, look);
      if (task.isFinished) return;
      const timeout = parkTimeout(executor, timers);
      if (timeout < 0 && !park.canWake()) {
        const why = timers.size > 0 ? 'timers are pending but the clock is paused with auto-advance off, and no task is left to advance it' : 'no runnable task, no timer, no I/O registration';
        task.abort();
        throw new Error(`polled: blockOn() deadlocked: the future is pending and nothing can wake it (${why})`);
      }
      park.wait(timeout);
    }
  } finally {
    park.setBlocking(false);
  }
}

/** How long blockOn may park: 0 if work is queued, the time to the next timer, or -1 (forever). */
function parkTimeout(executor: Executor, timers: Timers): number {
  if (executor.queued > 0) return 0;
  const next = timers.nextDeadline();
  if (next === Infinity) return -1;
  const clock = timers.clock;
  if (clock.paused) {
    // Paused time: every task is idle, so jump to the next deadline (after a look at I/O).
    return timers.advanceIfIdle() ? 0 : -1;
  }
  return Math.max(0, next - clock.now());
}

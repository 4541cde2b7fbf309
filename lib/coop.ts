/**
 * Cooperative scheduling budget (tokio's `task::coop`).
 *
 * The executor cannot preempt a task: a task only gives the thread back when it returns
 * `PENDING`. A task whose I/O is always ready (a fast peer, a full socket buffer) would never
 * return PENDING and would starve every other task. So each poll of a task starts with a budget
 * of operations; leaf I/O futures spend from it, and when it is gone they pretend to be pending:
 * they wake their own task (so it goes to the back of the run queue) and return `PENDING`.
 *
 * Bytes count too: reading a socket until it is drained lets one bulk connection starve the
 * others, so a large transfer spends one unit per `BYTES_PER_UNIT` bytes.
 */
import type { Context } from './future';

/** Operations per task poll, as in tokio. */
export const BUDGET = 128;
/** A read or write of this many bytes costs one more unit. */
export const BYTES_PER_UNIT = 64 * 1024;

let remaining = BUDGET;

/** Executor only: a fresh budget for the poll that is about to start. */
export function resetBudget(): void {
  remaining = BUDGET;
}

/**
 * Leaf futures call this before doing an operation. Returns false when the budget is spent, in
 * which case the task has been woken and the leaf must return PENDING.
 */
export function pollProceed(cx: Context): boolean {
  if (remaining > 0) return true;
  cx.waker.wakeByRef();
  return false;
}

/** Spend for an operation that moved `bytes` bytes (0 for an operation that moves none). */
export function consume(bytes: number): void {
  remaining -= 1 + ((bytes / BYTES_PER_UNIT) | 0);
}

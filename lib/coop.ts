/**
 * Cooperative scheduling budget (tokio's `task::coop`).
 *
 * The executor cannot preempt a task: a task only gives the thread back when it returns
 * `PENDING`. A task whose I/O is always ready (a fast peer, a full socket buffer) would never
 * return PENDING and would starve every other task. So each poll of a task starts with a budget
 * of operations and of bytes; leaf I/O futures spend from it, and when either is gone they
 * pretend to be pending: they wake their own task and return `PENDING`. The executor puts a
 * task that yielded so aside until the kernel has been asked again for readiness (`yielded`),
 * so that what arrived meanwhile runs first.
 *
 * Bytes count on their own: reading a socket until it is drained lets one bulk connection hold
 * the thread (at 16 KiB a read, 128 operations are 2 MiB), so a poll stops once it has moved
 * `BYTE_BUDGET` bytes, reads and writes (`tryWrite` included) alike. One operation is never
 * split: a single read into a large buffer may overrun the byte budget once, and ends the poll.
 */
import type { Context } from './future';

/** Operations per task poll, as in tokio. */
export const BUDGET = 128;
/**
 * Bytes moved per task poll, read and written together. Measured (bench/fairness.js: 100 small
 * connections beside 10 bulk ones echoing 1 MiB messages, 2-vCPU VM): at 128 KiB the small
 * connections got 53,000–60,000 msgs/s at a p99 of 8–11 ms, at 256 KiB 34,000–42,000 at
 * 11–14 ms, for 5–15 % more bulk MB/s; the old effective figure (2 MiB) starved them (p99 50 ms
 * to 1 s). Bulk alone costs the kernel more per byte the more often a poll moves on to another
 * connection: 64–256 KiB all lose 15–20 % of bulk MB per server CPU-second against 2 MiB.
 */
export const BYTE_BUDGET = 128 * 1024;

let remaining = BUDGET;
let bytesLeft = BYTE_BUDGET;
let spent = false;

/** Executor only: a fresh budget for the poll that is about to start. */
export function resetBudget(): void {
  remaining = BUDGET;
  bytesLeft = BYTE_BUDGET;
  spent = false;
}

/**
 * Leaf futures call this before doing an operation. Returns false when the budget is spent, in
 * which case the task has been woken and the leaf must return PENDING.
 */
export function pollProceed(cx: Context): boolean {
  if (remaining > 0 && bytesLeft > 0) return true;
  spent = true;
  cx.waker.wakeByRef();
  return false;
}

/** Spend for an operation that moved `bytes` bytes (0 for an operation that moves none). */
export function consume(bytes: number): void {
  remaining--;
  bytesLeft -= bytes;
}

/** Executor only: did the poll that just ran stop because its budget was spent? */
export function yielded(): boolean {
  return spent;
}

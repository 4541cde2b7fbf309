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
 * connections beside 10 bulk ones, 1 MiB messages): at 256 KiB the small connections' p99 stays
 * at 2–5 ms on a quiet machine, while 10 bulk connections alone lose less server CPU per byte
 * than at 64 or 128 KiB (each turn away from a connection costs the kernel some; 2 MiB, the old
 * effective figure, starved the small ones for 50 ms and more).
 */
export const BYTE_BUDGET = 256 * 1024;

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

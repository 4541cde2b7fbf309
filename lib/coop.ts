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
 * Bytes moved per task poll, read and written together: 256 KiB, the most the fairness issue
 * allows. Measured (bench/fairness.js: 100 small connections beside 10 bulk ones echoing 1 MiB
 * messages, 2-vCPU VM, one interleaved run of 3 reps, 2026-12-02, echo reading 64 KiB at a
 * time): at 128 KiB the small connections got 105,774–120,815 msgs/s at a p99 of 1.3–2.5 ms and
 * the bulk ones 0.58–0.67× the C server's MB/s; at 256 KiB 84,440–93,763 msgs/s at 1.6–1.9 ms,
 * and 0.70–0.82× C's bulk. (An earlier measurement, with 16 KiB reads and twice the per-message
 * work, put 128 KiB at a p99 of 8–11 ms and 256 KiB at 11–14 ms.) The old effective figure
 * (2 MiB) starved the small ones (p99 50 ms to 1 s).
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

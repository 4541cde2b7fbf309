/**
 * Synchronisation for tasks: channels (oneshot, mpsc, broadcast, watch) and primitives (Notify,
 * Semaphore, Mutex, Barrier, CancellationToken), after tokio's `sync` and tokio-util.
 *
 * Every waiting operation is a leaf future over one intrusive FIFO wait list (`waitlist.ts`),
 * and every one documents its cancel safety: what is lost, if anything, when it is dropped
 * before it completes (a `select` took another branch, a `timeout` fired, the task was aborted).
 *
 * | future | cancel safety |
 * | --- | --- |
 * | `oneshot` `recv()`, `mpsc` / `broadcast` `recv()` / `next()`, `watch` `changed()` / `waitFor()` | cancel-safe: no message or change is lost |
 * | `Notify.notified()` | cancel-safe: a `notifyOne` it was handed goes to the next waiter |
 * | `Semaphore.acquire()`, `Mutex.lock()`, `mpsc` `reserve()` | cancel-safe as to permits (none leak); the place in the queue is lost |
 * | `mpsc` `send(v)` | cancel-safe: cancelled, nothing was sent and no slot is held (the caller still has `v`) |
 * | `Barrier.wait()` | cancel-safe: a cancelled wait withdraws its arrival |
 * | `CancellationToken.cancelled()`, `Sender.closed()` | cancel-safe |
 * | `Mutex.withLock(f)` | releases the lock when cancelled; `f`'s work is cancelled |
 */
export { oneshot, Sender as OneshotSender, Receiver as OneshotReceiver, Recv as OneshotRecv } from './oneshot';
export * as mpsc from './mpsc';
export * as broadcast from './broadcast';
export * as watch from './watch';
export { Closed } from './closed';
export { Notify, Notified } from './notify';
export { Semaphore, Acquire, Permit, MAX_PERMITS } from './semaphore';
export { Mutex, MutexGuard, Lock } from './mutex';
export { Barrier, BarrierWait } from './barrier';
export type { BarrierWaitResult } from './barrier';
export { CancellationToken, WaitForCancellation } from './cancellation';
export { SendError, TrySendError, RecvError, TryRecvError, AcquireError } from './errors';
export { WaitList, Waiter } from './waitlist';

/**
 * polled: a Rust-style async runtime for TypeScript on a real kernel reactor.
 *
 * Where each idea lives:
 * - Future, Poll, PENDING, Context, Waker, generator futures (`async fn` = `function*`): ./future
 * - Task (state machine) and JoinHandle: ./task
 * - Executor (run queue, the user-space scheduler) and the cooperative budget: ./executor, ./coop
 * - Reactor (token → IoSource, readiness, wakers): ./reactor; the kernel poller: native/poller_*.cc
 * - Runtime and its two drivers (embedded in Node's loop, blockOn): ./runtime
 * - Timers: ./time (sleep, timeout, interval, paused clock) over ./timers (the heap)
 * - Servers: ./serve (accept loop, graceful stop); the echo server is `polled/echo` (./echo)
 */
export { PENDING, Context, Waker, FutureBase, GenFuture, asyncFn, intoFuture, pollFn, ready, pending, noopWaker } from './future';
export type { Future, Poll, Pending, Async, IntoFuture, Wake } from './future';
export { Task, TaskState, JoinHandle } from './task';
export { Executor } from './executor';
export { Reactor, IoSource } from './reactor';
export { Runtime, spawn, blockOn, currentRuntime } from './runtime';
export type { RuntimeOptions } from './runtime';
export { sleep, sleepUntil, timeout, interval, Interval, Sleep, Timeout, yieldNow, now } from './time';
export type { MissedTickBehavior } from './time';
export * as time from './time';
export { fromPromise } from './promise';
export { IoError, TimeoutError, CancelledError } from './errors';
export { BUDGET } from './coop';
export { SocketAddress, TcpListener, TcpStream, UnixListener, UnixStream, Stream, Listener, UnexpectedEofError } from './net';
export type { SocketAddressLike, IpFamily, UnixSocketAddress, ShutdownHow, TcpListenOptions, TcpConnectOptions, UnixListenOptions, UnixConnectOptions } from './net';
export { serve, Server } from './serve';
export type { ServeOptions, ConnectionHandler } from './serve';
// Concurrency toolkit: combinators, JoinSet, channels and sync primitives (./combinators, ./joinset, ./sync).
export { join, tryJoin, joinAll, tryJoinAll, select, race, Join, TryJoin, Select } from './combinators';
export type { Output, Outputs, SelectResult, SelectIndexResult } from './combinators';
export { JoinSet, JoinNext, AbortHandle } from './joinset';
export type { JoinResult } from './joinset';
export {
  oneshot,
  OneshotSender,
  OneshotReceiver,
  mpsc,
  broadcast,
  watch,
  Notify,
  Notified,
  Semaphore,
  Permit,
  Mutex,
  MutexGuard,
  Barrier,
  CancellationToken,
  SendError,
  TrySendError,
  RecvError,
  TryRecvError,
  AcquireError,
} from './sync';
export type { BarrierWaitResult } from './sync';
export * as sync from './sync';
export type { ShutdownOptions, ShutdownReport } from './shutdown';

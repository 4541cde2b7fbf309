/**
 * polled: a Rust-style async runtime for TypeScript on a real kernel reactor.
 *
 * Where each idea lives:
 * - Future, Poll, PENDING, Context, Waker, generator futures (`async fn` = `function*`): ./future
 * - Task (state machine) and JoinHandle: ./task
 * - Executor (run queue, the user-space scheduler) and the cooperative budget: ./executor, ./coop
 * - Reactor (token → IoSource, readiness, wakers): ./reactor; the kernel poller: native/poller_*.cc
 * - Runtimes: ./runtime-core (executor + timers + one enter) with one file per driver
 *   (./driver-embedded, ./driver-block) over a Park (./park): ./runtime (the native poller,
 *   ./poller-park) and ./timer-runtime (JS timers, no addon); the current runtime: ./context
 * - Timers: ./time (sleep, timeout, interval, paused clock) over ./timers (the heap)
 *
 * This root is what user code is written against. The machinery under it (Executor, Reactor,
 * Task, the poller and the raw binding) is on the unstable subpath `polled/internals`.
 * - Servers: ./serve (accept loop, graceful stop); the echo server is `polled/echo` (./echo)
 * - Threads: ./workers (a runtime per worker thread), ./remote (wakes from other threads)
 */
// The future model.
export { PENDING, Context, Waker, FutureBase, GenFuture, PollFn, MapFuture, LazyFuture, asyncFn, intoFuture, pollFn, ready, never, noopWaker, noopContext } from './future';
export type { Future, Poll, Pending, Async, IntoFuture, Wake, SpawnGotTheGeneratorFunction, BlockOnGotTheGeneratorFunction } from './future';
export { JoinHandle } from './task';
// Runtimes: the full one (native poller, sockets) and the one that needs no addon (timers only).
export { Runtime } from './runtime';
export type { RuntimeOptions } from './runtime';
export type { IoBackend, IoKind } from './io-backend';
export { TimerRuntime } from './timer-runtime';
export { RuntimeCore } from './runtime-core';
export type { RuntimeCoreOptions } from './runtime-core';
export { spawn, blockOn, currentRuntime } from './context';
export type { RuntimeContext } from './context';
// Time, and the paused clock for tests.
export { sleep, sleepUntil, timeout, interval, Interval, Sleep, TimeoutFuture, yieldNow, now, pauseClock, resumeClock, advanceClock } from './time';
export type { MissedTickBehavior } from './time';
export { fromPromise } from './promise';
export type { UnhandledErrorPolicy, UnhandledTaskInfo } from './unhandled';
// Seeing inside a runtime (./observe, ./trace): runtime.metrics(), dumpTasks(), trace, long-poll warnings.
export type { RuntimeMetrics, TaskInfo, Histogram, MetricsOptions, LongPollOptions, LongPollWarning } from './observe';
export type { RuntimeTrace } from './runtime-trace';
export type { TraceEvent, TraceDocument, TraceOptions } from './trace';
export { IoError, TimeoutError, CancelledError } from './errors';
// Node's ways of saying stop: AbortSignal (./abort) and process signals (./signal).
export { withSignal, AbortError } from './abort';
export { signal, ctrlC, signalStream, SignalStream } from './signal';
export { BUDGET } from './coop';
export { SocketAddress, TcpListener, TcpStream, UnixListener, UnixStream, Stream, Listener, UnexpectedEofError } from './net';
export type { SocketAddressLike, IpFamily, UnixSocketAddress, ShutdownHow, Acceptor, TcpListenOptions, TcpConnectOptions, UnixListenOptions, UnixConnectOptions } from './net';
// The blocking pool (./pool): name resolution and files (tokio::fs), on native threads.
export { lookupHost } from './net';
// UDP (./net/udp): datagram sockets with batched receive and send.
export { UdpSocket, Datagram } from './net';
export type { UdpBindOptions } from './net';
export type { LookupOptions } from './net';
export * as fs from './fs';
export { serve, Server } from './serve';
// Threads: one runtime per worker thread (./workers; the bootstrap is ./worker-main).
export { startWorkers, WorkerGroup, availableCores } from './workers';
export type { WorkersOptions, WorkerContext, WorkerExit, WorkerMain, Balance, WorkerDriver } from './workers';
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
export type { ShutdownOptions, ShutdownReport } from './shutdown';
// Channels between threads (worker_threads), streams moving with their messages: ./thread-channel
export { threadChannel, ThreadSender, ThreadReceiver, ThreadSend, ThreadRecv, ThreadReserve, ThreadPermit, TransferBusyError } from './thread-channel';
export type { SharedThreadSender, SharedThreadReceiver } from './thread-channel';
// Buffered reading and writing (./bufio), text encodings (./text), Node streams both ways (./node-stream).
export { BufReader, BufWriter, Lines, LineTooLongError, DEFAULT_BUF_CAPACITY, DEFAULT_MAX_LINE_LENGTH } from './bufio';
export type { AsyncRead, AsyncWrite, Awaitable, BufReaderOptions, BufWriterOptions } from './bufio';
export type { TextEncoding, LineEncoding } from './text';
export { toDuplex, fromReadable, chunks, ReadableReader } from './node-stream';
export type { DuplexSource, ToDuplexOptions, ChunksOptions } from './node-stream';

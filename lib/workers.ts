/**
 * Worker runtimes: one polled `Runtime` per thread, N threads (`worker_threads`), shared nothing.
 *
 * Tasks (`spawn`) share one thread: the executor interleaves them, and while one computes, no
 * other runs. To use a second core you need a second thread, and in polled each thread is a
 * whole runtime of its own: its own executor, poller and handle table (as Seastar, glommio and
 * uWebSockets.js do it, rather than tokio's work stealing). Threads share no JavaScript objects;
 * what moves between them moves explicitly: sockets through the kernel (`SO_REUSEPORT`), values
 * and streams through thread channels, wakes through each runtime's mailbox (`remote.ts`).
 *
 * ```ts
 * // main.ts: start the workers, stop them all on SIGINT / SIGTERM
 * const group = startWorkers(require.resolve('./server-worker'), { threads: 2 });
 * const exits = await group.join();
 *
 * // server-worker.ts: each worker's own runtime runs `main`
 * export function* main(ctx: WorkerContext) {
 *   const listener = yield* ctx.listen('127.0.0.1:8080');   // SO_REUSEPORT: every worker binds it
 *   yield* serve(listener, handler, { shutdown: ctx.shutdown, graceMs: ctx.graceMs });
 * }
 * ```
 *
 * - **Balancing** (`balance`): `'reuseport'` (the default on Linux): every worker binds the same
 *   address with SO_REUSEPORT and the kernel spreads new connections between their listeners.
 *   Port 0: worker 0 binds first and the others bind the port it got. `'handoff'` (the default
 *   where SO_REUSEPORT does not balance, such as macOS): worker 0 alone listens and hands the
 *   accepted streams to the workers round robin through thread channels.
 * - **Stopping**: `group.stop()` (and, unless `signals: false`, SIGINT / SIGTERM on the main
 *   thread) cancels every worker's `ctx.shutdown` at once, through its mailbox, so it works under
 *   either driver. A server that passes that token to `serve` stops accepting and drains its
 *   connections within its grace period. A connection still queued in a closing SO_REUSEPORT
 *   listener's backlog is reset by the kernel: each worker counts them (`WorkerExit.queuedAtStop`)
 *   and the group reports the total. A second signal terminates the workers and exits 1.
 * - **Failures**: a worker whose `main` throws (or whose module does not load) is reported with
 *   its index and error (`onError`; default: to stderr, and `process.exitCode = 1`); the others
 *   go on. `terminate()` ends the threads at once; the addon closes each thread's handles as
 *   that thread's environment is torn down, so nothing leaks.
 * - Workers load polled's built JavaScript (dist/) and the module named here, with `import()`
 *   (ES modules and CommonJS both). The module exports `main(ctx)`: a generator function or a
 *   function returning a future; its result comes back as `WorkerExit.result`.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { types } from 'node:util';
import { Worker, isMainThread } from 'node:worker_threads';
import { native } from './native';
import { checkBool, checkOptions } from './net/options';
import { describe, optionalInt, optionalMs } from './validate';
import { makeHandoff } from './worker-handoff';
import { writeTraceAtExit } from './trace';
import type { CancellationToken } from './sync/cancellation';
import type { Future, IntoFuture } from './future';
import type { Runtime } from './runtime';
import type { TcpListenOptions, TcpStream } from './net/tcp';
import type { SocketAddress, SocketAddressLike } from './net/address';
import type { Acceptor } from './net/stream';

/** How connections reach the workers: the kernel spreads them (SO_REUSEPORT), or worker 0 hands them out. */
export type Balance = 'reuseport' | 'handoff';
/** How each worker runs its `main`: in its own Node event loop, or with `blockOn` owning its thread. */
export type WorkerDriver = 'embedded' | 'block';

export interface WorkersOptions<D = unknown> {
  /** How many worker threads: a count (1..256) or `'auto'` (the cores available to this process). Default `'auto'`. */
  threads?: number | 'auto';
  /** Given to every worker as `ctx.data` (anything structured clone carries). */
  data?: D;
  /** Default `'embedded'`. */
  driver?: WorkerDriver;
  /** Default `'reuseport'` on Linux, `'handoff'` elsewhere. */
  balance?: Balance;
  /** Stop the group on SIGINT / SIGTERM (a second signal terminates it and exits 1). Default true. */
  signals?: boolean;
  /** Handed to the workers as `ctx.graceMs`: how long a stopping server lets connections finish. Default 2000. */
  graceMs?: number;
  /** Messages a worker sent with `ctx.send(message)`. */
  onMessage?: (index: number, message: unknown) => void;
  /** A worker failed (its `main` threw, its module did not load, it crashed). Default: print it to stderr and set `process.exitCode = 1`. */
  onError?: (index: number, error: Error) => void;
}

/** How one worker ended. */
export interface WorkerExit {
  readonly index: number;
  /** The thread's exit code (1 after a failure or `terminate()`). */
  readonly exitCode: number;
  /** What `main` returned (structured-cloned), when it returned. */
  readonly result?: unknown;
  /** Why it failed, when it did. */
  readonly error?: Error;
  /** Connections that were still queued in this worker's listeners when it stopped (the kernel resets them). */
  readonly queuedAtStop: number;
}

/** What a worker's `main(ctx)` gets. */
export interface WorkerContext<D = unknown> {
  /** This worker's number, 0-based. */
  readonly index: number;
  /** How many workers the group has. */
  readonly threads: number;
  readonly data: D;
  /** This thread's runtime (also `Runtime.current()` inside its tasks). */
  readonly runtime: Runtime;
  /** Cancelled when the group stops: pass it to `serve(..., { shutdown })`. */
  readonly shutdown: CancellationToken;
  /** The group's grace period, for `serve(..., { graceMs })`. */
  readonly graceMs: number;
  readonly balance: Balance;
  /**
   * Listen on `addr` as one of the group (pass the result to `serve`): with `'reuseport'`, a `TcpListener` bound with
   * SO_REUSEPORT in every worker (port 0: worker 0's port); with `'handoff'`, a listener whose
   * `accept()` yields the streams worker 0 accepted and handed to this worker. Call it the same
   * way, in the same order, in every worker.
   */
  listen(addr: SocketAddressLike | number, options?: TcpListenOptions): Future<Acceptor<TcpStream, SocketAddress>>;
  /** Send a message to the main thread's `onMessage`. */
  send(message: unknown): void;
}

/** A worker module's entry point. */
export type WorkerMain<D = unknown> = (ctx: WorkerContext<D>) => IntoFuture<unknown>;

// ---- The control block the group shares with its workers (an Int32Array on shared memory) ----
// Per worker i, at WORKER_BASE + i * WORKER_SLOTS: STOP (1 once stop was asked), MAILBOX and KEY
// (where to post the stop: written by the worker once its runtime exists). The main thread stores
// STOP, then reads MAILBOX; the worker stores MAILBOX and KEY, then reads STOP; with sequentially
// consistent atomics one of them sees the other, so a stop is never lost at startup.
// PORTS: the port worker 0 bound for its k-th `listen` of port 0 (0: not yet; -1: it failed).
/** @internal */
export const CONTROL = { PORTS: 0, MAX_LISTENS: 8, WORKER_BASE: 8, WORKER_SLOTS: 3, STOP: 0, MAILBOX: 1, KEY: 2 } as const;

/** @internal What the bootstrap (worker-main.ts) receives as workerData. */
export interface WorkerBoot {
  module: string;
  index: number;
  threads: number;
  data: unknown;
  driver: WorkerDriver;
  balance: Balance;
  graceMs: number;
  control: SharedArrayBuffer;
  /** handoff: this worker's receiving end (a thread channel), shared; worker 0 also gets every sender. */
  handoff: unknown;
}

/** @internal Messages a worker posts to the main thread. */
export type WorkerReport =
  | { type: 'message'; message: unknown }
  | { type: 'done'; result: unknown; queuedAtStop: number }
  | { type: 'failed'; error: unknown; queuedAtStop: number };

/** The group of worker threads `startWorkers` made. */
export class WorkerGroup {
  /** The Node `Worker` objects, by index. */
  readonly workers: readonly Worker[];
  private readonly control: Int32Array;
  private readonly exits: Promise<WorkerExit[]>;
  private stopped = false;
  private readonly removeSignals: () => void;

  /** @internal Use `startWorkers`. */
  constructor(workers: Worker[], control: Int32Array, exits: Promise<WorkerExit[]>, removeSignals: () => void) {
    this.workers = workers;
    this.control = control;
    this.exits = exits;
    this.removeSignals = removeSignals;
    void exits.then(removeSignals, removeSignals);
  }

  get threads(): number {
    return this.workers.length;
  }

  /** True once `stop()` was called (or a signal asked for it). */
  get isStopping(): boolean {
    return this.stopped;
  }

  /**
   * Ask every worker to stop: each one's `ctx.shutdown` is cancelled, all at once. Idempotent.
   * Workers that have not started their runtime yet stop as soon as they do.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const c = this.control;
    for (let i = 0; i < this.workers.length; i++) {
      const base = CONTROL.WORKER_BASE + i * CONTROL.WORKER_SLOTS;
      Atomics.store(c, base + CONTROL.STOP, 1);
      const mailbox = Atomics.load(c, base + CONTROL.MAILBOX) >>> 0;
      if (mailbox !== 0) native.mailboxPost(mailbox, Atomics.load(c, base + CONTROL.KEY) >>> 0);
    }
  }

  /** End every thread now (`Worker.terminate()`): no grace; the addon closes each thread's handles. */
  async terminate(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** Resolves once every worker has exited: how each one ended, by index. Never rejects. */
  join(): Promise<WorkerExit[]> {
    return this.exits;
  }
}

/**
 * Start `threads` workers, each running `module`'s `main(ctx)` on a runtime of its own.
 * `module` is a path (absolute, or relative to the current directory) or a `file:` URL.
 */
export function startWorkers<D = unknown>(module: string | URL, options: WorkersOptions<D> = {}): WorkerGroup {
  const what = 'startWorkers';
  const specifier = moduleSpecifier(module);
  const o = checkOptions<WorkersOptions<D>>(options, what, ['threads', 'data', 'driver', 'balance', 'signals', 'graceMs', 'onMessage', 'onError']);
  const threads = o.threads === 'auto' || o.threads === undefined ? availableCores() : optionalInt(o.threads, `${what}: threads`, 1, 256, 1);
  const driver = o.driver ?? 'embedded';
  if (driver !== 'embedded' && driver !== 'block') throw new TypeError(`${what}: driver must be 'embedded' or 'block', got ${describe(driver)}`);
  const balance = o.balance ?? (process.platform === 'linux' ? 'reuseport' : 'handoff');
  if (balance !== 'reuseport' && balance !== 'handoff') throw new TypeError(`${what}: balance must be 'reuseport' or 'handoff', got ${describe(balance)}`);
  const signals = checkBool(o.signals, `${what}: signals`, true);
  const graceMs = optionalMs(o.graceMs, `${what}: graceMs`, 2000);
  // POLLED_TRACE: each worker writes its track beside the file; this thread folds them in at exit.
  const traceFile = process.env.POLLED_TRACE;
  if (traceFile !== undefined && traceFile !== '' && isMainThread) writeTraceAtExit(traceFile);
  for (const k of ['onMessage', 'onError'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'function') throw new TypeError(`${what}: ${k} must be a function, got ${describe(o[k])}`);
  }
  const onError =
    o.onError ??
    ((index: number, error: Error): void => {
      process.stderr.write(`polled: worker ${index} failed: ${error.stack ?? error.message}\n`);
      process.exitCode = 1;
    });
  const handoff = balance === 'handoff' ? makeHandoff(threads) : null; // worker-handoff.ts

  const control = new Int32Array(new SharedArrayBuffer((CONTROL.WORKER_BASE + threads * CONTROL.WORKER_SLOTS) * 4));
  const bootstrap = path.join(__dirname, 'worker-main.js');
  const workers: Worker[] = [];
  const exits: Promise<WorkerExit>[] = [];
  for (let index = 0; index < threads; index++) {
    const boot: WorkerBoot = { module: specifier, index, threads, data: o.data, driver, balance, graceMs, control: control.buffer as SharedArrayBuffer, handoff: handoff?.forWorker(index) ?? null };
    const worker = new Worker(bootstrap, { workerData: boot });
    workers.push(worker);
    exits.push(watch(worker, index, o.onMessage ?? null, onError));
  }

  let group: WorkerGroup | null = null;
  let signalCount = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signalCount > 1) {
      process.stderr.write(`${sig} again: terminating the workers\n`);
      void group?.terminate().finally(() => process.exit(1));
      return;
    }
    group?.stop();
  };
  if (signals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const removeSignals = (): void => {
    if (!signals) return;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  group = new WorkerGroup(workers, control, Promise.all(exits), removeSignals);
  return group;
}

/** The cores this process may run on. */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function moduleSpecifier(module: string | URL): string {
  if (module instanceof URL) {
    if (module.protocol !== 'file:') throw new TypeError(`startWorkers(module): only file: URLs can be loaded, got ${module.href}`);
    return module.href;
  }
  if (typeof module !== 'string' || module === '') throw new TypeError(`startWorkers(module): module must be a path or a file: URL, got ${describe(module)}`);
  if (module.startsWith('file:')) return module;
  return pathToFileURL(path.resolve(module)).href;
}

/** Follow one worker to its end: its reports, its errors, its exit. */
function watch(worker: Worker, index: number, onMessage: ((i: number, m: unknown) => void) | null, onError: (i: number, e: Error) => void): Promise<WorkerExit> {
  return new Promise<WorkerExit>((resolve) => {
    let result: unknown;
    let error: Error | undefined;
    let queuedAtStop = 0;
    const fail = (e: unknown): void => {
      // isNativeError, not instanceof: a cloned error belongs to the realm that deserialized it.
      error = types.isNativeError(e) ? e : new Error(String(e));
      onError(index, error);
    };
    worker.on('message', (m: WorkerReport) => {
      if (m.type === 'message') onMessage?.(index, m.message);
      else if (m.type === 'done') {
        result = m.result;
        queuedAtStop = m.queuedAtStop;
      } else if (m.type === 'failed') {
        queuedAtStop = m.queuedAtStop;
        fail(m.error);
      }
    });
    worker.on('error', fail); // an uncaught exception in the worker (the thread has ended)
    worker.on('exit', (exitCode) => resolve({ index, exitCode, result, error, queuedAtStop }));
  });
}

#!/usr/bin/env node
/**
 * The `polled` command, and the process around the echo server.
 *
 *   polled echo [--host 127.0.0.1] [--port 7007] [--unix PATH] [--driver embedded|block] [--io readiness|uring|auto]
 *               [--threads N|auto [--handoff]] [--grace-ms 2000] [--backlog 1024]
 *               [--buffer-size 65536] [--quiet] [--stats SECONDS]
 *   polled echo --udp [--host 127.0.0.1] [--port 7007] [--driver embedded|block] [--batch N]
 *               [--buffer-size 65536] [--quiet]       (UDP echo: lib/udp-echo.ts)
 *
 * Prints `listening <host> <port>` once it accepts connections; on SIGINT / SIGTERM it stops
 * accepting, gives open connections `--grace-ms` to finish, closes them and exits 0.
 * (`npm start` runs `polled echo`.)
 *
 * `runEchoServer(options)` is that process without the argument parsing (bench/servers/polled-echo.js
 * calls it): bind, print the line, serve under the embedded driver or `blockOn`, stop on signals.
 *
 * Signals and the `block` driver: `blockOn` owns the thread and parks in `epoll_wait`, so Node's
 * loop, which is where `process.on('SIGTERM')` handlers run, does not turn while it is parked.
 * A signal still interrupts the wait (EINTR), but JavaScript never hears of it. So in block mode
 * the server runs in *slices*: `blockOn` serves until the server finishes, `sliceMs` (default
 * 100 ms) has passed, or Node's loop has work (`rt.nodeLoopReady()`: a signal to deliver), then
 * returns to Node's loop for one turn (a `setImmediate`), in which libuv delivers any pending
 * signal to its JS handler; then the next slice starts. Tasks and sockets are untouched between
 * slices (the runtime's state outlives `blockOn`), so the cost is one extra loop turn per slice.
 *
 * `--threads N` (N > 1, or `auto`): `runEchoWorkers` serves on N worker threads, each with its own
 * runtime (workers.ts, echo-worker.ts), spread by SO_REUSEPORT or, with `--handoff`, by one
 * acceptor. There the main thread runs no runtime: it forwards signals to the workers as a stop
 * through their mailboxes, which reach them under either driver, so no slices are needed.
 */
import * as path from 'node:path';
import { EchoServer, type EchoServerOptions } from './echo';
import { SocketAddress } from './net/address';
import { formatMetricsLine, type RuntimeMetrics } from './observe';
import { Runtime } from './runtime';
import type { RuntimeCore } from './runtime-core';
import { runUntilStopped } from './slice';
import { optionalMs } from './validate';
import { availableCores, startWorkers, type Balance } from './workers';
import { runUdpEchoServer, runUdpEchoWorkers } from './udp-echo';
import type { EchoWorkerData, EchoWorkerResult } from './echo-worker';

// ---- a whole process: runEchoServer ---------------------------------------------------------

export type EchoDriver = 'embedded' | 'block';

export interface RunEchoOptions extends EchoServerOptions {
  /** IPv4 / IPv6 address (or a name, resolved) to listen on. Default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 lets the OS choose. Default 7007. */
  port?: number;
  /** Listen on this Unix socket path instead of TCP. */
  unix?: string;
  /** Listen backlog. Default 1024. */
  backlog?: number;
  /** `embedded` (in Node's event loop, the default) or `block` (`blockOn` owns the thread). */
  driver?: EchoDriver;
  /** Stop on SIGINT / SIGTERM (default true). A second signal exits at once with status 1. */
  signals?: boolean;
  /** block driver: the longest a `blockOn` slice lasts before Node's loop gets a turn (signals). Default 100 ms. */
  sliceMs?: number;
  /** Called once the server listens, with the line to print (`listening 127.0.0.1 7007`). Default: write it to stdout. */
  onListening?: (line: string, server: EchoServer) => void;
  /** The runtime to use. Default: the current thread's default runtime. */
  runtime?: Runtime;
  /** Serve on this many worker threads (`runEchoWorkers`); 1 (the default) serves on this thread. */
  threads?: number;
  /** With `threads`: hand connections from one acceptor to the workers instead of SO_REUSEPORT. */
  handoff?: boolean;
  /**
   * Every `stats` seconds, write one line of the runtime's metrics to stderr (`--stats 5`); the
   * runtime is observed from the start (lib/observe.ts). Not with `threads` yet.
   */
  stats?: number;
}

/** The line `runEchoServer` prints when ready: `listening <host> <port>`, or `listening unix <path>`. */
export function listeningLine(server: EchoServer): string {
  const a = server.localAddr();
  return a instanceof SocketAddress ? `listening ${a.host} ${a.port}` : `listening unix ${a.path}`;
}

/**
 * Run an echo server until SIGINT / SIGTERM (or until `server.stop()` is called from
 * `onListening`'s server), then shut it down gracefully. Resolves when it has stopped.
 */
export async function runEchoServer(options: RunEchoOptions = {}): Promise<void> {
  if (options === null || typeof options !== 'object') throw new TypeError(`runEchoServer(options) needs an object, got ${String(options)}`);
  const { host, port, unix, backlog, driver = 'embedded', signals = true, sliceMs: slice, onListening, runtime, threads, handoff, stats, ...serverOptions } = options;
  if (stats !== undefined && (typeof stats !== 'number' || !(stats > 0) || stats > 86_400)) throw new RangeError(`stats must be a number of seconds in (0, 86400], got ${String(stats)}`);
  if (driver !== 'embedded' && driver !== 'block') throw new TypeError(`driver must be 'embedded' or 'block', got ${JSON.stringify(driver)}`);
  if ((threads !== undefined && threads > 1) || handoff) {
    if (unix !== undefined) throw new TypeError('threads: a Unix socket cannot be shared between threads with SO_REUSEPORT or handed off yet; serve it on one thread');
    if (runtime !== undefined) throw new TypeError('threads: each worker makes its own runtime; do not pass one');
    if (onListening !== undefined) throw new TypeError('threads: onListening is not available with worker threads');
    if (stats !== undefined) throw new TypeError('threads: stats are per runtime, and each worker has its own; not available with worker threads yet');
    return runEchoWorkers({ host, port, backlog, driver, signals, threads: threads ?? 1, balance: handoff ? 'handoff' : 'reuseport', ...serverOptions });
  }
  const sliceMs = optionalMs(slice, 'sliceMs', 100);
  if (sliceMs <= 0) throw new RangeError(`sliceMs must be greater than 0, got ${sliceMs}`);
  const rt = runtime ?? Runtime.default();
  const bind =
    unix !== undefined
      ? EchoServer.bindUnix(unix, { ...serverOptions, backlog })
      : EchoServer.bind({ host: host ?? '127.0.0.1', port: port ?? 7007 }, { ...serverOptions, backlog });

  if (stats !== undefined && !rt.isObserved) rt.observe();
  const server = driver === 'block' ? rt.blockOn(bind) : await rt.spawn(bind).promise();

  const stopSeeing = seeInside(rt, stats, signals);
  try {
    await runUntilStopped(rt, server, { driver, signals, sliceMs, name: 'echo server' }, () => {
      const line = listeningLine(server);
      if (onListening) onListening(line, server);
      else process.stdout.write(line + '\n');
    });
  } finally {
    stopSeeing();
  }
}

/**
 * `--stats N`: a line of metrics on stderr every N seconds; and, when the process handles signals,
 * SIGUSR2 writes the task dump to stderr (SIGUSR1 is Node's inspector). Returns the undo.
 */
export function seeInside(rt: RuntimeCore, statsSeconds: number | undefined, signals: boolean): () => void {
  let timer: NodeJS.Timeout | null = null;
  if (statsSeconds !== undefined) {
    const ms = statsSeconds * 1000;
    let prev: RuntimeMetrics | null = null;
    timer = setInterval(() => {
      const m = rt.metrics();
      process.stderr.write(`polled stats: ${formatMetricsLine(m, prev, ms)}\n`);
      prev = m;
    }, ms);
    timer.unref();
  }
  const onDump = (): void => {
    process.stderr.write(rt.dumpTasks() + '\n');
  };
  if (signals) process.on('SIGUSR2', onDump);
  return () => {
    if (timer !== null) clearInterval(timer);
    if (signals) process.off('SIGUSR2', onDump);
  };
}

/** `runEchoWorkers`'s options: the echo server's, per worker. */
export interface EchoWorkersOptions extends Omit<EchoServerOptions, 'shutdown'> {
  host?: string;
  port?: number;
  backlog?: number;
  driver?: EchoDriver;
  signals?: boolean;
  threads: number;
  balance?: Balance;
  /** Called once every worker listens, with the line to print. Default: write it to stdout. */
  onListening?: (line: string) => void;
}

/**
 * The echo server on `threads` worker threads, until SIGINT / SIGTERM: prints `listening <host>
 * <port>` once every worker listens, and on stop how many connections each worker accepted.
 * Rejects if a worker failed (after the others have stopped).
 */
export async function runEchoWorkers(options: EchoWorkersOptions): Promise<void> {
  const { host = '127.0.0.1', port = 7007, backlog, driver = 'embedded', signals = true, threads, balance, graceMs, log, bufferSize, noDelay, onListening } = options;
  const data: EchoWorkerData = { host, port, backlog, bufferSize, noDelay, quiet: log === undefined };
  let listening = 0;
  let line = '';
  let failure: Error | null = null;
  const group = startWorkers<EchoWorkerData>(path.join(__dirname, 'echo-worker.js'), {
    threads,
    data,
    driver,
    balance,
    signals,
    graceMs,
    onMessage: (_index, m) => {
      const msg = m as { type?: string; line?: string };
      if (msg.type !== 'listening') return;
      line = msg.line ?? '';
      if (++listening === threads) {
        if (onListening) onListening(line);
        else process.stdout.write(line + '\n');
      }
    },
    onError: (index, error) => {
      failure ??= error;
      log?.(`worker ${index} failed: ${error.message}`);
      group.stop(); // one worker cannot serve: stop the rest rather than serve part of the port
    },
  });
  const exits = await group.join();
  const queued = exits.reduce((n, e) => n + e.queuedAtStop, 0);
  const counts = exits.map((e) => `worker ${e.index}: ${(e.result as EchoWorkerResult | undefined)?.accepted ?? 0}`).join(', ');
  log?.(`stopped; connections accepted per worker: ${counts}` + (queued > 0 ? `; ${queued} still queued in the listeners at stop were reset by the kernel` : ''));
  if (failure !== null) throw failure;
}

/** `--threads` value: a count, or `auto` for the cores available. */
function parseThreads(v: string): number {
  return v === 'auto' ? availableCores() : parseIntArg('threads', v, 1, 256);
}

// ---- the command ----------------------------------------------------------------------------

const USAGE = `usage: polled echo [options]

A TCP (or Unix socket) echo server on the polled runtime.

options:
  --host ADDR          IPv4 or IPv6 address, or a name such as localhost (resolved; the first
                       address is bound), to listen on (default 127.0.0.1)
  --port N             TCP port, 0 lets the OS choose (default 7007)
  --unix PATH          listen on a Unix socket at PATH instead of TCP
  --driver MODE        embedded (in Node's event loop, default) or block (blockOn owns the thread)
  --io MODE            readiness (epoll / kqueue, default), uring (io_uring) or auto (io_uring if
                       it can be set up, else readiness); default: $POLLED_IO
  --threads N|auto     serve on N worker threads, each with its own runtime (default 1: this thread);
                       auto = the cores available. Connections are spread by SO_REUSEPORT
  --handoff            with --threads: one acceptor hands connections to the workers round robin
                       (where SO_REUSEPORT does not balance, as on macOS)
  --grace-ms N         on SIGINT/SIGTERM, how long open connections may finish (default 2000)
  --backlog N          listen backlog (default 1024)
  --buffer-size N      bytes of the read buffer the connections share (default 65536)
  --quiet              don't report accept backoff and shutdown progress on stderr
  --stats N            every N seconds, one line of the runtime's metrics on stderr (tasks, polls/s,
                       busy %, poll p99, run queue, wakes by source, reactor batches); the runtime is
                       observed from the start. Not with --threads yet
                       Any time: kill -USR2 <pid> writes the task dump (every task, and what it
                       waits on; with --stats, polls and spawn sites too) to stderr
  --udp                serve UDP echo on --host/--port instead (each datagram back to its sender);
                       with --batch N (1..64) N datagrams per recvmmsg/sendmmsg; --buffer-size
                       is the largest datagram there; with --threads N, N workers share the port
                       (SO_REUSEPORT). Not with --unix or --handoff
  --batch N            with --udp: datagrams per batched receive/send (default 1: single calls)
  -h, --help           this text
`;

class UsageError extends Error {}

function parseIntArg(name: string, v: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(v)) throw new UsageError(`--${name} needs a non-negative integer, got ${JSON.stringify(v)}`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`--${name} must be in ${min}..${max}, got ${n}`);
  return n;
}

/** What `polled echo` parses: the server's options and the command's own. */
export type EchoCliOptions = RunEchoOptions & { help?: boolean; udp?: boolean; batch?: number; io?: string };

/** Parse `echo`'s arguments (everything after the word `echo`). */
export function parseEchoArgs(argv: readonly string[]): EchoCliOptions {
  const o: EchoCliOptions = {};
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const take = (): string => {
      if (value !== undefined) return value;
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '-h':
      case '--help':
        o.help = true;
        break;
      case '--host':
        o.host = take();
        break;
      case '--port':
        o.port = parseIntArg('port', take(), 0, 65535);
        break;
      case '--unix':
        o.unix = take();
        break;
      case '--driver': {
        const d = take();
        if (d !== 'embedded' && d !== 'block') throw new UsageError(`--driver must be embedded or block, got ${JSON.stringify(d)}`);
        o.driver = d as EchoDriver;
        break;
      }
      case '--threads':
        o.threads = parseThreads(take());
        break;
      case '--handoff':
        o.handoff = true;
        break;
      case '--grace-ms':
        o.graceMs = parseIntArg('grace-ms', take(), 0, 24 * 3600 * 1000);
        break;
      case '--backlog':
        o.backlog = parseIntArg('backlog', take(), 0, 65535);
        break;
      case '--buffer-size':
        o.bufferSize = parseIntArg('buffer-size', take(), 1, 1 << 30);
        break;
      case '--quiet':
        quiet = true;
        break;
      case '--stats': {
        const v = take();
        if (!/^[0-9]+(\.[0-9]+)?$/.test(v) || !(Number(v) > 0) || Number(v) > 86_400) throw new UsageError(`--stats needs a number of seconds in (0, 86400], got ${JSON.stringify(v)}`);
        o.stats = Number(v);
        break;
      }
      case '--udp':
        o.udp = true;
        break;
      case '--batch':
        o.batch = parseIntArg('batch', take(), 1, 64);
        break;
      case '--io': {
        const v = take();
        if (!['readiness', 'uring', 'auto', 'epoll', 'kqueue'].includes(v)) throw new UsageError(`--io must be readiness, uring or auto, got ${JSON.stringify(v)}`);
        o.io = v;
        break;
      }
      default:
        throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
    }
  }
  checkUdpArgs(o);
  if (o.handoff && o.threads === undefined) throw new UsageError('--handoff needs --threads N');
  if (o.stats !== undefined && o.threads !== undefined && o.threads > 1) throw new UsageError('--stats is per runtime and each worker thread has its own; not with --threads yet');
  if (o.stats !== undefined && o.udp) throw new UsageError('--stats is for the TCP echo server (not --udp yet)');
  if (o.threads !== undefined && o.threads > 1 && o.unix !== undefined) throw new UsageError('--threads cannot share a --unix socket between threads; use TCP, or one thread');
  if (!quiet) o.log = (line) => process.stderr.write(`polled echo: ${line}\n`);
  return o;
}

/** `--udp`'s combinations: what UDP echo does not serve (yet). */
function checkUdpArgs(o: RunEchoOptions & { udp?: boolean; batch?: number }): void {
  if (!o.udp) {
    if (o.batch !== undefined) throw new UsageError('--batch needs --udp');
    return;
  }
  if (o.unix !== undefined) throw new UsageError('--udp serves on --host/--port; not with --unix');
  if (o.handoff) throw new UsageError('--udp --threads spreads datagrams with SO_REUSEPORT; --handoff is for TCP connections');
  if (o.backlog !== undefined) throw new UsageError('--backlog is for TCP; UDP has no listen queue');
}

/** `polled echo --udp`: the UDP echo process (lib/udp-echo.ts), with its own signal handling. */
async function runUdpEchoCli(o: RunEchoOptions & { batch?: number }): Promise<number> {
  try {
    const common = { host: o.host, port: o.port, driver: o.driver, batch: o.batch, bufferSize: o.bufferSize, log: o.log };
    const stats = o.threads !== undefined && o.threads > 1 ? await runUdpEchoWorkers({ ...common, threads: o.threads }) : await runUdpEchoServer(common);
    o.log?.(`stopped; ${stats.datagrams} datagrams echoed` + (stats.truncated > 0 ? `, ${stats.truncated} truncated` : ''));
  } catch (err) {
    process.stderr.write(`polled echo: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'echo') {
    process.stderr.write(`polled: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 2;
  }
  let options: EchoCliOptions;
  try {
    options = parseEchoArgs(rest);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`polled echo: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  delete options.help;
  // Through the environment, so that the default runtime and every worker thread (which start
  // with a copy of it) make their poller with it.
  if (options.io !== undefined) process.env.POLLED_IO = options.io;
  delete options.io;
  if (options.udp) return runUdpEchoCli(options);
  try {
    await runEchoServer(options);
  } catch (err) {
    // Bad addresses (TypeError / RangeError) and bind failures (IoError EADDRINUSE, ...).
    process.stderr.write(`polled echo: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Everything is closed, so the loop ends by itself; this only guards against a stray handle.
      setTimeout(() => process.exit(code), 1000).unref();
    },
    (err: unknown) => {
      process.stderr.write(`polled: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

/**
 * The UDP echo server: every datagram comes back to its sender. `polled echo --udp` (lib/cli.ts)
 * runs it as a process through `runUdpEchoServer`.
 *
 * `UdpEchoServer` is a future (spawn it; `stop()` ends it): one `recvFrom` and one `sendTo` per
 * datagram into one buffer, or with `batch` > 1 one `recvMany` and one `sendMany` (recvmmsg /
 * sendmmsg on Linux) per batch of up to `batch` datagrams. The bytes received are sent back
 * before the next receive, so one buffer (or one per batch slot) serves every client; while the
 * socket's send buffer is full the send pends and the server stops receiving (backpressure: the
 * kernel drops what no longer fits in the receive buffer, as UDP does).
 *
 * Stop: `stop()` (SIGINT / SIGTERM in the process) ends the server at its next turn: the
 * datagrams already taken are sent back first if the socket takes them now, then the socket is
 * closed. There are no connections to wait for.
 */
import * as path from 'node:path';
import { IoError } from './errors';
import { FutureBase, MapFuture, PENDING, type Context, type Future, type Poll, type Waker } from './future';
import type { SocketAddress, SocketAddressLike } from './net/address';
import { checkOptions } from './net/options';
import { Datagram, UDP_BATCH, UdpSocket, type UdpBindOptions } from './net/udp';
import { Runtime } from './runtime';
import { runUntilStopped } from './slice';
import { optionalInt } from './validate';
import { REUSE_PORT, native } from './native';
import { SocketAddress as Addr } from './net/address';
import { startWorkers, type WorkerDriver } from './workers';
import type { UdpEchoWorkerData } from './udp-echo-worker';

export interface UdpEchoOptions {
  /** Bytes per receive buffer (per batch slot with `batch`). Default 65536: no datagram is cut. */
  bufferSize?: number;
  /** Datagrams per recvMany / sendMany; 1 (the default) uses recvFrom / sendTo. 1..64. */
  batch?: number;
  /** Where errors other than EAGAIN go (a reply the kernel refused, ...). Default: dropped. */
  log?: (line: string) => void;
}

export interface UdpEchoStats {
  /** Datagrams echoed. */
  datagrams: number;
  /** Datagrams that arrived truncated (longer than `bufferSize`): echoed cut. */
  truncated: number;
  /** Batched receives (0 without `batch`). */
  batches: number;
}

function checkEchoOptions(options: unknown): { size: number; batch: number; log: ((line: string) => void) | undefined } {
  const o = checkOptions<UdpEchoOptions>(options, 'UdpEchoServer', ['bufferSize', 'batch', 'log']);
  if (o.log !== undefined && typeof o.log !== 'function') throw new TypeError('UdpEchoServer: log must be a function');
  return {
    size: optionalInt(o.bufferSize, 'UdpEchoServer: bufferSize', 1, 1 << 20, 65536),
    batch: optionalInt(o.batch, 'UdpEchoServer: batch', 1, UDP_BATCH, 1),
    log: o.log,
  };
}

const enum Phase {
  Recv,
  Send,
}

export class UdpEchoServer extends FutureBase<UdpEchoStats> {
  readonly stats: UdpEchoStats = { datagrams: 0, truncated: 0, batches: 0 };
  private readonly batch: number;
  private readonly bufs: Uint8Array[];
  private readonly dgs: Datagram[];
  private readonly log: ((line: string) => void) | undefined;
  private phase = Phase.Recv;
  private op: Future<unknown> | null = null;
  private got = 0; // datagrams of the current batch
  private sent = 0; // of them sent back
  private stopping = false;
  private done = false;
  private waker: Waker | null = null;

  override waitingFor(): string {
    const op = this.op as { waitingFor?: () => string } | null;
    return `UDP echo (${this.stats.datagrams} echoed)${op !== null && typeof op.waitingFor === 'function' ? `: ${op.waitingFor()}` : ''}`;
  }

  constructor(
    readonly socket: UdpSocket,
    options: UdpEchoOptions = {},
  ) {
    super();
    const o = checkEchoOptions(options);
    this.batch = o.batch;
    this.bufs = Array.from({ length: this.batch }, () => new Uint8Array(o.size));
    this.dgs = Array.from({ length: this.batch }, () => new Datagram());
    this.log = o.log;
  }

  /** Bind a socket (see `UdpSocket.bind`) and make a server on it. */
  static override bind(addr: SocketAddressLike | number, options: UdpEchoOptions & UdpBindOptions = {}): Future<UdpEchoServer> {
    const { bufferSize, batch, log, ...bindOptions } = options;
    const own = { bufferSize, batch, log };
    checkEchoOptions(own); // now, before anything is bound
    return new MapFuture(UdpSocket.bind(addr, bindOptions), (s) => new UdpEchoServer(s, own));
  }

  localAddr(): SocketAddress {
    return this.socket.localAddr();
  }

  /** End the server at its next turn (idempotent). */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.waker?.wake();
  }

  poll(cx: Context): Poll<UdpEchoStats> {
    if (this.done) throw new Error('polled: UdpEchoServer polled after completion');
    this.waker = cx.waker;
    for (;;) {
      if (this.stopping && this.phase === Phase.Recv) return this.finish();
      if (this.op === null) this.op = this.nextOp();
      let r: unknown;
      try {
        r = this.op.poll(cx);
      } catch (err) {
        this.op = null;
        if (!(err instanceof IoError) || !this.socket.isOpen) {
          this.finish();
          throw err;
        }
        // A datagram socket outlives its errors (an ICMP error for an earlier reply, a reply
        // refused): report, skip that batch, go on.
        this.log?.(`${err.message}`);
        this.phase = Phase.Recv;
        continue;
      }
      if (r === PENDING) {
        if (this.stopping) {
          // A reply waiting for room in the send buffer at stop: dropped, as UDP may.
          this.op.drop?.();
          this.op = null;
          return this.finish();
        }
        return PENDING;
      }
      this.op = null;
      const n = r as number | Datagram;
      if (this.phase === Phase.Recv) {
        this.got = this.batch === 1 ? 1 : (n as number);
        this.sent = 0;
        if (this.batch > 1) this.stats.batches++;
        for (let i = 0; i < this.got; i++) if (this.dgs[i].truncated) this.stats.truncated++;
        this.phase = Phase.Send;
      } else {
        this.sent += this.batch === 1 ? 1 : (n as number);
        if (this.sent >= this.got) {
          this.stats.datagrams += this.got;
          this.phase = Phase.Recv;
        }
      }
    }
  }

  private nextOp(): Future<unknown> {
    const s = this.socket;
    if (this.batch === 1) {
      const d = this.dgs[0];
      return this.phase === Phase.Recv ? s.recvFrom(this.bufs[0], d) : s.sendTo(this.bufs[0], d, 0, d.bytes);
    }
    return this.phase === Phase.Recv ? s.recvMany(this.bufs, this.dgs) : s.sendMany(this.bufs, this.dgs, this.sent, this.got);
  }

  private finish(): UdpEchoStats {
    this.done = true;
    this.waker = null;
    this.socket.close();
    return this.stats;
  }

  override drop(): void {
    this.op?.drop?.();
    this.op = null;
    if (!this.done) this.finish();
  }
}

// ---- a whole process ------------------------------------------------------------------------

export interface RunUdpEchoOptions extends UdpEchoOptions {
  host?: string;
  port?: number;
  /** `embedded` (default) or `block` (blockOn owns the thread, in slices, as `runEchoServer`). */
  driver?: 'embedded' | 'block';
  /** Stop on SIGINT / SIGTERM (default true); a second signal exits at once with status 1. */
  signals?: boolean;
  /** SO_REUSEPORT (to share the port with other processes or threads). */
  reusePort?: boolean;
  /** Called once bound, with the line to print. Default: write it to stdout. */
  onListening?: (line: string, server: UdpEchoServer) => void;
  runtime?: Runtime;
  /** block driver: the longest slice before Node's loop gets a turn. Default 100 ms. */
  sliceMs?: number;
}

/**
 * Serve UDP echo until SIGINT / SIGTERM (or `server.stop()`), then close and resolve with the
 * counts. Prints `listening <host> <port>` when bound, as the TCP server does.
 */
export async function runUdpEchoServer(options: RunUdpEchoOptions = {}): Promise<UdpEchoStats> {
  const { host = '127.0.0.1', port = 7007, driver = 'embedded', signals = true, reusePort, onListening, runtime, sliceMs = 100, ...own } = options;
  if (driver !== 'embedded' && driver !== 'block') throw new TypeError(`driver must be 'embedded' or 'block', got ${JSON.stringify(driver)}`);
  const rt = runtime ?? Runtime.default();
  const bind = UdpEchoServer.bind({ host, port }, { ...own, reusePort });
  const server = driver === 'block' ? rt.blockOn(bind) : await rt.spawn(bind).promise();
  return runUntilStopped(rt, server, { driver, signals, sliceMs, name: 'udp echo server' }, () => {
    const a = server.localAddr();
    const line = `listening ${a.host} ${a.port}`;
    if (onListening) onListening(line, server);
    else process.stdout.write(line + '\n');
  });
}

// ---- on worker threads ----------------------------------------------------------------------

export interface UdpEchoWorkersOptions extends Omit<UdpEchoOptions, 'log'> {
  host?: string;
  port?: number;
  driver?: WorkerDriver;
  signals?: boolean;
  threads: number;
  /** Per-worker lines (stop, errors) go here; unset: quiet. */
  log?: (line: string) => void;
  /** Called once every worker is bound, with the line to print. Default: write it to stdout. */
  onListening?: (line: string) => void;
}

/**
 * UDP echo on `threads` worker threads sharing one port with SO_REUSEPORT, until SIGINT / SIGTERM
 * (through the worker group's stop). Port 0: the port is chosen here first, by a socket of the
 * group that is closed once every worker is bound (before the line is printed, so no client can
 * have sent it anything). Resolves with the counts summed over the workers.
 */
export async function runUdpEchoWorkers(options: UdpEchoWorkersOptions): Promise<UdpEchoStats> {
  const { host = '127.0.0.1', port = 7007, driver = 'embedded', signals = true, threads, batch, bufferSize, log, onListening } = options;
  checkEchoOptions({ batch, bufferSize });
  let hold = -1;
  let chosen = port;
  if (port === 0) {
    const h = native.udpBind(new Addr(host, 0).host, 0, REUSE_PORT);
    if (h < 0) throw new IoError(-h, 'bind', `${host}:0`);
    hold = h;
    const a = native.localAddr(h);
    chosen = typeof a === 'number' ? 0 : a[1];
  }
  const data: UdpEchoWorkerData = { host, port: chosen, batch, bufferSize, quiet: log === undefined };
  let listening = 0;
  let failure: Error | null = null;
  const release = (): void => {
    if (hold >= 0) native.close(hold);
    hold = -1;
  };
  const group = startWorkers<UdpEchoWorkerData>(path.join(__dirname, 'udp-echo-worker.js'), {
    threads,
    data,
    driver,
    signals,
    onMessage: (_index, m) => {
      const msg = m as { type?: string; line?: string };
      if (msg.type !== 'listening') return;
      if (++listening === threads) {
        release();
        if (onListening) onListening(msg.line ?? '');
        else process.stdout.write((msg.line ?? '') + '\n');
      }
    },
    onError: (index, error) => {
      failure ??= error;
      log?.(`worker ${index} failed: ${error.message}`);
      group.stop();
    },
  });
  const exits = await group.join();
  release();
  const total: UdpEchoStats = { datagrams: 0, truncated: 0, batches: 0 };
  const per: string[] = [];
  for (const e of exits) {
    const r = e.result as UdpEchoStats | undefined;
    per.push(`worker ${e.index}: ${r?.datagrams ?? 0}`);
    total.datagrams += r?.datagrams ?? 0;
    total.truncated += r?.truncated ?? 0;
    total.batches += r?.batches ?? 0;
  }
  log?.(`datagrams echoed per worker: ${per.join(', ')}`);
  if (failure !== null) throw failure;
  return total;
}

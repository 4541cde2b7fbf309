/**
 * `balance: 'handoff'`: worker 0 accepts, and thread channels carry the accepted streams to the
 * workers round robin. The fallback where SO_REUSEPORT does not spread connections (macOS: the
 * last listener bound gets them all), and tested on Linux too.
 *
 * - The main thread makes one thread channel per worker (`makeHandoff`) and moves the ends into
 *   the workers' boot data: each worker claims its receiver, worker 0 also every sender.
 * - `ctx.listen` in worker 0 binds the real listener and spawns the *acceptor*: accept, send the
 *   stream to the next worker's channel (its own included), repeat. A full channel makes the
 *   acceptor wait (backpressure: that worker is behind); a worker whose receiver is gone is
 *   skipped, and the stream comes back to try the next one.
 * - In every worker, `ctx.listen` returns a `HandoffListener`: an `Acceptor` whose `accept()` is
 *   the next stream from its channel, so `serve()` runs on it unchanged.
 * - Stop: worker 0's acceptor stops accepting and closes the listener and the senders (the
 *   kernel resets what its backlog held); each worker's server closes its `HandoffListener`,
 *   which drops the streams still queued for it. Both are counted in `queuedAtStop`.
 */
import { IoError } from './errors';
import { FutureBase, GenFuture, PENDING, type Async, type Context, type Future, type Poll } from './future';
import { lookupHost } from './net/dns';
import { SocketAddress, parseHostPort, type SocketAddressLike } from './net/address';
import type { Acceptor, BackoffListener } from './net/stream';
import { TcpListener, type TcpListenOptions, TcpStream } from './net/tcp';
import { Runtime } from './runtime';
import type { CancellationToken } from './sync/cancellation';
import { RecvError, SendError } from './sync/errors';
import { select } from './combinators';
import { ThreadReceiver, ThreadSender, threadChannel, type SharedThreadReceiver, type SharedThreadSender, type ThreadRecv } from './thread-channel';
import { CONTROL, type WorkerBoot } from './workers';

/** Streams queued per worker before the acceptor waits for that worker. */
const HANDOFF_CAPACITY = 1024;

/** What each worker's boot data carries for the handoff. */
interface HandoffBoot {
  rx: SharedThreadReceiver<TcpStream>;
  /** Worker 0 only: every worker's sender, by index. */
  txs: SharedThreadSender<TcpStream>[] | null;
}

/** Something whose connections a stop leaves behind, counted into `queuedAtStop`. */
export interface QueuedAtStop {
  queuedAtStop(): number;
}

/** Main thread: one channel per worker, the ends moved out into the workers' boot data. */
export function makeHandoff(threads: number): { forWorker(index: number): HandoffBoot } {
  const chans = Array.from({ length: threads }, () => threadChannel<TcpStream>(HANDOFF_CAPACITY));
  const txs = chans.map(([tx]) => tx.share());
  const rxs = chans.map(([, rx]) => rx.share());
  return { forWorker: (index) => ({ rx: rxs[index], txs: index === 0 ? txs : null }) };
}

/** The listener of a handoff worker: streams that worker 0 accepted for this worker. */
export class HandoffListener implements Acceptor<TcpStream, SocketAddress>, QueuedAtStop {
  onBackoff: BackoffListener | null = null;
  private open = true;

  constructor(
    private readonly rx: ThreadReceiver<TcpStream>,
    private readonly addr: SocketAddress,
  ) {}

  get isOpen(): boolean {
    return this.open;
  }

  localAddr(): SocketAddress {
    return this.addr;
  }

  accept(): Future<[TcpStream, SocketAddress]> {
    return new HandoffAccept(this, this.rx);
  }

  /** @internal The acceptor is gone (worker 0 stopped or failed): nothing more will come. */
  ended(): void {
    this.open = false;
  }

  /** Accept no more: the streams still queued for this worker are closed. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.rx.drop();
  }

  queuedAtStop(): number {
    return this.open ? this.rx.length : 0;
  }
}

/** `HandoffListener.accept()`: the next stream whose peer is still there. Cancel-safe (as recv). */
class HandoffAccept extends FutureBase<[TcpStream, SocketAddress]> {
  private recv: ThreadRecv<TcpStream, TcpStream> | null = null;

  constructor(
    private readonly listener: HandoffListener,
    private readonly rx: ThreadReceiver<TcpStream>,
  ) {
    super();
  }

  override waitingFor(): string {
    return `handoff accept (a stream from the acceptor thread)${this.recv !== null ? `: ${this.recv.waitingFor()}` : ''}`;
  }

  poll(cx: Context): Poll<[TcpStream, SocketAddress]> {
    for (;;) {
      if (!this.listener.isOpen) throw new IoError(9 /* EBADF */, 'accept', 'the handoff listener is closed');
      this.recv ??= this.rx.recv();
      let stream: TcpStream;
      try {
        const r = this.recv.poll(cx);
        if (r === PENDING) return PENDING;
        stream = r;
      } catch (err) {
        this.recv = null;
        if (err instanceof RecvError) {
          this.listener.ended();
          throw new IoError(9 /* EBADF */, 'accept', 'the acceptor (worker 0) has stopped');
        }
        throw err;
      }
      this.recv = null;
      try {
        return [stream, stream.peerAddr()];
      } catch {
        stream.close(); // reset by the client on the way: nothing to serve, take the next
      }
    }
  }

  override drop(): void {
    this.recv?.drop();
    this.recv = null;
  }
}

/** @internal Worker side of `ctx.listen` under `balance: 'handoff'` (worker-main.ts). */
export function handoffListen(
  boot: WorkerBoot,
  control: Int32Array,
  k: number,
  addr: SocketAddressLike | number,
  options: TcpListenOptions | undefined,
  shutdown: CancellationToken,
  counted: QueuedAtStop[],
): Future<Acceptor<TcpStream, SocketAddress>> {
  if (k > 0) throw new Error("ctx.listen: balance 'handoff' serves one listener per group; call ctx.listen once");
  const h = boot.handoff as HandoffBoot;
  const target = parseHostPort(typeof addr === 'number' ? { port: addr } : addr, 'ctx.listen(addr)');
  const slot = CONTROL.PORTS;
  return new GenFuture(
    (function* (): Async<Acceptor<TcpStream, SocketAddress>> {
      const rx = ThreadReceiver.from(h.rx);
      let bound: SocketAddress;
      if (boot.index === 0) {
        let listener: TcpListener;
        try {
          listener = yield* TcpListener.bind(addr, options);
        } catch (err) {
          Atomics.store(control, slot, -1);
          Atomics.notify(control, slot);
          throw err;
        }
        bound = listener.localAddr();
        Atomics.store(control, slot, bound.port);
        Atomics.notify(control, slot);
        counted.push({ queuedAtStop: () => (listener.isOpen ? safeQueueLength(listener) : 0) });
        const txs = h.txs!.map((d) => ThreadSender.from(d));
        Runtime.current().spawn(acceptor(listener, txs, shutdown), 'handoff acceptor');
      } else {
        // Wait (this thread only, at startup) for worker 0 to bind, then name the same address.
        if (Atomics.wait(control, slot, 0, 30_000) === 'timed-out') throw new Error('ctx.listen: worker 0 did not bind within 30000 ms');
        const port = Atomics.load(control, slot);
        if (port < 0) throw new Error('ctx.listen: worker 0 failed to bind, so there is nothing to hand off');
        const host = target instanceof SocketAddress ? target.host : (yield* lookupHost(target.name))[0].host;
        bound = new SocketAddress(host, port);
      }
      const l = new HandoffListener(rx, bound);
      counted.push(l);
      return l;
    })(),
  );
}

function safeQueueLength(l: TcpListener): number {
  try {
    return l.acceptQueueLength();
  } catch {
    return 0;
  }
}

/** Worker 0's acceptor: accept until the group stops, handing each stream to the next worker. */
function* acceptor(listener: TcpListener, txs: ThreadSender<TcpStream>[], shutdown: CancellationToken): Async<void> {
  let next = 0;
  const alive = txs.map(() => true);
  try {
    for (;;) {
      const r = yield* select({ stop: shutdown.cancelled(), conn: listener.accept() });
      if (r.key === 'stop') return;
      let stream: TcpStream | null = r.value[0];
      // Round robin over the workers still there; a send pends while that worker is behind.
      for (let tries = 0; stream !== null && tries < txs.length; tries++) {
        const i = next;
        next = (next + 1) % txs.length;
        if (!alive[i]) continue;
        try {
          yield* txs[i].send(stream);
          stream = null;
        } catch (err) {
          if (!(err instanceof SendError)) throw err;
          alive[i] = false; // that worker's receiver is gone; the stream came back: try the next
        }
      }
      stream?.close(); // no worker left to serve it
      if (!alive.some(Boolean)) return;
    }
  } finally {
    listener.close();
    for (const tx of txs) tx.close();
  }
}

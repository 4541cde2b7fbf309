/**
 * The first script of every worker thread `startWorkers` starts (workers.ts has the model).
 *
 * 1. Make this thread's runtime (its default `Runtime`: its own executor, poller, handle table).
 * 2. Tell the group where to post the stop: the runtime's mailbox id and a key, in the shared
 *    control block; if a stop was asked already, stop at once.
 * 3. Load the user's module with `import()` and run its `main(ctx)` under the chosen driver.
 * 4. Report how it ended (`done` with the result, or `failed` with the error), then close the
 *    runtime, so the thread's loop has nothing left and the thread exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GenFuture, intoFuture, MapFuture, Waker, type Async, type Future, type IntoFuture } from './future';
import { SocketAddress, parseHostPort, type SocketAddressLike } from './net/address';
import type { Acceptor } from './net/stream';
import { TcpListener, type TcpListenOptions, type TcpStream } from './net/tcp';
import { Runtime } from './runtime';
import { CancellationToken } from './sync/cancellation';
import { describe } from './validate';
import { CONTROL, type WorkerBoot, type WorkerContext, type WorkerMain, type WorkerReport } from './workers';
import { handoffListen, type QueuedAtStop } from './worker-handoff';

// `import()` as written: TypeScript would compile it to require(), which cannot load ES modules.
const importModule = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<Record<string, unknown>>;

/** How long a worker waits for worker 0 to bind a port-0 address before giving up. */
const PORT_WAIT_MS = 30_000;

function post(report: WorkerReport): void {
  try {
    parentPort!.postMessage(report);
  } catch {
    // Not cloneable (a result or error holding functions): send what can be said about it.
    if (report.type === 'failed') {
      const e = report.error;
      const error = e instanceof Error ? Object.assign(new Error(e.message), { stack: e.stack, name: e.name }) : new Error(String(e));
      parentPort!.postMessage({ ...report, error });
    } else {
      parentPort!.postMessage({ ...report, ...(report.type === 'done' ? { result: String(report.result) } : { message: String(report.message) }) });
    }
  }
}

async function run(boot: WorkerBoot): Promise<void> {
  const rt = Runtime.default();
  const control = new Int32Array(boot.control);
  const base = CONTROL.WORKER_BASE + boot.index * CONTROL.WORKER_SLOTS;
  const shutdown = new CancellationToken();
  const listeners: QueuedAtStop[] = [];
  let queuedAtStop = 0;
  const stop = (): void => {
    if (shutdown.isCancelled()) return;
    // Count what closing the listeners will reset, just before the server closes them.
    for (const l of listeners) queuedAtStop += l.queuedAtStop();
    shutdown.cancel();
  };
  const remote = rt.reactor.remote;
  const key = remote.add(new Waker({ wakeByRef: stop }));
  Atomics.store(control, base + CONTROL.MAILBOX, remote.mailbox);
  Atomics.store(control, base + CONTROL.KEY, key);
  if (Atomics.load(control, base + CONTROL.STOP) !== 0) {
    remote.remove(key);
    stop();
  }

  let listens = 0;
  const ctx: WorkerContext = {
    index: boot.index,
    threads: boot.threads,
    data: boot.data,
    runtime: rt,
    shutdown,
    graceMs: boot.graceMs,
    balance: boot.balance,
    listen(addr: SocketAddressLike | number, options?: TcpListenOptions): Future<Acceptor<TcpStream, SocketAddress>> {
      const k = listens++;
      if (boot.balance === 'handoff') return handoffListen(boot, control, k, addr, options, shutdown, listeners);
      return new MapFuture(bindShared(boot, control, k, addr, options), (l) => {
        listeners.push({
          queuedAtStop: () => {
            try {
              return l.isOpen ? l.acceptQueueLength() : 0;
            } catch {
              return 0; // not Linux (ENOTSUP): nothing to count
            }
          },
        });
        return l;
      });
    },
    send(message: unknown): void {
      post({ type: 'message', message });
    },
  };

  try {
    const mod = await importModule(boot.module);
    const main = (mod.main ?? (mod.default as Record<string, unknown> | undefined)?.main ?? mod.default) as WorkerMain | undefined;
    if (typeof main !== 'function') throw new TypeError(`polled worker: ${boot.module} exports no main(ctx) function (got ${describe(main)})`);
    const fut = intoFuture(main(ctx) as IntoFuture<unknown>, 'main(ctx)');
    const result = boot.driver === 'block' ? rt.blockOn(fut) : await rt.spawn(fut, `worker ${boot.index} main`).promise();
    post({ type: 'done', result, queuedAtStop });
  } catch (err) {
    post({ type: 'failed', error: err, queuedAtStop });
    process.exitCode = 1;
  } finally {
    remote.remove(key);
    rt.close();
  }
}

/**
 * Bind as one of the group with SO_REUSEPORT. Port 0 means "one port for all": worker 0 binds it
 * and publishes the port the OS chose; the others wait for it (on the control block) and bind
 * that port.
 */
function bindShared(boot: WorkerBoot, control: Int32Array, k: number, addr: SocketAddressLike | number, options?: TcpListenOptions): Future<TcpListener> {
  // A name ('localhost:0') is resolved by TcpListener.bind in each worker, the same way.
  const target = parseHostPort(typeof addr === 'number' ? { port: addr } : addr, 'ctx.listen(addr)');
  const host = target instanceof SocketAddress ? target.host : target.name;
  const shown = target instanceof SocketAddress ? target.toString() : `${target.name}:0`;
  const opts: TcpListenOptions = { ...options, reusePort: true };
  if (target.port !== 0 || boot.threads === 1) return TcpListener.bind({ host, port: target.port }, opts);
  if (k >= CONTROL.MAX_LISTENS) throw new RangeError(`ctx.listen: at most ${CONTROL.MAX_LISTENS} port-0 listeners per worker`);
  const slot = CONTROL.PORTS + k;
  return new GenFuture(
    (function* (): Async<TcpListener> {
      if (boot.index === 0) {
        let l: TcpListener;
        try {
          l = yield* TcpListener.bind({ host, port: 0 }, opts);
        } catch (err) {
          Atomics.store(control, slot, -1); // so that the others do not wait for a port
          Atomics.notify(control, slot);
          throw err;
        }
        Atomics.store(control, slot, l.localAddr().port);
        Atomics.notify(control, slot);
        return l;
      }
      // Blocks this worker's thread (and only it) until worker 0 has bound: startup only.
      if (Atomics.wait(control, slot, 0, PORT_WAIT_MS) === 'timed-out') {
        throw new Error(`ctx.listen: worker 0 did not bind ${shown} within ${PORT_WAIT_MS} ms`);
      }
      const port = Atomics.load(control, slot);
      if (port < 0) throw new Error(`ctx.listen: worker 0 failed to bind ${shown}, so there is no port to share`);
      return yield* TcpListener.bind({ host, port }, opts);
    })(),
  );
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object') {
  void run(workerData as WorkerBoot);
}

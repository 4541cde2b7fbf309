/**
 * The blocking pool from JavaScript: the one leaf future every pool call is (`lookupHost`, `fs`).
 *
 * The pool (native/pool.h) is a set of native threads per `Runtime`, not libuv's, so its jobs run
 * and complete while `blockOn` holds the thread. Its size is the runtime option `blockingThreads`
 * (default 4); threads start when the first jobs arrive.
 *
 * A `PoolFuture` is lazy: nothing is submitted before its first poll. That poll takes a mailbox
 * key for its waker (lib/remote.ts) and submits the job with it; the pool thread posts the key
 * when the job is done, which wakes the task, whose next poll takes the result. The key keeps the
 * runtime awake meanwhile (blockOn parks rather than reporting a deadlock; the embedded driver
 * keeps the process alive).
 *
 * Dropped while its job runs, the future *forgets* the job: it runs to its end on the pool and
 * its result is discarded (a file it opened is closed, bytes it read are freed). So every pool
 * call is cancel-safe in the sense that dropping it leaks nothing, but the call itself is not
 * undone: a write or a rename may have happened.
 */
import { runtimeOrDefault } from './context';
import { IoError, isResolverCode } from './errors';
import { FutureBase, PENDING, type Context, type Poll } from './future';
import { POOL_STEP, native, type Handle, type NativeBinding } from './native';
import { Runtime } from './runtime';

/** What `poolTake` gives for a job that is done. */
export type Taken = Exclude<ReturnType<NativeBinding['poolTake']>, null>;

/** The runtime a pool call runs on: the current one, which must be a full `Runtime`. */
export function poolRuntime(what: string): Runtime {
  const rt = runtimeOrDefault();
  if (rt instanceof Runtime) return rt;
  throw new Error(
    `polled: ${what} runs on the blocking pool, which needs a Runtime (with the native poller); the current runtime is a TimerRuntime`,
  );
}

/**
 * The IoError of a failed job's result `r` (< 0): -(step * POOL_STEP + errno), `syscalls[step]`
 * naming the syscall; a resolver's code (UV_EAI_*) for a lookup.
 */
export function poolError(r: number, syscalls: readonly string[], detail?: string): IoError {
  const e = -r;
  const errnum = e % POOL_STEP;
  const step = (e - errnum) / POOL_STEP;
  return new IoError(errnum, syscalls[step] ?? syscalls[0], detail);
}

/** States of a `PoolFuture`. */
const enum PoolState {
  /** Not polled yet: nothing submitted. */
  Init,
  /** Submitted: `job` runs (or waits) on the pool; `key` wakes us when it is done. */
  Running,
  /** Completed, failed or dropped. */
  Done,
}

/**
 * One job on the blocking pool. Subclasses say how to submit it and what its result means.
 */
export abstract class PoolFuture<T> extends FutureBase<T> {
  private state = PoolState.Init;
  private rt: Runtime | null = null;
  private job = 0;
  private key = 0;

  /** What the call is, for the error when there is no full Runtime ('fs.readFile'). */
  protected abstract readonly what: string;
  /** Submit the job to `poller` with `key`: its id, or -errno. */
  protected abstract submit(poller: Handle, key: number): number;
  /** The job's result (an error when it is a number < 0): the value, or throw. */
  protected abstract finish(r: Taken): T;
  /** The buffer a read copies into, at take. */
  protected destination(): Uint8Array | undefined {
    return undefined;
  }

  /** What the job is about, for the task dump: a path, a host name. */
  protected subject(): string {
    return '';
  }

  override waitingFor(): string {
    const s = this.subject();
    return `${this.what}${s !== '' ? ` ${s}` : ''}, job ${this.state === PoolState.Running ? `${this.job} on the blocking pool` : 'not submitted'}`;
  }

  poll(cx: Context): Poll<T> {
    switch (this.state) {
      case PoolState.Init: {
        const rt = poolRuntime(this.what);
        const remote = rt.reactor.remote;
        const key = remote.add(cx.waker);
        let job: number;
        try {
          job = this.submit(rt.poller, key);
        } catch (err) {
          remote.remove(key);
          this.state = PoolState.Done;
          throw err;
        }
        if (job < 0) {
          remote.remove(key);
          this.state = PoolState.Done;
          return this.finish(job);
        }
        this.rt = rt;
        this.job = job;
        this.key = key;
        this.state = PoolState.Running;
        return PENDING;
      }
      case PoolState.Running: {
        const rt = this.rt!;
        const r = native.poolTake(rt.poller, this.job, this.destination());
        if (r === null) {
          // Still running (a poll for another reason). Its key is outstanding: the pool posts it
          // only after the job is done, so it cannot have been consumed yet. Re-point it.
          if (!rt.reactor.remote.update(this.key, cx.waker)) throw new Error(`polled: ${this.what}: the pool's wake key was lost`);
          return PENDING;
        }
        rt.reactor.remote.remove(this.key); // taken before the post was drained
        this.state = PoolState.Done;
        this.rt = null;
        return this.finish(r);
      }
      default:
        throw new Error(`polled: a ${this.what} future was polled after it completed`);
    }
  }

  override drop(): void {
    if (this.state === PoolState.Running) {
      const rt = this.rt!;
      native.poolForget(rt.poller, this.job); // -EBADF once the runtime has closed: nothing left to forget
      rt.reactor.remote.remove(this.key);
    }
    this.state = PoolState.Done;
    this.rt = null;
  }
}

/** A resolver failure or an errno, as the IoError of getaddrinfo(`host`). */
export function lookupError(r: number, host: string): IoError {
  return isResolverCode(r) ? IoError.resolver(r, host) : poolError(r, ['getaddrinfo'], host);
}

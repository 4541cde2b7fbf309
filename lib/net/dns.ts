/**
 * Name resolution: `lookupHost` (tokio's `lookup_host`), getaddrinfo on the blocking pool.
 *
 * ```ts
 * const addrs = yield* lookupHost('localhost');          // [SocketAddress 127.0.0.1:0, ...]
 * const v6 = yield* lookupHost('example.com', { family: 6, port: 443 });
 * ```
 *
 * Failures are `IoError`s with Node's `dns` codes: `ENOTFOUND` (no such name, or no address of
 * that family), `EAI_AGAIN` (the resolver could not be reached: try again later), `EAI_FAIL`, ...
 */
import { isIP } from 'node:net';
import { checkSignal, underSignal } from '../abort';
import { IoError } from '../errors';
import { FutureBase, type Async, type Context, type Future, type Poll } from '../future';
import { native, type Handle } from '../native';
import { PoolFuture, lookupError, type Taken } from '../pool';
import { describe } from '../validate';
import { SocketAddress, checkHostName, checkPort, fromNative } from './address';
import { checkOptions } from './options';

export interface LookupOptions {
  /** 4 (IPv4 only), 6 (IPv6 only) or 0 (both, the default). */
  family?: 0 | 4 | 6;
  /** The port the addresses carry. Default 0. */
  port?: number;
  /** Give up when this signal aborts (`AbortError`); the lookup finishes on the pool, its answer discarded. */
  signal?: AbortSignal;
}

/**
 * The addresses `host` resolves to, in getaddrinfo's order (the order to try them in), each
 * once. A numeric host (`'127.0.0.1'`, `'::1'`) of the family asked for is its own answer, with no
 * trip to the pool. Needs a `Runtime` (the blocking pool); lazy: nothing is resolved before the
 * first poll.
 *
 * Cancel-safe: dropped while getaddrinfo runs, the lookup finishes on the pool and its answer is
 * discarded. (A running lookup delays closing its runtime until it returns.)
 */
export function lookupHost(host: string, options?: LookupOptions): Future<SocketAddress[]> {
  const o = checkOptions<LookupOptions>(options, 'lookupHost', ['family', 'port', 'signal']);
  const signal = checkSignal(o.signal, 'lookupHost: signal');
  const family = o.family ?? 0;
  if (family !== 0 && family !== 4 && family !== 6) throw new TypeError(`lookupHost: family must be 0, 4 or 6, got ${describe(o.family)}`);
  const port = o.port === undefined ? 0 : checkPort(o.port, 'lookupHost: port');
  if (typeof host === 'string') {
    const bare = host.length > 2 && host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    const v = isIP(bare); // (no try / catch around the constructor: a throw per name costs microseconds)
    if (v !== 0 && (family === 0 || family === v)) return underSignal(new Ready([new SocketAddress(bare, port)]), signal);
  }
  return underSignal(new LookupFuture(checkHostName(host, 'lookupHost(host)'), family, port), signal);
}

/** An answer known without the pool. */
class Ready<T> extends FutureBase<T> {
  private done = false;
  constructor(private readonly value: T) {
    super();
  }
  poll(_cx: Context): Poll<T> {
    if (this.done) throw new Error('polled: a lookupHost future was polled after it completed');
    this.done = true;
    return this.value;
  }
}

class LookupFuture extends PoolFuture<SocketAddress[]> {
  protected readonly what = 'lookupHost';
  constructor(
    private readonly host: string,
    private readonly family: number,
    private readonly port: number,
  ) {
    super();
  }
  protected override subject(): string {
    return this.host;
  }
  protected submit(poller: Handle, key: number): number {
    return native.poolLookup(poller, this.host, this.family, key);
  }
  protected finish(r: Taken): SocketAddress[] {
    if (typeof r === 'number') throw lookupError(r, this.host);
    const flat = r as (string | number)[];
    const out: SocketAddress[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push(fromNative([flat[i] as string, this.port, flat[i + 1] as number]));
    return out;
  }
}

/** Is `err` one after which a connect tries the name's next address (refused, timed out, unreachable)? */
export function isRetryableConnectError(err: unknown): boolean {
  return err instanceof IoError && RETRY_CODES.has(err.code);
}

const RETRY_CODES = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/**
 * `connect(addrs[0])`, then the next address on a refusal, time-out or unreachable network, ...;
 * the last error when none connects. Any other error ends it at once.
 */
export function* connectFirst<S>(addrs: readonly SocketAddress[], connect: (a: SocketAddress) => Future<S>): Async<S> {
  let last: unknown;
  for (const a of addrs) {
    try {
      return yield* connect(a);
    } catch (err) {
      if (!isRetryableConnectError(err)) throw err;
      last = err;
    }
  }
  if (addrs.length === 0) throw new TypeError('connectFirst: no addresses to connect to');
  throw last;
}

/**
 * UDP: `UdpSocket` (tokio's name and shape), with batched receive and send.
 *
 * ```ts
 * const sock = yield* UdpSocket.bind('127.0.0.1:0');
 * const dg = new Datagram();                    // reused: nothing is allocated per datagram
 * const buf = new Uint8Array(2048);
 * for (;;) {
 *   yield* sock.recvFrom(buf, dg);              // dg.bytes, dg.truncated, dg.port, dg.address()
 *   yield* sock.sendTo(buf, dg, 0, dg.bytes);   // echo it back to the sender
 * }
 * ```
 *
 * Datagrams are not a byte stream, and two rules of `lib/io.ts` change:
 * - A socket is drained only when the kernel says EAGAIN. Every datagram smaller than the buffer
 *   is a "short read", so the stream rule (a short read means drained, clear readiness without a
 *   second syscall) would stall an edge-triggered socket with datagrams still queued.
 * - 0 bytes is a datagram (an empty one), never an end of stream.
 *
 * Truncation is never silent: a datagram longer than the buffer sets `Datagram.truncated` with its
 * full `length` (on Linux; elsewhere the length is what was stored), and `recv(buf)`, which
 * returns only a count, fails with `IoError` EMSGSIZE instead (the first bytes are in `buf`).
 *
 * Errors the kernel queues on the socket (an ICMP port-unreachable after a send to a closed port
 * on a connected socket) fail the next operation with `IoError` ECONNREFUSED, as in tokio and
 * Node; the socket stays usable.
 *
 * Addresses cross the addon as numbers (`native.udpMeta`'s records): a `Datagram` keeps the sender
 * as family, port and four address words, and makes its `SocketAddress` only when asked.
 * `recvMany` / `sendMany` move up to `UDP_BATCH` (64) datagrams in one `recvmmsg` / `sendmmsg`
 * (Linux; one call per datagram elsewhere, same results).
 */
import { consume, pollProceed } from '../coop';
import { IoError, errno } from '../errors';
import { GenFuture, LazyFuture, type Context, type Future, type Poll, type Waker } from '../future';
import { IoOpFuture, IoResource } from '../io';
import {
  ARG_HANDLE,
  ARG_LENGTH,
  ARG_OFFSET,
  ARG_RESULT,
  ARG_STATUS,
  ERROR,
  READABLE,
  READ_BUFFER,
  STATUS_DONE,
  WRITE_BUFFER,
  REUSE_ADDR,
  REUSE_PORT,
  UDP_ADDR,
  UDP_BATCH,
  UDP_FAMILY,
  UDP_FLAGS,
  UDP_LENGTH,
  UDP_OPT_BROADCAST,
  UDP_OPT_MULTICAST_LOOP,
  UDP_OPT_MULTICAST_TTL,
  UDP_OPT_TTL,
  UDP_PORT,
  UDP_SCOPE,
  UDP_STRIDE,
  UDP_TRUNCATED,
  V6_ONLY,
  WRITABLE,
  native,
  type Handle,
} from '../native';
import { Runtime } from '../runtime';
import { checkRange, describe } from '../validate';
import { SocketAddress, checkHost, fromNative, parseHostPort, parseSocketAddress, type SocketAddressLike } from './address';
import { lookupHost } from './dns';
import { checkBool, checkOptions } from './options';

export { UDP_BATCH };

const EAGAIN = errno.EAGAIN;
const EINTR = errno.EINTR;
const EBADF = errno.EBADF;
const EMSGSIZE = errno.EMSGSIZE;

const meta = native.udpMeta;
const ioArgs = native.ioArgs;

/** The largest UDP payload over IPv4 (65,535 - 8 bytes of UDP header - 20 of IP header). */
export const MAX_UDP_PAYLOAD_V4 = 65507;

export interface UdpBindOptions {
  /** SO_REUSEADDR (default false). */
  reuseAddress?: boolean;
  /** SO_REUSEPORT: several sockets share the port, the kernel spreads datagrams (default false). */
  reusePort?: boolean;
  /** IPV6_V6ONLY for an IPv6 address: no IPv4-mapped traffic (default false: dual stack). */
  ipv6Only?: boolean;
}

// ---- Datagram: the reusable result / destination record ------------------------------------------

function v4Text(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** RFC 5952 text of eight 16-bit groups: lower-case hex, the longest run (>= 2) of zeros as `::`. */
function v6Text(w0: number, w1: number, w2: number, w3: number): string {
  if (w0 === 0 && w1 === 0 && w2 === 0xffff) return `::ffff:${v4Text(w3)}`;
  const g = [w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, w2 >>> 16, w2 & 0xffff, w3 >>> 16, w3 & 0xffff];
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** A numeric IPv6 address (already checked) as four host-order words. */
function v6Words(host: string, out: Uint32Array): void {
  let h = host;
  const pct = h.indexOf('%');
  if (pct >= 0) h = h.slice(0, pct);
  const lastColon = h.lastIndexOf(':');
  if (h.includes('.', lastColon)) {
    // An embedded IPv4 address (::ffff:1.2.3.4): as its two groups.
    const v4 = v4Word(h.slice(lastColon + 1));
    h = `${h.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const parse = (t: string): number[] => (t === '' ? [] : t.split(':').map((x) => parseInt(x, 16)));
  let groups: number[];
  const dbl = h.indexOf('::');
  if (dbl >= 0) {
    const head = parse(h.slice(0, dbl));
    const rest = parse(h.slice(dbl + 2));
    groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  } else {
    groups = parse(h);
  }
  for (let i = 0; i < 4; i++) out[i] = ((groups[2 * i] << 16) | groups[2 * i + 1]) >>> 0;
}

function v4Word(host: string): number {
  const p = host.split('.');
  return ((+p[0] << 24) | (+p[1] << 16) | (+p[2] << 8) | +p[3]) >>> 0;
}

/**
 * One datagram's metadata, made once and reused across calls (nothing is allocated per datagram):
 * what `recvFrom` / `recvMany` fill in (the bytes stored, the full length, truncation, the sender)
 * and what `sendTo` / `sendMany` read (the bytes to send, the destination). The address is kept as
 * numbers; `address()` / `host` build the `SocketAddress` / text only when asked.
 */
export class Datagram {
  /** Bytes of the datagram in the buffer (received), or to send (`sendMany`). */
  bytes = 0;
  /** The datagram's full length: more than `bytes` when truncated (Linux; elsewhere = `bytes`). */
  length = 0;
  /** The datagram was longer than the buffer; `bytes` of it were kept. */
  truncated = false;
  /** 4, 6, or 0 for none (a destination of 0 means the connected peer). */
  family: 0 | 4 | 6 = 0;
  port = 0;
  /** The IPv6 scope id (0 for IPv4 and global addresses). */
  scopeId = 0;
  /** The address as four host-order 32-bit words (IPv4: the first). */
  readonly words = new Uint32Array(4);

  /** A destination (for `sendTo` / `sendMany`), or empty. */
  constructor(to?: SocketAddressLike) {
    if (to !== undefined) this.setAddress(to);
  }

  /** Set the destination to a numeric address (`'127.0.0.1:9'`, `'[::1]:9'`, `{ host, port }`, a SocketAddress). */
  setAddress(to: SocketAddressLike): this {
    const a = parseSocketAddress(to, 'Datagram.setAddress(to)');
    this.port = a.port;
    this.scopeId = 0;
    if (a.isIPv4) {
      this.family = 4;
      this.words[0] = v4Word(a.host);
      this.words[1] = this.words[2] = this.words[3] = 0;
    } else {
      this.family = 6;
      v6Words(a.host, this.words);
    }
    return this;
  }

  /** Copy another datagram's address (and length) into this one. */
  copyFrom(d: Datagram): this {
    this.bytes = d.bytes;
    this.length = d.length;
    this.truncated = d.truncated;
    this.family = d.family;
    this.port = d.port;
    this.scopeId = d.scopeId;
    this.words.set(d.words);
    return this;
  }

  /** The address as text: `127.0.0.1`, `::1`; '' when there is none. */
  get host(): string {
    const w = this.words;
    if (this.family === 4) return v4Text(w[0]);
    if (this.family === 6) return v6Text(w[0], w[1], w[2], w[3]);
    return '';
  }

  /** The sender (or destination) as a SocketAddress, made now; null when there is none. */
  address(): SocketAddress | null {
    if (this.family === 0) return null;
    return fromNative([this.host, this.port, this.family]);
  }

  /** @internal Fill from udpMeta's record at `rec`, `stored` bytes having been kept. */
  load(rec: number, stored: number): void {
    this.bytes = stored;
    this.length = meta[rec + UDP_LENGTH];
    this.truncated = (meta[rec + UDP_FLAGS] & UDP_TRUNCATED) !== 0;
    const family = meta[rec + UDP_FAMILY];
    this.family = family === 4 ? 4 : family === 6 ? 6 : 0;
    this.port = meta[rec + UDP_PORT];
    const w = this.words;
    w[0] = meta[rec + UDP_ADDR];
    w[1] = meta[rec + UDP_ADDR + 1];
    w[2] = meta[rec + UDP_ADDR + 2];
    w[3] = meta[rec + UDP_ADDR + 3];
    this.scopeId = meta[rec + UDP_SCOPE];
  }

  /** @internal Write this destination (and `length` bytes) into udpMeta's record at `rec`. */
  store(rec: number, length: number): void {
    meta[rec + UDP_LENGTH] = length;
    meta[rec + UDP_FAMILY] = this.family;
    meta[rec + UDP_PORT] = this.port;
    const w = this.words;
    meta[rec + UDP_ADDR] = w[0];
    meta[rec + UDP_ADDR + 1] = w[1];
    meta[rec + UDP_ADDR + 2] = w[2];
    meta[rec + UDP_ADDR + 3] = w[3];
    meta[rec + UDP_SCOPE] = this.scopeId;
  }
}

/** Record 0 with no destination: the connected peer. */
function storeConnected(rec: number, length: number): void {
  meta[rec + UDP_LENGTH] = length;
  meta[rec + UDP_FAMILY] = 0;
}

function checkBuf(buf: unknown, what: string): Uint8Array {
  if (!(buf instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array or Buffer, got ${describe(buf)}`);
  return buf;
}

function checkLen(buf: Uint8Array, offset: number, length: number | undefined, what: string): number {
  checkBuf(buf, what);
  const len = length ?? buf.length - offset;
  checkRange(buf, offset, len, what);
  return len;
}

function checkBufs(bufs: unknown, what: string): readonly Uint8Array[] {
  if (!Array.isArray(bufs)) throw new TypeError(`${what} must be an array of Uint8Array, got ${describe(bufs)}`);
  if (bufs.length === 0) throw new RangeError(`${what} must hold at least one buffer`);
  bufs.forEach((b, i) => checkBuf(b, `${what}[${i}]`));
  return bufs as readonly Uint8Array[];
}

// ---- The socket ----------------------------------------------------------------------------------

/** A UDP socket on the current runtime's reactor. IPv4 or IPv6 (an IPv6 one is dual stack unless `ipv6Only`). */
export class UdpSocket {
  /** @internal */
  readonly io: IoResource;
  /** @internal Scratch for `recv` / `send`: truncation and nothing else is read from it. */
  readonly scratch = new Datagram();
  /** One-entry cache of `sendTo`'s SocketAddress → numbers. */
  private lastTo: SocketAddress | null = null;
  private lastToDg = new Datagram();

  /** @internal Use `UdpSocket.bind`. */
  constructor(io: IoResource) {
    this.io = io;
    io.owner = this;
  }

  /** @internal An operation on this socket, for the task dump: "UdpSocket.recvfrom fd 9 127.0.0.1:7007". */
  describeOp(op: string): string {
    const io = this.io;
    if (!io.isOpen) return `UdpSocket.${op} (${io.closedNote})`;
    let addrs: string;
    try {
      addrs = this.localAddr().toString();
    } catch {
      addrs = '?';
    }
    try {
      addrs += ` → ${this.peerAddr().toString()}`;
    } catch {
      // not connected
    }
    return `UdpSocket.${op} fd ${native.fdOf(io.handle)} ${addrs}`;
  }

  /**
   * A socket bound to `addr`: `'127.0.0.1:0'`, `'[::]:5353'`, `'localhost:0'`, `{ host, port }` or
   * a port number (on 127.0.0.1). A name is resolved first (`lookupHost`) and the first address is
   * bound. Port 0 lets the OS choose (`localAddr()`). Fails with `IoError` EADDRINUSE, EACCES, ...
   */
  static bind(addr: SocketAddressLike | number, options?: UdpBindOptions): Future<UdpSocket> {
    const target = parseHostPort(typeof addr === 'number' ? { port: addr } : addr, 'UdpSocket.bind(addr)');
    const o = checkOptions<UdpBindOptions>(options, 'UdpSocket.bind', ['reuseAddress', 'reusePort', 'ipv6Only']);
    const flags =
      (checkBool(o.reuseAddress, 'UdpSocket.bind: reuseAddress', false) ? REUSE_ADDR : 0) |
      (checkBool(o.reusePort, 'UdpSocket.bind: reusePort', false) ? REUSE_PORT : 0) |
      (checkBool(o.ipv6Only, 'UdpSocket.bind: ipv6Only', false) ? V6_ONLY : 0);
    const open = (a: SocketAddress): UdpSocket => {
      const rt = Runtime.current();
      const h = native.udpBind(a.host, a.port, flags);
      if (h < 0) throw new IoError(-h, 'bind', a.toString());
      return new UdpSocket(new IoResource(rt, h));
    };
    if (target instanceof SocketAddress) return new LazyFuture(() => open(target));
    return new GenFuture(
      (function* (): Generator<unknown, UdpSocket, unknown> {
        const addrs = yield* lookupHost(target.name, { port: target.port });
        return open(addrs[0]);
      })(),
    );
  }

  /**
   * Connect to `addr` (a name is resolved first): `send` / `recv` then talk to it only, datagrams
   * from elsewhere are dropped by the kernel, and an ICMP port-unreachable fails the next
   * operation with `IoError` ECONNREFUSED. Immediate: nothing is sent.
   */
  connect(addr: SocketAddressLike): Future<void> {
    const target = parseHostPort(addr, 'UdpSocket.connect(addr)');
    const to = (a: SocketAddress): void => {
      const r = native.udpConnect(this.openHandle('connect'), a.host, a.port);
      if (r < 0) throw new IoError(-r, 'connect', a.toString());
    };
    if (target instanceof SocketAddress) return new LazyFuture(() => to(target));
    return new GenFuture(
      (function* (): Generator<unknown, void, unknown> {
        const addrs = yield* lookupHost(target.name, { port: target.port });
        to(addrs[0]);
      })(),
    );
  }

  get handle(): Handle {
    return this.io.handle;
  }

  get isOpen(): boolean {
    return this.io.isOpen;
  }

  /** The bound address (the port the OS chose for port 0). */
  localAddr(): SocketAddress {
    const r = native.localAddr(this.openHandle('getsockname'));
    if (typeof r === 'number') throw new IoError(-r, 'getsockname');
    return fromNative(r);
  }

  /** The connected peer; `IoError` ENOTCONN when not connected. */
  peerAddr(): SocketAddress {
    const r = native.peerAddr(this.openHandle('getpeername'));
    if (typeof r === 'number') throw new IoError(-r, 'getpeername');
    return fromNative(r);
  }

  // ---- Datagram I/O ----

  /**
   * One datagram from the connected peer into `buf[offset, offset + length)`: the bytes stored
   * (0 for an empty datagram). A datagram longer than the range fails with `IoError` EMSGSIZE
   * (its first bytes are in `buf`); use `recvFrom` with a `Datagram` to take truncation as data.
   */
  recv(buf: Uint8Array, offset = 0, length?: number): Future<number> {
    const len = checkLen(buf, offset, length, 'recv(buf)');
    return new UdpOpFuture<number>(this, Op.Recv, buf, null, offset, len, this.scratch, 0, 0);
  }

  /** One datagram into `buf[offset, ...)`, its length, truncation and sender into `out` (default: a new Datagram), which it returns. */
  recvFrom(buf: Uint8Array, out?: Datagram, offset = 0, length?: number): Future<Datagram> {
    const len = checkLen(buf, offset, length, 'recvFrom(buf)');
    if (out !== undefined && !(out instanceof Datagram)) throw new TypeError(`recvFrom(buf, out): out must be a Datagram, got ${describe(out)}`);
    return new UdpOpFuture<Datagram>(this, Op.RecvFrom, buf, null, offset, len, out ?? new Datagram(), 0, 0);
  }

  /** One datagram of `buf[offset, offset + length)` to the connected peer: the bytes sent. Pends while the send buffer is full. */
  send(buf: Uint8Array, offset = 0, length?: number): Future<number> {
    const len = checkLen(buf, offset, length, 'send(buf)');
    return new UdpOpFuture<number>(this, Op.Send, buf, null, offset, len, null, 0, 0);
  }

  /**
   * One datagram of `buf[offset, offset + length)` to `to`: a numeric address (`'127.0.0.1:9'`,
   * `{ host, port }`, a SocketAddress; resolve names with `lookupHost` first) or a `Datagram`
   * (as `recvFrom` filled it: a reply to its sender). The bytes sent; pends while the buffer is full.
   */
  sendTo(buf: Uint8Array, to: SocketAddressLike | Datagram, offset = 0, length?: number): Future<number> {
    const len = checkLen(buf, offset, length, 'sendTo(buf)');
    let dest: Datagram;
    if (to instanceof Datagram) {
      if (to.family === 0) throw new TypeError('sendTo(buf, to): the Datagram has no address (use send on a connected socket)');
      dest = to;
    } else if (to instanceof SocketAddress && to === this.lastTo) {
      dest = this.lastToDg;
    } else {
      // A new Datagram when the address changes (never rewritten: a pending send may hold it).
      const a = parseSocketAddress(to, 'sendTo(buf, to)');
      dest = new Datagram(a);
      if (a === to) {
        this.lastTo = a;
        this.lastToDg = dest;
      }
    }
    return new UdpOpFuture<number>(this, Op.SendTo, buf, null, offset, len, dest, 0, 0);
  }

  /**
   * Receive up to `min(bufs.length, UDP_BATCH)` datagrams in one call (`recvmmsg` on Linux):
   * datagram i lands in the whole of `bufs[i]`, its metadata in `results[i]` (a Datagram made
   * there if missing, so `[]` grows once and is reused). The count, at least 1; waits for the first.
   */
  recvMany(bufs: readonly Uint8Array[], results: Datagram[]): Future<number> {
    checkBufs(bufs, 'recvMany(bufs)');
    if (!Array.isArray(results)) throw new TypeError(`recvMany(bufs, results): results must be an array of Datagram, got ${describe(results)}`);
    const n = Math.min(bufs.length, UDP_BATCH);
    for (let i = 0; i < n; i++) {
      if (results[i] === undefined) results[i] = new Datagram();
      else if (!(results[i] instanceof Datagram)) throw new TypeError(`recvMany(bufs, results): results[${i}] must be a Datagram, got ${describe(results[i])}`);
    }
    return new UdpOpFuture<number>(this, Op.RecvMany, null, bufs, 0, 0, null, 0, n, results);
  }

  /**
   * Send datagrams `start..end` (at most UDP_BATCH of them) in one call (`sendmmsg` on Linux):
   * datagram i is the first `datagrams[i].bytes` bytes of `bufs[i]`, to `datagrams[i]`'s address
   * (family 0: the connected peer); without `datagrams`, each whole buffer to the connected peer.
   * So `recvMany(bufs, ds)` then `sendMany(bufs, ds, 0, n)` echoes a batch. The count sent, at
   * least 1 (fewer than asked when the send buffer filled: send the rest from `start + count`).
   */
  sendMany(bufs: readonly Uint8Array[], datagrams?: readonly Datagram[], start = 0, end?: number): Future<number> {
    checkBufs(bufs, 'sendMany(bufs)');
    const stop = end ?? bufs.length;
    if (!Number.isInteger(start) || !Number.isInteger(stop) || start < 0 || stop > bufs.length || start >= stop) {
      throw new RangeError(`sendMany(bufs, datagrams, start, end): need 0 <= start < end <= bufs.length (${bufs.length}), got ${start}, ${stop}`);
    }
    if (datagrams !== undefined) {
      if (!Array.isArray(datagrams)) throw new TypeError(`sendMany(bufs, datagrams): datagrams must be an array of Datagram, got ${describe(datagrams)}`);
      for (let i = start; i < stop; i++) {
        const d = datagrams[i];
        if (!(d instanceof Datagram)) throw new TypeError(`sendMany: datagrams[${i}] must be a Datagram, got ${describe(d)}`);
        if (!Number.isInteger(d.bytes) || d.bytes < 0 || d.bytes > bufs[i].length) {
          throw new RangeError(`sendMany: datagrams[${i}].bytes (${d.bytes}) must be an integer in 0..bufs[${i}].length (${bufs[i].length})`);
        }
      }
    }
    const count = Math.min(stop - start, UDP_BATCH);
    return new UdpOpFuture<number>(this, Op.SendMany, null, bufs, 0, 0, null, start, count, datagrams ?? null);
  }

  /**
   * @internal One single-datagram syscall. A buffer used twice in a row for receives (or sends)
   * is bound to the handle (the socket's IoResource keeps the binding, as for a stream: lib/io.ts),
   * and later calls with it pass only numbers, through `native.ioArgs` (`udpRecvBound` /
   * `udpSendBound`). Bytes or -errno.
   */
  single(dir: typeof READ_BUFFER | typeof WRITE_BUFFER, buf: Uint8Array, offset: number, length: number): number {
    const io = this.io;
    const h = io.handle;
    if (!io.bindForCall(dir, buf)) {
      return dir === READ_BUFFER ? native.udpRecvFrom(h, buf, offset, length) : native.udpSendTo(h, buf, offset, length);
    }
    ioArgs[ARG_HANDLE] = h;
    ioArgs[ARG_OFFSET] = offset;
    ioArgs[ARG_LENGTH] = length;
    if (dir === READ_BUFFER) native.udpRecvBound();
    else native.udpSendBound();
    if (ioArgs[ARG_STATUS] === STATUS_DONE) return ioArgs[ARG_RESULT] | 0; // a small integer, not a boxed float64 (see IoResource.syscall)
    io.unbind(dir); // detached or shrunk since: the general call says what is wrong
    return dir === READ_BUFFER ? native.udpRecvFrom(h, buf, offset, length) : native.udpSendTo(h, buf, offset, length);
  }

  // ---- Options ----

  /** SO_BROADCAST: allow sending to a broadcast address. */
  setBroadcast(on: boolean): void {
    this.setOption(UDP_OPT_BROADCAST, checkBool(on, 'setBroadcast(on)', false) ? 1 : 0, 'SO_BROADCAST');
  }

  /** IP_TTL / IPV6_UNICAST_HOPS: 1..255. */
  setTtl(ttl: number): void {
    this.setOption(UDP_OPT_TTL, checkTtl(ttl, 'setTtl(ttl)', 1), 'IP_TTL');
  }

  /** IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP: receive this host's own multicast datagrams. */
  setMulticastLoop(on: boolean): void {
    this.setOption(UDP_OPT_MULTICAST_LOOP, checkBool(on, 'setMulticastLoop(on)', true) ? 1 : 0, 'IP_MULTICAST_LOOP');
  }

  /** IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS: 0..255. */
  setMulticastTtl(ttl: number): void {
    this.setOption(UDP_OPT_MULTICAST_TTL, checkTtl(ttl, 'setMulticastTtl(ttl)', 0), 'IP_MULTICAST_TTL');
  }

  /**
   * Join multicast `group` (`'239.1.2.3'`, `'ff02::1:3'`) on `iface`: for IPv4 a local address
   * (default any), for IPv6 an interface index or name (default 0, the kernel's choice).
   */
  joinMulticast(group: string, iface = ''): void {
    this.membership(true, group, iface);
  }

  leaveMulticast(group: string, iface = ''): void {
    this.membership(false, group, iface);
  }

  /** Close the socket; pending operations fail with EBADF. Idempotent. */
  close(): void {
    this.io.close();
  }

  private membership(join: boolean, group: string, iface: string): void {
    const what = join ? 'joinMulticast' : 'leaveMulticast';
    const g = checkHost(group, `${what}(group)`);
    if (typeof iface !== 'string') throw new TypeError(`${what}(group, iface): iface must be a string, got ${describe(iface)}`);
    const r = native.udpMembership(this.openHandle('setsockopt'), join, g, iface);
    if (r < 0) throw new IoError(-r, 'setsockopt', `${join ? 'join' : 'leave'} ${g}`);
  }

  private setOption(opt: number, value: number, name: string): void {
    const r = native.udpSetOption(this.openHandle('setsockopt'), opt, value);
    if (r < 0) throw new IoError(-r, 'setsockopt', name);
  }

  private openHandle(syscall: string): Handle {
    if (!this.io.isOpen) throw new IoError(EBADF, syscall, this.io.closedNote);
    return this.io.handle;
  }
}

function checkTtl(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number') throw new TypeError(`${what} must be an integer, got ${describe(v)}`);
  if (!Number.isInteger(v) || v < min || v > 255) throw new RangeError(`${what} must be an integer in ${min}..255, got ${v}`);
  return v;
}

// ---- The leaf future -----------------------------------------------------------------------------

const enum Op {
  Recv,
  RecvFrom,
  Send,
  SendTo,
  RecvMany,
  SendMany,
}

const enum UdpState {
  Idle,
  Done,
}

const OP_NAMES = ['recv', 'recvfrom', 'send', 'sendto', 'recvmmsg', 'sendmmsg'];

/**
 * Every UDP operation: the leaf pattern of `lib/io.ts` (budget, readiness, syscall, EAGAIN →
 * clear readiness under the tick guard), except that a short read says nothing: only EAGAIN
 * clears readiness. The syscall's EAGAIN also clears a reported ERROR bit, which the syscall
 * that failed with the socket's error (ECONNREFUSED) has used up; else the bit would keep the
 * socket "ready" and the future spinning. Cancel-safe: dropped, nothing was received or sent.
 */
class UdpOpFuture<T extends number | Datagram> extends IoOpFuture<T> {
  private state = UdpState.Idle;
  private waker: Waker | null = null;
  private readonly dir: number;

  constructor(
    private readonly sock: UdpSocket,
    private readonly op: Op,
    private readonly buf: Uint8Array | null,
    private readonly bufs: readonly Uint8Array[] | null,
    private readonly offset: number,
    private readonly length: number,
    private readonly dg: Datagram | null,
    private readonly start: number,
    private readonly count: number,
    private readonly many: readonly Datagram[] | Datagram[] | null = null,
  ) {
    super(sock.io);
    this.dir = op === Op.Send || op === Op.SendTo || op === Op.SendMany ? WRITABLE : READABLE;
  }

  override waitingFor(): string {
    const what = this.sock.io.describeOp(OP_NAMES[this.op]);
    if (this.op === Op.RecvMany || this.op === Op.SendMany) return `${what}, ${this.count} datagrams`;
    return this.dir === WRITABLE ? `${what}, ${this.length} bytes (send buffer full)` : what;
  }

  poll(cx: Context): Poll<T> {
    if (this.state === UdpState.Done) throw new Error(`polled: UDP ${OP_NAMES[this.op]} future polled after completion`);
    const io = this.sock.io;
    if (!io.isOpen) {
      this.finish();
      throw new IoError(EBADF, OP_NAMES[this.op], io.closedNote);
    }
    if (!pollProceed(cx)) return this.pend();
    const reactor = io.rt.reactor;
    const dir = this.dir;
    for (;;) {
      if (!reactor.isReady(io, dir, cx)) {
        this.waker = cx.waker;
        return this.pend();
      }
      const tick = io.tick;
      const n = this.syscall();
      if (n >= 0) {
        this.finish();
        return this.complete(n) as T;
      }
      if (n === -EAGAIN) {
        reactor.clearReadiness(io, ERROR, tick, null);
        reactor.clearReadiness(io, dir, tick, cx);
        continue;
      }
      if (n === -EINTR) continue;
      this.finish();
      throw new IoError(-n, OP_NAMES[this.op]);
    }
  }

  private syscall(): number {
    const h = this.sock.io.handle;
    switch (this.op) {
      case Op.Recv:
      case Op.RecvFrom:
        return this.sock.single(READ_BUFFER, this.buf!, this.offset, this.length);
      case Op.Send:
        storeConnected(0, this.length);
        return this.sock.single(WRITE_BUFFER, this.buf!, this.offset, this.length);
      case Op.SendTo:
        this.dg!.store(0, this.length);
        return this.sock.single(WRITE_BUFFER, this.buf!, this.offset, this.length);
      case Op.RecvMany:
        return native.udpRecvMany(h, this.bufs!, this.count);
      case Op.SendMany: {
        const ds = this.many;
        const bufs = this.bufs!;
        for (let k = 0; k < this.count; k++) {
          const i = this.start + k;
          if (ds === null) storeConnected(k * UDP_STRIDE, bufs[i].length);
          else ds[i].store(k * UDP_STRIDE, ds[i].bytes);
        }
        return native.udpSendMany(h, bufs, this.start, this.count);
      }
    }
  }

  private complete(n: number): number | Datagram {
    switch (this.op) {
      case Op.Recv: {
        consume(n);
        const d = this.dg!;
        d.load(0, n);
        if (d.truncated) {
          throw new IoError(EMSGSIZE, 'recv', `datagram of ${d.length} bytes truncated to the ${this.length}-byte buffer`);
        }
        return n;
      }
      case Op.RecvFrom:
        consume(n);
        this.dg!.load(0, n);
        return this.dg!;
      case Op.RecvMany: {
        const ds = this.many as Datagram[];
        const bufs = this.bufs!;
        let bytes = 0;
        for (let i = 0; i < n; i++) {
          const stored = Math.min(meta[i * UDP_STRIDE + UDP_LENGTH], bufs[i].length);
          ds[i].load(i * UDP_STRIDE, stored);
          bytes += stored;
        }
        consume(bytes);
        for (let i = 1; i < n; i++) consume(0); // a unit per datagram
        return n;
      }
      default:
        consume(n);
        return n;
    }
  }

  private finish(): void {
    this.state = UdpState.Done;
    this.unpark();
  }

  override drop(): void {
    const io = this.sock.io;
    if (this.state === UdpState.Idle && io.isOpen) io.rt.reactor.clearWaker(io, this.dir, this.waker);
    this.finish();
  }
}

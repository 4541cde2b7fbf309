/**
 * Socket addresses: parsing and validating what a caller passes to `bind` and `connect`, and
 * the value `localAddr()` / `peerAddr()` / `accept()` give back.
 *
 * A `SocketAddress` holds a numeric IP address (`127.0.0.1`, `::1`). Names (`localhost`,
 * `example.com`) are resolved by `lookupHost` (./dns: getaddrinfo on the blocking pool, never on
 * the reactor thread), which `TcpStream.connect` and `TcpListener.bind` call for a host that is not
 * numeric (`parseHostPort`); numeric hosts are parsed here and never go through the pool.
 *
 * Accepted forms: `'127.0.0.1:8080'`, `'[::1]:8080'`, `{ host, port }`, and a `SocketAddress`.
 * A bad value throws a `TypeError` (wrong type or not an address) or a `RangeError` (a port
 * out of 0..65535), naming the value.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { describe } from '../validate';

export type IpFamily = 'IPv4' | 'IPv6';

/** An IPv4 or IPv6 socket address. Immutable. `toString()` gives `127.0.0.1:80` / `[::1]:80`. */
export class SocketAddress {
  readonly host: string;
  readonly port: number;
  readonly family: IpFamily;

  /** Validates: `host` a numeric IPv4/IPv6 address, `port` an integer in 0..65535. */
  constructor(host: string, port: number) {
    this.host = checkHost(host, 'host');
    this.port = checkPort(port, 'port');
    this.family = isIPv6(this.host) ? 'IPv6' : 'IPv4';
    Object.freeze(this);
  }

  get isIPv4(): boolean {
    return this.family === 'IPv4';
  }

  get isIPv6(): boolean {
    return this.family === 'IPv6';
  }

  toString(): string {
    return this.family === 'IPv6' ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  toJSON(): { host: string; port: number; family: IpFamily } {
    return { host: this.host, port: this.port, family: this.family };
  }

  /** Parse `'host:port'` / `'[v6]:port'`, or check `{ host, port }`. Throws TypeError / RangeError. */
  static parse(addr: SocketAddressLike, what = 'address'): SocketAddress {
    return parseSocketAddress(addr, what);
  }
}

/** What `bind` and `connect` accept. */
export type SocketAddressLike = string | SocketAddress | { readonly host?: string; readonly port: number };

/** The address of a Unix-domain socket: its path, or `''` for an unnamed socket (a connecting client's). */
export interface UnixSocketAddress {
  readonly family: 'unix';
  readonly path: string;
}

/** A port: an integer in 0..65535 (0 lets the OS choose, for `bind`). */
export function checkPort(port: unknown, what: string): number {
  if (typeof port !== 'number') throw new TypeError(`${what} must be an integer port number, got ${describe(port)}`);
  if (!Number.isInteger(port)) throw new RangeError(`${what} must be an integer port number in 0..65535, got ${port}`);
  if (port < 0 || port > 65535) throw new RangeError(`${what} must be in 0..65535, got ${port}`);
  return port;
}

/** A host: a numeric IPv4 or IPv6 address. Brackets around IPv6 are removed. */
export function checkHost(host: unknown, what: string): string {
  if (typeof host !== 'string') throw new TypeError(`${what} must be a string with a numeric IP address, got ${describe(host)}`);
  const h = numericHost(host);
  if (h !== null) return h;
  throw new TypeError(
    `${what} must be a numeric IPv4 or IPv6 address such as '127.0.0.1' or '::1' ` +
      `(a name such as 'localhost' is resolved by lookupHost, TcpStream.connect and TcpListener.bind), got ${JSON.stringify(host)}`,
  );
}

/** `host` without IPv6 brackets when it is a numeric address, else null. */
function numericHost(host: string): string | null {
  let h = host;
  if (h.length > 2 && h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return isIPv4(h) || isIPv6(h) ? h : null;
}

/**
 * A host name for getaddrinfo: 1..253 characters (a trailing dot allowed), none of them
 * whitespace, control characters or one of `:/[]@\\`, which no name has but a mistyped address does.
 */
export function checkHostName(host: unknown, what: string): string {
  if (typeof host !== 'string') throw new TypeError(`${what} must be a host name string, got ${describe(host)}`);
  const bare = host.endsWith('.') ? host.slice(0, -1) : host;
  if (bare.length === 0 || bare.length > 253 || /[\s\x00-\x1f\x7f:/[\]@\\]/.test(host)) {
    throw new TypeError(`${what} must be a host name such as 'localhost' or 'example.com', got ${JSON.stringify(host)}`);
  }
  return host;
}

/** A host name and a port, to be resolved (`lookupHost`) before a connect or bind. */
export interface HostPort {
  readonly name: string;
  readonly port: number;
}

/**
 * What `connect` and `bind` accept: a numeric address (as `parseSocketAddress`, never resolved),
 * or `'name:port'` / `{ host: name, port }` to resolve.
 */
export function parseHostPort(addr: unknown, what = 'address'): SocketAddress | HostPort {
  let name: string | undefined;
  let portText: string | undefined;
  if (typeof addr === 'string' && !addr.startsWith('[')) {
    const colon = addr.lastIndexOf(':');
    if (colon > 0 && !addr.slice(0, colon).includes(':') && numericHost(addr.slice(0, colon)) === null) {
      name = addr.slice(0, colon);
      portText = addr.slice(colon + 1);
    }
  } else if (addr !== null && typeof addr === 'object' && !(addr instanceof SocketAddress) && !Array.isArray(addr)) {
    const h = (addr as { host?: unknown }).host;
    if (typeof h === 'string' && numericHost(h) === null) {
      return { name: checkHostName(h, `${what}.host`), port: checkPort((addr as { port?: unknown }).port, `${what}.port`) };
    }
  }
  if (name === undefined) return parseSocketAddress(addr, what);
  return { name: checkHostName(name, `${what}: the host in ${JSON.stringify(addr)}`), port: parsePortText(portText!, addr as string, what) };
}

function parsePortText(text: string, whole: string, what: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw new TypeError(`${what}: the port in ${JSON.stringify(whole)} must be a decimal number`);
  const port = Number(text);
  if (port > 65535) throw new RangeError(`${what}: the port in ${JSON.stringify(whole)} must be in 0..65535, got ${port}`);
  return port;
}

/** `'127.0.0.1:80'`, `'[::1]:80'`, `'localhost:80'`, `{ host, port }` (host defaults to 127.0.0.1). */
export function parseSocketAddress(addr: unknown, what = 'address'): SocketAddress {
  if (addr instanceof SocketAddress) return addr;
  if (typeof addr === 'string') {
    let host: string;
    let portText: string;
    if (addr.startsWith('[')) {
      const close = addr.indexOf(']');
      if (close < 0 || addr[close + 1] !== ':') {
        throw new TypeError(`${what} must look like '[::1]:8080' for IPv6, got ${JSON.stringify(addr)}`);
      }
      host = addr.slice(1, close);
      portText = addr.slice(close + 2);
      if (!isIPv6(host)) throw new TypeError(`${what}: ${JSON.stringify(host)} in ${JSON.stringify(addr)} is not a numeric IPv6 address`);
    } else {
      const colon = addr.lastIndexOf(':');
      if (colon < 0) throw new TypeError(`${what} must be 'host:port' (such as '127.0.0.1:8080' or '[::1]:8080'), got ${JSON.stringify(addr)}`);
      host = addr.slice(0, colon);
      portText = addr.slice(colon + 1);
      if (host.includes(':')) {
        throw new TypeError(`${what}: an IPv6 address with a port needs brackets, as in '[::1]:8080'; got ${JSON.stringify(addr)}`);
      }
      host = checkHost(host, `${what}: the host in ${JSON.stringify(addr)}`);
    }
    return new SocketAddress(host, parsePortText(portText, addr, what));
  }
  if (addr !== null && typeof addr === 'object' && !Array.isArray(addr)) {
    const o = addr as { host?: unknown; port?: unknown };
    const host = o.host === undefined ? '127.0.0.1' : checkHost(o.host, `${what}.host`);
    const port = checkPort(o.port, `${what}.port`);
    return new SocketAddress(host, port);
  }
  throw new TypeError(`${what} must be 'host:port', '[v6]:port' or { host, port }, got ${describe(addr)}`);
}

/** sun_path is 108 bytes on Linux, 104 on macOS / BSD, counting the terminating NUL. */
const MAX_UNIX_PATH = process.platform === 'linux' ? 107 : 103;

/** A Unix socket path: a non-empty string without NUL bytes that fits in `sun_path`. */
export function checkUnixPath(path: unknown, what: string): string {
  if (typeof path !== 'string') throw new TypeError(`${what} must be a filesystem path string, got ${describe(path)}`);
  if (path.length === 0) throw new TypeError(`${what} must be a non-empty path`);
  if (path.includes('\0')) throw new TypeError(`${what} must not contain NUL bytes, got ${JSON.stringify(path)}`);
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_UNIX_PATH) {
    throw new RangeError(`${what} is ${bytes} bytes long, more than a Unix socket path can hold (${MAX_UNIX_PATH}): ${JSON.stringify(path)}`);
  }
  return path;
}

/** Turn the addon's `[host, port, family]` into an address. */
export function fromNative(r: [string, number, number]): SocketAddress {
  try {
    return new SocketAddress(r[0], r[1]);
  } catch {
    // The kernel's own text for an address this module would not have accepted as input:
    // report it as it is rather than fail the accept or connect that produced it.
    const a = Object.create(SocketAddress.prototype) as { -readonly [K in keyof SocketAddress]: SocketAddress[K] };
    a.host = r[0];
    a.port = r[1];
    a.family = r[2] === 6 ? 'IPv6' : 'IPv4';
    return Object.freeze(a) as SocketAddress;
  }
}

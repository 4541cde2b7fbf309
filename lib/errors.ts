/**
 * Errors that cross from the kernel into JavaScript.
 *
 * The addon returns a negative errno instead of throwing; this module is where such a number
 * becomes an exception, shaped like Node's own system errors (`err.code === 'ECONNRESET'`,
 * `err.errno`, `err.syscall`) so that code written for `node:net` reads the same here.
 *
 * Names, messages and constants come from Node itself (`util.getSystemErrorMap()`, the table
 * behind `util.getSystemErrorName`, and `os.constants.errno`), not from the addon: the names are
 * the ones Node's own errors carry, and this module, with everything that only imports it (tasks,
 * the executor), loads without the native build.
 */
import * as os from 'node:os';
import * as util from 'node:util';

/** Node's (libuv's) table: negative code → [name, message]. Built once: it is a fresh Map per call. */
const systemErrors: ReadonlyMap<number, [string, string]> = util.getSystemErrorMap();
/** libuv's own codes (UV_EOF, UV_UNKNOWN, UV_EAI_*, UV_ECHARSET, ...) lie at -3000 and below; above, on Unix, a code is -errno. */
const LIBUV_OWN_CODES = -3000;

/**
 * The errno constants of this platform (EAGAIN differs between Linux and macOS, for one):
 * `os.constants.errno`, plus the errnos Node's error table names that it lacks (ESHUTDOWN,
 * EHOSTDOWN, ENONET on Linux). Frozen.
 */
export const errno: Readonly<Record<string, number>> = (() => {
  const table: Record<string, number> = { ...os.constants.errno };
  for (const [code, [name]] of systemErrors) {
    if (code > LIBUV_OWN_CODES && !(name in table)) table[name] = -code;
  }
  return Object.freeze(table);
})();

/** Names by value for the errnos Node's error table lacks (EINPROGRESS, ESTALE, ...): from `errno`. */
const namesByValue = new Map<number, string>();
for (const [name, value] of Object.entries(errno)) if (!namesByValue.has(value)) namesByValue.set(value, name);

/**
 * The name of an errno (9 and -9 alike), as Node's system errors name it: 'EBADF'. Where two
 * names share a value (EAGAIN / EWOULDBLOCK, ENOTSUP / EOPNOTSUPP on Linux) it is Node's choice;
 * 'UNKNOWN' (libuv's name for it) for a number no table knows.
 */
export function errnoName(n: number): string {
  const e = Math.abs(n);
  return systemErrors.get(-e)?.[0] ?? namesByValue.get(e) ?? 'UNKNOWN';
}

/** Node's message for an errno ('connection reset by peer'); for one Node has none for, libuv's "unknown error" and the number. */
export function errnoMessage(n: number): string {
  const e = Math.abs(n);
  return systemErrors.get(-e)?.[1] ?? `unknown error (errno ${e})`;
}

/** libuv's numbers for getaddrinfo's failures (UV_EAI_ADDRFAMILY .. UV_EAI_PROTOCOL), positive: not errnos. */
const RESOLVER_FIRST = 3000;
const RESOLVER_LAST = 3014;
/** libuv's UV_EAI_NONAME and UV_EAI_NODATA, which Node's dns module reports as ENOTFOUND. */
const RESOLVER_NOT_FOUND = new Set([3007, 3008]);

/** Is `n` (either sign) one of libuv's resolver codes (the addon returns those for getaddrinfo's EAI_* failures)? */
export function isResolverCode(n: number): boolean {
  const e = Math.abs(n);
  return e >= RESOLVER_FIRST && e <= RESOLVER_LAST;
}

/**
 * An operating-system error: `code` is the errno name, `errno` its (positive) number.
 *
 * A name-resolution failure (`syscall` 'getaddrinfo') is one too, though getaddrinfo's codes are
 * not errnos: `code` is what Node's `dns` module says (`ENOTFOUND` for EAI_NONAME and EAI_NODATA,
 * `EAI_AGAIN`, `EAI_FAIL`, ...), `errno` libuv's number for it (3008 for EAI_NONAME, positive like
 * every `errno` here), and `hostname` the name. A resolver failure that is a system error
 * (EAI_SYSTEM) carries that errno instead.
 */
export class IoError extends Error {
  override readonly name = 'IoError';
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  /**
   * Set by `writeAll` / `writevAll` when they fail part-way: how many bytes had gone out before
   * the error (the peer may have received them). Undefined for every other operation.
   */
  bytesWritten?: number;
  /** The file's path, for a failure of a file operation (`fs`); for `rename`, the source. */
  path?: string;
  /** The name being resolved, for a failure of `lookupHost` (or of a connect / bind by name). */
  hostname?: string;

  constructor(errno: number, syscall: string, detail?: string) {
    const code = isResolverCode(errno) && RESOLVER_NOT_FOUND.has(Math.abs(errno)) ? 'ENOTFOUND' : errnoName(errno);
    super(`${syscall} ${code}: ${errnoMessage(errno)}${detail ? ` (${detail})` : ''}`);
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
  }

  /** getaddrinfo(`hostname`) failed with `code` (a resolver code or an errno, either sign). */
  static resolver(code: number, hostname: string): IoError {
    const e = new IoError(Math.abs(code), 'getaddrinfo', hostname);
    e.hostname = hostname;
    return e;
  }
}

/** `timeout(fut, ms)` gave up: the inner future was cancelled. */
export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  readonly code = 'ETIMEDOUT';
  constructor(readonly ms: number) {
    super(`timed out after ${ms} ms`);
  }
}

/** The task behind a `JoinHandle` was aborted (or its runtime shut down) before it finished. */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
  readonly code = 'ECANCELED';
  constructor(what = 'task') {
    super(`${what} was cancelled`);
  }
}

/** Throw an `IoError` for a negative result; pass a non-negative result through. */
export function check(result: number, syscall: string, detail?: string): number {
  if (result < 0) throw new IoError(-result, syscall, detail);
  return result;
}

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

/** An operating-system error: `code` is the errno name, `errno` its (positive) number. */
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

  constructor(errno: number, syscall: string, detail?: string) {
    const code = errnoName(errno);
    super(`${syscall} ${code}: ${errnoMessage(errno)}${detail ? ` (${detail})` : ''}`);
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
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

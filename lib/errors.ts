/**
 * Errors that cross from the kernel into JavaScript.
 *
 * The addon returns a negative errno instead of throwing; this module is where such a number
 * becomes an exception, shaped like Node's own system errors (`err.code === 'ECONNRESET'`,
 * `err.errno`, `err.syscall`) so that code written for `node:net` reads the same here.
 */
import { native } from './native';

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
    const code = native.errnoName(errno);
    super(`${syscall} ${code}: ${native.errorMessage(errno)}${detail ? ` (${detail})` : ''}`);
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

/** The errno constants of this platform (EAGAIN differs between Linux and macOS, for one). */
export const errno = native.errno;

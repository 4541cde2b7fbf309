/** Argument checks shared by the net constructors: a TypeError or RangeError naming the value. */
import { describe, optionalInt, optionalMs } from '../validate';

export function checkOptions<T extends object>(options: unknown, what: string, keys: readonly string[]): T {
  if (options === undefined) return {} as T;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${what} options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  for (const k of Object.keys(options)) {
    if (!keys.includes(k)) throw new TypeError(`${what}: unknown option ${JSON.stringify(k)} (known: ${keys.join(', ')})`);
  }
  return options as T;
}

export function checkBool(v: unknown, what: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new TypeError(`${what} must be a boolean, got ${describe(v)}`);
  return v;
}

/** A listen backlog: an integer in 0..65535, default 1024. */
export function checkBacklog(v: unknown, what: string): number {
  return optionalInt(v, what, 0, 65535, 1024);
}

/** A finite, non-negative number of milliseconds, or undefined (none). */
export function checkTimeout(v: unknown, what: string): number | undefined {
  return optionalMs(v, what, undefined);
}

/**
 * Argument checks shared across polled: a TypeError for a value of the wrong type, a RangeError
 * for one out of bounds, each message naming what was expected and what was given.
 */

/**
 * A short description of a value for error messages: `number -1`, `string "x"`, `an array`,
 * `an object`, `a Promise`, `undefined`.
 */
export function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object' || typeof v === 'function') {
    const name = (v as { constructor?: { name?: string } }).constructor?.name;
    if (!name || name === 'Object') return 'an object';
    return /^[AEIOU]/.test(name) ? `an ${name}` : `a ${name}`;
  }
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

/**
 * An integer in [min, max]: TypeError for a non-integer, RangeError outside the bounds. With
 * `max` = `Number.MAX_SAFE_INTEGER` the message says `>= min (at most 2^53 - 1)`.
 */
export function checkInt(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${what} must be an integer, got ${describe(v)}`);
  if (v < min || v > max) {
    throw new RangeError(
      max === Number.MAX_SAFE_INTEGER ? `${what} must be an integer >= ${min} (at most 2^53 - 1), got ${v}` : `${what} must be in ${min}..${max}, got ${v}`,
    );
  }
  return v;
}

/** A count: an integer in [min, 2^53 - 1]. */
export function checkCount(v: unknown, what: string, min: number): number {
  return checkInt(v, what, min, Number.MAX_SAFE_INTEGER);
}

/** `checkInt`, or `fallback` when `v` is undefined. */
export function optionalInt(v: unknown, what: string, min: number, max: number, fallback: number): number {
  return v === undefined ? fallback : checkInt(v, what, min, max);
}

/** A finite, non-negative number of milliseconds (fractions allowed); with `infinite`, `Infinity` (no limit) too. */
export function checkMs(v: unknown, what: string, infinite = false): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${what} must be a number of milliseconds, got ${describe(v)}`);
  if (v < 0 || (v === Infinity && !infinite)) {
    throw new RangeError(
      infinite
        ? `${what} must be a non-negative number of milliseconds (Infinity for no limit), got ${v}`
        : `${what} must be a finite, non-negative number of milliseconds, got ${v}`,
    );
  }
  return v;
}

/** `checkMs`, or `fallback` when `v` is undefined. */
export function optionalMs<F = number>(v: unknown, what: string, fallback: F, infinite = false): number | F {
  return v === undefined ? fallback : checkMs(v, what, infinite);
}

export function checkFunction(v: unknown, what: string): void {
  if (typeof v !== 'function') throw new TypeError(`${what} must be a function, got ${describe(v)}`);
}

/** `offset` and `length` select a range inside `buf`: integers with 0 <= offset <= offset + length <= buf.length. */
export function checkRange(buf: Uint8Array, offset: unknown, length: unknown, what: string): void {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset > buf.length) {
    throw new RangeError(`${what}: offset must be an integer in [0, ${buf.length}], got ${String(offset)}`);
  }
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || offset + length > buf.length) {
    throw new RangeError(`${what}: length must be an integer with offset + length <= ${buf.length}, got ${String(length)}`);
  }
}

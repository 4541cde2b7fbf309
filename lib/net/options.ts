/** Argument checks shared by the net constructors: a TypeError or RangeError naming the value. */

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

export function checkOptions<T extends object>(options: unknown, what: string, keys: readonly string[]): T {
  if (options === undefined) return {} as T;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${what} options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  for (const k of Object.keys(options)) {
    if (!keys.includes(k)) throw new TypeError(`${what}: unknown option ${show(k)} (known: ${keys.join(', ')})`);
  }
  return options as T;
}

export function checkBool(v: unknown, what: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new TypeError(`${what} must be a boolean, got ${show(v)}`);
  return v;
}

export function checkBacklog(v: unknown, what: string): number {
  if (v === undefined) return 1024;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${what} must be an integer, got ${show(v)}`);
  if (v < 0 || v > 65535) throw new RangeError(`${what} must be in 0..65535, got ${v}`);
  return v;
}

export function checkTimeout(v: unknown, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${what} must be a number of milliseconds, got ${show(v)}`);
  if (v < 0 || v === Infinity) throw new RangeError(`${what} must be a finite, non-negative number of milliseconds, got ${v}`);
  return v;
}

/**
 * Files, like `tokio::fs`: every call runs on the runtime's blocking pool (native threads of the
 * addon's own, ./pool), so it works under `blockOn` as in the embedded driver, and never blocks
 * the reactor thread.
 *
 * ```ts
 * import { fs } from 'polled';
 * yield* fs.writeFile('/tmp/x', 'hello');
 * const bytes = yield* fs.readFile('/tmp/x');          // Uint8Array
 * const f = yield* fs.File.open('/tmp/x', 'r+');
 * const n = yield* f.readAt(buf, 0);
 * f.close();
 * ```
 *
 * Every future here is lazy (nothing happens before its first poll) and needs a full `Runtime`.
 * Failures are `IoError`s with the errno's code, the syscall (`open`, `read`, `rename`, ...) and
 * the path (`err.path`, and in the message).
 *
 * Cancellation: dropping a future while its call runs on the pool lets the call finish there and
 * discards its result: nothing leaks (a file it opened is closed, bytes it read are freed), but
 * nothing is undone either (a write, a rename, a remove may have happened). Each function says
 * what that means for it. A running call delays closing its runtime until it returns.
 */
import { constants as C } from 'node:fs';
import type { Future } from './future';
import { native, type Handle } from './native';
import { PoolFuture, poolError, type Taken } from './pool';
import { describe } from './validate';

// ---- Arguments ---------------------------------------------------------------------------------

function checkPath(path: unknown, what: string): string {
  if (typeof path !== 'string') throw new TypeError(`${what} must be a path string, got ${describe(path)}`);
  if (path.length === 0) throw new TypeError(`${what} must not be empty`);
  if (path.includes('\0')) throw new TypeError(`${what} must not contain NUL bytes, got ${JSON.stringify(path)}`);
  return path;
}

function checkBuf(buf: unknown, what: string, forRead: boolean): Uint8Array {
  if (!(buf instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array, got ${describe(buf)}`);
  if (forRead && buf.length === 0) throw new RangeError(`${what} must not be empty (a read of 0 bytes would look like end of file)`);
  return buf;
}

function checkPosition(position: unknown, what: string): number {
  if (typeof position !== 'number' || !Number.isInteger(position)) throw new TypeError(`${what} must be an integer byte offset, got ${describe(position)}`);
  if (position < 0 || position > Number.MAX_SAFE_INTEGER) throw new RangeError(`${what} must be in 0..2^53 - 1, got ${position}`);
  return position;
}

/** Node's flag strings ('r', 'w+', 'ax', ...), as open(2) flags. */
const FLAGS: Readonly<Record<string, number>> = (() => {
  const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_SYNC } = C;
  const t: Record<string, number> = {
    r: O_RDONLY,
    rs: O_RDONLY | O_SYNC,
    'r+': O_RDWR,
    'rs+': O_RDWR | O_SYNC,
    w: O_TRUNC | O_CREAT | O_WRONLY,
    wx: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
    'w+': O_TRUNC | O_CREAT | O_RDWR,
    'wx+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
    a: O_APPEND | O_CREAT | O_WRONLY,
    ax: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
    as: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
    'a+': O_APPEND | O_CREAT | O_RDWR,
    'ax+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
    'as+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
  };
  // Node's spellings with the letters the other way round: 'sr', 'xw', 'xa+', ...
  for (const [k, v] of Object.entries({ ...t })) {
    if (k.length >= 2 && k[1] !== '+') t[k[1] + k[0] + k.slice(2)] = v;
  }
  return Object.freeze(t);
})();

/** Flags for `File.open`: Node's strings (as `fs.open`), or a number of open(2) flags (`fs.constants`). */
export type OpenFlags = 'r' | 'rs' | 'sr' | 'r+' | 'rs+' | 'sr+' | 'w' | 'wx' | 'xw' | 'w+' | 'wx+' | 'xw+' | 'a' | 'ax' | 'xa' | 'as' | 'sa' | 'a+' | 'ax+' | 'xa+' | 'as+' | 'sa+';

function openFlags(flags: unknown): number {
  if (typeof flags === 'string') {
    const f = FLAGS[flags];
    if (f === undefined) throw new TypeError(`File.open: flags must be one of ${Object.keys(FLAGS).map((k) => `'${k}'`).join(', ')} or a number, got ${JSON.stringify(flags)}`);
    return f;
  }
  if (typeof flags === 'number' && Number.isInteger(flags) && flags >= 0 && flags <= 0x7fffffff) return flags;
  throw new TypeError(`File.open: flags must be a flag string such as 'r' or 'w+', or a non-negative integer, got ${describe(flags)}`);
}

// ---- Results -----------------------------------------------------------------------------------

/** What `stat` tells about a file (as Node's `fs.Stats`, without the Date fields). */
export class Stats {
  readonly dev: number;
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly rdev: number;
  readonly size: number;
  readonly blksize: number;
  readonly blocks: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;

  /** @internal From the addon's array (lib/native.ts, `poolStat`). */
  constructor(v: readonly number[]) {
    [this.dev, this.ino, this.mode, this.nlink, this.uid, this.gid, this.rdev, this.size, this.blksize, this.blocks, this.atimeMs, this.mtimeMs, this.ctimeMs] = v;
    Object.freeze(this);
  }
  isFile(): boolean {
    return (this.mode & C.S_IFMT) === C.S_IFREG;
  }
  isDirectory(): boolean {
    return (this.mode & C.S_IFMT) === C.S_IFDIR;
  }
  /** Always false from `fs.stat` and `File.stat`, which follow links. */
  isSymbolicLink(): boolean {
    return (this.mode & C.S_IFMT) === C.S_IFLNK;
  }
}

// ---- The futures -------------------------------------------------------------------------------

/** One pool job on a path: its submit, the syscalls of its steps, and what its result becomes. */
class FsFuture<T> extends PoolFuture<T> {
  constructor(
    protected readonly what: string,
    private readonly path: string,
    private readonly syscalls: readonly string[],
    private readonly start: (poller: Handle, key: number) => number,
    private readonly done: (r: Taken) => T,
    private readonly dest?: Uint8Array,
    private readonly detail = path,
  ) {
    super();
  }
  protected override subject(): string {
    return this.detail;
  }
  protected submit(poller: Handle, key: number): number {
    return this.start(poller, key);
  }
  protected override destination(): Uint8Array | undefined {
    return this.dest;
  }
  protected finish(r: Taken): T {
    if (typeof r === 'number' && r < 0) {
      const err = poolError(r, this.syscalls, this.detail);
      err.path = this.path;
      throw err;
    }
    return this.done(r);
  }
}

const asNumber = (r: unknown): number => r as number;
const asVoid = (): void => undefined;
const asStats = (r: unknown): Stats => new Stats(r as number[]);

/**
 * The whole file at `path`, read on the pool into memory the addon allocated and handed over
 * without a copy. Fails with ENOENT, EACCES, EISDIR (`read`), ...
 *
 * Cancel-safe: dropped, the read finishes on the pool and the bytes are freed.
 */
export function readFile(path: string): Future<Uint8Array> {
  const p = checkPath(path, 'fs.readFile(path)');
  return new FsFuture('fs.readFile', p, ['open', 'fstat', 'read'], (poller, key) => native.poolReadFile(poller, p, key), (r) => r as Uint8Array);
}

/**
 * Create or truncate the file at `path` and write `data` (bytes, or a string as UTF-8) to it.
 * The bytes are copied when the future is first polled, so `data` may change after that.
 *
 * Not cancel-safe as to the file: dropped, the write goes on to its end on the pool (the file is
 * then complete), but dropped while it runs the file may be seen truncated or half-written.
 */
export function writeFile(path: string, data: Uint8Array | string): Future<void> {
  const p = checkPath(path, 'fs.writeFile(path)');
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw new TypeError(`fs.writeFile(path, data): data must be a Uint8Array or a string, got ${describe(data)}`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return new FsFuture('fs.writeFile', p, ['open', 'write'], (poller, key) => native.poolWriteFile(poller, p, bytes, key), asVoid);
}

/** stat(2) of `path` (links followed). Cancel-safe (nothing changes). */
export function stat(path: string): Future<Stats> {
  const p = checkPath(path, 'fs.stat(path)');
  return new FsFuture('fs.stat', p, ['stat'], (poller, key) => native.poolStat(poller, p, key), asStats);
}

/**
 * Remove the file (or the empty directory) at `path`: unlink, or rmdir for a directory. Fails
 * with ENOENT, ENOTEMPTY (`rmdir`), EACCES, ...
 *
 * Dropped while it runs, the removal may still happen.
 */
export function remove(path: string): Future<void> {
  const p = checkPath(path, 'fs.remove(path)');
  return new FsFuture('fs.remove', p, ['unlink', 'rmdir'], (poller, key) => native.poolRemove(poller, p, key), asVoid);
}

/**
 * rename(2): move `from` to `to`, replacing a file there. The error's `path` is `from`.
 *
 * Dropped while it runs, the rename may still happen.
 */
export function rename(from: string, to: string): Future<void> {
  const f = checkPath(from, 'fs.rename(from)');
  const t = checkPath(to, 'fs.rename(from, to)');
  return new FsFuture('fs.rename', f, ['rename'], (poller, key) => native.poolRename(poller, f, t, key), asVoid, undefined, `${f} -> ${t}`);
}

/**
 * The names in the directory at `path` (without '.' and '..'), in the order the directory lists
 * them (not sorted). Names that are not UTF-8 come out with U+FFFD in place of the bad bytes.
 * Cancel-safe (nothing changes).
 */
export function readDir(path: string): Future<string[]> {
  const p = checkPath(path, 'fs.readDir(path)');
  return new FsFuture('fs.readDir', p, ['opendir', 'readdir'], (poller, key) => native.poolReadDir(poller, p, key), (r) => r as string[]);
}

/**
 * An open file: a handle in the addon whose fd its in-flight calls share, so `close()` while a
 * call runs on the pool is safe: the fd is really closed when that call is done.
 *
 * `read` / `write` use (and move) the file offset; `readAt` / `writeAt` do not (pread / pwrite).
 * Several calls at once on one file run in any order.
 */
export class File {
  private open = true;

  /** @internal Use `File.open`. */
  constructor(
    private readonly handle: Handle,
    /** The path it was opened with (for error messages). */
    readonly path: string,
  ) {}

  /**
   * Open `path` with Node's `flags` ('r' by default; 'r+', 'w', 'wx', 'a', ... as `fs.open`) and,
   * for a file it creates, `mode` (default 0o666, less the umask).
   *
   * Cancel-safe: dropped, the open finishes on the pool and the file is closed again (a file
   * that 'w' or 'a' created, or 'w' truncated, stays so).
   */
  static open(path: string, flags: OpenFlags | number = 'r', mode = 0o666): Future<File> {
    const p = checkPath(path, 'File.open(path)');
    const f = openFlags(flags);
    if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new TypeError(`File.open: mode must be an integer in 0..0o7777, got ${describe(mode)}`);
    return new FsFuture('File.open', p, ['open'], (poller, key) => native.poolOpen(poller, p, f, mode, key), (h) => new File(h as number, p));
  }

  /** Whether `close()` has not been called. */
  get isOpen(): boolean {
    return this.open;
  }

  /**
   * Read up to `buf.length` bytes at the file offset into `buf`: the count, 0 at end of file.
   * The bytes land in `buf` when the future completes (they are read into the addon's memory on
   * the pool, then copied).
   *
   * Dropped while it runs, the read finishes on the pool and its bytes are discarded, but the
   * file offset has moved past them: not cancel-safe as to the offset (`readAt` is).
   */
  read(buf: Uint8Array): Future<number> {
    const b = checkBuf(buf, 'File.read(buf)', true);
    return new FsFuture('File.read', this.path, ['read'], (poller, key) => native.poolRead(poller, this.handle, b.length, -1, key), asNumber, b);
  }

  /** As `read`, at byte `position` (pread): the file offset does not move. Cancel-safe. */
  readAt(buf: Uint8Array, position: number): Future<number> {
    const b = checkBuf(buf, 'File.readAt(buf)', true);
    const pos = checkPosition(position, 'File.readAt(buf, position)');
    return new FsFuture('File.readAt', this.path, ['pread'], (poller, key) => native.poolRead(poller, this.handle, b.length, pos, key), asNumber, b);
  }

  /**
   * Write `buf` at the file offset (at the end, for a file opened to append): the count written,
   * which for a regular file is all of it unless the disk is full. The bytes are copied at the
   * first poll. Dropped while it runs, the write may still happen.
   */
  write(buf: Uint8Array): Future<number> {
    const b = checkBuf(buf, 'File.write(buf)', false);
    return new FsFuture('File.write', this.path, ['write'], (poller, key) => native.poolWrite(poller, this.handle, b, -1, key), asNumber);
  }

  /** As `write`, at byte `position` (pwrite). Dropped while it runs, the write may still happen. */
  writeAt(buf: Uint8Array, position: number): Future<number> {
    const b = checkBuf(buf, 'File.writeAt(buf)', false);
    const pos = checkPosition(position, 'File.writeAt(buf, position)');
    return new FsFuture('File.writeAt', this.path, ['pwrite'], (poller, key) => native.poolWrite(poller, this.handle, b, pos, key), asNumber);
  }

  /** fsync: data and metadata on stable storage. Cancel-safe (dropped, the sync still completes). */
  sync(): Future<void> {
    return new FsFuture('File.sync', this.path, ['fsync'], (poller, key) => native.poolSync(poller, this.handle, key), asVoid);
  }

  /** fstat(2). Cancel-safe. */
  stat(): Future<Stats> {
    return new FsFuture('File.stat', this.path, ['fstat'], (poller, key) => native.poolFstat(poller, this.handle, key), asStats);
  }

  /**
   * Close the file (idempotent). Calls already on the pool finish with the fd, which is closed
   * when the last of them is done; calls made after fail with EBADF.
   */
  close(): void {
    if (!this.open) return;
    this.open = false;
    native.close(this.handle);
  }
}


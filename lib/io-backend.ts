/**
 * Which kernel interface a `Runtime` drives its sockets with (`RuntimeOptions.io`, `POLLED_IO`,
 * `polled echo --io`):
 *
 * - `'readiness'` (the default): the build's epoll (Linux) or kqueue (macOS, BSD). `'epoll'` and
 *   `'kqueue'` are accepted as its names on their platform.
 * - `'uring'`: io_uring (Linux 5.19+, in a build with liburing), which emulates readiness over
 *   completions (README, "Readiness and completion"). Where it cannot be set up, an `IoError`
 *   that says why.
 * - `'auto'`: io_uring where it can be set up, else readiness, with one line on stderr saying so.
 */
import { IoError, errno, errnoName } from './errors';
import { POLLER_READINESS, POLLER_URING, URING_RECV_DEFAULT, URING_RECV_MULTISHOT, URING_RECV_SINGLE, native } from './native';

export type IoBackend = 'readiness' | 'uring' | 'auto' | 'epoll' | 'kqueue';
/** What a runtime ended up with. */
export type IoKind = 'epoll' | 'kqueue' | 'uring';

const NAMES: readonly string[] = ['readiness', 'uring', 'auto', 'epoll', 'kqueue'];

/** Why io_uring could not be set up, in words, from the errno of its setup. */
export function uringUnavailable(e: number): string {
  if (!native.uring) return 'this build has no io_uring (built without liburing, or not on Linux)';
  if (e === errno.ENOSYS) return 'the kernel has no io_uring (older than 5.1, or disabled with kernel.io_uring_disabled)';
  if (e === errno.EPERM || e === errno.EACCES) return 'io_uring is not permitted here (a seccomp profile such as Docker\'s default, or kernel.io_uring_disabled)';
  if (e === errno.EOPNOTSUPP || e === errno.EINVAL) return 'the kernel\'s io_uring lacks multishot accept / EXT_ARG (needs Linux 5.19 or later)';
  if (e === errno.ENOMEM) return 'io_uring could not lock memory for its rings (RLIMIT_MEMLOCK)';
  return `io_uring setup failed (${errnoName(e)})`;
}

/** `io` (or `POLLED_IO` when `io` is undefined) checked: a TypeError for anything else. */
export function checkIoBackend(io: unknown): IoBackend {
  const fromEnv = io === undefined;
  const v = fromEnv ? (process.env.POLLED_IO ?? '') : io;
  if (fromEnv && v === '') return 'readiness';
  if (typeof v !== 'string' || !NAMES.includes(v)) {
    const what = fromEnv ? 'POLLED_IO' : 'Runtime options: io';
    throw new TypeError(`${what} must be 'readiness', 'uring' or 'auto' ('epoll' / 'kqueue' name readiness on their platform), got ${JSON.stringify(v)}`);
  }
  if ((v === 'epoll' || v === 'kqueue') && v !== native.backend) {
    throw new TypeError(`io: '${v}' is not this build's readiness backend ('${native.backend}'); use 'readiness'`);
  }
  return v as IoBackend;
}

/**
 * How a ring reads streams (`POLLED_URING_RECV`, read here and passed to the addon's
 * pollerCreate: jest, for one, gives a test file a process.env that never reaches the C
 * environment, so a getenv in the addon would not see what a test set):
 * 'multishot' (the default, unset or empty: one multishot recv per stream into the ring's shared
 * provided buffers; on Linux before 6.0, where the kernel has none, single-shot) or 'single' (a
 * single-shot recv per read into the stream's own buffer). Returns the value; a TypeError for
 * anything else.
 */
function checkUringRecv(): string {
  const v = process.env.POLLED_URING_RECV ?? '';
  if (v === '' || v === 'single' || v === 'multishot') return v;
  throw new TypeError(`POLLED_URING_RECV must be 'multishot' (the default) or 'single', got ${JSON.stringify(v)}`);
}

/** A new poller for `io`: its handle and what it is. Throws IoError (TypeError for a bad POLLED_URING_RECV). */
export function createPoller(io: IoBackend): { poller: number; kind: IoKind } {
  if (io === 'uring' || io === 'auto') {
    const recv = checkUringRecv();
    const p = native.pollerCreate(POLLER_URING, recv === 'single' ? URING_RECV_SINGLE : recv === 'multishot' ? URING_RECV_MULTISHOT : URING_RECV_DEFAULT);
    if (p >= 0) return { poller: p, kind: 'uring' };
    const why = recv === 'multishot' && -p === errno.EOPNOTSUPP ? "POLLED_URING_RECV=multishot: the kernel's io_uring has no multishot recv (needs Linux 6.0 or later)" : uringUnavailable(-p);
    if (io === 'uring') throw new IoError(-p, 'io_uring_setup', why);
    process.stderr.write(`polled: io 'auto': ${why}; using ${native.backend}\n`);
  }
  const p = native.pollerCreate(POLLER_READINESS);
  if (p < 0) throw new IoError(-p, native.backend === 'epoll' ? 'epoll_create1' : 'kqueue');
  return { poller: p, kind: native.backend };
}

/**
 * The binding: loads the C++ addon and types its surface.
 *
 * The addon owns every file descriptor (the poller's, its timer's and notifier's, every
 * socket's). JavaScript only ever holds *handles*: opaque numbers made of a slot index and a
 * generation. When a handle is closed its slot's generation moves on, so an old handle for that
 * slot gets `-EBADF` and can never reach a file descriptor the kernel has since reused.
 *
 * Results. Every call returns a negative errno when it failed, and otherwise its result: a number
 * (a handle, a byte count, 0) when it has one value, a fresh array when it has several
 * (`pipe` → [reader, writer], `tcpConnect` / `unixConnect` → [handle, inProgress], `localAddr` /
 * `peerAddr` → [host, port, family]), and an object for the two arrays the addon shares
 * (`pollerEvents`, `ioArgs`). So `typeof r === 'number'` is the failure test wherever a call can
 * return both, and TypeScript narrows on it. The one exception is the hot path, `readBound` /
 * `writeBound`, whose arguments and results travel through `ioArgs`.
 *
 * Why returned arrays, and not out-parameters (a caller's Float64Array the addon writes into):
 * - The addon then writes into no memory but its own. An `out` argument is the caller's memory:
 *   a typed array that may be detached, on a resizable buffer that shrinks, too short, or the
 *   wrong type; each case is a check and an error path in C++ (the memory-safety rule in the
 *   README: never keep or use a pointer into memory JavaScript can take away).
 * - An address holds a string, which no typed array does: out-parameters would need a second
 *   style for it, and there would be two styles again.
 * - The calls that have several values are cold: once per connect, pipe or accepted connection,
 *   or when a user asks for an address. One small array each costs nothing measurable there;
 *   what runs per message (read, write, writev, the bound path) returns a single number.
 * - No shared scratch array to keep in step between callers.
 *
 * Nothing on the hot path throws or allocates; `lib/errors.ts` turns a negative errno into an
 * `IoError` with its code where the caller wants an exception. Wrong argument *types* (a string
 * where a handle belongs) are programming errors and throw a `TypeError` from the addon.
 *
 * Loading (see `load()` below): `POLLED_ADDON_PATH` if set, else `prebuilds/<platform>-<arch>/` first
 * (matched with node-gyp-build's tag rules), then the local build in `build/Release`.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';

// ---- The contract with the addon ---------------------------------------------------------------
// The numbers both sides must agree on. native/contract.h is their source of truth; this block
// states each under the same name (kReadable there is READABLE here, kArgHandle is ARG_HANDLE), and
// test/contract.test.ts parses both files and fails on any difference in names or values. So: one
// `export const NAME = <number>;` per line between the two markers, nothing else; and no other
// file redefines them (lib/io.ts and the tests import them from here).
// contract:begin

/** Readiness / interest bits, as they appear in the event array and in `pollerAdd`'s interest. */
export const READABLE = 1;
export const WRITABLE = 2;
/** The peer hung up (EPOLLHUP / EPOLLRDHUP, EV_EOF). Reported, never requested. */
export const HANGUP = 4;
/** An error is pending on the fd (EPOLLERR, EV_ERROR / EV_EOF with fflags). Reported, never requested. */
export const ERROR = 8;

/** Tokens the poller itself reports; user registrations use tokens below `RESERVED_TOKENS`. */
export const NOTIFY_TOKEN = 0xffffffff;
export const TIMER_TOKEN = 0xfffffffe;
/** Node's own loop has work (a signal, I/O on Node's handles, a stop request): see `pollerWatchLoop`. */
export const LOOP_TOKEN = 0xfffffffd;
export const RESERVED_TOKENS = 0xfffffff0;

/** `tcpListen` flags: SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY. */
/** `pollerCreate(kind)`: the build's epoll / kqueue, or io_uring (where the build has it). */
export const POLLER_READINESS = 0;
export const POLLER_URING = 1;
/** `pollerCreate(POLLER_URING, recv)`: how the ring reads streams (POLLED_URING_RECV, lib/io-backend.ts). */
export const URING_RECV_DEFAULT = 0;
export const URING_RECV_SINGLE = 1;
export const URING_RECV_MULTISHOT = 2;
export const REUSE_ADDR = 1;
export const REUSE_PORT = 2;
export const V6_ONLY = 4;

/** `shutdown(how)` values (the addon maps them to the platform's SHUT_*). */
export const SHUT_RD = 0;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;

/** `bindBuffer`'s slot: each handle has one bound buffer for reads and one for writes. */
export const READ_BUFFER = 0;
export const WRITE_BUFFER = 1;

/** `ioArgs` slots: in, the handle and the range of the bound view; out, the result and the status. */
export const ARG_HANDLE = 0;
export const ARG_OFFSET = 1;
export const ARG_LENGTH = 2;
/** Bytes (0 = end of stream, for a read) or -errno, when the status is STATUS_DONE; NaN otherwise. */
export const ARG_RESULT = 3;
export const ARG_STATUS = 4;
/** `echoBound` only: in, nonzero to send the bytes read straight back; out, what that send returned (NaN: not tried). */
export const ARG_WRITE_BACK = 5;
export const ARG_WRITTEN = 6;
export const IO_ARG_COUNT = 7;

/** `ioArgs[ARG_STATUS]`: the call ran, and `ioArgs[ARG_RESULT]` is its answer (-EBADF for a dead handle). */
export const STATUS_DONE = 0;
/**
 * `ioArgs[ARG_STATUS]`: nothing is bound in that slot, the range is not integers inside the bound
 * view, or the bound ArrayBuffer was detached or shrunk since: no syscall ran. Take the general
 * `read` / `write`, which says what is wrong with the buffer. A status of its own, not an errno
 * in the result: every errno can be a real answer of the syscall.
 */
export const STATUS_NOT_BOUND = 1;

/** A failed blocking-pool job's result is -(step * POOL_STEP + errno); the step names which of its syscalls failed. */
export const POOL_STEP = 65536;
/** `channelInfo`'s flags: the receiver is closed or gone (sends fail); ended (a recv says closed). */
export const CHANNEL_RX_GONE = 1;
export const CHANNEL_ENDED = 2;
/**
 * `udpMeta`: UDP_BATCH records of UDP_STRIDE numbers. A receive writes datagram i's full length,
 * flags and sender into record i; a send reads datagram i's length and destination from it
 * (family 0: the connected peer). Address: four host-order words (IPv4: the first), then the scope id.
 */
export const UDP_LENGTH = 0;
export const UDP_FLAGS = 1;
export const UDP_FAMILY = 2;
export const UDP_PORT = 3;
export const UDP_ADDR = 4;
export const UDP_SCOPE = 8;
export const UDP_STRIDE = 9;
/** The most datagrams one `udpRecvMany` / `udpSendMany` moves. */
export const UDP_BATCH = 64;
/** A record's flag: the datagram was longer than its buffer (MSG_TRUNC). */
export const UDP_TRUNCATED = 1;
/** `udpSetOption`'s options. */
export const UDP_OPT_BROADCAST = 0;
export const UDP_OPT_TTL = 1;
export const UDP_OPT_MULTICAST_LOOP = 2;
export const UDP_OPT_MULTICAST_TTL = 3;

// contract:end

/** A handle: slot + generation, packed by the addon into one non-negative integer. */
export type Handle = number;

export interface NativeBinding {
  /** Which backend this build uses: 'epoll' or 'kqueue'. */
  readonly backend: 'epoll' | 'kqueue';
  /** Whether this build has the io_uring backend (whether the kernel allows it is pollerCreate's answer). */
  readonly uring: boolean;

  // ---- Poller ------------------------------------------------------------------------------
  /**
   * A new poller, with its notifier and its one timer: `POLLER_READINESS` (the default) is the
   * build's epoll / kqueue, `POLLER_URING` an io_uring that emulates readiness over completions
   * (native/poller_uring.h). Handle or -errno (for io_uring: its setup's errno, -ENOSYS in a build
   * without it).
   */
  pollerCreate(kind?: number, recv?: number): number;
  /**
   * The array that `pollerWait` and the uv driver write events into, `capacity` pairs of
   * (token, readiness bits), replacing the poller's earlier one. Made by the addon on a
   * SharedArrayBuffer, so that it can be neither transferred (a transfer list naming its buffer
   * throws at the attempt) nor detached nor resized while the addon writes into it.
   * The array, or -errno.
   */
  pollerEvents(poller: Handle, capacity: number): Uint32Array | number;
  /** Register edge-triggered interest (READABLE | WRITABLE) in `handle` under `token`. */
  pollerAdd(poller: Handle, handle: Handle, token: number, interest: number): number;
  pollerModify(poller: Handle, handle: Handle, token: number, interest: number): number;
  pollerDelete(poller: Handle, handle: Handle): number;
  /**
   * Wait up to `timeoutMs` (-1 = forever, 0 = don't block; fractions round *up* so that a
   * deadline is never reported early) and write the ready pairs into the registered array.
   * Returns the number of events, or -errno. EINTR is returned as 0 events.
   */
  pollerWait(poller: Handle, timeoutMs: number): number;
  /** Wake a `pollerWait` in progress (or the next one). Thread-safe; reported as NOTIFY_TOKEN. */
  pollerNotify(poller: Handle): number;
  /** Arm the poller's one timer `delayMs` from now (one-shot, ns precision); replaces any earlier arming. */
  pollerTimerArm(poller: Handle, delayMs: number): number;
  pollerTimerDisarm(poller: Handle): number;
  /**
   * Test aid: a native thread that sleeps `delayMs` and then calls the poller's notify. Finished
   * threads are joined at the next call; -EAGAIN while 64 are still sleeping.
   */
  pollerNotifyFromThread(poller: Handle, delayMs: number): number;
  /**
   * An io_uring poller's counters of what its streams did that readiness has no word for:
   * [multishot recvs stopped at a stream's buffer cap, recv(2) calls of bulk streams reading
   * their sockets directly, send(2) calls of large writes with nothing queued, bulk streams gone
   * back to the shared buffers]; [] for a readiness poller; -errno for a handle that is not one.
   */
  pollerRingStats(poller: Handle): number[] | number;
  /**
   * While on, the poller also watches this thread's libuv loop (its backend fd, edge-triggered)
   * and reports LOOP_TOKEN when that loop gets work: blockOn turns it on while it owns the
   * thread, so a parked wait wakes on `worker.terminate()`, `process.exit()` from another thread
   * and signals. The embedded driver stops watching the poller meanwhile (the two epoll sets
   * cannot contain each other) and resumes when it is turned off. 0 or -errno; `driverStart`
   * while it is on is -EBUSY.
   */
  pollerWatchLoop(poller: Handle, on: boolean): number;

  // ---- Wakes from other threads (native/mailbox.h; lib/remote.ts) ----------------------------
  /**
   * The poller's mailbox: [id, keys]. `id` names this runtime to every thread of the process;
   * `keys` (a new shared Uint32Array of `capacity`, replacing an earlier one) is where
   * `mailboxDrain` writes the keys other threads posted. Or -errno.
   */
  pollerMailbox(poller: Handle, capacity: number): [number, Uint32Array] | number;
  /** Moves posted keys into the keys array (at most its length; the rest notify again): the count, or -errno. */
  mailboxDrain(poller: Handle): number;
  /**
   * Post `key` to mailbox `id` from any thread: it is queued, and the owning poller is notified
   * (NOTIFY_TOKEN) if nothing was queued. 0, or -ESRCH when that runtime has closed or its thread is gone.
   */
  mailboxPost(id: number, key: number): number;

  // ---- Embedded driver (libuv) ---------------------------------------------------------------
  /**
   * Watch the poller's own fd with one uv_poll_t in this thread's loop. When it fires, the driver
   * drains the poller with a zero-timeout wait into the registered array and calls
   * `onEvents(count)` once per batch, inside a callback scope (MakeCallback semantics, so
   * promise continuations run right after). A throw from `onEvents` goes to process
   * 'uncaughtException'. Returns 0 or -errno: -EINVAL before `pollerEvents`, -EALREADY when
   * already started, -ENOTSUP when the poller's fd cannot be watched (libkqueue on Linux).
   */
  driverStart(poller: Handle, onEvents: (count: number) => void): number;
  /** Keep the process alive (ref) or not (unref) while the driver is watching. -EINVAL if none. */
  driverRef(poller: Handle, ref: boolean): number;
  /** Stop watching (0 also when no driver was running). */
  driverStop(poller: Handle): number;

  // ---- Handles -------------------------------------------------------------------------------
  /** Close a handle: deregister it from its poller, close its fd, retire its generation. */
  close(handle: Handle): number;
  /** Number of live handles owned by this addon instance (for leak tests). */
  handleCount(): number;
  /** The raw fd behind a handle, or -EBADF. For tests and diagnostics only. */
  fdOf(handle: Handle): number;

  // ---- Plain fds (tests, pipes) --------------------------------------------------------------
  /** A non-blocking, close-on-exec pipe: [readHandle, writeHandle], or -errno. */
  pipe(): [Handle, Handle] | number;

  // ---- Sockets -------------------------------------------------------------------------------
  /**
   * A listening TCP socket. `host` must be a numeric IPv4 or IPv6 address. flags: REUSE_ADDR |
   * REUSE_PORT | V6_ONLY. Handle or -errno.
   */
  tcpListen(host: string, port: number, backlog: number, flags: number): number;
  /**
   * A non-blocking connect: [handle, inProgress], or -errno. When `inProgress` is true the connect
   * goes on in the background (EINPROGRESS): wait for WRITABLE, then read `socketError`.
   */
  tcpConnect(host: string, port: number): [Handle, boolean] | number;
  /** A listening Unix stream socket at `path` (the path must not exist). Handle or -errno. */
  unixListen(path: string, backlog: number): number;
  /** As `tcpConnect`, to the socket at `path`. */
  unixConnect(path: string): [Handle, boolean] | number;
  /** accept4(SOCK_NONBLOCK | SOCK_CLOEXEC). New handle or -errno (-EAGAIN when none is waiting). */
  accept(listener: Handle): number;
  /** SO_ERROR as a negative errno (0 when none). */
  socketError(handle: Handle): number;
  /** Connections waiting in a TCP listener's accept queue (Linux TCP_INFO), or -errno (-ENOTSUP elsewhere, -EINVAL if not listening). */
  acceptQueueLength(listener: Handle): number;
  /** The local / peer address as [host, port, family(4|6|0 for unix)] or a negative errno. For unix, host is the path. */
  localAddr(handle: Handle): [string, number, number] | number;
  peerAddr(handle: Handle): [string, number, number] | number;
  setNoDelay(handle: Handle, on: boolean): number;
  /** SO_KEEPALIVE, with TCP_KEEPIDLE = `delaySec` when on and delaySec > 0. */
  setKeepAlive(handle: Handle, on: boolean, delaySec: number): number;
  /** `how`: SHUT_RD, SHUT_WR or SHUT_RDWR. */
  shutdown(handle: Handle, how: number): number;

  // ---- Byte I/O (hot path) -------------------------------------------------------------------
  /**
   * read(2) into buf[offset, offset+length). Bytes (0 = end of stream) or -errno. A length of 0
   * is a RangeError (0 must only ever mean end of stream); a buffer whose ArrayBuffer was
   * detached (transferred) is a TypeError, here and in `write` / `writev`.
   */
  read(handle: Handle, buf: Uint8Array, offset: number, length: number): number;
  /**
   * send(2) with MSG_NOSIGNAL (plain write for non-sockets). Bytes or -errno. A socket never
   * raises SIGPIPE; a pipe whose reader is gone gets -EPIPE plus the SIGPIPE of write(2), which
   * Node ignores unless a 'SIGPIPE' listener is installed.
   */
  write(handle: Handle, buf: Uint8Array, offset: number, length: number): number;
  /** writev(2) / sendmsg(MSG_NOSIGNAL) of whole buffers (at most IOV_MAX). Bytes or -errno. */
  writev(handle: Handle, bufs: readonly Uint8Array[]): number;

  // ---- Byte I/O through bound buffers (the hot path; used by lib/io.ts) -------------------
  /**
   * The argument block of `readBound` / `writeBound`, IO_ARG_COUNT numbers: the caller stores
   * ARG_HANDLE, ARG_OFFSET and ARG_LENGTH just before the call and reads ARG_STATUS and
   * ARG_RESULT right after. Made by the addon, one per thread, on a SharedArrayBuffer (it cannot
   * be transferred, detached or resized); lib-internal.
   */
  readonly ioArgs: Float64Array;
  /**
   * Bind `buf` to `handle` as its READ_BUFFER or WRITE_BUFFER, replacing any earlier one; the
   * binding holds `buf`'s ArrayBuffer until replaced or the handle closes. 0 or -errno (-EINVAL
   * for a view on a SharedArrayBuffer, which cannot be bound, or an empty one).
   */
  bindBuffer(handle: Handle, slot: number, buf: Uint8Array): number;
  /**
   * `read` / `write` of bound[offset, offset+length), with [handle, offset, length] taken from
   * `ioArgs`: no arguments to convert, no typed-array lookup, no result to make. Leaves
   * `ioArgs[ARG_STATUS]` = STATUS_DONE with the bytes or -errno in `ioArgs[ARG_RESULT]`, or
   * STATUS_NOT_BOUND when no buffer is bound or it no longer covers the range (detached,
   * shrunk): then no syscall ran, and `read` / `write` is the way.
   */
  readBound(): void;
  writeBound(): void;
  /**
   * `readBound` of the READ_BUFFER range and then, if it got n > 0 bytes and
   * `ioArgs[ARG_WRITE_BACK]` is nonzero, a write of those same n bytes (bound[offset,
   * offset+n)) to the same handle, in one call: echo's loop crosses into the addon once per
   * message instead of twice. The read's answer is in ARG_STATUS / ARG_RESULT as for
   * `readBound`; the write's bytes or -errno in `ioArgs[ARG_WRITTEN]` (NaN when no write was made).
   */
  echoBound(): void;

  // ---- The blocking pool (native/pool.h; lib/pool.ts) -----------------------------------------
  // Every submit takes the runtime's poller and a mailbox `key` (lib/remote.ts) that the job posts
  // when it is done, copies its inputs into native memory, and returns the job's id (> 0) or
  // -errno. A failed job's result is -(step * POOL_STEP + errno) (a resolver's: libuv's UV_EAI_*
  // code, -3000 and below), `step` saying which of its syscalls failed.
  /** The pool's size (1..256), until its first thread has started (-EBUSY after). Default 4. */
  poolConfigure(poller: Handle, threads: number): number;
  /** getaddrinfo(host) for family 0 (any), 4 or 6. Taken: [address, family(4|6), ...] in getaddrinfo's order. */
  poolLookup(poller: Handle, host: string, family: number, key: number): number;
  /** open(path, flags | O_CLOEXEC, mode). Taken: a new File handle. */
  poolOpen(poller: Handle, path: string, flags: number, mode: number, key: number): number;
  /** The whole file (open 0, fstat 1, read 2). Taken: a Uint8Array on an external ArrayBuffer the addon allocated. */
  poolReadFile(poller: Handle, path: string, key: number): number;
  /** open(O_WRONLY | O_CREAT | O_TRUNC, 0666) 0, write it all 1. Taken: bytes written. */
  poolWriteFile(poller: Handle, path: string, data: Uint8Array, key: number): number;
  /** read (position -1) or pread of up to `length` bytes. Taken with the destination: bytes copied into it. */
  poolRead(poller: Handle, file: Handle, length: number, position: number, key: number): number;
  /** write (position -1) or pwrite of `buf` (copied now). Taken: bytes written. */
  poolWrite(poller: Handle, file: Handle, buf: Uint8Array, position: number, key: number): number;
  /** fsync. Taken: 0. */
  poolSync(poller: Handle, file: Handle, key: number): number;
  /** fstat / stat. Taken: [dev, ino, mode, nlink, uid, gid, rdev, size, blksize, blocks, atimeMs, mtimeMs, ctimeMs]. */
  poolFstat(poller: Handle, file: Handle, key: number): number;
  poolStat(poller: Handle, path: string, key: number): number;
  /** unlink 0, or rmdir 1 for a directory. Taken: 0. */
  poolRemove(poller: Handle, path: string, key: number): number;
  /** rename(2). Taken: 0. */
  poolRename(poller: Handle, from: string, to: string, key: number): number;
  /** opendir 0 / readdir 1. Taken: the names, without '.' and '..', in the directory's order. */
  poolReadDir(poller: Handle, path: string, key: number): number;
  /**
   * The result of a job that is done (it then leaves the table), as each submit above says, or
   * -errno; null while it is queued or running; -ENOENT for an id the table does not hold. A read's
   * result is copied into `buf` (what fits, if it shrank; a TypeError if it is no Uint8Array, and
   * the job stays).
   */
  poolTake(poller: Handle, job: number, buf?: Uint8Array): number | null | Uint8Array | (string | number)[] | number[] | string[];
  /** Its future was dropped: the job runs on to its end, its result is discarded (an fd it opened is closed). 0 or -ENOENT. */
  poolForget(poller: Handle, job: number): number;
  /** [jobs in the table, threads started]: for tests. */
  poolStats(poller: Handle): [number, number] | number;
  // ---- UDP (native/bind_udp.cc; lib/net/udp.ts) ------------------------------------------------
  /**
   * The datagram records (UDP_BATCH x UDP_STRIDE, slots above), made by the addon, one per thread,
   * on a SharedArrayBuffer. Receives write them, sends read them; lib-internal.
   */
  readonly udpMeta: Uint32Array;
  /** A non-blocking UDP socket bound to numeric `host`:`port`; flags REUSE_ADDR | REUSE_PORT | V6_ONLY. Handle or -errno. */
  udpBind(host: string, port: number, flags: number): number;
  /** connect(2) to numeric `host`:`port` (immediate for UDP): 0 or -errno. */
  udpConnect(handle: Handle, host: string, port: number): number;
  /** UDP_OPT_* = value (0..255; booleans as 0 / 1), mapped to the socket's family's option. 0 or -errno. */
  udpSetOption(handle: Handle, option: number, value: number): number;
  /** Join (or leave) multicast `group` (IPv4 or IPv6) on `iface` ('' = default; IPv4: an address, IPv6: an index or name). 0 or -errno. */
  udpMembership(handle: Handle, join: boolean, group: string, iface: string): number;
  /** One datagram into buf[offset, offset+length) (0 allowed), record 0 filled. Bytes stored, or -errno. */
  udpRecvFrom(handle: Handle, buf: Uint8Array, offset: number, length: number): number;
  /** One datagram of buf[offset, offset+length) to record 0's destination. Bytes or -errno. */
  udpSendTo(handle: Handle, buf: Uint8Array, offset: number, length: number): number;
  /** Up to `count` (1..UDP_BATCH, <= bufs.length) datagrams, i into bufs[i] with record i (recvmmsg on Linux). Count or -errno. */
  udpRecvMany(handle: Handle, bufs: readonly Uint8Array[], count: number): number;
  /**
   * Datagram i (0 <= i < count) = bufs[start + i][0, record i's length) to record i's destination
   * (sendmmsg on Linux). Count sent (fewer when the buffer filled) or -errno (-EINVAL: a length beyond its buffer).
   */
  udpSendMany(handle: Handle, bufs: readonly Uint8Array[], start: number, count: number): number;
  /**
   * `udpRecvFrom` / `udpSendTo` of the handle's bound READ_BUFFER / WRITE_BUFFER, as `readBound` /
   * `writeBound`: [handle, offset, length] from `ioArgs` (length 0 allowed), status and result
   * back there (STATUS_NOT_BOUND: no syscall, take the general call); record 0 of `udpMeta` as usual.
   */
  udpRecvBound(): void;
  udpSendBound(): void;

  // ---- Thread channels (native/channel.h; lib/thread-channel.ts) -------------------------------
  // Ends are handles of this thread's channel table (not the socket table: `close` does not take
  // them). A bounded queue of messages: bytes the addon copies in and out, plus transferred
  // stream fds and sender ends. Waiting ends are (mailbox, key) pairs, posted when it is worth
  // trying again (mailbox.h); key 0 means "do not wait".
  /** A channel of `capacity` (1 to 2^30) messages: [tx, rx], or -errno. */
  channelCreate(capacity: number): [Handle, Handle] | number;
  /**
   * Queue a copy of `bytes` with the streams (socket handles, moved out of this thread's table:
   * deregistered, unbound, retired) and sender ends (moved) given. 0; -EAGAIN when full (and, with
   * a key, the waiter is recorded in the same step); -EPIPE when the receiver is closed or gone;
   * -EBADF / -EINVAL for a bad end or transfer, -EBUSY for a sender end to move that holds
   * reservations. On any failure nothing was moved. `permit`: use a slot `channelReserve` took.
   */
  channelSend(tx: Handle, bytes: Uint8Array, streams: readonly Handle[] | undefined, senders: readonly Handle[] | undefined, mailbox: number, key: number, permit?: boolean): number;
  /**
   * Reserve a slot for this sender end: 0, then one `channelSend(..., permit = true)` cannot be
   * full (the reservation is used up whatever that send's result); -EAGAIN when full (with a key,
   * the waiter is recorded); -EPIPE. A closed end gives its unused reservations back.
   */
  channelReserve(tx: Handle, mailbox: number, key: number): number;
  /** Give one reserved slot back unused: 0, or -EINVAL when this end holds none. */
  channelRelease(tx: Handle): number;
  /**
   * The oldest message: its bytes (a copy, in a Uint8Array on a fresh ArrayBuffer), or [bytes, streamHandles, senderHandles] when
   * it carried any (new handles of this thread; a stream handle is -EMFILE if the table was full).
   * -EAGAIN when empty (with a key, the waiter is recorded); -EPIPE once nothing more can come.
   */
  channelRecv(rx: Handle, mailbox: number, key: number): Uint8Array | [Uint8Array, Handle[], Handle[]] | number;
  /** Forget this end's recorded waiter. 0 or -EBADF. */
  channelUnwait(end: Handle): number;
  /** Drop an end (the last sender ends the channel for the receiver; the receiver's drop closes queued fds). */
  channelClose(end: Handle): number;
  /** The receiver refuses further sends; what is queued can still be received. */
  channelCloseRx(rx: Handle): number;
  /** Another sender end for the same channel, in this thread. */
  channelClone(tx: Handle): number;
  /** Park the end in the process-wide registry: an id any thread can claim once. */
  channelShare(end: Handle): number;
  /** Claim a parked end into this thread: a handle, -ENOENT (unknown or claimed), -EINVAL (the other kind). */
  channelClaim(id: number, sender: boolean): number;
  /** [queued, capacity, flags] (flags: 1 receiver closed or gone, 2 ended), or -EBADF. */
  channelInfo(end: Handle): [number, number, number] | number;
  /** [ends in this thread, channels alive in the process, ends parked in the process]. */
  channelCounts(): [number, number, number];
}

/** Where the addon was loaded from (absolute path of the .node file); for diagnostics and tests. */
export let addonPath = '';

/** The package root: the nearest directory above this file whose package.json is polled's. */
function packageRoot(): string | null {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === 'polled') return dir;
    } catch {
      // no package.json here (or not JSON): keep walking up
    }
    if (path.dirname(dir) === dir) return null;
  }
}

/** The best matching `prebuilds/<platform>-<arch>/*.node`, chosen by node-gyp-build's own rules. */
function findPrebuild(root: string): string | null {
  type Tags = { file: string };
  type Tuple = { name: string };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ngb = require('node-gyp-build') as {
    parseTuple(name: string): Tuple | undefined;
    matchTuple(platform: string, arch: string): (t: Tuple | undefined) => boolean;
    compareTuples(a: Tuple, b: Tuple): number;
    parseTags(file: string): Tags | undefined;
    matchTags(runtime: string, abi: string): (t: Tags | undefined) => boolean;
    compareTags(runtime: string): (a: Tags, b: Tags) => number;
  };
  const ls = (dir: string): string[] => {
    try {
      return fs.readdirSync(dir);
    } catch {
      return [];
    }
  };
  const prebuilds = path.join(root, 'prebuilds');
  const tuple = ls(prebuilds)
    .map(ngb.parseTuple)
    .filter(ngb.matchTuple(process.platform, process.arch))
    .sort((a, b) => ngb.compareTuples(a!, b!))[0];
  if (!tuple) return null;
  const dir = path.join(prebuilds, tuple.name);
  const winner = ls(dir)
    .map(ngb.parseTags)
    .filter(ngb.matchTags('node', process.versions.modules))
    .sort((a, b) => ngb.compareTags('node')(a!, b!))[0];
  return winner ? path.join(dir, winner.file) : null;
}

function firstNode(dir: string): string | null {
  try {
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.node'));
    return file ? path.join(dir, file) : null;
  } catch {
    return null;
  }
}

/**
 * Load order:
 * 1. `POLLED_ADDON_PATH` (a .node file), when set: that file or an error, nothing else. The
 *    sanitizer run (scripts/sanitize.sh) points it at build-asan/Release/polled.node.
 * 2. `prebuilds/<platform>-<arch>/` (what `npm run prebuild` writes and the npm package ships),
 *    matched by node-gyp-build's tag rules (napi, libc, ...).
 * 3. The local build: `build/Release`, then `build/Debug` (node-gyp or cmake-js).
 * A candidate that exists but fails to load (e.g. a prebuild for a newer glibc) falls through to
 * the next one; if none loads, the error names the platform and how to build from source.
 */
function load(): NativeBinding {
  const requireAddon = (file: string): NativeBinding => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const binding = require(file) as NativeBinding;
    addonPath = file;
    return binding;
  };
  const override = process.env.POLLED_ADDON_PATH;
  if (override) {
    const file = path.resolve(override);
    try {
      return requireAddon(file);
    } catch (err) {
      throw new Error(`polled: POLLED_ADDON_PATH=${override} could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const root = packageRoot();
  const tried: string[] = [];
  if (root !== null) {
    const candidates = [findPrebuild(root), firstNode(path.join(root, 'build', 'Release')), firstNode(path.join(root, 'build', 'Debug'))];
    for (const file of candidates) {
      if (file === null) continue;
      try {
        return requireAddon(file);
      } catch (err) {
        tried.push(`${file}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      }
    }
  }
  const where = root === null ? `(package root of ${__dirname} not found)` : root;
  throw new Error(
    `polled: no native addon for ${process.platform}-${process.arch} (Node ${process.version}, ABI ${process.versions.modules}, ` +
      `N-API ${process.versions.napi}) in ${where}: ` +
      (tried.length > 0 ? `candidates failed to load: ${tried.join('; ')}. ` : `no prebuilds/${process.platform}-${process.arch}/*.node and no build/Release/*.node. `) +
      `Build it from source (needs python3, make and a C++17 compiler): in an app, \`npm rebuild polled\` (its install script compiles when no prebuild matches); ` +
      `in a checkout of polled, \`npm run build:native\` (node-gyp) or \`npm run build:cmake\` (cmake-js). See the README, "Install".`,
  );
}

export const native: NativeBinding = load();

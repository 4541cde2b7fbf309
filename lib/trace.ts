/**
 * The trace: what a runtime did, event by event, as Chrome trace-event JSON (open it in
 * https://ui.perfetto.dev or chrome://tracing, or draw it with `npm run trace:svg out.json`).
 *
 * One track (a "thread" in the format) per runtime. On it:
 *
 * - a slice per task poll, named after the task (`B` / `E` events, with the task id in `args`);
 * - an instant event per wake, with its source: `reactor` (a file descriptor turned ready),
 *   `timer`, `task` (a channel, a sync primitive or a task waking itself, from inside a poll),
 *   `thread` (another thread, through the runtime's mailbox), `spawn`, or `external` (Promise
 *   code, a Node callback);
 * - the reactor's waits: under `blockOn` the time spent in `epoll_wait` / `kevent`; embedded,
 *   the time from handing the thread back to Node's loop until the next batch (`node loop`);
 * - a `run queue` counter: tasks waiting to be polled.
 *
 * Memory is bounded: events go into a ring of `capacity` entries held in typed arrays (nothing is
 * allocated per event), and only the last `capacity` are kept, so a trace can stay on in a long
 * run. When the ring has wrapped, a poll whose begin was overwritten is left out of the export.
 *
 * ```ts
 * const rt = new Runtime({ trace: { capacity: 100_000 } });   // or POLLED_TRACE=out.json
 * ...
 * rt.trace.writeFile('out.json');
 * ```
 */
import * as fs from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';

/** Where a wake came from (the `source` of a wake event, and `RuntimeMetrics.wakes`). */
export const WakeSource = {
  External: 0,
  Reactor: 1,
  Timer: 2,
  Task: 3,
  Thread: 4,
  Spawn: 5,
} as const;
export type WakeSource = (typeof WakeSource)[keyof typeof WakeSource];
export const WAKE_SOURCE_NAMES = ['external', 'reactor', 'timer', 'task', 'thread', 'spawn'] as const;

const enum Kind {
  PollBegin = 1,
  PollEnd = 2,
  Wake = 3,
  Wait = 4,
  Queue = 5,
}

/** One event of Chrome's trace-event format (the subset polled writes). */
export interface TraceEvent {
  name: string;
  ph: 'B' | 'E' | 'i' | 'X' | 'C' | 'M';
  /** Microseconds. */
  ts: number;
  pid: number;
  tid: number;
  dur?: number;
  s?: 't';
  cat?: string;
  args?: Record<string, string | number>;
}

/** The JSON document: `{ traceEvents: [...] }`. */
export interface TraceDocument {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
}

export interface TraceOptions {
  /** Events kept (the ring's size): 16..16,777,216, default 65,536. */
  capacity?: number;
}

export const DEFAULT_TRACE_CAPACITY = 65_536;

let nextTrack = 0;

/** The ring of events of one runtime. Methods take times in the observer's clock (ms). */
export class TraceRing {
  readonly capacity: number;
  private readonly kind: Uint8Array;
  private readonly ts: Float64Array;
  private readonly id: Int32Array;
  private readonly val: Float64Array;
  /** The polled task's name (a reference to the task's own string: nothing is copied). */
  private readonly names: Array<string | undefined>;
  private head = 0;
  private count = 0;
  /** Events written in all (also those the ring has since overwritten). */
  written = 0;
  /** Chrome's thread id of this runtime's track: unique per thread and runtime. */
  readonly tid: number;
  private lastQueue = -1;

  constructor(
    capacity: number,
    /** Added to clock times to make them comparable across threads (performance.timeOrigin), or 0 for an injected clock. */
    private readonly origin: number,
    readonly label: string,
  ) {
    this.capacity = capacity;
    this.kind = new Uint8Array(capacity);
    this.ts = new Float64Array(capacity);
    this.id = new Int32Array(capacity);
    this.val = new Float64Array(capacity);
    this.names = new Array<string | undefined>(capacity).fill(undefined);
    this.tid = threadId * 1000 + ++nextTrack;
  }

  /** Events held now (at most `capacity`). */
  get size(): number {
    return this.count;
  }

  private put(kind: Kind, ts: number, id: number, val: number, name: string | undefined): void {
    const i = this.head;
    this.kind[i] = kind;
    this.ts[i] = ts;
    this.id[i] = id;
    this.val[i] = val;
    this.names[i] = name;
    this.head = i + 1 === this.capacity ? 0 : i + 1;
    if (this.count < this.capacity) this.count++;
    this.written++;
  }

  pollBegin(ts: number, taskId: number, name: string | undefined, queued: number): void {
    if (queued !== this.lastQueue) {
      this.lastQueue = queued;
      this.put(Kind.Queue, ts, 0, queued, undefined);
    }
    this.put(Kind.PollBegin, ts, taskId, 0, name);
  }

  pollEnd(ts: number, taskId: number): void {
    this.put(Kind.PollEnd, ts, taskId, 0, undefined);
  }

  wake(ts: number, taskId: number, source: WakeSource): void {
    this.put(Kind.Wake, ts, taskId, source, undefined);
  }

  /** A wait of `dur` ms starting at `ts`: `what` is 'epoll_wait', 'kevent', 'node loop' or 'wait'. */
  wait(ts: number, dur: number, what: string): void {
    this.put(Kind.Wait, ts, 0, dur, what);
  }

  /** The events held, oldest first, as Chrome trace events (a poll cut by the ring's wrap is left out). */
  events(): TraceEvent[] {
    const pid = process.pid;
    const tid = this.tid;
    const us = (t: number): number => Math.round((t + this.origin) * 1000 * 1000) / 1000;
    const out: TraceEvent[] = [{ name: 'thread_name', ph: 'M', ts: 0, pid, tid, args: { name: this.label } }];
    const start = this.count < this.capacity ? 0 : this.head;
    let open = -1; // the task whose poll is open (polls never nest on one runtime)
    let lastTs = 0;
    for (let k = 0; k < this.count; k++) {
      const i = (start + k) % this.capacity;
      const ts = this.ts[i];
      lastTs = ts;
      switch (this.kind[i] as Kind) {
        case Kind.PollBegin:
          open = this.id[i];
          out.push({ name: this.names[i] ?? `task ${open}`, cat: 'poll', ph: 'B', ts: us(ts), pid, tid, args: { task: open } });
          break;
        case Kind.PollEnd:
          if (open !== this.id[i]) break; // its begin was overwritten
          out.push({ name: '', cat: 'poll', ph: 'E', ts: us(ts), pid, tid, args: { task: open } });
          open = -1;
          break;
        case Kind.Wake:
          out.push({ name: 'wake', cat: 'wake', ph: 'i', s: 't', ts: us(ts), pid, tid, args: { task: this.id[i], source: WAKE_SOURCE_NAMES[this.val[i]] ?? 'external' } });
          break;
        case Kind.Wait:
          out.push({ name: this.names[i] ?? 'wait', cat: 'reactor', ph: 'X', ts: us(ts), dur: Math.round(this.val[i] * 1000 * 1000) / 1000, pid, tid });
          break;
        case Kind.Queue:
          out.push({ name: 'run queue', cat: 'executor', ph: 'C', ts: us(ts), pid, tid, args: { depth: this.val[i] } });
          break;
      }
    }
    // Exported from inside a poll: close it where the trace ends.
    if (open !== -1) out.push({ name: '', cat: 'poll', ph: 'E', ts: us(lastTs), pid, tid, args: { task: open } });
    return out;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    this.lastQueue = -1;
    this.names.fill(undefined);
  }
}

/** One document of the events of `rings` (several runtimes: a track each). */
export function traceDocument(rings: readonly TraceRing[]): TraceDocument {
  const traceEvents: TraceEvent[] = [];
  for (const r of rings) for (const e of r.events()) traceEvents.push(e);
  return { traceEvents, displayTimeUnit: 'ms' };
}

// ---- POLLED_TRACE=out.json: every runtime traces, and the file is written at exit -------------

const envRings: TraceRing[] = [];
let exitHooked = false;

/** The file this thread writes `POLLED_TRACE` to: the path itself on the main thread, a sibling per worker. */
export function traceFileOfThread(file: string): string {
  if (isMainThread) return file;
  const stem = file.endsWith('.json') ? file.slice(0, -5) : file;
  return `${stem}.thread-${threadId}.json`;
}

/** A ring made because of POLLED_TRACE: written to the file when the thread exits. */
export function traceToFileAtExit(ring: TraceRing, file: string): void {
  envRings.push(ring);
  writeTraceAtExit(file);
}

/**
 * Write this thread's POLLED_TRACE file at exit (once). The main thread also folds in the files
 * its worker threads wrote: `startWorkers` calls this even where the main thread runs no runtime.
 */
export function writeTraceAtExit(file: string): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => writeEnvTrace(file));
}

function writeEnvTrace(file: string): void {
  const doc = traceDocument(envRings);
  if (isMainThread) mergeWorkerTraces(file, doc);
  try {
    fs.writeFileSync(traceFileOfThread(file), JSON.stringify(doc));
  } catch (err) {
    process.stderr.write(`polled: could not write POLLED_TRACE=${file}: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}

/** The main thread's exit: worker threads wrote their tracks beside the file; fold them in (a track each). */
function mergeWorkerTraces(file: string, doc: TraceDocument): void {
  const stem = file.endsWith('.json') ? file.slice(0, -5) : file;
  const dir = stem.includes('/') ? stem.slice(0, stem.lastIndexOf('/')) || '/' : '.';
  const base = stem.slice(stem.lastIndexOf('/') + 1) + '.thread-';
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(base) || !n.endsWith('.json')) continue;
    const p = `${dir}/${n}`;
    try {
      const part = JSON.parse(fs.readFileSync(p, 'utf8')) as TraceDocument;
      for (const e of part.traceEvents) doc.traceEvents.push(e);
      fs.unlinkSync(p);
    } catch {
      // A worker's file that is not (yet) whole: leave it for the reader.
    }
  }
}

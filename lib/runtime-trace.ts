/**
 * `runtime.trace`: the trace of one runtime, as an object to start, stop, read and write.
 *
 * ```ts
 * rt.trace.start({ capacity: 100_000 });   // keeps the last 100,000 events
 * ...
 * rt.trace.writeFile('out.json');          // open in https://ui.perfetto.dev
 * ```
 *
 * Starting a trace observes the runtime (metrics and the task dump come with it, see
 * lib/observe.ts). The events and their format are described in lib/trace.ts.
 */
import * as fs from 'node:fs';
import type { MetricsOptions, RuntimeObserver } from './observe';
import { traceDocument, type TraceDocument, type TraceEvent, type TraceOptions } from './trace';

/** @internal What the trace needs of its runtime. */
export interface TraceHost {
  observer(): RuntimeObserver | null;
  observe(options: MetricsOptions): void;
}

export class RuntimeTrace {
  /** @internal */
  constructor(private readonly host: TraceHost) {}

  /** True while events are recorded. */
  get enabled(): boolean {
    return this.host.observer()?.ring != null;
  }

  /** Record events from now on into a fresh ring of `capacity` (default 65,536). Observes the runtime if it was not. */
  start(options: TraceOptions = {}): void {
    if (options === null || typeof options !== 'object') throw new TypeError(`trace.start(options) needs an object, got ${String(options)}`);
    const obs = this.host.observer();
    if (obs === null) this.host.observe({ trace: options });
    else obs.startTrace(options);
  }

  /** Stop recording and forget the events (metrics stay on). */
  stop(): void {
    const obs = this.host.observer();
    if (obs !== null) obs.ring = null;
  }

  /** Events held now (never more than `capacity`). */
  get size(): number {
    return this.host.observer()?.ring?.size ?? 0;
  }

  /** The ring's size, or 0 when not tracing. */
  get capacity(): number {
    return this.host.observer()?.ring?.capacity ?? 0;
  }

  /** Events recorded in all since the trace started, also those the ring has since dropped. */
  get written(): number {
    return this.host.observer()?.ring?.written ?? 0;
  }

  /** The events held, oldest first, as Chrome trace events. */
  events(): TraceEvent[] {
    return this.document().traceEvents;
  }

  /** The Chrome trace-event document (`{ traceEvents }`) of the events held. */
  document(): TraceDocument {
    const ring = this.host.observer()?.ring;
    return traceDocument(ring != null ? [ring] : []);
  }

  /** Write the document to `path` (synchronously: callable from an exit handler). */
  writeFile(path: string): void {
    if (typeof path !== 'string' || path === '') throw new TypeError(`trace.writeFile(path) needs a file path, got ${typeof path}`);
    fs.writeFileSync(path, JSON.stringify(this.document()));
  }
}

/**
 * Unobserved task failures: a task that throws while nobody awaits its `JoinHandle` is reported,
 * decided as Node decides an unhandled rejection.
 *
 * A task *is observed* once anything awaits its handle: `yield* handle` (a poll of the handle),
 * `handle.promise()`, `await handle` / `handle.then(...)`, a `JoinSet` it belongs to, `blockOn`
 * for its own future. A task that fails (its future throws) while it is not observed is put
 * aside until the executor's run ends with the run queue empty (every task woken by the
 * failure, the one that is about to await the handle included, has had its poll). In Node's
 * loop the decision then waits for the microtasks queued meanwhile to run (`await handle`
 * calls `then` from a microtask, as it does for any thenable: a `setImmediate`); under `blockOn`,
 * where no Promise code runs, it is made at once. A task still not observed then goes to the
 * runtime's `onUnhandledError` policy. A later await still receives the error (the outcome is
 * kept in the task, as a rejected Promise keeps its reason).
 *
 * Not failures: a task that was aborted (cancelled, `CancelledError`), a task that rethrows a
 * `CancelledError` (it was awaiting a cancelled one), and errors thrown by `finally` blocks while
 * a task is being cancelled.
 *
 * Policies (`RuntimeOptions.onUnhandledError`):
 * - `'warn'` (the default): print the task's name and the error's stack to stderr, set
 *   `process.exitCode = 1`, and keep running (tokio prints a panicking task and goes on; the
 *   process then exits 1 when it ends, so a failure is never silent).
 * - `'exit'`: print the same, then `process.exit(1)` at once (Node's own default for an
 *   unhandled rejection). In a worker thread that ends the worker, not the process.
 * - a function `(error, task) => void`: called instead, with `{ id, name }` of the task. It runs
 *   outside of any task's poll, after the executor's run. If it throws, that error and the
 *   task's are printed as for `'warn'` (and `process.exitCode = 1`); the executor is unharmed.
 */
import { inspect } from 'node:util';
import { describe } from './validate';

/** The task whose failure went unobserved, as the `onUnhandledError` callback sees it. */
export interface UnhandledTaskInfo {
  /** The task's id (`JoinHandle.id`). */
  readonly id: number;
  /** The name given to `spawn(future, name)`, if any. */
  readonly name: string | undefined;
}

/** What a runtime does with an unobserved task failure. */
export type UnhandledErrorPolicy = 'warn' | 'exit' | ((error: unknown, task: UnhandledTaskInfo) => void);

/** Check `onUnhandledError` (undefined: `'warn'`). */
export function checkUnhandledPolicy(v: unknown, what: string): UnhandledErrorPolicy {
  if (v === undefined) return 'warn';
  if (v === 'warn' || v === 'exit' || typeof v === 'function') return v as UnhandledErrorPolicy;
  throw new TypeError(`${what} must be 'warn', 'exit' or a function (error, task) => void, got ${typeof v === 'string' ? JSON.stringify(v) : describe(v)}`);
}

function taskText(task: UnhandledTaskInfo): string {
  return task.name !== undefined ? `task "${task.name}" (id ${task.id})` : `task ${task.id}`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? inspect(error) : `${inspect(error)} (thrown, not an Error: no stack)`;
}

/** Print the failure to stderr, the way `'warn'` and `'exit'` do. */
function print(error: unknown, task: UnhandledTaskInfo): void {
  console.error(`polled: ${taskText(task)} failed and nothing awaits its JoinHandle:\n${errorText(error)}`);
}

/** Apply `policy` to one unobserved failure. Never throws (except that 'exit' ends the thread). */
export function reportUnhandled(policy: UnhandledErrorPolicy, error: unknown, task: UnhandledTaskInfo): void {
  if (typeof policy === 'function') {
    try {
      policy(error, task);
    } catch (thrown) {
      try {
        print(error, task);
        console.error(`polled: onUnhandledError threw while handling that failure:\n${errorText(thrown)}`);
      } catch {
        // stderr itself failed: nothing more can be said.
      }
      process.exitCode = 1;
    }
    return;
  }
  try {
    print(error, task);
  } catch {
    // stderr itself failed: the exit code still says it.
  }
  process.exitCode = 1;
  if (policy === 'exit') process.exit(1);
}

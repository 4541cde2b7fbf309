// The first example: spawn tasks, sleep, and collect their results through JoinHandles.
//   npm run example examples/hello.ts
import { spawn, sleep, type Async } from 'polled';

// An "async fn": a generator function. Calling it runs nothing yet (futures are lazy).
function* worker(name: string, ms: number): Async<string> {
  yield* sleep(ms); // .await: suspends this task; the reactor's timer wakes it
  return `${name} slept ${ms} ms`;
}

function* main(): Async<void> {
  const a = spawn(worker('a', 30)); // a Task on the run queue; a JoinHandle back
  const b = spawn(worker('b', 10));
  console.log(yield* b); // b slept 10 ms
  console.log(yield* a); // a slept 30 ms
}

// Embedded in Node's event loop: the process exits when the task is done.
spawn(main())
  .promise()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });

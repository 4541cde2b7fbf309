// A TCP echo server: every byte a client sends comes back.
//   npm run example examples/echo-server.ts [127.0.0.1:7007]    then: printf hi | nc -N 127.0.0.1 7007
import { IoError, TcpListener, spawn, type Async, type TcpStream } from 'polled';

function* handle(stream: TcpStream): Async<void> {
  const buf = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = yield* stream.read(buf); // bytes land in buf; 0 = the client closed
      if (n === 0) return;
      yield* stream.writeAll(buf, 0, n); // pends while the client isn't reading
    }
  } catch (err) {
    // A client that resets or vanishes (ECONNRESET, EPIPE) ends its connection, nothing more.
    // Anything else is a bug: rethrown, the runtime reports it (nothing awaits this task).
    if (!(err instanceof IoError)) throw err;
  } finally {
    stream.close();
  }
}

function* main(addr: string): Async<void> {
  const listener = yield* TcpListener.bind(addr);
  console.log(`listening on ${listener.localAddr()}`);
  for (;;) {
    const [stream] = yield* listener.accept();
    spawn(handle(stream)); // one task per connection
  }
}

// Nothing awaits main: if it fails (the port is in use), the runtime prints the error and the
// process exits 1.
spawn(main(process.argv[2] ?? '127.0.0.1:7007'));

// A TCP echo server: every byte a client sends comes back.
//   npm run example examples/echo-server.ts [127.0.0.1:7007]    then: printf hi | nc -N 127.0.0.1 7007
import { TcpListener, spawn, type Async, type TcpStream } from 'polled';

function* handle(stream: TcpStream): Async<void> {
  const buf = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = yield* stream.read(buf); // bytes land in buf; 0 = the client closed
      if (n === 0) return;
      yield* stream.writeAll(buf, 0, n); // pends while the client isn't reading
    }
  } finally {
    stream.close(); // also when the client reset us: the task's error is the IoError
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

spawn(main(process.argv[2] ?? '127.0.0.1:7007'));

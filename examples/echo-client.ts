// A TCP echo client: send a message, half-close, print what comes back.
//   npm run example examples/echo-client.ts [127.0.0.1:7007] [message]
import { TcpStream, blockOn, type Async } from 'polled';

function* main(addr: string, message: string): Async<string> {
  const stream = yield* TcpStream.connect(addr, { timeout: 5000 });
  try {
    yield* stream.writeAll(Buffer.from(message));
    stream.shutdown('write'); // the server sees end of stream, echoes the rest, and closes
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(16 * 1024);
    for (let n; (n = yield* stream.read(buf)) > 0; ) chunks.push(Buffer.from(buf.subarray(0, n)));
    return Buffer.concat(chunks).toString();
  } finally {
    stream.close();
  }
}

console.log(blockOn(main(process.argv[2] ?? '127.0.0.1:7007', process.argv[3] ?? 'hello from polled')));

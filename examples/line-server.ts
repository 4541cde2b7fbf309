// A line protocol server written with BufReader and BufWriter: one command per line.
//   PING      -> PONG
//   ECHO text -> text
//   QUIT      -> BYE, and the server closes the connection
//   anything else -> ERR unknown command
//   npm run example examples/line-server.ts [127.0.0.1:7008]    then: printf 'PING\nECHO hi\n' | nc -N 127.0.0.1 7008
import { BufReader, BufWriter, LineTooLongError, TcpListener, spawn, type Async, type TcpStream } from 'polled';

function reply(line: string): string | null {
  const [cmd, ...rest] = line.split(' ');
  switch (cmd.toUpperCase()) {
    case 'PING':
      return 'PONG';
    case 'ECHO':
      return rest.join(' ');
    case 'QUIT':
      return null;
    default:
      return `ERR unknown command ${JSON.stringify(cmd)}`;
  }
}

function* handle(stream: TcpStream): Async<void> {
  const reader = new BufReader(stream, { maxLineLength: 4096 }); // a longer line is an error, not a memory leak
  const writer = new BufWriter(stream);
  try {
    for (;;) {
      let line: string | null;
      try {
        line = yield* reader.readLine(); // without its \n or \r\n; null when the client is done
      } catch (err) {
        if (!(err instanceof LineTooLongError)) throw err;
        yield* writer.writeAll('ERR line too long\n');
        continue; // the reader skipped that line: go on with the next one
      }
      if (line === null) break;
      const out = reply(line);
      yield* writer.writeAll(`${out ?? 'BYE'}\n`);
      // Answer at once unless more commands are already buffered (pipelined): then one write for all.
      if (reader.bufferedBytes === 0 || out === null) yield* writer.flush();
      if (out === null) break;
    }
    yield* writer.flush();
  } catch {
    // The client went away (reset): nothing to answer.
  } finally {
    stream.close();
  }
}

function* main(addr: string): Async<void> {
  const listener = yield* TcpListener.bind(addr);
  console.log(`listening on ${listener.localAddr()}`);
  for (;;) {
    const [stream] = yield* listener.accept();
    spawn(handle(stream));
  }
}

spawn(main(process.argv[2] ?? '127.0.0.1:7008'));

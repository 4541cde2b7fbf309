// node:net-style code over a polled stream: toDuplex(stream) is a Node Duplex, so pipeline(),
// Transforms and readline work on it, with backpressure end to end. A polled server upper-cases
// what each client sends (pipeline(duplex, transform, duplex)); a node:net client talks to it.
//   npm run example examples/pipeline.ts ['some text']
import * as net from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TcpListener, spawn, toDuplex, type Async } from 'polled';

const shout = (): Transform =>
  new Transform({
    transform(chunk: Buffer, _encoding, done) {
      done(null, chunk.toString().toUpperCase());
    },
  });

function* server(listener: TcpListener): Async<void> {
  const [stream] = yield* listener.accept();
  listener.close(); // one client in this example
  const duplex = toDuplex(stream); // owns the stream now: closes it when both sides are done
  // Node code from here on: the client's bytes go through the Transform and back to it.
  pipeline(duplex, shout(), duplex).catch((err: Error) => console.error('pipeline failed:', err.message));
}

async function main(text: string): Promise<void> {
  const listener = await spawn(TcpListener.bind('127.0.0.1:0')).promise();
  const served = spawn(server(listener)).promise();
  const { port } = listener.localAddr();
  const reply = await new Promise<string>((resolve, reject) => {
    let out = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.end(text)); // end(): send, then FIN
    socket.on('data', (b: Buffer) => (out += b.toString()));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
  await served;
  console.log(reply);
}

main(process.argv[2] ?? 'hello, pipeline').catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

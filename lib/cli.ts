#!/usr/bin/env node
/**
 * The `polled` command.
 *
 *   polled echo [--host 127.0.0.1] [--port 7007] [--unix PATH] [--driver embedded|block]
 *               [--grace-ms 2000] [--backlog 1024] [--buffer-size 16384] [--quiet]
 *
 * Prints `listening <host> <port>` once it accepts connections; on SIGINT / SIGTERM it stops
 * accepting, gives open connections `--grace-ms` to finish, closes them and exits 0.
 * (`npm start` runs `polled echo`.)
 */
import { runEchoServer, type EchoDriver, type RunEchoOptions } from './echo';

const USAGE = `usage: polled echo [options]

A TCP (or Unix socket) echo server on the polled runtime.

options:
  --host ADDR          numeric IPv4 or IPv6 address to listen on (default 127.0.0.1)
  --port N             TCP port, 0 lets the OS choose (default 7007)
  --unix PATH          listen on a Unix socket at PATH instead of TCP
  --driver MODE        embedded (in Node's event loop, default) or block (blockOn owns the thread)
  --grace-ms N         on SIGINT/SIGTERM, how long open connections may finish (default 2000)
  --backlog N          listen backlog (default 1024)
  --buffer-size N      bytes of buffer per connection (default 16384)
  --quiet              don't report accept backoff and shutdown progress on stderr
  -h, --help           this text
`;

class UsageError extends Error {}

function parseIntArg(name: string, v: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(v)) throw new UsageError(`--${name} needs a non-negative integer, got ${JSON.stringify(v)}`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`--${name} must be in ${min}..${max}, got ${n}`);
  return n;
}

/** Parse `echo`'s arguments (everything after the word `echo`). */
export function parseEchoArgs(argv: readonly string[]): RunEchoOptions & { help?: boolean } {
  const o: RunEchoOptions & { help?: boolean } = {};
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const take = (): string => {
      if (value !== undefined) return value;
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '-h':
      case '--help':
        o.help = true;
        break;
      case '--host':
        o.host = take();
        break;
      case '--port':
        o.port = parseIntArg('port', take(), 0, 65535);
        break;
      case '--unix':
        o.unix = take();
        break;
      case '--driver': {
        const d = take();
        if (d !== 'embedded' && d !== 'block') throw new UsageError(`--driver must be embedded or block, got ${JSON.stringify(d)}`);
        o.driver = d as EchoDriver;
        break;
      }
      case '--grace-ms':
        o.graceMs = parseIntArg('grace-ms', take(), 0, 24 * 3600 * 1000);
        break;
      case '--backlog':
        o.backlog = parseIntArg('backlog', take(), 0, 65535);
        break;
      case '--buffer-size':
        o.bufferSize = parseIntArg('buffer-size', take(), 1, 1 << 30);
        break;
      case '--quiet':
        quiet = true;
        break;
      default:
        throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
    }
  }
  if (!quiet) o.log = (line) => process.stderr.write(`polled echo: ${line}\n`);
  return o;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'echo') {
    process.stderr.write(`polled: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 2;
  }
  let options: RunEchoOptions & { help?: boolean };
  try {
    options = parseEchoArgs(rest);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`polled echo: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  delete options.help;
  try {
    await runEchoServer(options);
  } catch (err) {
    // Bad addresses (TypeError / RangeError) and bind failures (IoError EADDRINUSE, ...).
    process.stderr.write(`polled echo: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Everything is closed, so the loop ends by itself; this only guards against a stray handle.
      setTimeout(() => process.exit(code), 1000).unref();
    },
    (err: unknown) => {
      process.stderr.write(`polled: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

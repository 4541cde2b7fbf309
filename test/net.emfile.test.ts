// Accept under fd exhaustion (EMFILE): the listener neither spins nor dies. It backs off, keeps
// serving the connections it has, and accepts again once descriptors are free.
// The server runs in a child process with RLIMIT_NOFILE = 64.
import * as net from 'node:net';
import { CLI, cpuMs, killAll, openFds, requireBuild, sleepMs, startServer, waitFor } from './fixtures/servers';

const LIMIT = 64;
const CLIENTS = 100;

beforeAll(requireBuild);
afterAll(killAll);

interface Client {
  sock: net.Socket;
  echoed: boolean;
  closed: boolean;
  received: string;
}

describe.each(['embedded', 'block'])('accept under EMFILE (%s driver)', (driver) => {
  test('backs off without spinning, keeps serving, resumes when fds are freed', async () => {
    const srv = await startServer(['bash', '-c', `ulimit -n ${LIMIT} && exec "$0" "$@"`, process.execPath, CLI, 'echo', '--port', '0', '--driver', driver, '--grace-ms', '200']);
    try {
      const clients: Client[] = [];
      for (let i = 0; i < CLIENTS; i++) {
        const c: Client = { sock: net.connect(srv.port, srv.host), echoed: false, closed: false, received: '' };
        const msg = `ping ${i};`;
        c.sock.setEncoding('utf8');
        c.sock.on('data', (d: string) => {
          c.received += d;
          if (c.received === msg) c.echoed = true;
        });
        c.sock.on('error', () => {});
        c.sock.write(msg);
        clients.push(c);
      }
      const echoed = (): number => clients.filter((c) => c.echoed).length;

      // The server fills its fd table: some clients are served, the rest wait in the backlog.
      let last = -1;
      await waitFor(() => {
        const n = echoed();
        const stable = n === last && n > 0;
        last = n;
        return stable;
      }, 20000, 300);
      const served = echoed();
      expect(served).toBeGreaterThan(0);
      expect(served).toBeLessThan(CLIENTS);
      expect(openFds(srv.pid)).toBeGreaterThanOrEqual(LIMIT - 2);
      expect(await waitFor(() => /accept: EMFILE; backing off/.test(srv.stderr()), 5000)).toBe(true);

      // While exhausted the listener stays readable; a spinning accept loop would burn a whole
      // core. With backoff it tries at most ~10 times a second.
      const cpu0 = cpuMs(srv.pid);
      await sleepMs(2000);
      const cpuWhileExhausted = cpuMs(srv.pid) - cpu0;
      console.log(`EMFILE (${driver}): served ${served}/${CLIENTS} with nofile=${LIMIT}; server CPU over 2 s while exhausted: ${cpuWhileExhausted} ms`);
      expect(cpuWhileExhausted).toBeLessThan(400);
      expect(srv.child.exitCode).toBeNull();
      expect(echoed()).toBe(served);

      // The connections it already has are still served.
      const old = clients.find((c) => c.echoed)!;
      old.received = '';
      old.echoed = false;
      old.sock.write('ping again;');
      old.sock.removeAllListeners('data');
      old.sock.on('data', (d: string) => {
        old.received += d;
        if (old.received === 'ping again;') old.echoed = true;
      });
      expect(await waitFor(() => old.echoed, 10000)).toBe(true);

      // Free descriptors by closing served clients; the waiting ones get accepted, round by round.
      for (let round = 0; round < 20 && echoed() < CLIENTS; round++) {
        for (const c of clients) {
          if (c.echoed && !c.closed) {
            c.closed = true;
            c.sock.destroy();
          }
        }
        const before = echoed();
        await waitFor(() => echoed() > before, 10000, 50);
      }
      console.log(`EMFILE (${driver}): after closing served clients, ${echoed()}/${CLIENTS} were echoed`);
      expect(echoed()).toBe(CLIENTS);
      for (const c of clients) c.sock.destroy();
      const r = await srv.stop('SIGTERM');
      expect(r).toEqual({ code: 0, signal: null });
    } finally {
      await srv.stop('SIGKILL');
    }
  });
});

/**
 * `balance: 'handoff'`: worker 0 accepts, and thread channels carry the accepted streams to the
 * workers round robin (the fallback where SO_REUSEPORT does not balance).
 */
import type { Future } from './future';
import type { SocketAddress, SocketAddressLike } from './net/address';
import type { Acceptor } from './net/stream';
import type { TcpListener, TcpListenOptions, TcpStream } from './net/tcp';
import type { WorkerBoot } from './workers';

export function handoffListen(_boot: WorkerBoot, _k: number, _addr: SocketAddressLike | number, _options: TcpListenOptions | undefined, _listeners: TcpListener[]): Future<Acceptor<TcpStream, SocketAddress>> {
  throw new Error("balance 'handoff' needs thread channels (in progress)");
}

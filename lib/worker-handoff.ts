/**
 * `balance: 'handoff'`: worker 0 accepts, and thread channels carry the accepted streams to the
 * workers round robin (the fallback where SO_REUSEPORT does not balance).
 */
import type { Future } from './future';
import type { SocketAddressLike } from './net/address';
import type { TcpListener, TcpListenOptions } from './net/tcp';
import type { WorkerBoot } from './workers';

export function handoffListen(_boot: WorkerBoot, _k: number, _addr: SocketAddressLike | number, _options: TcpListenOptions | undefined, _listeners: TcpListener[]): Future<TcpListener> {
  throw new Error("balance 'handoff' needs thread channels (in progress)");
}

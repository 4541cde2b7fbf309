/**
 * Networking: TCP and Unix-domain stream sockets over the runtime's reactor.
 *
 * - addresses: `SocketAddress` ('127.0.0.1:80', '[::1]:80', { host, port }): ./address
 * - name resolution: `lookupHost` (getaddrinfo on the blocking pool): ./dns
 * - what TCP and Unix share (the `Socket` base with `localAddr`, the byte stream, connect, accept): ./stream
 * - `TcpListener`, `TcpStream`: ./tcp
 * - `UnixListener`, `UnixStream`: ./unix
 * - `UdpSocket`, `Datagram` (datagrams, batched with recvmmsg / sendmmsg): ./udp
 */
export { SocketAddress, parseSocketAddress, parseHostPort } from './address';
export type { SocketAddressLike, IpFamily, UnixSocketAddress, HostPort } from './address';
export { lookupHost, connectFirst } from './dns';
export type { LookupOptions } from './dns';
export { Stream, Listener, AcceptFuture, ConnectFuture, UnexpectedEofError, IOV_MAX, ACCEPT_BACKOFF_MIN_MS, ACCEPT_BACKOFF_MAX_MS } from './stream';
export type { ShutdownHow, BackoffListener, Acceptor } from './stream';
export { TcpListener, TcpStream } from './tcp';
export type { TcpListenOptions, TcpConnectOptions } from './tcp';
export { UnixListener, UnixStream } from './unix';
export type { UnixListenOptions, UnixConnectOptions } from './unix';
export { UdpSocket, Datagram, MAX_UDP_PAYLOAD_V4 } from './udp';
export type { UdpBindOptions } from './udp';

// What the rest of the addon calls on a handle that is registered in an io_uring poller
// (poller_uring.h): the byte paths, accept and shutdown go through the handle's RingSource
// instead of a syscall. In a build without io_uring no handle ever has one, and these are stubs.
#pragma once

#include <errno.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>

#include "poller.h"

namespace polled {

#if defined(POLLED_URING)
// Bytes copied from the stream's receive queue, 0 at end of stream, -EAGAIN (recv armed) or -errno.
ssize_t RingRead(RingSource* s, uint8_t* data, size_t len);
// Bytes copied into the stream's send buffer (fewer when it is near its cap), -EAGAIN, or the
// error a send met.
ssize_t RingWritev(RingSource* s, const iovec* iov, int count);
int RingAccept(RingSource* s, Fd* out);
// `how`: SHUT_RD / SHUT_WR / SHUT_RDWR. The write side waits for the bytes already written.
int RingShutdown(RingSource* s, int how);
bool RingBusy(RingSource* s);
// Registers `fd`: a stream or listener's source goes to *io_slot, any other fd's to *poll_slot.
int RingAdd(Ring* r, int fd, bool is_socket, uint32_t token, RingSource** io_slot, RingSource** poll_slot);
void RingRemove(RingSource* s, Fd* fd);
#else
inline ssize_t RingRead(RingSource*, uint8_t*, size_t) { return -ENOSYS; }
inline ssize_t RingWritev(RingSource*, const iovec*, int) { return -ENOSYS; }
inline int RingAccept(RingSource*, Fd*) { return -ENOSYS; }
inline int RingShutdown(RingSource*, int) { return -ENOSYS; }
inline bool RingBusy(RingSource*) { return false; }
inline int RingAdd(Ring*, int, bool, uint32_t, RingSource**, RingSource**) { return -ENOSYS; }
inline void RingRemove(RingSource*, Fd*) {}
#endif

inline ssize_t RingWrite(RingSource* s, const void* data, size_t len) {
  iovec iov{const_cast<void*>(data), len};
  return RingWritev(s, &iov, 1);
}

}  // namespace polled

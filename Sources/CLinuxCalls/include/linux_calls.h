#ifndef PEERNET_LINUX_CALLS_H
#define PEERNET_LINUX_CALLS_H
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/xattr.h>

/// copy_file_range(2): Swift's Glibc module leaves it out (it needs _GNU_SOURCE). Copies `length`
/// bytes from `in` at `*in_offset` (advanced) to `out` at its file offset, inside the kernel.
/// Returns the bytes copied, 0 at the end of `in`, or -1 with errno set.
ssize_t peernet_copy_file_range(int in, int64_t *in_offset, int out, size_t length);

/// renameat2(2) with its flags (RENAME_NOREPLACE 1, RENAME_EXCHANGE 2): rename(2) as programs
/// ask for it through the drive. 0 or -1 with errno set.
int peernet_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);

/// fallocate(2), declared only under _GNU_SOURCE.
int peernet_fallocate(int fd, int mode, off_t offset, off_t length);

/// Records fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP) in the log file
/// at `path`: a line with the signal and the stack's addresses, then the previous handler runs
/// (Swift's backtracer prints the symbolicated trace on stderr). A crash of a node in the
/// foreground used to leave no trace in its log.
void peernet_install_crash_log(const char *path);
/// The file system type (statfs f_type, e.g. 0xEF53 for ext4) of the file system holding
/// `path`, or -1 with errno set. (Swift's Glibc module does not export statfs.)
long peernet_fs_type(const char *path);

/// One datagram of a batch receive: the caller's buffer, and what arrived in it.
typedef struct {
    void *buffer;
    size_t capacity;
    size_t length;            /// bytes received
    int segment;              /// with UDP GRO: the size of each coalesced datagram (0: one datagram)
    struct sockaddr_storage *source;
} peernet_datagram;

/// recvmmsg(2) with MSG_WAITFORONE: blocks (up to the socket's receive timeout) for the first
/// datagram, then takes what is already queued, up to `count` (at most 64). Reads the UDP GRO
/// segment size of each. Returns how many arrived, or -1 with errno set.
int peernet_udp_receive_batch(int fd, peernet_datagram *datagrams, int count);

/// Asks the kernel to coalesce datagrams of one flow for this socket (UDP_GRO, Linux 5.0).
/// 0 when enabled, -1 when the kernel does not have it.
int peernet_udp_enable_gro(int fd);

/// Sends `count` (at most 64) datagrams to one address in one call as one buffer of
/// `segment`-byte datagrams (every one that size but the last, which may be shorter): UDP GSO
/// (UDP_SEGMENT, Linux 4.18). The datagrams are gathered by the kernel from where they lie (one
/// iovec each), not joined first. Returns the bytes sent or -1 with errno set
/// (EIO/EINVAL/ENOPROTOOPT: no GSO here; send one by one instead).
ssize_t peernet_udp_send_segments(int fd, const void *const *datagrams, const size_t *lengths, int count,
                                  uint16_t segment, const struct sockaddr *address, socklen_t address_length);

/// sendmmsg(2): `count` (at most 64) datagrams to one address in one call, without blocking.
/// Returns how many were sent, or -1 with errno set.
int peernet_udp_send_batch(int fd, const void *const *datagrams, const size_t *lengths, int count,
                           const struct sockaddr *address, socklen_t address_length);

// MARK: FUSE passthrough (fuse_passthrough.c)
//
// Linux 6.9+ can serve a FUSE file's reads, writes and mmap straight from a "backing" file,
// without a round trip to the daemon per request. libfuse 3.14 (Debian 12) predates it, so
// the drive does the three steps libfuse 3.16 would do, around libfuse's own I/O hooks:
// 1. the INIT reply asks for FUSE_PASSTHROUGH when the kernel offers it;
// 2. a backing file is registered with FUSE_DEV_IOC_BACKING_OPEN on /dev/fuse;
// 3. the OPEN or CREATE reply carries FOPEN_PASSTHROUGH and the backing ID.
#include <sys/uio.h>

/// What the INIT reply on FUSE device `fuse_fd` asks for, where the kernel offers it:
/// passthrough, and FUSE_HANDLE_KILLPRIV_V2 (the daemon clears setuid/setgid and file
/// capabilities on write, truncate and chown, so the kernel may cache "nothing to clear" per
/// inode instead of asking for security.capability before every write). Set before the
/// session loop starts; resets what an earlier mount with the same descriptor number left.
void peernet_fuse_init_want(int fuse_fd, int passthrough, int killpriv);
/// 1 once the kernel offered passthrough on `fuse_fd` and the INIT reply asked for it, else 0.
int peernet_fuse_passthrough_active(int fuse_fd);
/// 1 once the INIT reply on `fuse_fd` took FUSE_HANDLE_KILLPRIV_V2, else 0.
int peernet_fuse_killpriv_active(int fuse_fd);
/// The session's I/O hooks (struct fuse_custom_io): read and writev as libfuse's own, except
/// that INIT is noted and its reply and marked open replies are amended.
ssize_t peernet_fuse_io_read(int fd, void *buf, size_t buf_len, void *userdata);
ssize_t peernet_fuse_io_writev(int fd, struct iovec *iov, int count, void *userdata);
ssize_t peernet_fuse_io_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
                                    unsigned int flags, void *userdata);
/// Registers `fd`'s file as a backing file on the FUSE device `fuse_fd`: its ID (> 0), or
/// -errno.
int peernet_fuse_backing_open(int fuse_fd, int fd);
/// Drops a backing ID (open files keep their backing file). 0 or -errno.
int peernet_fuse_backing_close(int fuse_fd, int backing_id);
/// Marks the next OPEN or CREATE reply sent by this thread to carry `backing_id` (0: none).
void peernet_fuse_passthrough_next_reply(int backing_id);
#endif

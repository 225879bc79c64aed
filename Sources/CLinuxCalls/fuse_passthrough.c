// FUSE passthrough for libfuse 3.14: see linux_calls.h. The constants and layouts below are
// the kernel's FUSE protocol (include/uapi/linux/fuse.h, 7.40); Debian 12's headers stop at
// 7.38, so they are spelled out here.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "linux_calls.h"

enum {
    kOpcodeInit = 26,
    kInHeaderSize = 40,            // struct fuse_in_header
    kOutHeaderSize = 16,           // struct fuse_out_header
    kInitInFlags = kInHeaderSize + 12,
    kInitInFlags2 = kInHeaderSize + 16,
    kInitOutFlags = 12,            // in struct fuse_init_out
    kInitOutFlags2 = 32,
    kInitOutMaxStackDepth = 36,
    kInitOutMinSize = 40,
    kOpenOutSize = 16,             // struct fuse_open_out: fh, open_flags, backing_id
};
static const uint32_t kInitExt = 1u << 30;            // FUSE_INIT_EXT
static const uint32_t kKillprivV2 = 1u << 28;         // FUSE_HANDLE_KILLPRIV_V2
static const uint32_t kWritebackCache = 1u << 16;     // FUSE_WRITEBACK_CACHE (excludes passthrough)
static const uint32_t kPassthroughFlags2 = 1u << 5;   // FUSE_PASSTHROUGH (1 << 37) in flags2
static const uint32_t kOpenPassthrough = 1u << 7;     // FOPEN_PASSTHROUGH
static const uint32_t kOpenDirectIO = 1u << 0;        // FOPEN_DIRECT_IO (excludes passthrough)

struct peernet_fuse_backing_map { int32_t fd; uint32_t flags; uint64_t padding; };
#define PEERNET_FUSE_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct peernet_fuse_backing_map)
#define PEERNET_FUSE_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

// Per FUSE device descriptor (one per mount; tests run several mounts in one process, and
// each connection numbers its requests from the same start).
enum { kMaxDeviceFD = 4096 };
enum { kWantPassthrough = 1, kWantKillpriv = 2 };
static atomic_char wanted[kMaxDeviceFD];            // kWant* bits
static atomic_char active[kMaxDeviceFD];            // passthrough accepted
static atomic_char killpriv_active[kMaxDeviceFD];
static atomic_char killpriv_offered[kMaxDeviceFD];
static _Atomic uint64_t init_unique[kMaxDeviceFD];  // the INIT request's ID while its reply is due
static _Thread_local int next_backing;             // the backing ID for this thread's next open reply

static int slot(int fd) { return fd >= 0 && fd < kMaxDeviceFD; }

void peernet_fuse_init_want(int fuse_fd, int passthrough, int killpriv) {
    if (!slot(fuse_fd)) return;
    atomic_store(&active[fuse_fd], 0);
    atomic_store(&killpriv_active[fuse_fd], 0);
    atomic_store(&killpriv_offered[fuse_fd], 0);
    atomic_store(&init_unique[fuse_fd], 0);
    atomic_store(&wanted[fuse_fd], (char)((passthrough ? kWantPassthrough : 0) | (killpriv ? kWantKillpriv : 0)));
}
int peernet_fuse_passthrough_active(int fuse_fd) { return slot(fuse_fd) ? atomic_load(&active[fuse_fd]) : 0; }
int peernet_fuse_killpriv_active(int fuse_fd) { return slot(fuse_fd) ? atomic_load(&killpriv_active[fuse_fd]) : 0; }
void peernet_fuse_passthrough_next_reply(int backing_id) { next_backing = backing_id; }

static uint32_t load32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void store32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }

ssize_t peernet_fuse_io_read(int fd, void *buf, size_t buf_len, void *userdata) {
    (void)userdata;
    ssize_t n = read(fd, buf, buf_len);
    if (n >= kInitInFlags2 + 4 && slot(fd) && atomic_load(&wanted[fd])) {
        const unsigned char *p = buf;
        if (load32(p + 4) == kOpcodeInit) {
            uint32_t flags = load32(p + kInitInFlags), flags2 = load32(p + kInitInFlags2);
            uint64_t unique;
            memcpy(&unique, p + 8, 8);
            char want = atomic_load(&wanted[fd]);
            int passthrough = (want & kWantPassthrough) && (flags & kInitExt) && (flags2 & kPassthroughFlags2);
            int killpriv = (want & kWantKillpriv) && (flags & kKillprivV2);
            if (!passthrough) atomic_fetch_and(&wanted[fd], (char)~kWantPassthrough);
            atomic_store(&killpriv_offered[fd], (char)killpriv);
            if (passthrough || killpriv) atomic_store(&init_unique[fd], unique);
        }
    }
    return n;
}

/// The reply's payload bytes, gathered view: the last `size` bytes if they lie in one iovec.
static unsigned char *tail(struct iovec *iov, int count, size_t size) {
    if (count < 2 || iov[count - 1].iov_len < size) return NULL;
    return (unsigned char *)iov[count - 1].iov_base + iov[count - 1].iov_len - size;
}

ssize_t peernet_fuse_io_writev(int fd, struct iovec *iov, int count, void *userdata) {
    (void)userdata;
    if (count >= 2 && iov[0].iov_len >= kOutHeaderSize) {
        const unsigned char *header = iov[0].iov_base;
        int32_t error;
        memcpy(&error, header + 4, 4);
        uint64_t unique;
        memcpy(&unique, header + 8, 8);
        int backing = next_backing;
        if (backing > 0 && error == 0) {
            // An OPEN or CREATE reply (fuse_reply_create puts fuse_open_out last).
            unsigned char *out = tail(iov, count, kOpenOutSize);
            if (out) {
                store32(out + 8, (load32(out + 8) & ~kOpenDirectIO) | kOpenPassthrough);
                store32(out + 12, (uint32_t)backing);
            }
        }
        next_backing = 0;
        uint64_t pending = slot(fd) ? atomic_load(&init_unique[fd]) : 0;
        if (pending != 0 && unique == pending) {
            atomic_store(&init_unique[fd], 0);
            unsigned char *out = iov[1].iov_base;
            if (error == 0 && iov[1].iov_len >= kInitOutMinSize) {
                uint32_t flags = load32(out + kInitOutFlags);
                if (atomic_load(&killpriv_offered[fd])) {
                    store32(out + kInitOutFlags, flags | kKillprivV2);
                    atomic_store(&killpriv_active[fd], 1);
                }
                if ((atomic_load(&wanted[fd]) & kWantPassthrough) && (flags & kInitExt) && !(flags & kWritebackCache)) {
                    store32(out + kInitOutFlags2, load32(out + kInitOutFlags2) | kPassthroughFlags2);
                    store32(out + kInitOutMaxStackDepth, 1);
                    atomic_store(&active[fd], 1);
                }
            }
        }
    }
    return writev(fd, iov, count);
}

ssize_t peernet_fuse_io_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
                                    unsigned int flags, void *userdata) {
    (void)userdata;
    loff_t in = offin ? *offin : 0, out = offout ? *offout : 0;
    ssize_t n = splice(fdin, offin ? &in : NULL, fdout, offout ? &out : NULL, len, flags);
    if (offin) *offin = in;
    if (offout) *offout = out;
    return n;
}

int peernet_fuse_backing_open(int fuse_fd, int fd) {
    struct peernet_fuse_backing_map map = { .fd = fd, .flags = 0, .padding = 0 };
    int id = ioctl(fuse_fd, PEERNET_FUSE_DEV_IOC_BACKING_OPEN, &map);
    return id > 0 ? id : (id == 0 ? -EIO : -errno);
}

int peernet_fuse_backing_close(int fuse_fd, int backing_id) {
    uint32_t id = (uint32_t)backing_id;
    return ioctl(fuse_fd, PEERNET_FUSE_DEV_IOC_BACKING_CLOSE, &id) == 0 ? 0 : -errno;
}

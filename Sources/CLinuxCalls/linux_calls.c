#define _GNU_SOURCE
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <fcntl.h>
#include <unistd.h>
#include "linux_calls.h"

ssize_t peernet_copy_file_range(int in, int64_t *in_offset, int out, size_t length) {
    off_t offset = (off_t)*in_offset;
    ssize_t n = copy_file_range(in, &offset, out, NULL, length, 0);
    *in_offset = (int64_t)offset;
    return n;
}

int peernet_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

int peernet_reflink(int src, int dest) {
    return ioctl(dest, FICLONE, src);
}

int peernet_syncfs(int fd) {
    return syncfs(fd);
}

int peernet_fallocate(int fd, int mode, off_t offset, off_t length) {
    return fallocate(fd, mode, offset, length);
}

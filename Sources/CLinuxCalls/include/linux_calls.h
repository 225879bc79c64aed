#ifndef PEERNET_LINUX_CALLS_H
#define PEERNET_LINUX_CALLS_H
#include <stdint.h>
#include <sys/types.h>

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
#endif

#ifndef PEERNET_LINUX_CALLS_H
#define PEERNET_LINUX_CALLS_H
#include <stdint.h>
#include <sys/types.h>

/// copy_file_range(2): Swift's Glibc module leaves it out (it needs _GNU_SOURCE). Copies `length`
/// bytes from `in` at `*in_offset` (advanced) to `out` at its file offset, inside the kernel.
/// Returns the bytes copied, 0 at the end of `in`, or -1 with errno set.
ssize_t peernet_copy_file_range(int in, int64_t *in_offset, int out, size_t length);

#endif

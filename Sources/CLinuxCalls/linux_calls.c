#define _GNU_SOURCE
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <fcntl.h>
#include <execinfo.h>
#include <signal.h>
#include <string.h>
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


int peernet_fallocate(int fd, int mode, off_t offset, off_t length) {
    return fallocate(fd, mode, offset, length);
}

static char crash_log_path[4096];
static struct sigaction previous_actions[32];
static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP };

static void write_text(int fd, const char *text) {
    size_t n = strlen(text);
    while (n > 0) {
        ssize_t w = write(fd, text, n);
        if (w <= 0) return;
        text += w;
        n -= (size_t)w;
    }
}

static void crash_handler(int sig) {
    int fd = open(crash_log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
        char line[96] = "CRASH [node] peernet crashed with signal ";
        size_t len = strlen(line);
        if (sig >= 10) line[len++] = (char)('0' + sig / 10);
        line[len++] = (char)('0' + sig % 10);
        line[len] = 0;
        write_text(fd, line);
        write_text(fd, "; stack addresses follow (the symbolicated trace is on the node's stderr)\n");
        void *frames[64];
        int n = backtrace(frames, 64);
        backtrace_symbols_fd(frames, n, fd);
        close(fd);
    }
    if (sig > 0 && sig < 32) sigaction(sig, &previous_actions[sig], NULL);
    raise(sig);
}

void peernet_install_crash_log(const char *path) {
    strncpy(crash_log_path, path, sizeof(crash_log_path) - 1);
    for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++) {
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_handler = crash_handler;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESETHAND;
        sigaction(crash_signals[i], &action, &previous_actions[crash_signals[i]]);
    }
}

long peernet_fs_type(const char *path) {
    struct statfs st;
    if (statfs(path, &st) != 0) return -1;
    return (long)st.f_type;
}

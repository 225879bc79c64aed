#define _GNU_SOURCE
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <fcntl.h>
#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <errno.h>
#include "linux_calls.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

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


int peernet_udp_receive_batch(int fd, peernet_datagram *datagrams, int count) {
    if (count > 64) count = 64;
    if (count < 1) { errno = EINVAL; return -1; }
    struct mmsghdr messages[64];
    struct iovec vectors[64];
    char controls[64][CMSG_SPACE(sizeof(int))];
    memset(messages, 0, sizeof(struct mmsghdr) * (size_t)count);
    for (int i = 0; i < count; i++) {
        vectors[i].iov_base = datagrams[i].buffer;
        vectors[i].iov_len = datagrams[i].capacity;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = datagrams[i].source;
        messages[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
        messages[i].msg_hdr.msg_control = controls[i];
        messages[i].msg_hdr.msg_controllen = sizeof(controls[i]);
    }
    int n = recvmmsg(fd, messages, (unsigned int)count, MSG_WAITFORONE, NULL);
    for (int i = 0; i < n; i++) {
        datagrams[i].length = messages[i].msg_len;
        datagrams[i].segment = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&messages[i].msg_hdr); c != NULL; c = CMSG_NXTHDR(&messages[i].msg_hdr, c)) {
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
                int segment;
                memcpy(&segment, CMSG_DATA(c), sizeof(int));
                datagrams[i].segment = segment;
            }
        }
    }
    return n;
}

int peernet_udp_enable_gro(int fd) {
    int one = 1;
    return setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
}

ssize_t peernet_udp_send_segments(int fd, const void *const *datagrams, const size_t *lengths, int count,
                                  uint16_t segment, const struct sockaddr *address, socklen_t address_length) {
    if (count > 64) count = 64;
    if (count < 1) return 0;
    struct iovec vectors[64];
    for (int i = 0; i < count; i++) {
        vectors[i].iov_base = (void *)datagrams[i];
        vectors[i].iov_len = lengths[i];
    }
    char control[CMSG_SPACE(sizeof(uint16_t))];
    memset(control, 0, sizeof(control));
    struct msghdr message;
    memset(&message, 0, sizeof(message));
    message.msg_name = (void *)address;
    message.msg_namelen = address_length;
    message.msg_iov = vectors;
    message.msg_iovlen = (size_t)count;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    struct cmsghdr *c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(c), &segment, sizeof(uint16_t));
    return sendmsg(fd, &message, MSG_DONTWAIT);
}

int peernet_udp_send_batch(int fd, const void *const *datagrams, const size_t *lengths, int count,
                           const struct sockaddr *address, socklen_t address_length) {
    if (count > 64) count = 64;
    if (count < 1) return 0;
    struct mmsghdr messages[64];
    struct iovec vectors[64];
    memset(messages, 0, sizeof(struct mmsghdr) * (size_t)count);
    for (int i = 0; i < count; i++) {
        vectors[i].iov_base = (void *)datagrams[i];
        vectors[i].iov_len = lengths[i];
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = (void *)address;
        messages[i].msg_hdr.msg_namelen = address_length;
    }
    return sendmmsg(fd, messages, (unsigned int)count, MSG_DONTWAIT);
}

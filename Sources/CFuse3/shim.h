#ifndef PEERNET_CFUSE3_SHIM_H
#define PEERNET_CFUSE3_SHIM_H
// The low-level header refuses to compile without an API version.
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/xattr.h>  // getxattr(2) for tests and tools reading our attributes
#include <fuse.h>

// fuse_session_new / fuse_new / fuse_main are macros (or versioned symbols) in libfuse3:
// Swift cannot call them, so wrap each with the struct size it expects.
static inline struct fuse_session *peernet_fuse_session_new(struct fuse_args *args,
        const struct fuse_lowlevel_ops *ops, void *userdata) {
    return fuse_session_new(args, ops, sizeof(*ops), userdata);
}

static inline struct fuse *peernet_fuse_new(struct fuse_args *args,
        const struct fuse_operations *ops, void *userdata) {
    return fuse_new(args, ops, sizeof(*ops), userdata);
}

static inline int peernet_fuse_main(int argc, char *argv[],
        const struct fuse_operations *ops, void *userdata) {
    return fuse_main(argc, argv, ops, userdata);
}

// fuse_session_loop_mt is a versioned macro too. Runs the multi-threaded loop with up to
// `max_threads` workers (so a slow network read never blocks other operations).
static inline int peernet_fuse_loop_mt(struct fuse_session *se, unsigned int max_threads) {
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    if (!cfg) return -1;
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    fuse_loop_cfg_set_max_threads(cfg, max_threads);
    fuse_loop_cfg_set_idle_threads(cfg, max_threads / 2);
    int rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    return rc;
}

// Replies to a read with `size` bytes of file `fd` from `pos`: libfuse splices them from the
// file into the kernel when it can, otherwise reads them once into its own buffer (no zeroed
// Swift array, no extra copy). FUSE_BUFVEC_INIT is a macro, hence this helper.
static inline int peernet_fuse_reply_fd(fuse_req_t req, int fd, off_t pos, size_t size) {
    struct fuse_bufvec bufv = FUSE_BUFVEC_INIT(size);
    bufv.buf[0].flags = (enum fuse_buf_flags)(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    bufv.buf[0].fd = fd;
    bufv.buf[0].pos = pos;
    return fuse_reply_data(req, &bufv, 0);
}

// Writes a request's data (possibly still in the kernel's pipe, when libfuse spliced it from
// /dev/fuse) into file `fd` at `pos`: spliced from the pipe into the file where it can be,
// no copy through a user buffer. Replies with the count written or the error (as
// passthrough_ll's write_buf does).
static inline void peernet_fuse_write_buf_to_fd(fuse_req_t req, struct fuse_bufvec *in_buf, int fd, off_t pos) {
    struct fuse_bufvec out_buf = FUSE_BUFVEC_INIT(fuse_buf_size(in_buf));
    out_buf.buf[0].flags = (enum fuse_buf_flags)(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    out_buf.buf[0].fd = fd;
    out_buf.buf[0].pos = pos;
    ssize_t res = fuse_buf_copy(&out_buf, in_buf, (enum fuse_buf_copy_flags)0);
    if (res < 0) fuse_reply_err(req, (int)-res);
    else fuse_reply_write(req, (size_t)res);
}

// FUSE_SET_ATTR_* are macros; give Swift typed constants.
static const int peernet_fuse_set_attr_size = FUSE_SET_ATTR_SIZE;
#endif

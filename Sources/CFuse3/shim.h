#ifndef PEERNET_CFUSE3_SHIM_H
#define PEERNET_CFUSE3_SHIM_H
// The low-level header refuses to compile without an API version.
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
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
#endif

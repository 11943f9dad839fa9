/*
 * startmethod/startmethod.h - how a child comes to run its target, private
 * side. process.c describes the child in a child_spec and asks one of the
 * three start methods for it; each returns the pid, a pidfd to signal it
 * and a sentinel that becomes readable when it ends.
 *
 *   fork.c        fork(); the child runs the target from the copy it has.
 *   spawn.c       exec the program afresh; the spec travels over a socket.
 *   forkserver.c  a server (a fresh exec) forks children on request and
 *                 reports their exit status through a pipe per child.
 *   locate.c      a target as (loaded object, offset, build id), and back.
 *   bootstrap.c   the spec's wire form, and the constructor that catches a
 *                 spawn child or a forkserver before the program's main.
 */
#ifndef MPROC_STARTMETHOD_H
#define MPROC_STARTMETHOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mproc/common.h"
#include "mproc/process.h"

/* A target as another execution of the same program can find it again. */
struct mproc__target_loc {
    char *object;         /* "" for the main executable, else its path */
    uint64_t offset;      /* from the object's load address */
    uint8_t build_id[64]; /* GNU build id, if the object has one */
    uint32_t build_id_len;
};

/* Everything a child needs to become the process the parent created. */
struct mproc__child_spec {
    char *name;     /* the child's name */
    char *identity; /* "2" or "2:1": its place in the process tree */
    bool daemon;
    int log_level; /* the parent's logger level, for exec'd children */
    pid_t parent_pid;
    char *parent_name;
    mproc_target target; /* fork: the pointer; others: resolved from loc */
    struct mproc__target_loc loc;
    void *arg;
    size_t arg_len;
    void *authkey; /* the child's authkey (Process.authkey) */
    size_t authkey_len;
};

/* What a start method hands back: all descriptors close-on-exec. */
struct mproc__started {
    pid_t pid;
    int pidfd;    /* for signals (and reaping, unless forkserver) */
    int sentinel; /* readable at the end: the pidfd, or a status pipe */
};

/* locate.c */
int mproc__target_locate(mproc_target fn, struct mproc__target_loc *out);
int mproc__target_resolve(const struct mproc__target_loc *loc,
                          mproc_target *fn);
void mproc__target_loc_clear(struct mproc__target_loc *loc);

/* bootstrap.c: the spec on the wire (checked like peer data on decode). */
int mproc__spec_encode(const struct mproc__child_spec *spec, mproc_buf *out);
int mproc__spec_decode(const void *data, size_t len,
                       struct mproc__child_spec *out);
void mproc__spec_clear(struct mproc__child_spec *spec);
/* Send an encoded spec with descriptors attached; receive one (at most
 * MPROC__SPEC_MAX bytes, up to max_fds descriptors). */
int mproc__spec_send(int fd, const mproc_buf *wire, const int *fds,
                     size_t nfds);
int mproc__spec_recv(int fd, struct mproc__child_spec *out, int *fds,
                     size_t max_fds, size_t *nfds);
#define MPROC__SPEC_MAX ((uint64_t)1 << 36)

/* A spawn child or the forkserver is marked by MPROC_BOOT=spawn|forkserver
 * in its environment; its channel to the parent is fd 3 and, for a spawn
 * child, the parent's pidfd is fd 4. */
#define MPROC__BOOT_ENV "MPROC_BOOT"
#define MPROC__BOOT_FD 3
#define MPROC__PARENT_FD 4

/* The three methods. Each returns 0 or a negative code; on failure no
 * child is left running and no descriptor is left open. */
int mproc__start_fork(const struct mproc__child_spec *spec, int parent_pidfd,
                      struct mproc__started *out);
int mproc__start_spawn(const struct mproc__child_spec *spec, int parent_pidfd,
                       struct mproc__started *out);
int mproc__start_forkserver(const struct mproc__child_spec *spec,
                            int parent_pidfd, struct mproc__started *out);

/* spawn.c: execute the program afresh (mproc_set_executable's binary)
 * marked with MPROC_BOOT=mode; fds[i] becomes fd i in it (-1: /dev/null).
 * Returns the pid, its pidfd in *pidfd, or a negative code. */
pid_t mproc__exec_self(const char *mode, const int *fds, int nfds, int *pidfd);

/* The two entries the constructor dispatches to; neither returns. */
_Noreturn void mproc__spawn_child_main(int boot_fd);
_Noreturn void mproc__forkserver_main(int sock);

/* The exit status a forkserver child reports when the server is gone
 * before telling it: Python's choice. */
#define MPROC__EXITCODE_LOST 255

#endif /* MPROC_STARTMETHOD_H */

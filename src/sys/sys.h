/*
 * sys/sys.h - the contract of the kernel layer: the only code in src/ that
 * creates descriptors, reads clocks, or talks to the kernel's process and
 * signal interfaces.
 *
 * Every descriptor this layer creates is close-on-exec and never lands on
 * 0-2 unless the caller asks for exactly that fd (child-side dup2). Every
 * blocking call resumes after EINTR with the time that is left. Functions
 * return 0 (or a descriptor/count) on success and -errno or an MPROC_E*
 * code on failure; errno is never a channel.
 *
 * Fork: nothing in this layer holds a lock across calls, so every function
 * may be used in a forked child. Functions marked "child side" are
 * async-signal-safe and may run between fork and exec.
 */
#ifndef MPROC_SYS_H
#define MPROC_SYS_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "mproc/common.h"

/* ---- clock.c: monotonic time and deadlines ------------------------------ */

/* An absolute point on CLOCK_MONOTONIC, or "never". */
struct mproc__deadline {
    int64_t at_ns;
    bool forever;
};

int64_t mproc__now_ns(void);
/* Turn a public timeout into a deadline: MPROC_EINVAL for NaN; any negative
 * value or +inf is forever. Computed once, at the entry of a blocking call. */
static inline int
mproc__deadline_init(struct mproc__deadline *dl, double timeout)
{
    if (timeout != timeout) /* NaN */
        return MPROC_EINVAL;
    /* Beyond ~292 years an int64 of nanoseconds overflows: call it forever. */
    dl->forever = timeout < 0 || timeout > 9.0e9;
    dl->at_ns = dl->forever ? 0 : mproc__now_ns() + (int64_t)(timeout * 1e9);
    return 0;
}
/* Milliseconds left, rounded up, for poll(): -1 when forever, 0 when past. */
int mproc__deadline_ms_left(const struct mproc__deadline *dl);
bool mproc__deadline_passed(const struct mproc__deadline *dl);
/* The time left as a public timeout, to hand a deadline on to a call that
 * takes one: MPROC_FOREVER when forever, 0 when past. */
double mproc__deadline_seconds_left(const struct mproc__deadline *dl);
/* Spin until ready(arg) says so or limit_ns passed, yielding the CPU every
 * few pauses (for one CPU's sake): whether it did. */
bool mproc__spin(bool (*ready)(const void *arg), const void *arg,
                 int64_t limit_ns);

/* ---- fd.c: descriptors, all close-on-exec ---------------------------------
 */

int mproc__pipe(int fds[2]);
int mproc__socketpair(int fds[2]);
int mproc__open(const char *path, int flags, unsigned mode);
int mproc__dup(int fd);
int mproc__epoll_create(void);
/* An anonymous memory file (memfd, no name in any file system) of `size`
 * bytes, sparse until touched: the descriptor, or -errno. */
int mproc__memfd(const char *name, uint64_t size);
/* A non-blocking eventfd (a counter to wake a poll()): the descriptor, or
 * -errno. */
int mproc__eventfd(void);
/* A pair of connected AF_UNIX SOCK_SEQPACKET sockets (message boundaries
 * kept, EOF when every holder of the other end has closed it). */
int mproc__seqpacket_pair(int fds[2]);
/* shm_open(3) as glibc does it: open /dev/shm/<name> (name: no '/') with
 * O_NOFOLLOW; mode applies with O_CREAT. The descriptor, or -errno. */
int mproc__shm_open(const char *name, int flags, unsigned mode);
/* Close and forget; never retried on EINTR (the fd is gone either way). */
void mproc__close(int *fd);
/* Child side: move fd onto target, keeping close-on-exec as asked. */
int mproc__dup_to(int fd, int target, bool cloexec);
/* Child side: close every descriptor from `first` up. */
void mproc__close_from(int first);
/* Child side: make fd 0 read /dev/null (Python's children do the same). */
int mproc__stdin_to_devnull(void);
/* Wait until fd is readable or the deadline passes: 0 or MPROC_ETIMEDOUT. */
int mproc__wait_readable(int fd, const struct mproc__deadline *dl);
/* Whether fd is readable right now. */
bool mproc__is_readable(int fd);
/* Whether the peer of a stream socket hung up (or the socket failed):
 * one poll that does not wait. */
bool mproc__peer_gone(int fd);
/* Read exactly len bytes: 0, MPROC_EEOF when the peer closed first. */
int mproc__read_full(int fd, void *buf, size_t len);
/* Write all of buf to a socket without ever raising SIGPIPE. */
int mproc__send_full(int sock, const void *buf, size_t len);
/* A socket of `type` (SOCK_STREAM, optionally | SOCK_NONBLOCK) in
 * `domain`: the descriptor, or -errno. */
int mproc__socket(int domain, int type);
/* Accept one connection on a listening socket, without waiting when the
 * socket is non-blocking: the new descriptor (blocking), or -EAGAIN when
 * none is pending, or -errno. The peer's address goes to addr/len when
 * addr is not NULL. */
int mproc__accept(int sock, struct sockaddr *addr, socklen_t *len);
/* Connect a fresh socket before the deadline and leave it blocking: 0,
 * MPROC_ETIMEDOUT, or -errno (-ECONNREFUSED, -ENOENT ...). A connect that a
 * signal or the non-blocking mode leaves in progress is completed with
 * poll; a Unix connect waiting for room in a full backlog is bounded by the
 * deadline through SO_SNDTIMEO. */
int mproc__connect(int sock, const struct sockaddr *addr, socklen_t len,
                   const struct mproc__deadline *dl);
/* The most descriptors one message carries (mproc__send_fds,
 * mproc__recv_fds): the forkserver's 3 plus the arena's segments. */
#define MPROC__FDS_MAX 32
/* Send len bytes (at least 1) with nfds (at most MPROC__FDS_MAX)
 * descriptors attached. */
int mproc__send_fds(int sock, const void *buf, size_t len, const int *fds,
                    size_t nfds);
/* Receive exactly len bytes; descriptors that came with them (up to
 * max_fds, close-on-exec) go to fds, their count to *nfds; any beyond
 * max_fds are closed and the call fails with MPROC_EPROTOCOL. */
int mproc__recv_fds(int sock, void *buf, size_t len, int *fds, size_t max_fds,
                    size_t *nfds);

/* ---- pidfd.c and proc.c: processes ----------------------------------------
 */

int mproc__pidfd_open(pid_t pid);
/* This process's pid, cached (reset in a forked child). */
pid_t mproc__self_pid(void);
/* A pidfd of this process, opened once and kept (close-on-exec): the one
 * every child is given to watch its parent. -errno if it cannot open. A
 * child made by mproc__fork() keeps its inherited copy open under the same
 * number; any other fork's child has it closed. */
int mproc__self_pidfd(void);
/* Used by mproc__fork() only: mark the calling thread as forking. */
void mproc__mark_fork(bool on);
/* 0 when sent or the process has already ended; -errno otherwise. */
int mproc__pidfd_signal(int pidfd, int sig);
/* Reap a child through its pidfd without blocking: 0 and its Python-style
 * exit code (n, or -signal), -EAGAIN while it runs, -errno otherwise. */
int mproc__pidfd_reap(int pidfd, int *exitcode);
/* fork(): the child's pid and its pidfd in *pidfd; 0 in the child;
 * -errno when no child is left running. */
pid_t mproc__fork(int *pidfd);
/* Exec `path` with argv/envp; child_fds[i] becomes fd i for i in
 * 0..nfds-1 (MPROC__SPAWN_DEVNULL: /dev/null), every other descriptor is
 * closed, the signal mask is emptied. Returns the pid and its pidfd in
 * *pidfd, or -errno (the exec's own failure too). */
#define MPROC__SPAWN_DEVNULL (-1)
#define MPROC__SPAWN_INHERIT (-2)
pid_t mproc__spawn(const char *path, char *const argv[], char *const envp[],
                   const int *child_fds, int nfds, int *pidfd);
/* A program for subprocess: as mproc__spawn, with stdio[i] onto fd i
 * (MPROC__SPAWN_INHERIT: the parent's), keep[] staying open at their
 * numbers, the rest closed only with close_rest; PATH searched with
 * search; cwd (NULL: this one), setsid, setpgid(0, pgroup); SIGPIPE and
 * SIGXFSZ at their defaults. */
struct mproc__spawn_spec {
    const char *path;
    bool search;
    char *const *argv, *const *envp;
    int stdio[3];
    const int *keep;
    size_t nkeep;
    bool close_rest;
    const char *cwd;
    bool setsid, setpgroup;
    pid_t pgroup;
};
pid_t mproc__spawn_program(const struct mproc__spawn_spec *s, int *pidfd);
/* Reap the child pid if it ended, without waiting: 0, -EAGAIN (still
 * running), or -errno (ECHILD: not a child, or reaped already). */
int mproc__reap_nohang(pid_t pid);
/* A process outside this one's session and process group that is not its
 * child (fork, setsid, fork again; the middle process is reaped before
 * this returns). Made with _Fork: no atfork handler runs in it, so it may
 * only make async-signal-safe calls until it exits with _exit. Returns 0
 * in that process; in the caller 1 once it exists, or -errno. */
int mproc__fork_detached(void);
/* Fill buf with n bytes from the kernel's random source (getrandom):
 * 0, or -errno. */
int mproc__random_bytes(void *buf, size_t n);
/* The CPUs this process may run on (affinity), at least 1. */
int mproc__cpu_count(void);
/* The threads this process runs now (1 when alone), or -errno. */
int mproc__thread_count(void);

/* ---- sig.c: signals -------------------------------------------------------
 */

/* Block every signal in the calling thread; the old mask goes to *old. */
void mproc__sig_block_all(sigset_t *old);
void mproc__sig_restore(const sigset_t *old);
/* Ignore, or restore the default action of, one signal (forkserver). */
void mproc__sig_ignore(int sig);
void mproc__sig_default(int sig);
/* writev() to a pipe without SIGPIPE: the signal is blocked in the calling
 * thread only and, if the write raised it (and it was not pending before),
 * consumed before the mask is restored. Returns as writev, errno set. */
ssize_t mproc__writev_nosigpipe(int fd, const struct iovec *iov, int iovcnt);
/* Kill the calling process with SIGKILL. */
_Noreturn void mproc__sig_kill_self(void);

/* ---- atfork.c: the library's one set of fork handlers ---------------------
 */

/* Register handlers run around every fork() in the process: prepare in
 * registration order, parent and child in reverse. Any may be NULL. At most
 * MPROC__ATFORK_MAX registrations. */
#define MPROC__ATFORK_MAX 16
void mproc__atfork(void (*prepare)(void), void (*parent)(void),
                   void (*child)(void));

/* ---- futex.c: process-shared futex words and holder identity -------------
 */

/* Sleep while *word == expected, until a wake or deadline_ns (absolute,
 * CLOCK_MONOTONIC; negative: forever). Shared, never private. Returns 0 for
 * a wake, a changed word, a signal or a spurious return (re-read the word),
 * MPROC_ETIMEDOUT when the deadline passed, or -errno. */
int mproc__futex_wait(_Atomic uint32_t *word, uint32_t expected,
                      int64_t deadline_ns);
/* Wake up to n waiters of word (INT_MAX: all). */
void mproc__futex_wake(_Atomic uint32_t *word, int n);
/* A deadline as mproc__futex_wait takes it (-1 for forever); and the
 * earlier of the deadline and now + slice_ns (waits that look at a
 * holder's health every slice). */
int64_t mproc__deadline_ns(const struct mproc__deadline *dl);
int64_t mproc__slice_ns(const struct mproc__deadline *dl, int64_t slice_ns);
/* This process's start time (low 32 bits of field 22 of /proc/self/stat),
 * cached; reset in a forked child. */
uint32_t mproc__self_start_time(void);
/* This process as a lock holder: start time << 32 | pid, cached (reset in
 * a forked child); one load on the hot path. */
extern uint64_t mproc__self_holder_cache;
uint64_t mproc__self_holder_slow(void);
static inline uint64_t
mproc__self_holder(void)
{
    uint64_t w = __atomic_load_n(&mproc__self_holder_cache, __ATOMIC_RELAXED);

    return w != 0 ? w : mproc__self_holder_slow();
}
/* The calling thread's tid and start time, cached per thread (a forked
 * child's thread reads its own). */
void mproc__self_thread(pid_t *tid, uint32_t *start);
/* How many forks stand between this process and the library's first use
 * of it (bumped in every forked child): state kept per process, such as
 * connections, belongs to the generation that made it. */
unsigned mproc__fork_generation(void);
/* Whether the process (or thread) pid that started at `start` is gone:
 * kill(pid, 0) says it does not exist or, when thorough, /proc says it is
 * a zombie or the pid now names a process with another start time. Costs
 * one syscall, plus an open/read/close of /proc when thorough. */
bool mproc__holder_is_dead(pid_t pid, uint32_t start, bool thorough);

/* A robust, process-shared mutex for short critical sections over shared
 * state: 0 or -errno. */
int mproc__shared_mutex_init(pthread_mutex_t *mu);
/* Lock it; true when its previous holder died holding it (the mutex is
 * made consistent: the caller repairs what it guards). */
bool mproc__shared_mutex_lock(pthread_mutex_t *mu);

#endif /* MPROC_SYS_H */

/*
 * sys/futex.c - process-shared futex waits and wakes, and the identity of
 * a process (or thread) that a lock word names as its holder.
 *
 * Every wait is shared (no FUTEX_PRIVATE_FLAG: the words live in memory
 * that several processes map) and takes an absolute CLOCK_MONOTONIC
 * deadline (FUTEX_WAIT_BITSET), so an EINTR or a spurious wake-up never
 * stretches the total. A wait returns 0 for a wake, a value that had
 * already changed (EAGAIN) and a signal (EINTR) alike: every caller
 * re-reads its word and decides, so none needs to tell them apart.
 *
 * Holder identity: a lock stores the holder's pid (or tid) and the low 32
 * bits of its start time (field 22 of /proc/<pid>/stat, in clock ticks since
 * boot), so a pid the kernel reused for another process is not taken for
 * the holder. Both are cached: per process (reset in a forked child) and
 * per thread (keyed by a fork generation, so a forked child's thread reads
 * its own). Cost: one read of /proc per process or thread, on its first
 * use; then none.
 */
#include "sys/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int
mproc__futex_wait(_Atomic uint32_t *word, uint32_t expected,
                  int64_t deadline_ns)
{
    struct timespec at, *timeout = NULL;
    long rc;

    if (deadline_ns >= 0) {
        at.tv_sec = (time_t)(deadline_ns / 1000000000);
        at.tv_nsec = (long)(deadline_ns % 1000000000);
        timeout = &at;
    }
    /* With FUTEX_WAIT_BITSET the timeout is absolute, on CLOCK_MONOTONIC
     * unless FUTEX_CLOCK_REALTIME is given. */
    rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expected,
                 timeout, NULL, FUTEX_BITSET_MATCH_ANY);
    if (rc == 0 || errno == EAGAIN || errno == EINTR)
        return 0;
    if (errno == ETIMEDOUT)
        return MPROC_ETIMEDOUT;
    return -errno;
}

void
mproc__futex_wake(_Atomic uint32_t *word, int n)
{
    (void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

int64_t
mproc__deadline_ns(const struct mproc__deadline *dl)
{
    return dl->forever ? -1 : dl->at_ns;
}

int64_t
mproc__slice_ns(const struct mproc__deadline *dl, int64_t slice_ns)
{
    int64_t end = mproc__now_ns() + slice_ns;

    return !dl->forever && dl->at_ns < end ? dl->at_ns : end;
}

/* ---- holder identity ---------------------------------------------------- */

/* Parse /proc/<path>/stat: the state letter and the start time (field 22).
 * Returns false when the process (or thread) does not exist. */
static bool
read_stat(const char *path, char *state, uint64_t *start)
{
    char buf[1024];
    const char *p;
    ssize_t n;
    int fd;

    fd = mproc__open(path, O_RDONLY, 0);
    if (fd < 0)
        return false;
    do
        n = read(fd, buf, sizeof(buf) - 1);
    while (n < 0 && errno == EINTR);
    mproc__close(&fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* The name (field 2) may hold spaces and parentheses: skip to the last
     * ')'. Then field 3 is the state and field 22 the start time. */
    p = strrchr(buf, ')');
    if (p == NULL || sscanf(p + 1, " %c", state) != 1)
        return false;
    for (int field = 2; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (p == NULL)
            return false;
    }
    *start = strtoull(p + 1, NULL, 10);
    return true;
}

static uint32_t
start_time_of(const char *path)
{
    uint64_t start = 0;
    char state;

    if (!read_stat(path, &state, &start))
        return 0;
    return (uint32_t)start;
}

/* Bumped in every forked child: a thread's cached tid and start time are
 * valid only for the generation that cached them. */
static atomic_uint fork_generation = 1;
static uint32_t self_start;
static pthread_once_t identity_once = PTHREAD_ONCE_INIT;

static _Thread_local struct {
    unsigned generation;
    pid_t tid;
    uint32_t start;
} self_thread __attribute__((tls_model("initial-exec")));

uint64_t mproc__self_holder_cache;

static void
identity_atfork_child(void)
{
    self_start = 0;
    __atomic_store_n(&mproc__self_holder_cache, 0, __ATOMIC_RELAXED);
    atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

static void
identity_init(void)
{
    mproc__atfork(NULL, NULL, identity_atfork_child);
}

unsigned
mproc__fork_generation(void)
{
    pthread_once(&identity_once, identity_init);
    return atomic_load_explicit(&fork_generation, memory_order_relaxed);
}

uint32_t
mproc__self_start_time(void)
{
    uint32_t start = __atomic_load_n(&self_start, __ATOMIC_RELAXED);

    if (start == 0) {
        pthread_once(&identity_once, identity_init);
        start = start_time_of("/proc/self/stat");
        __atomic_store_n(&self_start, start, __ATOMIC_RELAXED);
    }
    return start;
}

uint64_t
mproc__self_holder_slow(void)
{
    uint64_t w =
        (uint64_t)mproc__self_start_time() << 32 | (uint32_t)mproc__self_pid();

    __atomic_store_n(&mproc__self_holder_cache, w, __ATOMIC_RELAXED);
    return w;
}

void
mproc__self_thread(pid_t *tid, uint32_t *start)
{
    unsigned gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);

    if (self_thread.generation != gen) {
        char path[64];

        pthread_once(&identity_once, identity_init);
        self_thread.tid = gettid();
        snprintf(path, sizeof(path), "/proc/self/task/%d/stat",
                 (int)self_thread.tid);
        self_thread.start = start_time_of(path);
        self_thread.generation = gen;
    }
    *tid = self_thread.tid;
    *start = self_thread.start;
}

bool
mproc__holder_is_dead(pid_t pid, uint32_t start, bool thorough)
{
    char path[64], state;
    uint64_t now_start;

    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    if (!thorough)
        return false;
    /* /proc/<tid> names threads too (hidden from listings). */
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!read_stat(path, &state, &now_start))
        return true;
    if (state == 'Z' || state == 'X')
        return true; /* dead, not yet reaped */
    return start != 0 && (uint32_t)now_start != start; /* pid reused */
}

/* ---- robust process-shared mutexes -------------------------------------- */

int
mproc__shared_mutex_init(pthread_mutex_t *mu)
{
    pthread_mutexattr_t attr;
    int rc;

    rc = pthread_mutexattr_init(&attr);
    if (rc == 0)
        rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutex_init(mu, &attr);
    (void)pthread_mutexattr_destroy(&attr);
    return -rc;
}

bool
mproc__shared_mutex_lock(pthread_mutex_t *mu)
{
    if (pthread_mutex_lock(mu) != EOWNERDEAD)
        return false;
    pthread_mutex_consistent(mu);
    return true;
}

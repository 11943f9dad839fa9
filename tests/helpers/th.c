/*
 * tests/helpers/th.c - see th.h.
 */
#include "helpers/th.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int baseline_fds;

double
th_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
th_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static bool
is_forkserver(const char *pid)
{
    char path[64], env[65536];
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%s/environ", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    n = fread(env, 1, sizeof(env) - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i += strlen(env + i) + 1)
        if (strcmp(env + i, "MPROC_BOOT=forkserver") == 0)
            return true;
    return false;
}

/* The parent pid of process `pid`, from /proc/pid/stat, or -1. */
static pid_t
parent_of(const char *pid)
{
    char path[300], stat[1024];
    const char *close_paren;
    char state;
    int ppid;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[n] = '\0';
    close_paren = strrchr(stat, ')'); /* the name may hold spaces */
    if (close_paren == NULL ||
        sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return ppid;
}

/* Call fn on each child pid of this process; stop when it returns true.
 * Scans /proc rather than task/children, which the kernel documents as
 * unreliable while processes come and go. */
static void
each_child(bool (*fn)(const char *pid, void *ctx), void *ctx)
{
    pid_t self = getpid();
    struct dirent *e;
    DIR *d;

    d = opendir("/proc");
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        if (parent_of(e->d_name) == self && fn(e->d_name, ctx))
            break;
    }
    closedir(d);
}

static bool
count_other(const char *pid, void *ctx)
{
    if (!is_forkserver(pid))
        ++*(int *)ctx;
    return false;
}

int
th_child_count(void)
{
    int count = 0;

    each_child(count_other, &count);
    return count;
}

static bool
find_server(const char *pid, void *ctx)
{
    if (!is_forkserver(pid))
        return false;
    *(pid_t *)ctx = (pid_t)atoi(pid);
    return true;
}

pid_t
th_forkserver_pid(void)
{
    pid_t pid = 0;

    each_child(find_server, &pid);
    return pid;
}

void
th_begin(void)
{
    /* The forkserver's socket and pidfd, and the pidfd children get of
     * their parent, are process-lifetime state: create them before the
     * baseline by starting one process under the forkserver. */
    cr_assert_eq(
        th_run(th_return_zero, NULL, 0,
               &(mproc_process_opts){ .start_method = MPROC_START_FORKSERVER }),
        0);
    baseline_fds = th_fd_count();
}

void
th_begin_shm(void)
{
    mproc_shm *s = NULL;

    cr_assert_eq(mproc_shm_new(&s, NULL, true, 1, NULL), 0);
    cr_assert_eq(mproc_shm_unlink(s), 0);
    mproc_shm_free(s);
    th_begin();
}

void
th_end(void)
{
    mproc_process **kids = NULL;
    size_t n = 0;

    cr_assert_eq(mproc_active_children(&kids, &n), 0);
    mproc_free(kids);
    cr_assert_eq(n, 0, "%zu children still active", n);
    cr_assert_eq(th_child_count(), 0, "a child is left running or unreaped");
    cr_assert_eq(th_fd_count(), baseline_fds, "descriptors leaked: %d vs %d",
                 th_fd_count(), baseline_fds);
}

static void
on_usr1(int sig)
{
    (void)sig;
}

static void *
storm_run(void *arg)
{
    struct th_storm *s = arg;
    struct pollfd pf = { .fd = s->stop[0], .events = POLLIN };

    while (poll(&pf, 1, 5) == 0)
        pthread_kill(s->target, SIGUSR1);
    return NULL;
}

void
th_storm_start(struct th_storm *s)
{
    struct sigaction sa = { .sa_handler = on_usr1 }; /* no SA_RESTART */

    cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    s->target = pthread_self();
    cr_assert_eq(pipe(s->stop), 0);
    cr_assert_eq(pthread_create(&s->thread, NULL, storm_run, s), 0);
}

void
th_storm_stop(struct th_storm *s)
{
    cr_assert_eq(write(s->stop[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    close(s->stop[0]);
    close(s->stop[1]);
}

int
th_return_zero(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return 0;
}

void
th_slow_block_forever(void)
{
    int fds[2];
    struct pollfd p;

    if (pipe(fds) < 0)
        _exit(99);
    p = (struct pollfd){ .fd = fds[0], .events = POLLIN };
    for (;;)
        (void)poll(&p, 1, -1);
}

mproc_process *
th_start(mproc_target target, const void *arg, size_t len,
         const mproc_process_opts *opts)
{
    mproc_process *p = NULL;

    cr_assert_eq(mproc_process_new(&p, target, arg, len, opts), 0);
    cr_assert_eq(mproc_process_start(p), 0);
    return p;
}

mproc_process *
th_start_daemon(mproc_target target, const void *arg, size_t len,
                enum mproc_start_method m)
{
    return th_start(target, arg, len,
                    &(mproc_process_opts){ .start_method = m, .daemon = true });
}

int
th_join(mproc_process *p, double timeout)
{
    int code;

    cr_assert_eq(mproc_process_join(p, timeout), 0);
    code = mproc_process_exitcode(p);
    mproc_process_free(p);
    return code;
}

int
th_run(mproc_target target, const void *arg, size_t len,
       const mproc_process_opts *opts)
{
    mproc_process *p = th_start(target, arg, len, opts);
    int code;

    cr_assert_eq(mproc_process_join(p, MPROC_FOREVER), 0);
    code = mproc_process_exitcode(p);
    mproc_process_free(p);
    return code;
}

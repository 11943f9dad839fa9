/*
 * context.c - start methods: Python's set_start_method, get_start_method,
 * get_all_start_methods, set_executable and freeze_support.
 *
 * A Python context is the start-method enum carried in options structs; the
 * process-wide default lives here in atomics (not a mutex), so a fork in
 * another thread can never leave it locked in the child.
 */
#include "context.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys/sys.h"

static atomic_int default_method = MPROC_START_FORK;
static atomic_bool method_fixed; /* set, or used by a start */

static pthread_mutex_t exe_mu = PTHREAD_MUTEX_INITIALIZER;
static char *exe_path; /* NULL: the running program */
static pthread_once_t exe_once = PTHREAD_ONCE_INIT;

/* A thread may hold exe_mu at fork: the child gets a fresh one. */
static void
exe_atfork_child(void)
{
    pthread_mutex_init(&exe_mu, NULL);
}

static void
exe_init(void)
{
    mproc__atfork(NULL, NULL, exe_atfork_child);
}

static void
exe_lock(void)
{
    pthread_once(&exe_once, exe_init);
    pthread_mutex_lock(&exe_mu);
}

static bool
is_real_method(enum mproc_start_method m)
{
    return m == MPROC_START_FORK || m == MPROC_START_SPAWN ||
           m == MPROC_START_FORKSERVER;
}

int
mproc_set_start_method(enum mproc_start_method method, bool force)
{
    if (!is_real_method(method))
        return MPROC_EINVAL;
    if (atomic_exchange(&method_fixed, true) && !force)
        return MPROC_ESTATE;
    atomic_store(&default_method, method);
    return 0;
}

enum mproc_start_method
mproc_get_start_method(void)
{
    return (enum mproc_start_method)atomic_load(&default_method);
}

enum mproc_start_method
mproc__start_method_resolve(enum mproc_start_method m)
{
    if (m != MPROC_START_DEFAULT)
        return m;
    atomic_store(&method_fixed, true);
    return mproc_get_start_method();
}

size_t
mproc_get_all_start_methods(
    enum mproc_start_method out[MPROC_START_METHOD_COUNT])
{
    static const enum mproc_start_method all[MPROC_START_METHOD_COUNT] = {
        MPROC_START_FORK, MPROC_START_SPAWN, MPROC_START_FORKSERVER
    };
    enum mproc_start_method first = mproc_get_start_method();
    size_t n = 0;

    if (out != NULL) {
        out[n++] = first;
        for (size_t i = 0; i < MPROC_START_METHOD_COUNT; i++)
            if (all[i] != first)
                out[n++] = all[i];
    }
    return MPROC_START_METHOD_COUNT;
}

const char *
mproc_start_method_name(enum mproc_start_method method)
{
    switch (method) {
    case MPROC_START_DEFAULT:
        return "default";
    case MPROC_START_FORK:
        return "fork";
    case MPROC_START_SPAWN:
        return "spawn";
    case MPROC_START_FORKSERVER:
        return "forkserver";
    }
    return "unknown";
}

int
mproc_start_method_from_name(const char *name, enum mproc_start_method *out)
{
    static const enum mproc_start_method all[] = { MPROC_START_FORK,
                                                   MPROC_START_SPAWN,
                                                   MPROC_START_FORKSERVER };

    if (name == NULL || out == NULL)
        return MPROC_EINVAL;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(name, mproc_start_method_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return MPROC_EINVAL;
}

int
mproc_set_executable(const char *path)
{
    struct stat st;
    char *copy = NULL;

    if (path != NULL) {
        if (stat(path, &st) < 0)
            return -errno;
        if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
            return -EACCES;
        copy = strdup(path);
        if (copy == NULL)
            return MPROC_ENOMEM;
    }
    exe_lock();
    free(exe_path);
    exe_path = copy;
    pthread_mutex_unlock(&exe_mu);
    return 0;
}

int
mproc__executable(char *buf, size_t size)
{
    const char *path;
    int rc = 0;

    exe_lock();
    path = exe_path != NULL ? exe_path : "/proc/self/exe";
    if (strlen(path) >= size)
        rc = MPROC_ETOOBIG;
    else
        strcpy(buf, path);
    pthread_mutex_unlock(&exe_mu);
    return rc;
}

void
mproc_freeze_support(void)
{
}

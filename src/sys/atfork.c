/*
 * sys/atfork.c - one registry of fork handlers for the whole library.
 *
 * Modules register here instead of calling pthread_atfork themselves, so the
 * order is written down in one place: prepare handlers run in registration
 * order (which is the library's lock order), parent and child handlers in
 * reverse. Registration happens from pthread_once initialisers only.
 *
 * A module may register while another thread forks. An entry is filled
 * before `count` publishes it (release/acquire), and a fork runs the parent
 * and child handlers of exactly the entries its prepare ran: the count is
 * snapshotted per thread, since the thread that forks is the one that
 * runs all three.
 */
#include "sys/sys.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct handlers {
    void (*prepare)(void);
    void (*parent)(void);
    void (*child)(void);
};

static struct handlers table[MPROC__ATFORK_MAX];
static atomic_int count;
static _Thread_local int forking_count
    __attribute__((tls_model("initial-exec")));
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t installed = PTHREAD_ONCE_INIT;

static void
run_prepare(void)
{
    forking_count = atomic_load_explicit(&count, memory_order_acquire);
    for (int i = 0; i < forking_count; i++)
        if (table[i].prepare != NULL)
            table[i].prepare();
}

static void
run_parent(void)
{
    for (int i = forking_count - 1; i >= 0; i--)
        if (table[i].parent != NULL)
            table[i].parent();
}

static void
run_child(void)
{
    for (int i = forking_count - 1; i >= 0; i--)
        if (table[i].child != NULL)
            table[i].child();
}

static void
install(void)
{
    (void)pthread_atfork(run_prepare, run_parent, run_child);
}

void
mproc__atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    int n;

    pthread_once(&installed, install);
    pthread_mutex_lock(&table_mu);
    n = atomic_load_explicit(&count, memory_order_relaxed);
    if (n == MPROC__ATFORK_MAX)
        abort(); /* a library bug: raise MPROC__ATFORK_MAX */
    table[n] = (struct handlers){ prepare, parent, child };
    atomic_store_explicit(&count, n + 1, memory_order_release);
    pthread_mutex_unlock(&table_mu);
}

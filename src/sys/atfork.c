/*
 * sys/atfork.c - one registry of fork handlers for the whole library.
 *
 * Modules register here instead of calling pthread_atfork themselves, so the
 * order is written down in one place: prepare handlers run in registration
 * order (which is the library's lock order), parent and child handlers in
 * reverse. Registration happens from pthread_once initialisers only.
 */
#include "sys/sys.h"

#include <pthread.h>
#include <stdlib.h>

struct handlers {
    void (*prepare)(void);
    void (*parent)(void);
    void (*child)(void);
};

static struct handlers table[MPROC__ATFORK_MAX];
static int count;
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t installed = PTHREAD_ONCE_INIT;

static void
run_prepare(void)
{
    for (int i = 0; i < count; i++)
        if (table[i].prepare != NULL)
            table[i].prepare();
}

static void
run_parent(void)
{
    for (int i = count - 1; i >= 0; i--)
        if (table[i].parent != NULL)
            table[i].parent();
}

static void
run_child(void)
{
    for (int i = count - 1; i >= 0; i--)
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
    pthread_once(&installed, install);
    pthread_mutex_lock(&table_mu);
    if (count == MPROC__ATFORK_MAX)
        abort(); /* a library bug: raise MPROC__ATFORK_MAX */
    table[count++] = (struct handlers){ prepare, parent, child };
    pthread_mutex_unlock(&table_mu);
}

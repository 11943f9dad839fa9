/*
 * log.c - mproc_logger: Python's multiprocessing logger (get_logger,
 * log_to_stderr).
 *
 * One logger per process. The level is an atomic read on every call, so a
 * silent logger costs one load. A line is formatted on the stack and handed
 * over whole: to stderr with one write(2), so lines of several processes
 * sharing stderr never interleave. The handler and its context change
 * together under `mu`, which is reinitialised in a forked child (a thread
 * may have held it at fork).
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "process.h"
#include "sys/sys.h"

#define LINE_MAX_BYTES 4096

struct mproc_logger {
    atomic_int level;          /* NOTSET (0): silent */
    pthread_mutex_t mu;        /* guards handler and ctx */
    mproc_log_handler handler; /* NULL: stderr */
    void *ctx;
};

static struct mproc_logger logger = {
    .level = MPROC_LOG_NOTSET,
    .mu = PTHREAD_MUTEX_INITIALIZER,
};
static pthread_once_t logger_once = PTHREAD_ONCE_INIT;

static void
logger_atfork_child(void)
{
    pthread_mutex_init(&logger.mu, NULL);
}

static void
logger_init(void)
{
    mproc__atfork(NULL, NULL, logger_atfork_child);
}

mproc_logger *
mproc_get_logger(void)
{
    pthread_once(&logger_once, logger_init);
    return &logger;
}

mproc_logger *
mproc_log_to_stderr(int level)
{
    mproc_logger *lg = mproc_get_logger();

    (void)mproc_logger_set_handler(lg, NULL, NULL);
    if (level > MPROC_LOG_NOTSET)
        atomic_store(&lg->level, level);
    return lg;
}

int
mproc_logger_set_level(mproc_logger *lg, int level)
{
    if (lg == NULL || level < 0)
        return MPROC_EINVAL;
    atomic_store(&lg->level, level);
    return 0;
}

int
mproc_logger_level(const mproc_logger *lg)
{
    return lg == NULL ? MPROC_LOG_NOTSET : atomic_load(&lg->level);
}

int
mproc_logger_set_handler(mproc_logger *lg, mproc_log_handler handler, void *ctx)
{
    if (lg == NULL)
        return MPROC_EINVAL;
    pthread_mutex_lock(&lg->mu);
    lg->handler = handler;
    lg->ctx = ctx;
    pthread_mutex_unlock(&lg->mu);
    return 0;
}

static const char *
level_name(int level, char *buf, size_t size)
{
    switch (level) {
    case MPROC_LOG_SUBDEBUG:
        return "SUBDEBUG";
    case MPROC_LOG_DEBUG:
        return "DEBUG";
    case MPROC_LOG_INFO:
        return "INFO";
    case MPROC_LOG_SUBWARNING:
        return "SUBWARNING";
    case MPROC_LOG_WARNING:
        return "WARNING";
    case MPROC_LOG_ERROR:
        return "ERROR";
    case MPROC_LOG_CRITICAL:
        return "CRITICAL";
    default:
        snprintf(buf, size, "Level %d", level);
        return buf;
    }
}

static void
write_stderr(const char *line, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, line, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        line += n;
        len -= (size_t)n;
    }
}

void
mproc_logger_vlog(mproc_logger *lg, int level, const char *fmt, va_list ap)
{
    char line[LINE_MAX_BYTES];
    char name[256];
    char lvbuf[24];
    mproc_log_handler handler;
    void *ctx;
    int threshold;
    int n, m;

    if (lg == NULL || fmt == NULL)
        return;
    threshold = atomic_load(&lg->level);
    if (threshold == MPROC_LOG_NOTSET || level < threshold)
        return;
    mproc__process_current_name(name, sizeof(name));
    n = snprintf(line, sizeof(line), "[%s/%s %d] ",
                 level_name(level, lvbuf, sizeof(lvbuf)), name,
                 (int)mproc__self_pid());
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    line[n] = '\0';

    pthread_mutex_lock(&lg->mu);
    handler = lg->handler;
    ctx = lg->ctx;
    pthread_mutex_unlock(&lg->mu);
    if (handler != NULL)
        handler(ctx, level, line);
    else
        write_stderr(line, (size_t)n);
}

void
mproc_logger_log(mproc_logger *lg, int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    mproc_logger_vlog(lg, level, fmt, ap);
    va_end(ap);
}

void
mproc__log(int level, const char *fmt, ...)
{
    va_list ap;

    if (atomic_load(&logger.level) == MPROC_LOG_NOTSET)
        return;
    va_start(ap, fmt);
    mproc_logger_vlog(mproc_get_logger(), level, fmt, ap);
    va_end(ap);
}

/**
 * @file log.h
 * The library's logger. Python: multiprocessing.get_logger(),
 * log_to_stderr(level), and the logger's level and log methods.
 *
 * One logger per process, silent until a level is set. Each line is written
 * with one write(2), so lines from many processes sharing stderr never mix:
 *
 *     [INFO/Process-1 4242] start
 *
 * that is the level, the current process's name and pid, the message.
 * The library logs its own events (a child starting its target, a process
 * exiting with its code, the exit-time join) at DEBUG and INFO.
 */
#ifndef MPROC_LOG_H
#define MPROC_LOG_H

#include <stdarg.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Levels, with Python's logging numbers. */
enum mproc_log_level {
    MPROC_LOG_NOTSET = 0,
    MPROC_LOG_SUBDEBUG = 5,
    MPROC_LOG_DEBUG = 10,
    MPROC_LOG_INFO = 20,
    MPROC_LOG_SUBWARNING = 25,
    MPROC_LOG_WARNING = 30,
    MPROC_LOG_ERROR = 40,
    MPROC_LOG_CRITICAL = 50,
};

/** The logger; one per process, owned by the library. */
typedef struct mproc_logger mproc_logger;

/**
 * Where a logger's lines go: `line` is one formatted line, ending in '\n',
 * valid during the call only.
 */
typedef void (*mproc_log_handler)(void *ctx, int level, const char *line);

/**
 * The library's logger, created silent (level NOTSET logs nothing, as the
 * multiprocessing logger without a handler).
 *
 * Python: multiprocessing.get_logger().
 *
 * Returns: the logger, owned by the library, valid for the life of the
 * process.
 *
 * Thread-safe: yes.  Fork: a child inherits the level and handler.
 */
MPROC_API mproc_logger *mproc_get_logger(void);

/**
 * Send the logger's lines to stderr and set its level.
 *
 * Python: multiprocessing.log_to_stderr(level).
 *
 * level  the least level logged; MPROC_LOG_NOTSET keeps the current one.
 *
 * Returns: the logger.
 *
 * Thread-safe: yes.
 */
MPROC_API mproc_logger *mproc_log_to_stderr(int level);

/**
 * Set the least level the logger writes; MPROC_LOG_NOTSET silences it.
 *
 * Python: logger.setLevel(level).
 *
 * Returns: 0, or MPROC_EINVAL for a NULL logger or a negative level.
 */
MPROC_API int mproc_logger_set_level(mproc_logger *lg, int level);

/**
 * The logger's level.
 *
 * Python: logger.level.
 *
 * Returns: the level; MPROC_LOG_NOTSET for NULL.
 */
MPROC_API int mproc_logger_level(const mproc_logger *lg);

/**
 * Send lines to a handler of the caller's instead of stderr.
 *
 * Python: logger.addHandler() (one handler; this replaces it).
 *
 * handler  the function, called from whichever thread logs; NULL restores
 *          stderr.
 * ctx      passed to it (borrowed for as long as it is installed).
 *
 * Returns: 0, or MPROC_EINVAL for a NULL logger.
 */
MPROC_API int mproc_logger_set_handler(mproc_logger *lg,
                                       mproc_log_handler handler, void *ctx);

/**
 * Log a printf-style message at `level`, if the logger's level allows.
 * A line longer than 4 KiB is cut at 4 KiB.
 *
 * Python: logger.log(level, msg), logger.info(msg), ...
 *
 * Returns: nothing.
 *
 * Thread-safe: yes.  Async-signal-safe: no.
 */
MPROC_API void mproc_logger_log(mproc_logger *lg, int level, const char *fmt,
                                ...) __attribute__((format(printf, 3, 4)));

/**
 * mproc_logger_log() with a va_list.
 *
 * Returns: nothing.
 */
MPROC_API void mproc_logger_vlog(mproc_logger *lg, int level, const char *fmt,
                                 va_list ap)
    __attribute__((format(printf, 3, 0)));

#ifdef __cplusplus
}
#endif

#endif /* MPROC_LOG_H */

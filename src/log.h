/*
 * log.h - the library's own logging, private side: library code logs
 * through mproc__log(), which costs one atomic load when the level is off.
 */
#ifndef MPROC_SRC_LOG_H
#define MPROC_SRC_LOG_H

#include "mproc/log.h"

void mproc__log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* MPROC_SRC_LOG_H */

/*
 * context.h - start-method choice and executable, private side.
 */
#ifndef MPROC_SRC_CONTEXT_H
#define MPROC_SRC_CONTEXT_H

#include <stddef.h>

#include "mproc/context.h"

/* The real method MPROC_START_DEFAULT stands for; using the default fixes
 * it (a later mproc_set_start_method without force is MPROC_ESTATE). */
enum mproc_start_method mproc__start_method_resolve(enum mproc_start_method m);

/* The binary spawn children and the forkserver execute (NUL-terminated;
 * MPROC_ETOOBIG if it does not fit). */
int mproc__executable(char *buf, size_t size);

#endif /* MPROC_SRC_CONTEXT_H */

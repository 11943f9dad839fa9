/*
 * process.h - Process, private side: what the start methods and the logger
 * need from process.c.
 */
#ifndef MPROC_SRC_PROCESS_H
#define MPROC_SRC_PROCESS_H

#include <stddef.h>

#include "mproc/process.h"
#include "startmethod/startmethod.h"

/* Copy the current process's name into buf (always NUL-terminated). */
void mproc__process_current_name(char *buf, size_t size);

/* Become the child `spec` describes and run its target; never returns.
 * parent_pidfd (adopted) names the parent, or is -1. */
_Noreturn void mproc__process_run_child(const struct mproc__child_spec *spec,
                                        int parent_pidfd);

#endif /* MPROC_SRC_PROCESS_H */

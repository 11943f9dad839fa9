/*
 * tests/helpers/thtarget.h - targets in a shared library (libthtarget.so).
 */
#ifndef THTARGET_H
#define THTARGET_H

#include <stddef.h>

#include <mproc.h>

/* Returns 42 when given the 5 bytes "hello", 1 otherwise. */
MPROC_API int thtarget_echo_len(const void *arg, size_t len);

#endif /* THTARGET_H */

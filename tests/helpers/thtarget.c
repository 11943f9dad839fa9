/*
 * tests/helpers/thtarget.c - targets that live in a shared library, so the
 * spawn and forkserver methods are tested on code outside the executable.
 */
#include "helpers/thtarget.h"

#include <string.h>

int
thtarget_echo_len(const void *arg, size_t len)
{
    /* The exit code proves the argument bytes arrived intact. */
    if (len == 5 && memcmp(arg, "hello", 5) == 0)
        return 42;
    return 1;
}

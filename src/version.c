/*
 * version.c - mproc_version(): the version the library was built as.
 */
#include "mproc/common.h"

#define MPROC__STR(x) #x
#define MPROC__XSTR(x) MPROC__STR(x)

const char *
mproc_version(void)
{
    return MPROC__XSTR(MPROC_VERSION_MAJOR) "." MPROC__XSTR(
        MPROC_VERSION_MINOR) "." MPROC__XSTR(MPROC_VERSION_PATCH);
}

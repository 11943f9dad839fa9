/*
 * buf.c - memory the library hands to callers: mproc_buf and the arrays
 * freed with mproc_free().
 */
#include <stdlib.h>

#include "mproc/common.h"

void
mproc_buf_free(mproc_buf *buf)
{
    if (buf == NULL)
        return;
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
}

void
mproc_free(void *ptr)
{
    free(ptr);
}

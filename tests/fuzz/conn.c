/*
 * tests/fuzz/conn.c - libFuzzer harness for the connection framing
 * (make fuzz): whatever bytes a peer sends, every receive form returns a
 * message or a code, never crashes, never allocates on a length alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mproc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    mproc_conn *a = NULL, *b = NULL;
    char small[64];
    size_t n;

    if (len > 60000 || mproc_pipe(&a, &b, true) != 0)
        return 0;
    /* The peer's bytes, then end of file: nothing can block. */
    if (len > 0 && write(mproc_conn_fileno(a), data, len) != (ssize_t)len)
        abort();
    mproc_conn_free(a);
    for (int i = 0; i < 64 && !mproc_conn_is_closed(b); i++) {
        mproc_buf m = { 0 };
        mproc_obj *o = NULL;
        int rc;

        switch (i % 3) {
        case 0:
            rc = mproc_conn_recv_bytes(b, &m, 1 << 20, 0);
            break;
        case 1:
            rc = mproc_conn_recv_bytes_into(b, small, sizeof(small), 3, &n, 0);
            if (rc == MPROC_ETOOSHORT)
                rc = mproc_conn_recv_bytes(b, &m, 1 << 20, 0);
            break;
        default:
            rc = mproc_conn_recv_obj(b, &o, 0);
            break;
        }
        mproc_buf_free(&m);
        mproc_obj_free(o);
        if (rc == MPROC_EEOF || rc == MPROC_ETIMEDOUT)
            break;
    }
    mproc_conn_free(b);
    return 0;
}

/*
 * The install test's program: built against an installed copy of mproc
 * (pkg-config, static archive, CMake package), it prints the version and runs
 * one child whose target returns 7.
 */
#include <stdio.h>

#include <mproc.h>

static int
return_seven(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return 7;
}

int
main(void)
{
    mproc_process *p = NULL;
    int rc;

    printf("mproc %s\n", mproc_version());
    rc = mproc_process_new(&p, return_seven, NULL, 0, NULL);
    if (rc == 0) {
        rc = mproc_process_start(p);
    }
    if (rc == 0) {
        rc = mproc_process_join(p, MPROC_FOREVER);
    }
    if (rc != 0) {
        fprintf(stderr, "hello: %s\n", mproc_strerror(rc));
        mproc_process_free(p);
        return 1;
    }
    int code = mproc_process_exitcode(p);
    mproc_process_free(p);
    if (code != 7) {
        fprintf(stderr, "hello: exit code %d, expected 7\n", code);
        return 1;
    }
    printf("child exited with 7\n");
    return 0;
}

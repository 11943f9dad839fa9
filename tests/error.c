/* tests/error.c - the error table: every code distinct, named, described. */
#include "helpers/th.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(error, .timeout = 10);

struct entry {
    int code;
    const char *name;
};

static const struct entry all[] = {
#define TH_ENTRY(name, value, text) { MPROC_##name, "MPROC_" #name },
    MPROC_ERRORS(TH_ENTRY)
#undef TH_ENTRY
};
#define N_ALL (sizeof(all) / sizeof(all[0]))

Test(error, every_code_is_negative_distinct_named_and_described)
{
    for (size_t i = 0; i < N_ALL; i++) {
        cr_assert_lt(all[i].code, 0);
        cr_assert_str_eq(mproc_errname(all[i].code), all[i].name);
        cr_assert_str_neq(mproc_strerror(all[i].code), "unknown error");
        for (size_t j = i + 1; j < N_ALL; j++)
            cr_assert_neq(all[i].code, all[j].code, "%s == %s", all[i].name,
                          all[j].name);
    }
}

Test(error, codes_that_mean_an_errno_are_that_errno_negated)
{
    cr_assert_eq(MPROC_EINVAL, -EINVAL);
    cr_assert_eq(MPROC_ENOMEM, -ENOMEM);
    cr_assert_eq(MPROC_ETIMEDOUT, -ETIMEDOUT);
    cr_assert_eq(MPROC_EOWNERDEAD, -EOWNERDEAD);
    cr_assert_eq(MPROC_EPERM, -EPERM);
}

Test(error, own_codes_have_the_values_of_the_design)
{
    cr_assert_eq(MPROC_EEMPTY, -10001);
    cr_assert_eq(MPROC_EFULL, -10002);
    cr_assert_eq(MPROC_ECLOSED, -10003);
    cr_assert_eq(MPROC_EEOF, -10004);
    cr_assert_eq(MPROC_EAUTH, -10005);
    cr_assert_eq(MPROC_EBROKEN, -10006);
    cr_assert_eq(MPROC_ECANCELLED, -10007);
    cr_assert_eq(MPROC_ECRASHED, -10008);
    cr_assert_eq(MPROC_ETOOSHORT, -10009);
    cr_assert_eq(MPROC_ETASK, -10010);
    cr_assert_eq(MPROC_EPROTOCOL, -10011);
    cr_assert_eq(MPROC_ESTATE, -10012);
    cr_assert_eq(MPROC_ETOOBIG, -10013);
    cr_assert_eq(MPROC_ECHECK, -10014);
}

Test(error, other_errnos_fall_back_to_the_c_library)
{
    cr_assert_str_eq(mproc_strerror(-EBADF), "Bad file descriptor");
    cr_assert_str_eq(mproc_errname(-EBADF), "EBADF");
    cr_assert_str_eq(mproc_strerror(0), "success");
    cr_assert_str_eq(mproc_errname(0), "MPROC_OK");
    cr_assert_str_eq(mproc_strerror(-99999), "unknown error");
    cr_assert_str_eq(mproc_errname(12345), "MPROC_EUNKNOWN");
}

Test(error, the_version_matches_the_header)
{
    char want[32];

    snprintf(want, sizeof(want), "%d.%d.%d", MPROC_VERSION_MAJOR,
             MPROC_VERSION_MINOR, MPROC_VERSION_PATCH);
    cr_assert_str_eq(mproc_version(), want);
}

Test(error, buffers_free_to_empty_and_accept_null)
{
    mproc_buf b = { malloc(8), 8 };

    mproc_buf_free(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    mproc_buf_free(&b);
    mproc_buf_free(NULL);
    mproc_free(NULL);
}

Test(error, options_structs_keep_their_size)
{
    /* Fields are appended only: a change here is an ABI change. */
    cr_assert_eq(sizeof(mproc_process_opts), 16);
}

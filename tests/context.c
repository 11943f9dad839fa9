/* tests/context.c - start methods: choice, names, executable. */
#include "helpers/th.h"

TestSuite(context, .init = th_begin, .fini = th_end, .timeout = 30);

static int
ok(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return 0;
}

Test(context, fork_is_the_default_until_changed)
{
    cr_assert_eq(mproc_get_start_method(), MPROC_START_FORK);
    cr_assert_eq(mproc_set_start_method(MPROC_START_SPAWN, false), 0);
    cr_assert_eq(mproc_get_start_method(), MPROC_START_SPAWN);
}

Test(context, setting_twice_needs_force)
{
    cr_assert_eq(mproc_set_start_method(MPROC_START_SPAWN, false), 0);
    cr_assert_eq(mproc_set_start_method(MPROC_START_FORKSERVER, false),
                 MPROC_ESTATE);
    cr_assert_eq(mproc_get_start_method(), MPROC_START_SPAWN);
    cr_assert_eq(mproc_set_start_method(MPROC_START_FORKSERVER, true), 0);
    cr_assert_eq(mproc_get_start_method(), MPROC_START_FORKSERVER);
}

Test(context, a_start_with_the_default_fixes_the_choice)
{
    mproc_process *p = NULL;

    cr_assert_eq(mproc_process_new(&p, ok, NULL, 0, NULL), 0);
    cr_assert_eq(mproc_process_start(p), 0);
    cr_assert_eq(mproc_process_join(p, 10), 0);
    mproc_process_free(p);
    cr_assert_eq(mproc_set_start_method(MPROC_START_SPAWN, false),
                 MPROC_ESTATE);
}

Test(context, the_default_is_used_by_processes_that_name_none)
{
    mproc_process *p = NULL;

    cr_assert_eq(mproc_set_start_method(MPROC_START_SPAWN, false), 0);
    cr_assert_eq(mproc_process_new(&p, ok, NULL, 0, NULL), 0);
    cr_assert_eq(mproc_process_start(p), 0);
    cr_assert_eq(mproc_process_join(p, 10), 0);
    cr_assert_eq(mproc_process_exitcode(p), 0);
    mproc_process_free(p);
}

Test(context, bad_methods_are_refused)
{
    enum mproc_start_method m;

    cr_assert_eq(mproc_set_start_method(MPROC_START_DEFAULT, false),
                 MPROC_EINVAL);
    cr_assert_eq(mproc_set_start_method(42, true), MPROC_EINVAL);
    cr_assert_eq(mproc_start_method_from_name("thread", &m), MPROC_EINVAL);
    cr_assert_eq(mproc_start_method_from_name(NULL, &m), MPROC_EINVAL);
    cr_assert_str_eq(mproc_start_method_name(42), "unknown");
}

Test(context, all_methods_are_listed_default_first_with_python_names)
{
    enum mproc_start_method all[MPROC_START_METHOD_COUNT];
    enum mproc_start_method back;

    cr_assert_eq(mproc_get_all_start_methods(NULL), 3);
    cr_assert_eq(mproc_get_all_start_methods(all), 3);
    cr_assert_eq(all[0], MPROC_START_FORK);
    cr_assert_str_eq(mproc_start_method_name(all[0]), "fork");
    cr_assert_str_eq(mproc_start_method_name(all[1]), "spawn");
    cr_assert_str_eq(mproc_start_method_name(all[2]), "forkserver");
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(mproc_start_method_from_name(
                         mproc_start_method_name(all[i]), &back),
                     0);
        cr_assert_eq(back, all[i]);
    }
    cr_assert_eq(mproc_set_start_method(MPROC_START_FORKSERVER, false), 0);
    cr_assert_eq(mproc_get_all_start_methods(all), 3);
    cr_assert_eq(all[0], MPROC_START_FORKSERVER);
}

Test(context, set_executable_checks_the_path)
{
    cr_assert_eq(mproc_set_executable("/nonexistent/binary"), -ENOENT);
    cr_assert_eq(mproc_set_executable("/tmp"), -EACCES);
    cr_assert_eq(mproc_set_executable("/proc/self/exe"), 0);
    cr_assert_eq(mproc_set_executable(NULL), 0);
}

Test(context, forkserver_start_is_idempotent_and_freeze_support_does_nothing)
{
    cr_assert_eq(mproc_forkserver_start(), 0);
    cr_assert_eq(mproc_forkserver_start(), 0);
    mproc_freeze_support();
}

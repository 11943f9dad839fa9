/* tests/log.c - the logger: levels, line format, handler, children. */
#include "helpers/th.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

TestSuite(log, .init = th_begin, .fini = th_end, .timeout = 30);

struct capture {
    int calls;
    int level;
    char line[512];
};

static void
capture(void *ctx, int level, const char *line)
{
    struct capture *c = ctx;

    c->calls++;
    c->level = level;
    snprintf(c->line, sizeof(c->line), "%s", line);
}

Test(log, the_logger_is_silent_until_a_level_is_set)
{
    struct capture c = { 0 };
    mproc_logger *lg = mproc_get_logger();

    cr_assert_eq(mproc_logger_level(lg), MPROC_LOG_NOTSET);
    cr_assert_eq(mproc_logger_set_handler(lg, capture, &c), 0);
    mproc_logger_log(lg, MPROC_LOG_CRITICAL, "nothing");
    cr_assert_eq(c.calls, 0);
}

Test(log, lines_carry_level_process_name_and_pid)
{
    struct capture c = { 0 };
    mproc_logger *lg = mproc_get_logger();
    char want[128];

    cr_assert_eq(mproc_logger_set_handler(lg, capture, &c), 0);
    cr_assert_eq(mproc_logger_set_level(lg, MPROC_LOG_INFO), 0);
    mproc_logger_log(lg, MPROC_LOG_INFO, "start %d", 1);
    snprintf(want, sizeof(want), "[INFO/MainProcess %d] start 1\n",
             (int)getpid());
    cr_assert_str_eq(c.line, want);
    cr_assert_eq(c.level, MPROC_LOG_INFO);
    mproc_logger_log(lg, MPROC_LOG_DEBUG, "below the level");
    cr_assert_eq(c.calls, 1);
    cr_assert_eq(mproc_process_set_name(mproc_current_process(), "Boss"), 0);
    mproc_logger_log(lg, MPROC_LOG_WARNING, "w");
    snprintf(want, sizeof(want), "[WARNING/Boss %d] w\n", (int)getpid());
    cr_assert_str_eq(c.line, want);
}

Test(log, long_lines_are_cut_not_overflowed)
{
    static char big[10000];
    struct capture c = { 0 };
    mproc_logger *lg = mproc_get_logger();

    memset(big, 'a', sizeof(big) - 1);
    cr_assert_eq(mproc_logger_set_handler(lg, capture, &c), 0);
    cr_assert_eq(mproc_logger_set_level(lg, MPROC_LOG_DEBUG), 0);
    mproc_logger_log(lg, MPROC_LOG_ERROR, "%s", big);
    cr_assert_eq(c.calls, 1);
    cr_assert_eq(mproc_logger_set_level(lg, -1), MPROC_EINVAL);
    cr_assert_eq(mproc_logger_set_level(NULL, 10), MPROC_EINVAL);
}

static int
log_one_line(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    mproc_logger_log(mproc_get_logger(), MPROC_LOG_INFO, "hello");
    return 0;
}

Test(log, log_to_stderr_writes_whole_lines_from_children)
{
    enum mproc_start_method methods[] = { MPROC_START_FORK, MPROC_START_SPAWN,
                                          MPROC_START_FORKSERVER };
    int fds[2], saved;
    char out[8192];
    ssize_t n;

    cr_assert_eq(pipe(fds), 0);
    saved = dup(STDERR_FILENO);
    cr_assert_eq(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
    mproc_log_to_stderr(MPROC_LOG_INFO);
    for (int i = 0; i < 3; i++) {
        mproc_process *p = NULL;

        cr_assert_eq(mproc_process_new(
                         &p, log_one_line, NULL, 0,
                         &(mproc_process_opts){ .name = "worker-1",
                                                .start_method = methods[i] }),
                     0);
        cr_assert_eq(mproc_process_start(p), 0);
        cr_assert_eq(mproc_process_join(p, 10), 0);
        mproc_process_free(p);
    }
    mproc_logger_set_level(mproc_get_logger(), MPROC_LOG_NOTSET);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    n = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    cr_assert_gt(n, 0);
    out[n] = '\0';
    /* Each method's child logged its line, whole, with its name. */
    int count = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, "[INFO/worker-1 ", 15) == 0 &&
            strstr(line, "] hello") != NULL)
            count++;
    cr_assert_eq(count, 3);
}

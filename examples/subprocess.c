/*
 * examples/subprocess.c - examples of Python's subprocess documentation:
 * run with captured output and a check, a timeout that keeps what was
 * printed, and a shell pipeline replaced by two Popens.
 *
 * C twin of:
 *
 *     subprocess.run(["ls", "-l"])
 *     subprocess.run("exit 1", shell=True, check=True)   # CalledProcessError
 *     subprocess.run(["ls", "-l", "/dev/null"], capture_output=True)
 *
 *     # Replacing shell pipeline: output=$(dmesg | grep hda)
 *     p1 = Popen(["dmesg"], stdout=PIPE)
 *     p2 = Popen(["grep", "hda"], stdin=p1.stdout, stdout=PIPE)
 *     p1.stdout.close()  # Allow p1 to receive a SIGPIPE if p2 exits.
 *     output = p2.communicate()[0]
 *
 * (printf and grep stand in for dmesg and grep hda: dmesg may need
 * privileges this example should not.)
 */
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>

static void
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "subprocess: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

int
main(void)
{
    char *ls[] = { "ls", "-l", "/dev/null", NULL };
    char *fail[] = { "exit 1", NULL };
    char *slow[] = { "echo started; exec sleep 10", NULL };
    char *first[] = { "printf", "a.json\\nb.txt\\nc.json\\n", NULL };
    char *grep[] = { "grep", "json", NULL };
    mproc_completed c;
    mproc_popen *p1 = NULL, *p2 = NULL;
    mproc_buf out;
    int rc;

    rc = mproc_run(ls, &(mproc_run_opts){ .capture_output = true }, &c,
                   MPROC_FOREVER);
    check(rc, "run ls");
    printf("ls -l /dev/null returned %d and printed:\n  %.*s", c.returncode,
           (int)c.out.len, (const char *)c.out.data);
    mproc_completed_free(&c);

    rc =
        mproc_run(fail, &(mproc_run_opts){ .popen.shell = true, .check = true },
                  &c, MPROC_FOREVER);
    printf("run(\"exit 1\", shell, check): %s, return code %d\n",
           mproc_errname(rc), c.returncode);
    mproc_completed_free(&c);

    rc = mproc_run(
        slow, &(mproc_run_opts){ .popen.shell = true, .capture_output = true },
        &c, 0.5);
    printf("a 10 s command with a 0.5 s timeout: %s, killed (%d), "
           "printed \"%.*s\" first\n",
           mproc_errname(rc), c.returncode, (int)c.out.len - 1,
           (const char *)c.out.data);
    mproc_completed_free(&c);

    check(mproc_popen_new(&p1, first,
                          &(mproc_popen_opts){ .out = MPROC_STDIO_PIPE }),
          "popen printf");
    check(mproc_popen_new(&p2, grep,
                          &(mproc_popen_opts){ .in = MPROC_STDIO_FD,
                                               .in_fd = mproc_popen_pipe(p1, 1),
                                               .out = MPROC_STDIO_PIPE }),
          "popen grep");
    check(mproc_popen_close_pipe(p1, 1), "close"); /* SIGPIPE for p1 */
    check(mproc_popen_communicate(p2, NULL, 0, &out, NULL, MPROC_FOREVER),
          "communicate");
    check(mproc_popen_wait(p1, MPROC_FOREVER), "wait");
    printf("printf ... | grep json gave:\n%.*s", (int)out.len,
           (const char *)out.data);
    mproc_buf_free(&out);
    mproc_popen_free(p1);
    mproc_popen_free(p2);
    return 0;
}

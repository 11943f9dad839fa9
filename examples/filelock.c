/*
 * examples/filelock.c - a cash book several processes append to, under a
 * file lock.
 *
 * C twin of the usual Python way of sharing a file between programs that
 * know nothing of each other (the filelock package; fcntl.lockf works the
 * same way):
 *
 *     def book(path, amount, n):
 *         with FileLock(path + '.lock'):      # or fcntl.lockf(f, LOCK_EX)
 *             balance = last_balance(path)
 *             with open(path, 'a') as f:
 *                 f.write(f'2026-11-23,{amount:+.2f},{balance + amount:.2f}\n')
 *
 * Four processes each book their amount 25 times. Every booking reads the
 * last balance and appends a line with the new one: a read-modify-write
 * that would lose updates without the lock. Here the lock is on the cash
 * book itself (an open-file-description lock, the default), and each child
 * opens its own handle: a forked child must not use its parent's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mproc.h>

#define PROCS 4
#define BOOKINGS 25
#define OPENING 100000 /* cents: 1000.00 */

/* What each process books, in cents. */
static const long amounts[PROCS] = { 2500, 1050, -725, 375 };

struct job {
    char path[200];
    int id;
};

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "filelock: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
}

/* "+25.00", "-7.25", "1025.00" from cents. */
static void
money(char *out, size_t size, long cents, bool sign)
{
    long a = labs(cents);

    snprintf(out, size, "%s%ld.%02ld",
             cents < 0 ? "-"
             : sign    ? "+"
                       : "",
             a / 100, a % 100);
}

/* The balance on the last line of the book ("date,amount,balance"), in
 * cents. */
static long
last_balance(int fd)
{
    char tail[128], *comma;
    struct stat st;
    long units = 0, cents = 0;
    off_t from;
    ssize_t n;

    if (fstat(fd, &st) != 0 || st.st_size == 0)
        return 0;
    from = st.st_size > 127 ? st.st_size - 127 : 0;
    n = pread(fd, tail, 127, from);
    if (n <= 0)
        return 0;
    tail[n - 1] = '\0'; /* the last newline */
    comma = strrchr(tail, ',');
    if (comma == NULL || sscanf(comma + 1, "%ld.%ld", &units, &cents) != 2)
        return 0;
    return units * 100 + cents; /* the balance stays positive here */
}

/* Append one line to the book: date, amount, new balance. */
static void
append(int fd, int day, long amount, long balance)
{
    char line[96], a[32], b[32];
    struct stat st;
    int n;

    money(a, sizeof(a), amount, true);
    money(b, sizeof(b), balance, false);
    n = snprintf(line, sizeof(line), "2026-11-%02d,%s,%s\n", day, a, b);
    if (fstat(fd, &st) != 0 || pwrite(fd, line, (size_t)n, st.st_size) != n) {
        perror("filelock: write");
        exit(1);
    }
}

static int
bookkeeper(const void *arg, size_t len)
{
    const struct job *j = arg;
    mproc_filelock *l;

    if (len != sizeof(*j))
        return 1;
    check(mproc_filelock_new(&l, j->path, NULL), "new");
    for (int i = 0; i < BOOKINGS; i++) {
        int fd = mproc_filelock_fd(l);

        check(mproc_filelock_acquire(l, MPROC_FOREVER), "acquire");
        append(fd, 2 + i, amounts[j->id], last_balance(fd) + amounts[j->id]);
        check(mproc_filelock_release(l), "release");
    }
    mproc_filelock_free(l);
    return 0;
}

int
main(void)
{
    char dir[] = "/tmp/mproc-cashbook-XXXXXX", text[8192], got[32], want[32];
    mproc_process *kids[PROCS];
    mproc_filelock *l;
    struct job j;
    long expected = OPENING, balance;
    int lines = 0, shown = 0;
    ssize_t n;

    if (mkdtemp(dir) == NULL) {
        perror("filelock: mkdtemp");
        return 1;
    }
    memset(&j, 0, sizeof(j));
    snprintf(j.path, sizeof(j.path), "%s/cash.csv", dir);

    /* The opening balance, written under the lock like everything else. */
    check(mproc_filelock_new(&l, j.path, NULL), "new");
    check(mproc_filelock_acquire(l, MPROC_FOREVER), "acquire");
    append(mproc_filelock_fd(l), 1, OPENING, OPENING);
    check(mproc_filelock_release(l), "release");

    for (int i = 0; i < PROCS; i++) {
        j.id = i;
        check(mproc_process_new(&kids[i], bookkeeper, &j, sizeof(j), NULL),
              "process");
        check(mproc_process_start(kids[i]), "start");
        expected += BOOKINGS * amounts[i];
    }
    for (int i = 0; i < PROCS; i++) {
        check(mproc_process_join(kids[i], MPROC_FOREVER), "join");
        if (mproc_process_exitcode(kids[i]) != 0) {
            fprintf(stderr, "filelock: a bookkeeper failed\n");
            return 1;
        }
        mproc_process_free(kids[i]);
    }

    /* Read the book under the lock too. */
    check(mproc_filelock_acquire(l, MPROC_FOREVER), "acquire");
    n = pread(mproc_filelock_fd(l), text, sizeof(text) - 1, 0);
    balance = last_balance(mproc_filelock_fd(l));
    check(mproc_filelock_release(l), "release");
    mproc_filelock_free(l);
    if (n < 0) {
        perror("filelock: read");
        return 1;
    }
    text[n] = '\0';
    for (char *p = text; *p != '\0'; p++)
        lines += *p == '\n';
    printf("%s: %d lines, the last ones:\n", j.path, lines);
    for (char *p = text; *p != '\0'; p = strchr(p, '\n') + 1)
        if (shown++ >= lines - 4)
            printf("  %.*s\n", (int)(strchr(p, '\n') - p), p);

    unlink(j.path);
    rmdir(dir);
    money(got, sizeof(got), balance, false);
    money(want, sizeof(want), expected, false);
    if (balance != expected || lines != 1 + PROCS * BOOKINGS) {
        printf("balance %s, expected %s: updates were lost\n", got, want);
        return 1;
    }
    printf("balance %s, expected %s: no update lost\n", got, want);
    return 0;
}

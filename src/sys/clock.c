/*
 * sys/clock.c - the monotonic clock and deadlines.
 *
 * A public timeout becomes an absolute deadline once, at the entry of the
 * blocking call; every wait after an EINTR or a spurious wake-up derives its
 * time from that deadline, so retries never stretch the total.
 */
#include "sys/sys.h"

#include <math.h>
#include <sched.h>
#include <time.h>

int64_t
mproc__now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
mproc__deadline_ms_left(const struct mproc__deadline *dl)
{
    int64_t left;

    if (dl->forever)
        return -1;
    left = dl->at_ns - mproc__now_ns();
    if (left <= 0)
        return 0;
    if (left > (int64_t)INT32_MAX * 1000000)
        return INT32_MAX;
    return (int)((left + 999999) / 1000000);
}

bool
mproc__deadline_passed(const struct mproc__deadline *dl)
{
    return !dl->forever && mproc__now_ns() >= dl->at_ns;
}

double
mproc__deadline_seconds_left(const struct mproc__deadline *dl)
{
    int64_t left;

    if (dl->forever)
        return MPROC_FOREVER;
    left = dl->at_ns - mproc__now_ns();
    return left > 0 ? (double)left / 1e9 : 0;
}

/* Waking a process on the other CPU of a virtual machine costs 35-100 us;
 * a waiter still spinning when its answer comes pays none of it. */
bool
mproc__spin(bool (*ready)(const void *arg), const void *arg, int64_t limit_ns)
{
    int64_t end = mproc__now_ns() + limit_ns;

    do {
        /* A few pauses between yields: where both ends share a CPU, a
         * long spin only delays the other one. */
        for (int i = 0; i < 8; i++) {
            if (ready(arg))
                return true;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        sched_yield();
    } while (mproc__now_ns() < end);
    return ready(arg);
}

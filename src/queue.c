/*
 * queue.c - mproc_queue: Python's multiprocessing.Queue, SimpleQueue and
 * JoinableQueue, as a ring of bytes in one arena block (header, then the
 * ring), with no feeder thread.
 *
 * Positions `head` and `tail` are byte counters that only grow; a
 * position's place in the ring is pos % cap. A record is an 8-byte header
 * (length, flags) and the payload padded to 8; the payload may wrap around
 * the ring's end, the header never splits (cap and records are multiples
 * of 8). Producers take the put lock, consumers the get lock (holder words
 * as a Lock's, sync.h), so one producer and one consumer never contend.
 *
 * Invariants: tail is written only under the put lock, head only under
 * the get lock. A producer writes its record beyond tail and only then
 * publishes tail; a consumer reads the record at head and only then
 * publishes head. So a process killed inside either leaves the ring as it
 * was, and the next locker, taking the word from the dead holder, simply
 * goes on. tail - head <= cap always.
 *
 * Memory taken only while used: while the queue is shallow, a producer
 * whose tail has passed the first WINDOW bytes of the ring puts a skip
 * record there and starts again at the ring's start (when the record fits
 * there now), so small steady traffic keeps to the first WINDOW bytes.
 * Pages beyond WINDOW that deep traffic touched are given back
 * (MADV_REMOVE on the memfd) once the consumers have left them, under the
 * put lock (no producer writes meanwhile), by a consumer that gets the lock
 * at once or else by the next producer.
 *
 * Cost of an uncontended put: one compare-and-swap to lock, one copy, one
 * atomic store to publish tail, one atomic exchange to unlock, and no
 * system call unless a consumer sleeps (then one FUTEX_WAKE). A get is the
 * same on the other side. The sides share a cache line only when one
 * looks at the other's position: each caches the last position it read.
 */
#include "mproc/queue.h"
#include "queue.h"

#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "shm/shm.h"
#include "sync/sync.h"
#include "sys/sys.h"

#define PAGE ((uint64_t)4096)
#define MIB ((uint64_t)1 << 20)
#define REC ((uint64_t)8) /* a record's header */
#define REC_SKIP 1u /* the record's flag: skip len bytes to the next record */
/* The ring's first bytes, kept resident for small steady traffic. */
#define WINDOW MIB
/* Past the window, a producer looks at head again after this many bytes. */
#define HEAD_STEP ((uint64_t)64 << 10)
/* Pages beyond the window are given back by this many bytes at least. */
#define TRIM_STEP MIB
#define DEFAULT_CAPACITY (64 * MIB - 2 * PAGE)
#define MAX_CAPACITY ((uint64_t)2 << 30)
/* Looks at the other side before sleeping: a few microseconds. */
#define SPINS 200

enum kind {
    KIND_QUEUE = 1,
    KIND_JOINABLE,
    KIND_SIMPLE
};

struct rec {
    uint32_t len;
    uint32_t flags;
};

/* The handle is the queue itself, an arena block (shm/shm.h). Each side's
 * fields share a cache line; atomic access only, except the fields set at
 * creation. */
struct mproc_queue {
    uint64_t cap;      /* ring bytes, a multiple of PAGE */
    uint64_t maxsize;  /* messages; 0: no limit */
    uint64_t ring_off; /* from this struct to the ring, which is PAGE-aligned */
    uint32_t kind;
    uint32_t mapped; /* in a memory file of its own, not the arena */

    /* Written rarely. */
    _Alignas(64) uint32_t closed; /* set under the put lock */
    uint32_t get_sleepers;        /* consumers asleep on put_seq */
    uint32_t put_sleepers;        /* producers asleep on get_seq */
    uint32_t join_sleepers;       /* joiners asleep on unfinished */
    uint32_t trim_wanted;         /* a consumer asks a producer to trim */

    /* Producers' side: written under put_lock. */
    _Alignas(64) uint64_t put_lock;
    uint64_t tail;
    uint64_t put_count;    /* messages put, updated before tail */
    uint64_t head_seen;    /* a head read earlier: the room is at least that */
    uint64_t head_read_at; /* tail when head_seen was read */
    uint64_t tail_off;     /* tail_off_of % cap, saving a division */
    uint64_t tail_off_of;
    uint64_t trimmed; /* below this position, pages beyond WINDOW are gone */
    uint64_t far;     /* end of the last record that went beyond WINDOW */
    uint64_t wrap_at; /* an early wrap the consumers have not passed: its
                         skip record's position (0: none) */
    uint64_t wrap_off;
    uint32_t back;    /* a put went back to just after it (see try_put) */
    uint32_t put_seq; /* futex: bumped by a put when consumers sleep */

    /* Consumers' side: written under get_lock. */
    _Alignas(64) uint64_t get_lock;
    uint64_t head;
    uint64_t got_count; /* messages taken, updated after head */
    uint64_t tail_seen; /* a tail read earlier: messages up to there */
    uint64_t head_off;  /* head_off_of % cap, saving a division */
    uint64_t head_off_of;
    uint64_t trim_looked; /* head when a consumer last looked at trimming */
    uint32_t get_seq;     /* futex: bumped by a get when producers sleep */

    _Alignas(64) uint32_t unfinished; /* JoinableQueue: put, not yet done */
};
_Static_assert(sizeof(struct mproc_queue) <= PAGE - 64,
               "the header and the arena's block header fit in one page");

/* ---- helpers --------------------------------------------------------------
 */

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

static inline char *
ring(const mproc_queue *q)
{
    return (char *)q + q->ring_off;
}

static inline uint64_t
record_size(uint64_t len)
{
    return REC + ((len + 7) & ~(uint64_t)7);
}

/* Take a side's lock, however long its holder copies: as Python's queues
 * take their internal locks, whatever the timeout (a put or get with
 * timeout 0 must not fail because another producer or consumer, or a
 * trim, is busy). A holder that died is replaced silently: it published
 * nothing half-done. */
static void
side_lock(uint64_t *w)
{
    uint64_t me = mproc__self_holder(), seen = 0;

    if (__atomic_compare_exchange_n(w, &seen, me, false, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED))
        return;
    /* Another producer (consumer) copies a message: a few microseconds
     * of spinning save the slow path's look at the holder's health (a
     * system call) and a sleep. */
    for (int i = 0; i < SPINS; i++) {
        cpu_relax();
        seen = __atomic_load_n(w, __ATOMIC_RELAXED);
        if (seen == 0 &&
            __atomic_compare_exchange_n(w, &seen, me, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return;
    }
    (void)mproc__ow_acquire_slow(w, me, MPROC_FOREVER, (uint32_t)me);
}

static bool
side_trylock(uint64_t *w)
{
    uint64_t seen = 0;

    return __atomic_compare_exchange_n(w, &seen, mproc__self_holder(), false,
                                       __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

/* seq_cst: a trim request stored before a failed trylock is seen by the
 * unlocker's next load (see after_put). */
static void
side_unlock(uint64_t *w)
{
    uint64_t held = __atomic_exchange_n(w, 0, __ATOMIC_SEQ_CST);

    if (held & MPROC__OW_WAITERS)
        mproc__ow_released(w, held);
}

/* off + n within the ring (off < cap, n <= cap). */
static inline uint64_t
advance(const mproc_queue *q, uint64_t off, uint64_t n)
{
    off += n;
    return off >= q->cap ? off - q->cap : off;
}

/* Copy between the ring at offset off (< cap) and a buffer, wrapping at
 * the ring's end. */
/* memcpy for a message: small ones in 8-byte words here, saving the call. */
static inline void
copy(void *dst, const void *src, uint64_t len)
{
    if (len >= 8 && len <= 128) {
        for (uint64_t i = 0; i + 8 <= len; i += 8)
            __builtin_memcpy((char *)dst + i, (const char *)src + i, 8);
        __builtin_memcpy((char *)dst + len - 8, (const char *)src + len - 8, 8);
    } else {
        memcpy(dst, src, len);
    }
}

static void
ring_write(mproc_queue *q, uint64_t off, const void *src, uint64_t len)
{
    uint64_t first = q->cap - off;

    if (len <= first) {
        copy(ring(q) + off, src, len);
    } else {
        memcpy(ring(q) + off, src, first);
        memcpy(ring(q), (const char *)src + first, len - first);
    }
}

static void
ring_read(const mproc_queue *q, uint64_t off, void *dst, uint64_t len)
{
    uint64_t first = q->cap - off;

    if (len <= first) {
        copy(dst, ring(q) + off, len);
    } else {
        memcpy(dst, ring(q) + off, first);
        memcpy((char *)dst + first, ring(q), len - first);
    }
}

/* Wait until *pos moves from `seen` (or the queue closes): spin a few
 * microseconds, yield the CPU once, then sleep a slice at most. sleepers counts
 * who may sleep on seq; the other side, having published its position
 * (seq_cst), bumps seq and wakes only when the count is not 0, so either it
 * sees this sleeper or this sleeper sees its position. Returns MPROC_ETIMEDOUT
 * once the deadline has passed, else 0. */
static int
sleep_on(mproc_queue *q, uint32_t *seq, uint32_t *sleepers, const uint64_t *pos,
         uint64_t seen, const struct mproc__deadline *dl)
{
    uint32_t s;

    if (mproc__deadline_passed(dl))
        return MPROC_ETIMEDOUT;
    for (int i = 0; i < SPINS; i++) {
        if (__atomic_load_n(pos, __ATOMIC_RELAXED) != seen)
            return 0;
        cpu_relax();
    }
    if (mproc__deadline_passed(dl))
        return MPROC_ETIMEDOUT;
    /* Let the other side run first where it shares this CPU: a consumer
     * woken for one message then takes a batch, not one message per two
     * context switches (20x the rate on one CPU). */
    sched_yield();
    if (__atomic_load_n(pos, __ATOMIC_RELAXED) != seen)
        return 0;
    __atomic_fetch_add(sleepers, 1, __ATOMIC_SEQ_CST);
    s = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(pos, __ATOMIC_SEQ_CST) == seen &&
        !__atomic_load_n(&q->closed, __ATOMIC_SEQ_CST))
        (void)mproc__futex_wait((_Atomic uint32_t *)seq, s,
                                mproc__slice_ns(dl, MPROC__SLICE_NS));
    __atomic_fetch_sub(sleepers, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* Wake whoever sleeps on seq, if anyone may. */
static void
wake(uint32_t *seq, uint32_t *sleepers, int n)
{
    if (__atomic_load_n(sleepers, __ATOMIC_SEQ_CST) == 0)
        return;
    __atomic_fetch_add(seq, 1, __ATOMIC_SEQ_CST);
    mproc__futex_wake((_Atomic uint32_t *)seq, n);
}

/* ---- giving pages back ----------------------------------------------------
 */

static void
release_range(mproc_queue *q, uint64_t from, uint64_t to)
{
    if (from < WINDOW)
        from = WINDOW;
    if (to > from)
        (void)madvise(ring(q) + from, to - from, MADV_REMOVE);
}

/* Caller holds the put lock: give back the pages beyond WINDOW between
 * `trimmed` and head. None of them holds a message (they are below head)
 * or is being written (no producer runs); those below tail - cap hold the
 * next lap's messages and are kept. */
static void
trim(mproc_queue *q)
{
    uint64_t head = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
    uint64_t from = q->trimmed, to = head & ~(PAGE - 1), off, n;

    __atomic_store_n(&q->trim_wanted, 0, __ATOMIC_RELAXED);
    if (q->tail > q->cap && from < q->tail - q->cap)
        from = q->tail - q->cap;
    from = (from + PAGE - 1) & ~(PAGE - 1);
    if (to <= from)
        return;
    off = from % q->cap;
    n = to - from; /* at most cap: from >= tail - cap >= head - cap */
    if (off + n <= q->cap) {
        release_range(q, off, off + n);
    } else {
        release_range(q, off, q->cap);
        release_range(q, 0, off + n - q->cap);
    }
    __atomic_store_n(&q->trimmed, to, __ATOMIC_RELAXED);
}

/* After a get: ask for a trim when the consumers left TRIM_STEP bytes
 * behind since the last, and pages beyond WINDOW were written meanwhile.
 * Done here when the put lock is free at once, else by the next put. */
static void
maybe_trim(mproc_queue *q, uint64_t head)
{
    uint64_t trimmed;

    /* The producers' fields are read once per TRIM_STEP bytes. */
    if (head - __atomic_load_n(&q->trim_looked, __ATOMIC_RELAXED) < TRIM_STEP)
        return;
    __atomic_store_n(&q->trim_looked, head, __ATOMIC_RELAXED);
    trimmed = __atomic_load_n(&q->trimmed, __ATOMIC_RELAXED);
    if (head - trimmed < TRIM_STEP ||
        __atomic_load_n(&q->far, __ATOMIC_RELAXED) <= trimmed)
        return;
    __atomic_store_n(&q->trim_wanted, 1, __ATOMIC_SEQ_CST);
    if (side_trylock(&q->put_lock)) {
        trim(q);
        side_unlock(&q->put_lock);
    }
}

/* ---- put ------------------------------------------------------------------
 */

/* Caller holds the put lock: write the record and publish it, or
 * MPROC_EFULL (no room now; *head_out is the head that said so). */
/* Caller holds the put lock and waited in vain: the ring is full only
 * because it went back to its start early, while the consumers still read
 * the lap before (up to the skip record at wrap_off, the ring's end free
 * beyond it)? Then the rest of the capacity is there: go on just after
 * that skip. try_put keeps a record header of room free at the start for
 * the skip that leads there. */
static bool
may_go_back(mproc_queue *q, uint64_t off, uint64_t need)
{
    return q->wrap_at != 0 && !q->back && off < q->wrap_off &&
           q->wrap_off + REC + need <= q->cap;
}

/* A record fitting at the ring's start after an early wrap, the consumers
 * still before it, must leave a record header of room for the skip that
 * may_go_back() writes. Forgets the wrap once the consumers passed it. */
static bool
keeps_room_to_go_back(mproc_queue *q, uint64_t tail, uint64_t need,
                      uint64_t head, uint64_t off)
{
    if (head > q->wrap_at) {
        q->wrap_at = q->back = 0;
        return true;
    }
    return off >= q->wrap_off || tail + need + REC - head <= q->cap;
}

static int
try_put(mproc_queue *q, const struct iovec *iov, int niov, uint64_t len,
        bool go_back, uint64_t *head_out)
{
    uint64_t need = record_size(len), tail = q->tail, cap = q->cap;
    uint64_t off = q->tail_off_of == tail ? q->tail_off : tail % cap;
    uint64_t skip = cap - off, at, head = q->head_seen;
    struct rec r = { (uint32_t)len, 0 };
    bool wrap = false, back = false;

    if (q->maxsize != 0 &&
        q->put_count - __atomic_load_n(&q->got_count, __ATOMIC_ACQUIRE) >=
            q->maxsize) {
        *head_out = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
        return MPROC_EFULL;
    }
    for (int fresh = 0;; fresh++) {
        /* Back to the ring's start when past the window and it fits. */
        bool past = off >= WINDOW;

        wrap = past && tail + skip + need - head <= cap;
        /* A head read long ago may hide that the wrap fits: read it again
         * now and then (a cache miss per HEAD_STEP bytes at most). */
        if ((wrap ||
             (tail + need - head <= cap &&
              (!past || fresh || tail - q->head_read_at < HEAD_STEP))) &&
            (q->wrap_at == 0 || wrap ||
             keeps_room_to_go_back(q, tail, need, head, off)))
            break;
        if (fresh) {
            /* Gone back after an early wrap (may_go_back), the consumers
             * still before it: tail - head counts that wrap's skip, but
             * the room runs to the ring's end. */
            if (q->wrap_at != 0 && head > q->wrap_at)
                q->wrap_at = q->back = 0;
            if (q->back && off + need <= cap)
                break;
            back = go_back && tail + REC - head <= cap &&
                   may_go_back(q, off, need);
            if (back)
                break;
            *head_out = head;
            return MPROC_EFULL;
        }
        head = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
        __atomic_store_n(&q->head_seen, head, __ATOMIC_RELAXED);
        __atomic_store_n(&q->head_read_at, tail, __ATOMIC_RELAXED);
    }
    at = tail;
    if (wrap || back) {
        uint64_t to = wrap ? 0 : q->wrap_off + REC;
        struct rec s = { (uint32_t)(wrap ? skip : to - off), REC_SKIP };

        memcpy(ring(q) + off, &s, sizeof(s));
        if (wrap) {
            q->wrap_at = at;
            q->wrap_off = off;
        }
        q->back = back;
        at += s.len;
        off = to;
    }
    memcpy(ring(q) + off, &r, sizeof(r));
    for (uint64_t w = advance(q, off, REC); niov > 0; iov++, niov--) {
        if (iov->iov_len == 0)
            continue;
        ring_write(q, w, iov->iov_base, iov->iov_len);
        w = advance(q, w, iov->iov_len);
    }
    if (wrap || off + need > WINDOW)
        __atomic_store_n(&q->far, at + need, __ATOMIC_RELAXED);
    if (q->kind == KIND_JOINABLE)
        __atomic_fetch_add(&q->unfinished, 1, __ATOMIC_RELAXED);
    /* The count first: a producer killed between the two stores leaves
     * the count one high, never one low. */
    __atomic_store_n(&q->put_count, q->put_count + 1, __ATOMIC_RELAXED);
    q->tail_off = advance(q, off, need);
    q->tail_off_of = at + need;
    /* A release store: the unlock's exchange, next, orders it before the
     * look at the consumers' sleepers (after_put). */
    __atomic_store_n(&q->tail, at + need, __ATOMIC_RELEASE);
    return 0;
}

/* After a put, unlocked: wake a consumer that sleeps; trim if asked. The
 * unlock was seq_cst, so a trim request whose trylock failed on this
 * producer's hold is seen here. */
static void
after_put(mproc_queue *q)
{
    wake(&q->put_seq, &q->get_sleepers, 1);
    if (__atomic_load_n(&q->trim_wanted, __ATOMIC_SEQ_CST) &&
        side_trylock(&q->put_lock)) {
        trim(q);
        side_unlock(&q->put_lock);
    }
}

int
mproc_queue_put(mproc_queue *q, const void *data, size_t len, double timeout)
{
    if (q == NULL || (data == NULL && len > 0))
        return MPROC_EINVAL;
    return mproc__queue_putv(q, &(struct iovec){ (void *)data, len }, 1,
                             timeout);
}

int
mproc__queue_putv(mproc_queue *q, const struct iovec *iov, int niov,
                  double timeout)
{
    struct mproc__deadline dl;
    uint64_t len = 0;
    bool go_back = false, out_of_time = false;

    for (int i = 0; i < niov; i++)
        len += iov[i].iov_len;
    if (mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    if (len > q->cap - REC)
        return MPROC_ETOOBIG;
    for (;;) {
        uint64_t head = 0;
        int rc;

        side_lock(&q->put_lock);
        if (__atomic_load_n(&q->closed, __ATOMIC_RELAXED))
            rc = MPROC_ECLOSED;
        else
            rc = try_put(q, iov, niov, len, go_back, &head);
        side_unlock(&q->put_lock);
        if (rc == 0)
            after_put(q);
        if (rc != MPROC_EFULL || out_of_time)
            return rc;
        /* Full: wait for the consumers. Out of time, or after a whole
         * sleep in which they took nothing, a try may take the room an
         * early wrap left behind (may_go_back): a put waits for room
         * only while the consumers go on, and the queue holds its
         * capacity when they stop. While they go on, the stream stays in
         * the ring's hot first MiB. */
        out_of_time =
            sleep_on(q, &q->get_seq, &q->put_sleepers, &q->head, head, &dl) < 0;
        go_back =
            out_of_time || __atomic_load_n(&q->head, __ATOMIC_ACQUIRE) == head;
    }
}

int
mproc_queue_put_obj(mproc_queue *q, const mproc_obj *o, double timeout)
{
    mproc_buf b = { NULL, 0 };
    int rc;

    if (q == NULL || o == NULL || isnan(timeout))
        return MPROC_EINVAL;
    rc = mproc_obj_dumps(o, &b, 0);
    if (rc == 0)
        rc = mproc_queue_put(q, b.data, b.len, timeout);
    mproc_buf_free(&b);
    return rc;
}

/* ---- get ------------------------------------------------------------------
 */

/* Where a get puts the message: a new buffer (out) or the caller's; and
 * the claim to make of it before it leaves the ring (queue.h). */
struct dest {
    mproc_buf *out;
    void *buf;
    size_t size;
    size_t *len;
    mproc__queue_claim claim;
    void *claim_ctx;
};

/* try_get: the message was taken but its claim refused it. */
#define SKIPPED 1

/* Caller holds the get lock: take the first message into d, or
 * MPROC_EEMPTY (*tail_out: the tail that said so), MPROC_ETOOSHORT,
 * MPROC_ENOMEM (the message stays), SKIPPED (taken, refused by the
 * claim). */
static int
try_get(mproc_queue *q, const struct dest *d, uint64_t *tail_out)
{
    uint64_t head = q->head, off;
    struct rec r;
    void *dst;
    int rc = 0;

    if (head == q->tail_seen) {
        q->tail_seen = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
        if (head == q->tail_seen) {
            *tail_out = head;
            return MPROC_EEMPTY;
        }
    }
    off = q->head_off_of == head ? q->head_off : head % q->cap;
    memcpy(&r, ring(q) + off, sizeof(r));
    if (r.flags & REC_SKIP) { /* a record always follows a skip */
        head += r.len;
        off = advance(q, off, r.len);
        memcpy(&r, ring(q) + off, sizeof(r));
    }
    if (d->out != NULL) {
        dst = r.len > 0 ? malloc(r.len) : NULL;
        if (dst == NULL && r.len > 0)
            return MPROC_ENOMEM;
        *d->out = (mproc_buf){ dst, r.len };
    } else {
        *d->len = r.len;
        if (r.len > d->size)
            return MPROC_ETOOSHORT;
        dst = d->buf;
    }
    if (r.len > 0)
        ring_read(q, advance(q, off, REC), dst, r.len);
    /* The claim is made before head moves: a consumer killed before it is
     * done leaves the message to the next one. */
    if (d->claim != NULL && !d->claim(dst, r.len, d->claim_ctx)) {
        rc = SKIPPED;
        if (d->out != NULL)
            mproc_buf_free(d->out);
    }
    q->head_off = advance(q, off, record_size(r.len));
    q->head_off_of = head + record_size(r.len);
    /* head first: a consumer killed between the two stores leaves the
     * count one high, never one low. Release: the unlock's exchange orders
     * it before the look at the producers' sleepers. */
    __atomic_store_n(&q->head, head + record_size(r.len), __ATOMIC_RELEASE);
    __atomic_store_n(&q->got_count, q->got_count + 1, __ATOMIC_RELEASE);
    return rc;
}

static int
get(mproc_queue *q, const struct dest *d, double timeout)
{
    struct mproc__deadline dl;

    if (mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    for (;;) {
        uint64_t tail = 0, head;
        /* Read before the ring: close takes the put lock, so once closed
         * is seen, every message put has been published. */
        bool closed = __atomic_load_n(&q->closed, __ATOMIC_ACQUIRE);
        int rc;

        side_lock(&q->get_lock);
        rc = try_get(q, d, &tail);
        head = q->head;
        side_unlock(&q->get_lock);
        if (rc == 0 || rc == SKIPPED) {
            wake(&q->get_seq, &q->put_sleepers, INT32_MAX);
            maybe_trim(q, head);
            if (rc == 0)
                return 0;
            continue;
        }
        if (rc != MPROC_EEMPTY)
            return rc;
        if (closed)
            return MPROC_ECLOSED;
        if (sleep_on(q, &q->put_seq, &q->get_sleepers, &q->tail, tail, &dl) < 0)
            return __atomic_load_n(&q->closed, __ATOMIC_ACQUIRE) &&
                           mproc_queue_empty(q)
                       ? MPROC_ECLOSED
                       : MPROC_EEMPTY;
    }
}

int
mproc_queue_get(mproc_queue *q, mproc_buf *out, double timeout)
{
    if (out != NULL)
        *out = (mproc_buf){ NULL, 0 };
    if (q == NULL || out == NULL)
        return MPROC_EINVAL;
    return get(q, &(struct dest){ .out = out }, timeout);
}

int
mproc_queue_get_into(mproc_queue *q, void *buf, size_t size, size_t *len,
                     double timeout)
{
    if (len != NULL)
        *len = 0;
    if (q == NULL || len == NULL || (buf == NULL && size > 0))
        return MPROC_EINVAL;
    return get(q, &(struct dest){ .buf = buf, .size = size, .len = len },
               timeout);
}

int
mproc_queue_get_obj(mproc_queue *q, mproc_obj **out, double timeout)
{
    mproc_buf b;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (out == NULL)
        return MPROC_EINVAL;
    rc = mproc_queue_get(q, &b, timeout);
    if (rc == 0)
        rc = mproc_obj_loads(out, b.data, b.len, NULL);
    mproc_buf_free(&b);
    return rc;
}

/* ---- state ----------------------------------------------------------------
 */

int
mproc_queue_qsize(const mproc_queue *q, size_t *n)
{
    uint64_t got, put;

    if (n != NULL)
        *n = 0;
    if (q == NULL || n == NULL)
        return MPROC_EINVAL;
    /* got first: put only grows, so put >= the got read earlier. */
    got = __atomic_load_n(&q->got_count, __ATOMIC_ACQUIRE);
    put = __atomic_load_n(&q->put_count, __ATOMIC_ACQUIRE);
    *n = put > got ? (size_t)(put - got) : 0;
    return 0;
}

bool
mproc_queue_empty(const mproc_queue *q)
{
    uint64_t head;

    if (q == NULL)
        return true;
    head = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
    return __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE) == head;
}

bool
mproc_queue_full(const mproc_queue *q)
{
    size_t n;

    return q != NULL && q->maxsize != 0 && mproc_queue_qsize(q, &n) == 0 &&
           n >= q->maxsize;
}

int
mproc_queue_close(mproc_queue *q)
{
    if (q == NULL)
        return MPROC_EINVAL;
    /* Under the put lock: no put is half-way when closed is set. */
    side_lock(&q->put_lock);
    __atomic_store_n(&q->closed, 1, __ATOMIC_SEQ_CST);
    side_unlock(&q->put_lock);
    __atomic_fetch_add(&q->put_seq, 1, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&q->get_seq, 1, __ATOMIC_SEQ_CST);
    mproc__futex_wake((_Atomic uint32_t *)&q->put_seq, INT32_MAX);
    mproc__futex_wake((_Atomic uint32_t *)&q->get_seq, INT32_MAX);
    return 0;
}

int
mproc_queue_join_thread(mproc_queue *q)
{
    return q == NULL ? MPROC_EINVAL : 0;
}

int
mproc_queue_cancel_join_thread(mproc_queue *q)
{
    return q == NULL ? MPROC_EINVAL : 0;
}

/* ---- JoinableQueue --------------------------------------------------------
 */

int
mproc_queue_task_done(mproc_queue *q)
{
    uint32_t v;

    if (q == NULL || q->kind != KIND_JOINABLE)
        return MPROC_EINVAL;
    v = __atomic_load_n(&q->unfinished, __ATOMIC_RELAXED);
    do {
        if (v == 0)
            return MPROC_ESTATE;
    } while (!__atomic_compare_exchange_n(&q->unfinished, &v, v - 1, false,
                                          __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    if (v == 1 && __atomic_load_n(&q->join_sleepers, __ATOMIC_SEQ_CST) > 0)
        mproc__futex_wake((_Atomic uint32_t *)&q->unfinished, INT32_MAX);
    return 0;
}

int
mproc_queue_join(mproc_queue *q, double timeout)
{
    struct mproc__deadline dl;

    if (q == NULL || q->kind != KIND_JOINABLE ||
        mproc__deadline_init(&dl, timeout) < 0)
        return MPROC_EINVAL;
    for (;;) {
        uint32_t v;

        if (__atomic_load_n(&q->unfinished, __ATOMIC_ACQUIRE) == 0)
            return 0;
        if (mproc__deadline_passed(&dl))
            return MPROC_ETIMEDOUT;
        /* As sleep_on: task_done wakes when it sees a sleeper, or the
         * sleeper sees its 0. */
        __atomic_fetch_add(&q->join_sleepers, 1, __ATOMIC_SEQ_CST);
        v = __atomic_load_n(&q->unfinished, __ATOMIC_SEQ_CST);
        if (v != 0)
            (void)mproc__futex_wait((_Atomic uint32_t *)&q->unfinished, v,
                                    mproc__slice_ns(&dl, MPROC__SLICE_NS));
        __atomic_fetch_sub(&q->join_sleepers, 1, __ATOMIC_SEQ_CST);
    }
}

/* ---- life -----------------------------------------------------------------
 */

/* The ring's size for the options: 0, or MPROC_EINVAL. */
static int
capacity_of(const mproc_queue_opts *opts, uint64_t *cap)
{
    *cap =
        opts != NULL && opts->capacity != 0 ? opts->capacity : DEFAULT_CAPACITY;
    if (*cap > MAX_CAPACITY)
        return MPROC_EINVAL;
    *cap = (*cap + PAGE - 1) & ~(PAGE - 1);
    return 0;
}

static void
init(mproc_queue *q, uint64_t cap, const mproc_queue_opts *opts,
     uint64_t ring_off, uint32_t kind)
{
    q->cap = cap;
    q->maxsize = opts != NULL ? opts->maxsize : 0;
    q->ring_off = ring_off;
    q->kind = kind;
}

static int
create(mproc_queue **out, const mproc_queue_opts *opts, uint32_t kind)
{
    mproc_queue *q;
    uint64_t cap;
    void *mem;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    rc = capacity_of(opts, &cap);
    /* The ring starts at the first page boundary after the header: a page
     * of slack covers it (the default then fills a 64 MiB block). */
    if (rc == 0)
        rc = mproc__arena_alloc(sizeof(*q) + PAGE + cap, 64, &mem);
    if (rc < 0)
        return rc;
    q = mem;
    init(q, cap, opts,
         (((uintptr_t)q + sizeof(*q) + PAGE - 1) & ~(uintptr_t)(PAGE - 1)) -
             (uintptr_t)q,
         kind);
    *out = q;
    return 0;
}

int
mproc__queue_new_mapped(mproc_queue **out, const mproc_queue_opts *opts,
                        bool joinable, int *fd)
{
    uint64_t cap;
    void *mem;
    int rc;

    *out = NULL;
    *fd = -1;
    rc = capacity_of(opts, &cap);
    if (rc == 0)
        rc = *fd = mproc__memfd("mproc-queue", PAGE + cap);
    if (rc < 0)
        return rc;
    mem = mmap(NULL, PAGE + cap, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (mem == MAP_FAILED) {
        rc = -errno;
        mproc__close(fd);
        return rc;
    }
    init(mem, cap, opts, PAGE, joinable ? KIND_JOINABLE : KIND_QUEUE);
    ((mproc_queue *)mem)->mapped = 1;
    *out = mem;
    return 0;
}

int
mproc__queue_map(mproc_queue **out, int fd)
{
    mproc_queue *q;
    struct stat st;

    *out = NULL;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size < (off_t)(2 * PAGE) || st.st_size % PAGE != 0)
        return MPROC_EPROTOCOL;
    q = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
             0);
    if (q == MAP_FAILED)
        return -errno;
    /* Another process made it: trust only what matches the file. */
    if (q->mapped != 1 || q->ring_off != PAGE ||
        q->cap != (uint64_t)st.st_size - PAGE ||
        (q->kind != KIND_QUEUE && q->kind != KIND_JOINABLE)) {
        (void)munmap(q, (size_t)st.st_size);
        return MPROC_EPROTOCOL;
    }
    *out = q;
    return 0;
}

int
mproc_queue_new(mproc_queue **out, const mproc_queue_opts *opts)
{
    return create(out, opts, KIND_QUEUE);
}

int
mproc_joinable_queue_new(mproc_queue **out, const mproc_queue_opts *opts)
{
    return create(out, opts, KIND_JOINABLE);
}

int
mproc_simple_queue_new(mproc_queue **out)
{
    return create(out, NULL, KIND_SIMPLE);
}

int
mproc_queue_token(const mproc_queue *q, mproc_token *out)
{
    return mproc__arena_token(q, MPROC__TOKEN_QUEUE, out);
}

int
mproc_queue_from_token(mproc_queue **out, const mproc_token *t)
{
    void *mem;
    int rc;

    if (out == NULL)
        return MPROC_EINVAL;
    rc = mproc__arena_from_token(t, MPROC__TOKEN_QUEUE, &mem);
    *out = mem;
    return rc;
}

bool
mproc__queue_is_closed(const mproc_queue *q)
{
    return __atomic_load_n(&q->closed, __ATOMIC_ACQUIRE) != 0;
}

void
mproc_queue_free(mproc_queue *q)
{
    if (q != NULL && q->mapped)
        (void)munmap(q, q->ring_off + q->cap);
    else
        mproc__arena_unref(q);
}

int
mproc__queue_get_claimed(mproc_queue *q, void *buf, size_t size, size_t *len,
                         mproc__queue_claim claim, void *ctx, double timeout)
{
    *len = 0;
    return get(q,
               &(struct dest){ .buf = buf,
                               .size = size,
                               .len = len,
                               .claim = claim,
                               .claim_ctx = ctx },
               timeout);
}

uint64_t
mproc__queue_used(const mproc_queue *q)
{
    uint64_t head = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);

    return __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE) - head;
}

void
mproc__queue_wake_consumer(mproc_queue *q)
{
    wake(&q->put_seq, &q->get_sleepers, 1);
}

uint64_t
mproc__queue_capacity(const mproc_queue *q)
{
    return q->cap;
}

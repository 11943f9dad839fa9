/*
 * shm/arena.c - the private arena (shm.h): process-shared memory for the
 * library's own objects, in memfd segments that have no name, so nothing
 * outlives the process tree.
 *
 * A segment is one memfd, sized large (1 GiB, or more for a larger block)
 * but sparse: pages exist only once touched, and a freed large block gives
 * its pages back (MADV_REMOVE). Its first page holds the allocator, shared
 * by every process that maps the segment: free lists of power-of-two
 * blocks (64 bytes up), a bump pointer, and a robust process-shared mutex
 * guarding both. Each block starts with a header (struct block) holding its
 * shared reference count and a generation bumped at each free, which makes
 * the tokens of an earlier life fail.
 *
 * Process-local state (arena.mu guards it): the segments this process maps,
 * and a registry of the references it holds (block -> count), which the
 * atfork child handler turns into references of the child. When the
 * registry empties, the segments this process made (not those it adopted
 * from an exec'd parent) are unmapped and closed: a program that frees all
 * its objects holds no descriptor.
 *
 * Crash safety: the free lists and the bump pointer change by single
 * stores after the new state is written, so a process killed inside the
 * segment mutex leaves at worst a leaked block; the next locker sees
 * EOWNERDEAD and marks the mutex consistent.
 *
 * Lock order: arena.mu, then a segment's mutex; never the reverse.
 * Cost: alloc and free take both mutexes (no syscall but on a new segment
 * or a large block); ref and unref that does not free are one atomic each
 * plus the registry update under arena.mu.
 */
#include "shm/shm.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "sys/sys.h"

#define SEG_MAGIC 0x31474553434f524dULL /* "MROCSEG1" */
#define BLOCK_MAGIC 0x4b4c424dU         /* "MBLK" */
#define TOKEN_MAGIC 0x4b54504dU         /* "MPTK" */
#define SEG_DEFAULT_SIZE ((uint64_t)1 << 30)
#define PAGE 4096
#define MIN_SHIFT 6 /* the smallest block: 64 bytes */
#define N_CLASSES 40
#define CHUNK                                                                  \
    ((uint64_t)64 * 1024) /* small blocks are carved this many                 \
                             bytes at a time */

/* The allocator, at offset 0 of each segment. */
struct seg_header {
    uint64_t magic;
    uint64_t id;        /* random: names the segment in tokens */
    uint64_t size;      /* of the memfd; fixed */
    pthread_mutex_t mu; /* robust, process-shared: guards what follows */
    uint64_t top;       /* offset of the first byte never handed out */
    uint64_t free_head[N_CLASSES]; /* offset of a free block, 0: none */
};

/* The header of every block. The caller's memory starts user_off bytes in;
 * the 4 bytes just before it always hold user_off (this field when
 * user_off is 32), so a block is found from the caller's pointer. */
struct block {
    _Atomic uint32_t refs; /* shared references; 0 while free */
    uint32_t gen;          /* bumped at each free */
    uint32_t cls;          /* size is 64 << cls */
    uint32_t magic;
    uint64_t next_free; /* while free: the next free block's offset */
    uint32_t reserved;
    uint32_t user_off;
};
_Static_assert(sizeof(struct block) == 32, "block header is 32 bytes");

/* The wire form of a token (mproc_token.bytes). */
struct token {
    uint32_t magic;
    uint32_t kind;
    uint64_t seg_id;
    uint64_t offset; /* of the block */
    uint32_t gen;
    uint32_t reserved;
};
_Static_assert(sizeof(struct token) == sizeof(mproc_token), "token size");

struct segment {
    int fd;
    char *base;
    uint64_t size;
    uint64_t id;
    bool adopted; /* received from an exec'd parent: kept for good */
};

/* Process-local registry of held references: open addressing, linear
 * probing, backward-shift deletion. */
struct entry {
    uintptr_t key; /* 0: empty */
    long count;
};

static struct {
    pthread_mutex_t mu;
    struct segment segs[MPROC__ARENA_MAX_SEGMENTS];
    size_t nsegs;
    struct entry *table;
    size_t cap; /* a power of two, or 0 */
    size_t used;
} arena = { .mu = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

/* The block a caller's pointer belongs to (see struct block). */
static struct block *
block_of(const void *mem)
{
    return (struct block *)((const char *)mem -
                            *(const uint32_t *)((const char *)mem - 4));
}

/* ---- the registry ------------------------------------------------------- */

static size_t
slot_of(uintptr_t key, size_t cap)
{
    uint64_t h = (uint64_t)key * 0x9e3779b97f4a7c15ULL;

    return (size_t)(h >> 20) & (cap - 1);
}

static bool
registry_grow(void)
{
    size_t cap = arena.cap ? arena.cap * 2 : 64;
    struct entry *old = arena.table, *table = calloc(cap, sizeof(*table));

    if (table == NULL)
        return false;
    for (size_t i = 0; i < arena.cap; i++) {
        size_t j;

        if (old[i].key == 0)
            continue;
        for (j = slot_of(old[i].key, cap); table[j].key != 0;)
            j = (j + 1) & (cap - 1);
        table[j] = old[i];
    }
    free(old);
    arena.table = table;
    arena.cap = cap;
    return true;
}

/* Add delta to key's count; an entry at 0 is removed. Caller holds
 * arena.mu. False only when a new entry cannot be allocated. */
static bool
registry_add(const void *mem, long delta)
{
    uintptr_t key = (uintptr_t)mem;
    size_t i;

    if ((arena.used + 1) * 2 > arena.cap && !registry_grow())
        return false;
    for (i = slot_of(key, arena.cap); arena.table[i].key != key;
         i = (i + 1) & (arena.cap - 1)) {
        if (arena.table[i].key == 0) {
            arena.table[i].key = key;
            arena.used++;
            break;
        }
    }
    arena.table[i].count += delta;
    if (arena.table[i].count > 0)
        return true;
    /* Remove, shifting back the entries that probed past this slot. */
    arena.table[i] = (struct entry){ 0, 0 };
    arena.used--;
    for (size_t j = (i + 1) & (arena.cap - 1); arena.table[j].key != 0;
         j = (j + 1) & (arena.cap - 1)) {
        size_t home = slot_of(arena.table[j].key, arena.cap);

        /* Entry j may move to the hole at i when its home is not in the
         * cyclic range (i, j]. */
        if (((j - home) & (arena.cap - 1)) >= ((j - i) & (arena.cap - 1))) {
            arena.table[i] = arena.table[j];
            arena.table[j] = (struct entry){ 0, 0 };
            i = j;
        }
    }
    return true;
}

/* ---- fork ---------------------------------------------------------------- */

static void
arena_prepare(void)
{
    pthread_mutex_lock(&arena.mu);
}

static void
arena_parent(void)
{
    pthread_mutex_unlock(&arena.mu);
}

/* The child's copies of the parent's handles each hold a reference. */
static void
arena_child(void)
{
    for (size_t i = 0; i < arena.cap; i++) {
        struct entry *e = &arena.table[i];
        struct block *b;

        if (e->key == 0)
            continue;
        b = block_of((const void *)e->key);
        atomic_fetch_add_explicit(&b->refs, (uint32_t)e->count,
                                  memory_order_relaxed);
    }
    pthread_mutex_init(&arena.mu, NULL);
}

static void
arena_init(void)
{
    mproc__atfork(arena_prepare, arena_parent, arena_child);
}

/* ---- segments ------------------------------------------------------------ */

static void
seg_lock(struct seg_header *h)
{
    (void)mproc__shared_mutex_lock(&h->mu); /* see "Crash safety" above */
}

static int
seg_map(int fd, uint64_t size, char **base)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_NORESERVE, fd, 0);

    if (p == MAP_FAILED)
        return -errno;
    *base = p;
    return 0;
}

/* Caller holds arena.mu. A fresh segment of at least `need` usable bytes. */
static int
seg_create(uint64_t need, struct segment **out)
{
    struct segment s = { .fd = -1 };
    struct seg_header *h;
    int rc;

    if (arena.nsegs == MPROC__ARENA_MAX_SEGMENTS)
        return MPROC_ENOMEM;
    s.size = SEG_DEFAULT_SIZE;
    while (s.size < need + PAGE)
        s.size *= 2;
    rc = mproc__random_bytes(&s.id, sizeof(s.id));
    if (rc == 0)
        rc = s.fd = mproc__memfd("mproc-arena", s.size);
    if (rc >= 0)
        rc = seg_map(s.fd, s.size, &s.base);
    if (rc < 0) {
        mproc__close(&s.fd);
        return rc;
    }
    h = (struct seg_header *)s.base;
    h->id = s.id;
    h->size = s.size;
    h->top = PAGE;
    rc = mproc__shared_mutex_init(&h->mu);
    if (rc < 0) {
        (void)munmap(s.base, s.size);
        mproc__close(&s.fd);
        return rc;
    }
    h->magic = SEG_MAGIC;
    arena.segs[arena.nsegs] = s;
    *out = &arena.segs[arena.nsegs++];
    return 0;
}

/* Caller holds arena.mu: the segment holding [p, p+len), or NULL. */
static struct segment *
seg_of(const void *p, size_t len)
{
    for (size_t i = 0; i < arena.nsegs; i++) {
        struct segment *s = &arena.segs[i];

        if ((const char *)p >= s->base + PAGE &&
            (const char *)p + len <= s->base + s->size)
            return s;
    }
    return NULL;
}

/* Caller holds arena.mu: unmap and close what this process made, once it
 * holds no reference at all. */
static void
drop_unused_segments(void)
{
    size_t kept = 0;

    if (arena.used > 0)
        return;
    for (size_t i = 0; i < arena.nsegs; i++) {
        struct segment *s = &arena.segs[i];

        if (s->adopted) {
            arena.segs[kept++] = *s;
            continue;
        }
        (void)munmap(s->base, s->size);
        mproc__close(&s->fd);
    }
    arena.nsegs = kept;
    free(arena.table);
    arena.table = NULL;
    arena.cap = 0;
}

/* ---- blocks -------------------------------------------------------------- */

static uint64_t
block_size(uint32_t cls)
{
    return (uint64_t)1 << (cls + MIN_SHIFT);
}

/* Caller holds h->mu: a free block of cls from this segment, or 0. */
static uint64_t
seg_take(struct segment *s, uint32_t cls)
{
    struct seg_header *h = (struct seg_header *)s->base;
    uint64_t bs = block_size(cls), off, carve;

    off = h->free_head[cls];
    if (off != 0) {
        h->free_head[cls] = ((struct block *)(s->base + off))->next_free;
        return off;
    }
    carve = bs >= CHUNK ? bs : CHUNK;
    off = (h->top + PAGE - 1) & ~(uint64_t)(PAGE - 1);
    if (off + carve > h->size)
        return 0;
    /* A chunk of small blocks: hand out the first, list the rest, and
     * publish the new top last. */
    for (uint64_t at = off + carve - bs; at > off; at -= bs) {
        struct block *b = (struct block *)(s->base + at);

        b->magic = BLOCK_MAGIC;
        b->cls = cls;
        b->next_free = h->free_head[cls];
        h->free_head[cls] = at;
    }
    h->top = off + carve;
    return off;
}

/* Caller holds arena.mu and the block's last reference is gone. */
static void
block_free(struct segment *s, struct block *b)
{
    struct seg_header *h = (struct seg_header *)s->base;
    uint64_t bs = block_size(b->cls);

    b->gen++;
    if (bs >= CHUNK) /* give the pages back; they read as zero again */
        (void)madvise((char *)b + PAGE, bs - PAGE, MADV_REMOVE);
    seg_lock(h);
    b->next_free = h->free_head[b->cls];
    h->free_head[b->cls] = (uint64_t)((char *)b - s->base);
    pthread_mutex_unlock(&h->mu);
}

int
mproc__arena_alloc(size_t size, size_t align, void **mem)
{
    struct segment *s = NULL;
    uint64_t need, off = 0;
    uint32_t cls = 0, user_off;
    struct block *b = NULL;
    char *user = NULL;
    int rc = 0;

    *mem = NULL;
    if (align == 0)
        align = 16;
    if (size == 0 || size > ((uint64_t)1 << 46) || (align & (align - 1)) ||
        align > PAGE)
        return MPROC_EINVAL;
    user_off = align > sizeof(struct block) ? (uint32_t)align
                                            : (uint32_t)sizeof(struct block);
    need = size + user_off;
    while (block_size(cls) < need)
        cls++;
    if (cls >= N_CLASSES)
        return MPROC_EINVAL;

    pthread_once(&arena_once, arena_init);
    pthread_mutex_lock(&arena.mu);
    for (size_t i = 0; i < arena.nsegs && off == 0; i++) {
        struct seg_header *h = (struct seg_header *)arena.segs[i].base;

        s = &arena.segs[i];
        seg_lock(h);
        off = seg_take(s, cls);
        pthread_mutex_unlock(&h->mu);
    }
    if (off == 0) {
        rc = seg_create(block_size(cls), &s);
        if (rc == 0) {
            struct seg_header *h = (struct seg_header *)s->base;

            seg_lock(h);
            off = seg_take(s, cls);
            pthread_mutex_unlock(&h->mu);
        }
    }
    if (rc == 0 && off == 0)
        rc = MPROC_ENOMEM;
    if (rc == 0) {
        /* The header before the registry entry: a fork right after this
         * unlock finds the block from the entry (arena_child). */
        b = (struct block *)(s->base + off);
        user = (char *)b + user_off;
        b->magic = BLOCK_MAGIC;
        b->cls = cls;
        b->user_off = user_off;
        memcpy(user - 4, &user_off, sizeof(user_off));
        atomic_store_explicit(&b->refs, 1, memory_order_relaxed);
        if (!registry_add(user, 1)) {
            block_free(s, b);
            rc = MPROC_ENOMEM;
        }
    }
    if (rc < 0) {
        drop_unused_segments();
        pthread_mutex_unlock(&arena.mu);
        return rc;
    }
    pthread_mutex_unlock(&arena.mu);
    /* Zero what a previous life may have written: a small block whole, a
     * large one up to its first page (the rest was given back on free). */
    memset(user, 0,
           block_size(cls) < CHUNK ? block_size(cls) - user_off
                                   : PAGE - user_off);
    *mem = user;
    return 0;
}

void
mproc__arena_ref(void *mem)
{
    struct block *b = block_of(mem);

    pthread_mutex_lock(&arena.mu);
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    /* Without room to record it the reference stays shared only: a
     * forked child then does not add its own, which is safe for this
     * process and at worst frees early in the child. */
    (void)registry_add(mem, 1);
    pthread_mutex_unlock(&arena.mu);
}

void
mproc__arena_unref(void *mem)
{
    struct block *b;

    if (mem == NULL)
        return;
    b = block_of(mem);
    pthread_mutex_lock(&arena.mu);
    (void)registry_add(mem, -1);
    /* acq_rel: whatever this process wrote into the block happens before
     * the free in whichever process drops the last reference. */
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        block_free(seg_of(b, sizeof(*b)), b);
    drop_unused_segments();
    pthread_mutex_unlock(&arena.mu);
}

void
mproc__arena_exit(void)
{
    pthread_mutex_lock(&arena.mu);
    if (arena.used == 0 || mproc__thread_count() != 1) {
        pthread_mutex_unlock(&arena.mu);
        return;
    }
    for (size_t i = 0; i < arena.cap; i++) {
        struct entry *e = &arena.table[i];
        struct block *b;

        if (e->key == 0)
            continue;
        b = block_of((const void *)e->key);
        if (atomic_fetch_sub_explicit(&b->refs, (uint32_t)e->count,
                                      memory_order_acq_rel) ==
            (uint32_t)e->count)
            block_free(seg_of(b, sizeof(*b)), b);
        *e = (struct entry){ 0, 0 };
    }
    arena.used = 0;
    pthread_mutex_unlock(&arena.mu);
}

int
mproc__arena_token(const void *mem, uint32_t kind, mproc_token *out)
{
    const struct block *b;
    struct segment *s;
    struct token t = { 0 };

    if (mem == NULL || out == NULL)
        return MPROC_EINVAL;
    b = block_of(mem);

    pthread_mutex_lock(&arena.mu);
    s = seg_of(b, sizeof(*b));
    if (s != NULL) {
        t.magic = TOKEN_MAGIC;
        t.kind = kind;
        t.seg_id = s->id;
        t.offset = (uint64_t)((const char *)b - s->base);
        t.gen = b->gen;
    }
    pthread_mutex_unlock(&arena.mu);
    if (s == NULL)
        return MPROC_EINVAL;
    memcpy(out->bytes, &t, sizeof(t));
    return 0;
}

/* Take a reference on a block only while it is alive (refs > 0). */
static bool
ref_if_alive(struct block *b)
{
    uint32_t refs = atomic_load_explicit(&b->refs, memory_order_relaxed);

    do {
        if (refs == 0)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(
        &b->refs, &refs, refs + 1, memory_order_acquire, memory_order_relaxed));
    return true;
}

int
mproc__arena_from_token(const mproc_token *tok, uint32_t kind, void **mem)
{
    struct segment *s = NULL;
    struct block *b;
    struct token t;
    int rc = MPROC_EINVAL;

    if (mem == NULL)
        return MPROC_EINVAL;
    *mem = NULL;
    if (tok == NULL)
        return MPROC_EINVAL;
    memcpy(&t, tok->bytes, sizeof(t));
    if (t.magic != TOKEN_MAGIC || t.kind != kind || t.offset % 64 != 0)
        return MPROC_EINVAL;
    pthread_once(&arena_once, arena_init);
    pthread_mutex_lock(&arena.mu);
    for (size_t i = 0; i < arena.nsegs && s == NULL; i++)
        if (arena.segs[i].id == t.seg_id)
            s = &arena.segs[i];
    if (s == NULL) {
        pthread_mutex_unlock(&arena.mu);
        return -ENOENT;
    }
    b = (struct block *)(s->base + t.offset);
    if (t.offset >= PAGE && t.offset + PAGE <= s->size &&
        b->magic == BLOCK_MAGIC && b->cls < N_CLASSES &&
        t.offset + block_size(b->cls) <= s->size && ref_if_alive(b)) {
        char *user = (char *)b + b->user_off;

        if (b->gen == t.gen && registry_add(user, 1)) {
            *mem = user;
            rc = 0;
        } else if (atomic_fetch_sub_explicit(&b->refs, 1,
                                             memory_order_acq_rel) == 1) {
            block_free(s, b); /* it was freed meanwhile: ours was the last */
        }
    }
    pthread_mutex_unlock(&arena.mu);
    return rc;
}

int
mproc__arena_fds(int *fds, size_t max)
{
    int n = 0, rc = 0;

    pthread_mutex_lock(&arena.mu);
    for (size_t i = 0; i < arena.nsegs && (size_t)n < max; i++) {
        rc = mproc__dup(arena.segs[i].fd);
        if (rc < 0)
            break;
        fds[n++] = rc;
    }
    pthread_mutex_unlock(&arena.mu);
    if (rc < 0) {
        while (n > 0)
            mproc__close(&fds[--n]);
        return rc;
    }
    return n;
}

int
mproc__arena_adopt(const int *fds, size_t nfds)
{
    int rc = 0;

    pthread_once(&arena_once, arena_init);
    pthread_mutex_lock(&arena.mu);
    for (size_t i = 0; i < nfds; i++) {
        struct segment s = { .fd = fds[i], .adopted = true };
        const struct seg_header *h;
        struct stat st;

        if (rc == 0 && arena.nsegs == MPROC__ARENA_MAX_SEGMENTS)
            rc = MPROC_ENOMEM;
        if (rc == 0 && fstat(s.fd, &st) < 0)
            rc = -errno;
        s.size = (uint64_t)st.st_size;
        if (rc == 0 && s.size >= PAGE)
            rc = seg_map(s.fd, s.size, &s.base);
        else if (rc == 0)
            rc = MPROC_EPROTOCOL;
        if (rc < 0) {
            mproc__close(&s.fd);
            continue;
        }
        h = (const struct seg_header *)s.base;
        if (h->magic != SEG_MAGIC || h->size != s.size) {
            (void)munmap(s.base, s.size);
            mproc__close(&s.fd);
            rc = MPROC_EPROTOCOL;
            continue;
        }
        s.id = h->id;
        arena.segs[arena.nsegs++] = s;
    }
    pthread_mutex_unlock(&arena.mu);
    return rc;
}

/*
 * process.c - mproc_process: Python's multiprocessing.Process, with
 * current_process, parent_process and active_children.
 *
 * A handle is reference-counted: the caller holds one reference from
 * mproc_process_new() to mproc_process_free(), and the registry of this
 * process's running children holds another from start until the child has
 * been reaped. So a handle freed while its child runs lives on in the
 * registry, where active_children() and the exit-time join still find it.
 *
 * Reaping goes through the pidfd (fork, spawn) or reads the status the
 * forkserver writes into the sentinel pipe; only the process that started
 * a child reaps it (`creator`).
 *
 * Lock order: registry.mu, then a handle's mu; never a handle's mu, then
 * registry.mu. No lock is held across a blocking wait.
 * Fork: the child gets a fresh registry (its parent's children are not its
 * own), fresh mutexes, a counter from 1 and, when mproc started it, its own
 * name and identity (mproc__process_run_child).
 */
#include "process.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "context.h"
#include "log.h"
#include "shm/shm.h"
#include "sys/sys.h"

enum kind {
    KIND_CHILD,
    KIND_CURRENT,
    KIND_PARENT
};
enum state {
    STATE_CREATED,
    STATE_STARTING,
    STATE_STARTED,
    STATE_CLOSED
};

struct mproc_process {
    pthread_mutex_t mu; /* guards the fields below it, but for the
                           registry links, which registry.mu guards */
    atomic_int refs;    /* the caller's, plus the registry's */
    enum kind kind;     /* fixed at creation */
    enum state state;
    char *name;
    char *identity;      /* "2:1"; "" for the main process */
    mproc_target target; /* fixed at creation */
    void *arg;           /* fixed at creation */
    size_t arg_len;
    bool daemon;
    unsigned char *authkey; /* NULL in the current process until used */
    size_t authkey_len;
    enum mproc_start_method method;
    _Atomic pid_t pid; /* 0 until started; read without mu */
    pid_t creator;     /* the process that started it: the reaper */
    int pidfd;         /* -1 until started and after close */
    int sentinel;      /* == pidfd, or the forkserver's status pipe */
    int exitcode;      /* MPROC_EXITCODE_NONE until reaped */
    bool in_registry;  /* guarded by registry.mu, as are prev/next */
    struct mproc_process *prev, *next;
};

/* This process's running children, and the counter that names them. */
static struct {
    pthread_mutex_t mu;
    struct mproc_process *head;
    atomic_uint counter;
} registry = { .mu = PTHREAD_MUTEX_INITIALIZER };

static struct mproc_process current = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .refs = 1,
    .kind = KIND_CURRENT,
    .state = STATE_STARTED,
    .pidfd = -1,
    .sentinel = -1,
    .exitcode = MPROC_EXITCODE_NONE,
};
static struct mproc_process parent = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .refs = 1,
    .kind = KIND_PARENT,
    .state = STATE_STARTED,
    .pidfd = -1,
    .sentinel = -1,
    .exitcode = MPROC_EXITCODE_NONE,
};
static bool has_parent;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void
registry_lock(void)
{
    pthread_mutex_lock(&registry.mu);
}

static void
registry_unlock(void)
{
    pthread_mutex_unlock(&registry.mu);
}

/* In the child of any fork: the parent's children are not ours, and locks
 * other threads held are free again. The handles stay in the child's
 * memory for whoever holds them; the registry's references are dropped
 * without freeing (a destroy here would not be async-signal-safe). */
static void
atfork_child(void)
{
    struct mproc_process *p = registry.head;

    while (p != NULL) {
        struct mproc_process *next = p->next;

        pthread_mutex_init(&p->mu, NULL);
        p->in_registry = false;
        p->prev = p->next = NULL;
        atomic_fetch_sub(&p->refs, 1);
        p = next;
    }
    registry.head = NULL;
    atomic_store(&registry.counter, 0);
    pthread_mutex_init(&registry.mu, NULL);
    pthread_mutex_init(&current.mu, NULL);
    pthread_mutex_init(&parent.mu, NULL);
}

static void
process_init(void)
{
    if (current.name == NULL) {
        current.name = strdup("MainProcess");
        current.identity = strdup("");
    }
    mproc__atfork(registry_lock, registry_unlock, atfork_child);
}

static void
ensure_init(void)
{
    pthread_once(&init_once, process_init);
}

static void
destroy(struct mproc_process *p)
{
    if (p->sentinel != p->pidfd)
        mproc__close(&p->sentinel);
    mproc__close(&p->pidfd);
    pthread_mutex_destroy(&p->mu);
    free(p->name);
    free(p->identity);
    free(p->arg);
    free(p->authkey);
    free(p);
}

static void
unref(struct mproc_process *p)
{
    if (atomic_fetch_sub(&p->refs, 1) == 1)
        destroy(p);
}

static void
registry_add(struct mproc_process *p)
{
    atomic_fetch_add(&p->refs, 1);
    registry_lock();
    p->in_registry = true;
    p->prev = NULL;
    p->next = registry.head;
    if (registry.head != NULL)
        registry.head->prev = p;
    registry.head = p;
    registry_unlock();
}

/* Unlink p; the caller holds registry.mu and then drops the reference. */
static bool
registry_unlink_locked(struct mproc_process *p)
{
    if (!p->in_registry)
        return false;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        registry.head = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    p->in_registry = false;
    return true;
}

static void
registry_remove(struct mproc_process *p)
{
    bool was_in;

    registry_lock();
    was_in = registry_unlink_locked(p);
    registry_unlock();
    if (was_in)
        unref(p);
}

/*
 * Collect the exit code of an ended child without blocking: 0 once known,
 * -EAGAIN while it runs or when this process may not reap it.
 * Caller holds p->mu.
 */
static int
reap_locked(struct mproc_process *p)
{
    int32_t status;
    int rc;

    if (p->exitcode != MPROC_EXITCODE_NONE)
        return 0;
    if (p->kind != KIND_CHILD || p->state != STATE_STARTED ||
        p->creator != mproc__self_pid())
        return -EAGAIN;
    if (p->sentinel != p->pidfd) {
        /* forkserver: the server writes the status once it has reaped. */
        if (!mproc__is_readable(p->sentinel))
            return -EAGAIN;
        rc = mproc__read_full(p->sentinel, &status, sizeof(status));
        p->exitcode = rc == 0 ? status : MPROC__EXITCODE_LOST;
        return 0;
    }
    rc = mproc__pidfd_reap(p->pidfd, &p->exitcode);
    if (rc == -EAGAIN)
        return rc;
    if (rc < 0) /* ECHILD: reaped behind the library's back */
        p->exitcode = MPROC__EXITCODE_LOST;
    return 0;
}

/* Reap if ended; true when the child has ended. Takes p->mu. */
static bool
poll_ended(struct mproc_process *p)
{
    bool ended;

    pthread_mutex_lock(&p->mu);
    ended = reap_locked(p) == 0;
    pthread_mutex_unlock(&p->mu);
    return ended;
}

static char *
child_identity(unsigned n)
{
    char *id = NULL;

    pthread_mutex_lock(&current.mu);
    if (asprintf(&id, "%s%s%u", current.identity,
                 current.identity[0] != '\0' ? ":" : "", n) < 0)
        id = NULL;
    pthread_mutex_unlock(&current.mu);
    return id;
}

/* Replace p's key with a copy of key; caller holds p->mu. */
static int
store_authkey(struct mproc_process *p, const void *key, size_t len)
{
    unsigned char *copy = malloc(len);

    if (copy == NULL)
        return MPROC_ENOMEM;
    memcpy(copy, key, len);
    free(p->authkey);
    p->authkey = copy;
    p->authkey_len = len;
    return 0;
}

/* The main process's key: 32 random bytes, made at first use (Python's
 * os.urandom(32)). Caller holds current.mu. */
static int
current_authkey_locked(void)
{
    unsigned char key[32];
    int rc;

    if (current.authkey != NULL)
        return 0;
    rc = mproc__random_bytes(key, sizeof(key));
    if (rc == 0)
        rc = store_authkey(&current, key, sizeof(key));
    return rc;
}

/* A new process object starts with its creator's key. */
static int
copy_current_authkey(struct mproc_process *p)
{
    int rc;

    pthread_mutex_lock(&current.mu);
    rc = current_authkey_locked();
    if (rc == 0)
        rc = store_authkey(p, current.authkey, current.authkey_len);
    pthread_mutex_unlock(&current.mu);
    return rc;
}

int
mproc_process_new(mproc_process **out, mproc_target target, const void *arg,
                  size_t len, const mproc_process_opts *opts)
{
    static const mproc_process_opts defaults;
    struct mproc_process *p;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (target == NULL || (arg == NULL && len > 0) ||
        (unsigned)opts->start_method > MPROC_START_FORKSERVER)
        return MPROC_EINVAL;
    ensure_init();

    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return MPROC_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    atomic_init(&p->refs, 1);
    p->kind = KIND_CHILD;
    p->state = STATE_CREATED;
    p->target = target;
    p->daemon = opts->daemon;
    p->method = opts->start_method;
    p->pidfd = p->sentinel = -1;
    p->exitcode = MPROC_EXITCODE_NONE;
    p->identity = child_identity(atomic_fetch_add(&registry.counter, 1) + 1);
    if (p->identity == NULL)
        goto fail;
    if (opts->name != NULL)
        p->name = strdup(opts->name);
    else if (asprintf(&p->name, "Process-%s", p->identity) < 0)
        p->name = NULL;
    if (p->name == NULL)
        goto fail;
    if (len > 0) {
        p->arg = malloc(len);
        if (p->arg == NULL)
            goto fail;
        memcpy(p->arg, arg, len);
        p->arg_len = len;
    }
    if (copy_current_authkey(p) < 0)
        goto fail;
    *out = p;
    return 0;

fail:
    destroy(p);
    return MPROC_ENOMEM;
}

/* Python's _exit_function: terminate daemonic children, join them all. */
static void
exit_children(void)
{
    struct mproc_process **all = NULL;
    size_t n = 0, cap = 0;

    registry_lock();
    for (struct mproc_process *p = registry.head; p != NULL; p = p->next)
        cap++;
    if (cap > 0)
        all = calloc(cap, sizeof(*all));
    for (struct mproc_process *p = registry.head; all != NULL && p != NULL;
         p = p->next) {
        atomic_fetch_add(&p->refs, 1);
        all[n++] = p;
    }
    registry_unlock();
    if (n > 0)
        mproc__log(MPROC_LOG_INFO, "process shutting down");
    for (size_t i = 0; i < n; i++) {
        if (all[i]->daemon && !poll_ended(all[i])) {
            mproc__log(MPROC_LOG_INFO, "calling terminate() for daemon %s",
                       all[i]->name);
            (void)mproc_process_terminate(all[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        mproc__log(MPROC_LOG_INFO, "calling join() for process %s",
                   all[i]->name);
        (void)mproc_process_join(all[i], MPROC_FOREVER);
        unref(all[i]);
    }
    free(all);
}

static void
register_exit(void)
{
    (void)atexit(exit_children);
}

/* Python's _flush_std_streams. An empty stream is left alone: fflush would
 * still take its lock, a write to a page shared with the parent after a
 * fork (a copy-on-write fault on the start path). */
static void
flush_std_streams(void)
{
    if (__fpending(stdout) > 0)
        fflush(stdout);
    if (__fpending(stderr) > 0)
        fflush(stderr);
}

/* Fill the spec the start methods work from; p's fixed fields only. */
static int
build_spec(struct mproc_process *p, enum mproc_start_method method,
           char *parent_name, struct mproc__child_spec *spec)
{
    *spec = (struct mproc__child_spec){
        .name = p->name,
        .identity = p->identity,
        .daemon = p->daemon,
        .log_level = mproc_logger_level(mproc_get_logger()),
        .parent_pid = mproc__self_pid(),
        .parent_name = parent_name,
        .target = p->target,
        .arg = p->arg,
        .arg_len = p->arg_len,
        .authkey = p->authkey,
        .authkey_len = p->authkey_len,
    };
    if (method == MPROC_START_FORK)
        return 0;
    return mproc__target_locate(p->target, &spec->loc);
}

static int
start_child(struct mproc_process *p, enum mproc_start_method method,
            struct mproc__started *started)
{
    char parent_name[256];
    struct mproc__child_spec spec;
    int parent_pidfd;
    int rc;

    mproc__process_current_name(parent_name, sizeof(parent_name));
    rc = build_spec(p, method, parent_name, &spec);
    if (rc < 0)
        return rc;
    /* What the parent printed comes out before what the child prints. */
    flush_std_streams();
    /* The child watches this pidfd to learn when its parent is gone. */
    parent_pidfd = mproc__self_pidfd();
    if (parent_pidfd < 0) {
        rc = parent_pidfd;
    } else if (method == MPROC_START_FORK) {
        rc = mproc__start_fork(&spec, parent_pidfd, started);
    } else if (method == MPROC_START_SPAWN) {
        rc = mproc__start_spawn(&spec, parent_pidfd, started);
    } else {
        rc = mproc__start_forkserver(&spec, parent_pidfd, started);
    }
    mproc__target_loc_clear(&spec.loc);
    return rc;
}

int
mproc_process_start(mproc_process *p)
{
    struct mproc__started started;
    enum mproc_start_method method;
    int rc;

    if (p == NULL)
        return MPROC_EINVAL;
    ensure_init();
    pthread_mutex_lock(&p->mu);
    if (p->kind != KIND_CHILD || p->state != STATE_CREATED || current.daemon) {
        pthread_mutex_unlock(&p->mu);
        return MPROC_ESTATE;
    }
    p->state = STATE_STARTING;
    pthread_mutex_unlock(&p->mu);

    pthread_once(&exit_once, register_exit);
    method = mproc__start_method_resolve(p->method);
    rc = start_child(p, method, &started);

    pthread_mutex_lock(&p->mu);
    if (rc < 0) {
        p->state = STATE_CREATED;
    } else {
        p->state = STATE_STARTED;
        p->method = method;
        atomic_store(&p->pid, started.pid);
        p->pidfd = started.pidfd;
        p->sentinel = started.sentinel;
        p->creator = mproc__self_pid();
    }
    pthread_mutex_unlock(&p->mu);
    if (rc < 0)
        return rc;
    registry_add(p);
    mproc__log(MPROC_LOG_DEBUG, "started %s (pid %d, %s)", p->name, (int)p->pid,
               mproc_start_method_name(method));
    return 0;
}

int
mproc_process_join(mproc_process *p, double timeout)
{
    struct mproc__deadline dl;
    int sentinel;
    int rc;

    if (p == NULL)
        return MPROC_EINVAL;
    rc = mproc__deadline_init(&dl, timeout);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&p->mu);
    if (p->kind == KIND_CURRENT || p->state != STATE_STARTED ||
        (p->kind == KIND_CHILD && p->creator != mproc__self_pid())) {
        pthread_mutex_unlock(&p->mu);
        return MPROC_ESTATE;
    }
    if (p->exitcode != MPROC_EXITCODE_NONE) {
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    sentinel = p->sentinel;
    pthread_mutex_unlock(&p->mu);

    rc = mproc__wait_readable(sentinel, &dl);
    if (rc < 0 || p->kind == KIND_PARENT)
        return rc;
    (void)poll_ended(p);
    registry_remove(p);
    return 0;
}

bool
mproc_process_is_alive(mproc_process *p)
{
    bool alive;

    if (p == NULL)
        return false;
    if (p->kind == KIND_CURRENT)
        return true;
    pthread_mutex_lock(&p->mu);
    if (p->state != STATE_STARTED) {
        alive = false;
    } else if (p->kind == KIND_CHILD && p->creator == mproc__self_pid()) {
        alive = reap_locked(p) != 0;
    } else {
        /* the parent, or a sibling's handle inherited through fork */
        alive = !mproc__is_readable(p->sentinel);
    }
    pthread_mutex_unlock(&p->mu);
    if (!alive && p->kind == KIND_CHILD)
        registry_remove(p);
    return alive;
}

int
mproc_process_exitcode(mproc_process *p)
{
    int code;

    if (p == NULL || p->kind != KIND_CHILD)
        return MPROC_EXITCODE_NONE;
    pthread_mutex_lock(&p->mu);
    (void)reap_locked(p);
    code = p->exitcode;
    pthread_mutex_unlock(&p->mu);
    if (code != MPROC_EXITCODE_NONE)
        registry_remove(p);
    return code;
}

pid_t
mproc_process_pid(const mproc_process *p)
{
    if (p == NULL)
        return 0;
    if (p->kind == KIND_CURRENT)
        return mproc__self_pid();
    return atomic_load(&p->pid);
}

const char *
mproc_process_name(const mproc_process *p)
{
    if (p == NULL)
        return "";
    if (p->kind == KIND_CURRENT)
        ensure_init();
    return p->name != NULL ? p->name : "";
}

int
mproc_process_set_name(mproc_process *p, const char *name)
{
    char *copy;

    if (p == NULL || name == NULL)
        return MPROC_EINVAL;
    copy = strdup(name);
    if (copy == NULL)
        return MPROC_ENOMEM;
    if (p->kind == KIND_CURRENT)
        ensure_init();
    pthread_mutex_lock(&p->mu);
    free(p->name);
    p->name = copy;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

bool
mproc_process_is_daemon(const mproc_process *p)
{
    return p != NULL && p->daemon;
}

int
mproc_process_set_daemon(mproc_process *p, bool daemon)
{
    int rc = 0;

    if (p == NULL)
        return MPROC_EINVAL;
    pthread_mutex_lock(&p->mu);
    if (p->kind != KIND_CHILD || p->state != STATE_CREATED)
        rc = MPROC_ESTATE;
    else
        p->daemon = daemon;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

const void *
mproc_process_authkey(mproc_process *p, size_t *len)
{
    const void *key = NULL;
    size_t n = 0;

    if (p != NULL) {
        if (p->kind == KIND_CURRENT)
            ensure_init();
        pthread_mutex_lock(&p->mu);
        if (p->kind != KIND_CURRENT || current_authkey_locked() == 0) {
            key = p->authkey;
            n = p->authkey_len;
        }
        pthread_mutex_unlock(&p->mu);
    }
    if (len != NULL)
        *len = n;
    return key;
}

int
mproc_process_set_authkey(mproc_process *p, const void *key, size_t len)
{
    int rc;

    if (p == NULL || key == NULL || len == 0)
        return MPROC_EINVAL;
    if (p->kind == KIND_CURRENT)
        ensure_init();
    pthread_mutex_lock(&p->mu);
    if (p->kind == KIND_PARENT ||
        (p->kind == KIND_CHILD && p->state != STATE_CREATED))
        rc = MPROC_ESTATE;
    else
        rc = store_authkey(p, key, len);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int
send_signal(mproc_process *p, int sig)
{
    int rc = 0;

    if (p == NULL)
        return MPROC_EINVAL;
    pthread_mutex_lock(&p->mu);
    if (p->kind != KIND_CHILD || p->state != STATE_STARTED)
        rc = MPROC_ESTATE;
    else if (p->exitcode == MPROC_EXITCODE_NONE)
        rc = mproc__pidfd_signal(p->pidfd, sig);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int
mproc_process_terminate(mproc_process *p)
{
    return send_signal(p, SIGTERM);
}

int
mproc_process_kill(mproc_process *p)
{
    return send_signal(p, SIGKILL);
}

int
mproc_process_close(mproc_process *p)
{
    int rc = 0;

    if (p == NULL)
        return MPROC_EINVAL;
    pthread_mutex_lock(&p->mu);
    if (p->kind != KIND_CHILD) {
        rc = MPROC_ESTATE;
    } else if (p->state == STATE_STARTED && reap_locked(p) != 0) {
        rc = MPROC_ESTATE; /* still running, or not ours to reap */
    } else if (p->state == STATE_STARTING) {
        rc = MPROC_ESTATE;
    } else {
        if (p->sentinel != p->pidfd)
            mproc__close(&p->sentinel);
        mproc__close(&p->pidfd);
        p->sentinel = -1;
        p->state = STATE_CLOSED;
    }
    pthread_mutex_unlock(&p->mu);
    if (rc == 0)
        registry_remove(p);
    return rc;
}

int
mproc_process_sentinel(const mproc_process *p)
{
    if (p == NULL || p->kind == KIND_CURRENT)
        return -1;
    return p->sentinel;
}

void
mproc_process_free(mproc_process *p)
{
    if (p == NULL || p->kind != KIND_CHILD)
        return;
    if (poll_ended(p))
        registry_remove(p);
    unref(p);
}

mproc_process *
mproc_current_process(void)
{
    ensure_init();
    return &current;
}

mproc_process *
mproc_parent_process(void)
{
    return has_parent ? &parent : NULL;
}

int
mproc_active_children(mproc_process ***out, size_t *n)
{
    mproc_process **list = NULL;
    struct mproc_process *p, *next;
    size_t count = 0, cap = 0;

    if (out == NULL || n == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    *n = 0;
    registry_lock();
    for (p = registry.head; p != NULL; p = p->next)
        cap++;
    if (cap > 0) {
        list = calloc(cap, sizeof(*list));
        if (list == NULL) {
            registry_unlock();
            return MPROC_ENOMEM;
        }
    }
    for (p = registry.head; p != NULL; p = next) {
        next = p->next;
        if (poll_ended(p)) {
            registry_unlink_locked(p);
            unref(p);
        } else {
            list[count++] = p;
        }
    }
    registry_unlock();
    if (count == 0) {
        free(list);
        list = NULL;
    }
    *out = list;
    *n = count;
    return 0;
}

int
mproc_cpu_count(void)
{
    return mproc__cpu_count();
}

void
mproc__process_current_name(char *buf, size_t size)
{
    pthread_mutex_lock(&current.mu);
    snprintf(buf, size, "%s",
             current.name != NULL ? current.name : "MainProcess");
    pthread_mutex_unlock(&current.mu);
}

/* A daemon's guard: the parent's pidfd turns readable when the parent is
 * gone, however it ended; the daemon then goes too. A thread rather than
 * PR_SET_PDEATHSIG, which follows the forking thread, not the process. */
static void *
watch_parent(void *arg)
{
    struct mproc__deadline forever = { .forever = true };
    int fd = (int)(intptr_t)arg;

    if (mproc__wait_readable(fd, &forever) == 0)
        mproc__sig_kill_self();
    return NULL;
}

static void
start_parent_watch(int parent_pidfd)
{
    pthread_attr_t attr;
    pthread_t thread;
    sigset_t old;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    mproc__sig_block_all(&old); /* signals are for the target's thread */
    (void)pthread_create(&thread, &attr, watch_parent,
                         (void *)(intptr_t)parent_pidfd);
    mproc__sig_restore(&old);
    pthread_attr_destroy(&attr);
}

/* Whether p already holds the spec's key: a forked child usually does,
 * and then need not write (a copy-on-write fault) to store it again. */
static bool
same_key(const struct mproc_process *p, const struct mproc__child_spec *spec)
{
    return spec->authkey_len == 0 ||
           (p->authkey_len == spec->authkey_len &&
            memcmp(p->authkey, spec->authkey, spec->authkey_len) == 0);
}

static void
become_child(const struct mproc__child_spec *spec, int parent_pidfd)
{
    ensure_init();
    pthread_mutex_lock(&current.mu);
    free(current.name);
    free(current.identity);
    current.name = strdup(spec->name);
    current.identity = strdup(spec->identity);
    current.daemon = spec->daemon;
    if (!same_key(&current, spec))
        (void)store_authkey(&current, spec->authkey, spec->authkey_len);
    pthread_mutex_unlock(&current.mu);

    pthread_mutex_lock(&parent.mu);
    mproc__close(&parent.sentinel);
    free(parent.name);
    parent.name = strdup(spec->parent_name);
    parent.pid = spec->parent_pid;
    parent.sentinel = parent_pidfd;
    pthread_mutex_unlock(&parent.mu);
    has_parent = parent_pidfd >= 0;
    /* As Python's children: stdin is /dev/null, so children never fight
     * over the terminal. */
    (void)mproc__stdin_to_devnull();
    if (spec->log_level > MPROC_LOG_NOTSET) /* exec'd children start silent */
        (void)mproc_logger_set_level(mproc_get_logger(), spec->log_level);
    if (spec->daemon && parent_pidfd >= 0)
        start_parent_watch(parent_pidfd);
}

_Noreturn void
mproc__process_run_child(const struct mproc__child_spec *spec, int parent_pidfd)
{
    int code;

    become_child(spec, parent_pidfd);
    mproc__log(MPROC_LOG_INFO, "child process calling its target");
    code = spec->target(spec->arg, spec->arg_len);
    exit_children();
    mproc__log(MPROC_LOG_INFO, "process exiting with exitcode %d", code);
    flush_std_streams();
    mproc__arena_exit();
    _exit(code);
}

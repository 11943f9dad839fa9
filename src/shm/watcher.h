/*
 * shm/watcher.h - the named-segment reaper, private side (watcher.c).
 *
 * A process tree that creates named segments in /dev/shm registers each
 * name with one watcher process outside its process group and session;
 * when every process of the tree is gone (SIGKILL included), the watcher
 * unlinks the names still registered and exits. Names are registered
 * before the segment is created, so no kill can land between the two
 * and leak it.
 */
#ifndef MPROC_SHM_WATCHER_H
#define MPROC_SHM_WATCHER_H

/* What a message asks of the watcher. */
enum mproc__watch_op {
    MPROC__WATCH_REGISTER = 'R', /* about to create: count +1 */
    MPROC__WATCH_FAILED = 'F',   /* the create that registered failed: -1 */
    MPROC__WATCH_FORGET = 'U',   /* unlinked (by anyone): drop the name */
};

/* Tell this tree's watcher about `name` (a checked segment name, no '/').
 * REGISTER starts the watcher on first use and fails (-errno) when no
 * watcher can be reached; FAILED and FORGET are best effort, never start
 * one, and always return 0. */
int mproc__watch(enum mproc__watch_op op, const char *name);

#endif /* MPROC_SHM_WATCHER_H */

/*
 * tests/interop/python.h - what the interop tests share: finding each
 * Python at hand (PATH's python3, 3.12 and 3.13 from pyenv or PATH) and
 * running tests/interop/peer.py under it as a child whose stdout the test
 * reads. A peer whose test dies is killed with it (PR_SET_PDEATHSIG).
 */
#ifndef INTEROP_PYTHON_H
#define INTEROP_PYTHON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Seconds any one step may take; every step needs far less. */
#define STEP_TIMEOUT 30.0

struct peer {
    pid_t pid;
    int out; /* the read end of its stdout */
};

/* The interpreter for `version` ("3": PATH's python3; "3.12": a pyenv
 * 3.12.x, else PATH's python3.12), or skip the test. */
void python_or_skip(const char *version, char *path, size_t size);

/* Start `python peer.py ARGS...`; with give_fd >= 0, that descriptor
 * becomes the peer's fd 3 (all others but 0-2 are closed in it). */
struct peer peer_start(const char *python, const char *const *args,
                       int give_fd);

/* Read the peer's stdout into buf (NUL-terminated, the rest dropped) up to
 * a newline (whole false) or its end (whole true, a last newline dropped),
 * within STEP_TIMEOUT. Returns false when the time ran out. */
bool peer_read(struct peer *p, char *buf, size_t size, bool whole);

/* The first line the peer prints (a listener's address). */
void peer_line(struct peer *p, char *buf, size_t size);

/* Read the rest of the peer's output into buf, reap it and return its
 * exit status (-signal when killed); a peer still running after
 * STEP_TIMEOUT is killed and the test fails. */
int peer_finish(struct peer *p, char *buf, size_t size);

#endif /* INTEROP_PYTHON_H */

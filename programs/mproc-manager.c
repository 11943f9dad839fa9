/*
 * mproc-manager - a standalone manager server: serves the builtin types
 * (SyncManager's) and shared memory segments at an address, to clients
 * that prove the authkey (mproc_manager_connect()). Python's
 * BaseManager(address, authkey).get_server().serve_forever().
 *
 * It prints "serving ADDRESS" once it listens (with the real port for
 * tcp://HOST:0) and stops cleanly on SIGTERM or SIGINT, or when a client
 * asks it to (mproc_manager_shutdown()): connections are closed, objects
 * freed and segments unlinked before it exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

static mproc_manager_server *server;

static void
on_signal(int sig)
{
    (void)sig;
    mproc_manager_server_stop(server);
}

static void
usage(FILE *to)
{
    fputs("usage: mproc-manager [--address ADDRESS] [--authkey-file PATH]\n"
          "                     [--authkey-env NAME]\n"
          "\n"
          "Serve mproc manager objects (dict, list, Namespace, Queue,\n"
          "JoinableQueue, Lock, RLock, Semaphore, BoundedSemaphore,\n"
          "Condition, Event, Barrier, Value, Array, shared memory) to\n"
          "clients that prove the authkey.\n"
          "\n"
          "  --address ADDRESS    unix:PATH, unix:@NAME or tcp://HOST:PORT\n"
          "                       (port 0: any free port); default: a fresh\n"
          "                       abstract unix address\n"
          "  --authkey-file PATH  the key is the file's bytes (up to 64 KiB)\n"
          "  --authkey-env NAME   the key is that environment variable's\n"
          "                       value (default: MPROC_AUTHKEY)\n"
          "  --help               show this and exit\n"
          "\n"
          "A key is required: from --authkey-file, or the environment.\n"
          "Prints \"serving ADDRESS\" once listening; stops cleanly on\n"
          "SIGTERM, SIGINT or a client's shutdown request.\n",
          to);
}

/* The key: a file's bytes, or an environment variable's value. */
static int
read_key(const char *file, const char *env, char **key, size_t *len)
{
    if (file != NULL) {
        FILE *f = fopen(file, "rbe");
        size_t cap = 65536;

        if (f == NULL)
            return -errno;
        *key = malloc(cap + 1);
        *len = *key != NULL ? fread(*key, 1, cap + 1, f) : 0;
        fclose(f);
        if (*key == NULL)
            return -ENOMEM;
        if (*len > cap) {
            free(*key);
            return -EFBIG;
        }
        return 0;
    }
    *key = getenv(env);
    if (*key == NULL)
        return -ENOENT;
    *key = strdup(*key);
    *len = *key != NULL ? strlen(*key) : 0;
    return *key != NULL ? 0 : -ENOMEM;
}

int
main(int argc, char **argv)
{
    const char *address = NULL, *file = NULL, *env = "MPROC_AUTHKEY";
    struct sigaction sa = { .sa_handler = on_signal };
    char *key = NULL;
    size_t key_len = 0;
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--address") == 0)
            address = argv[++i];
        else if (strcmp(a, "--authkey-file") == 0)
            file = argv[++i];
        else if (strcmp(a, "--authkey-env") == 0)
            env = argv[++i];
        else {
            usage(stderr);
            return 2;
        }
    }
    rc = read_key(file, env, &key, &key_len);
    if (rc < 0) {
        fprintf(stderr,
                "mproc-manager: no authkey (%s): give --authkey-file "
                "or set %s\n",
                mproc_strerror(rc), env);
        return 2;
    }
    rc = mproc_manager_server_new(
        &server, &(mproc_manager_opts){ .address = address,
                                        .authkey = key,
                                        .authkey_len = key_len });
    free(key);
    if (rc < 0) {
        fprintf(stderr, "mproc-manager: cannot serve %s: %s\n",
                address != NULL ? address : "a fresh address",
                mproc_strerror(rc));
        return 1;
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("serving %s\n", mproc_manager_server_address(server));
    fflush(stdout);
    rc = mproc_manager_server_serve_forever(server);
    mproc_manager_server_free(server);
    if (rc < 0) {
        fprintf(stderr, "mproc-manager: %s\n", mproc_strerror(rc));
        return 1;
    }
    return 0;
}

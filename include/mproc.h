/**
 * @file mproc.h
 * mproc: Python's multiprocessing for C. The umbrella header: it includes
 * every public header and declares nothing itself.
 */
#ifndef MPROC_H
#define MPROC_H

#include "mproc/common.h"
#include "mproc/conn.h"
#include "mproc/context.h"
#include "mproc/filelock.h"
#include "mproc/future.h"
#include "mproc/listener.h"
#include "mproc/log.h"
#include "mproc/manager.h"
#include "mproc/pool.h"
#include "mproc/process.h"
#include "mproc/queue.h"
#include "mproc/shm.h"
#include "mproc/subprocess.h"
#include "mproc/sync.h"
#include "mproc/value.h"

#endif /* MPROC_H */

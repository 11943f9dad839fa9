/*
 * value/internal.h - what the rest of the library (the pickle decoder) may
 * do to objects beyond the public API: hand over references it would
 * otherwise only drop, sparing a pair of atomic operations per item.
 */
#ifndef MPROC_VALUE_INTERNAL_H
#define MPROC_VALUE_INTERNAL_H

#include "mproc/value.h"

/* mproc_obj_dict_set, except that on success the dict takes over the
 * caller's references to key and value; on failure the caller keeps them. */
int value_dict_set_owned(mproc_obj *d, mproc_obj *key, mproc_obj *value);

#endif /* MPROC_VALUE_INTERNAL_H */

/*
 * value/internal.h - what the rest of the library (the pickle decoder) may
 * do to objects beyond the public API: hand over references it would
 * otherwise only drop, sparing a pair of atomic operations per item.
 */
#ifndef MPROC_VALUE_INTERNAL_H
#define MPROC_VALUE_INTERNAL_H

#include "value.h"

/* A reference to, and the release of one of, an object that no other
 * thread can reach yet (the decoder's, before it hands its result over):
 * plain loads and stores of the count, where mproc_obj_ref and
 * mproc_obj_free need a locked instruction for a shared object. */
static inline mproc_obj *
value_ref_fresh(mproc_obj *o)
{
    if (!o->immortal)
        atomic_store_explicit(
            &o->refs, atomic_load_explicit(&o->refs, memory_order_relaxed) + 1,
            memory_order_relaxed);
    return o;
}

static inline void
value_unref_fresh(mproc_obj *o)
{
    size_t refs;

    if (o == NULL || o->immortal)
        return;
    refs = atomic_load_explicit(&o->refs, memory_order_relaxed);
    if (refs > 1)
        atomic_store_explicit(&o->refs, refs - 1, memory_order_relaxed);
    else
        mproc_obj_free(o);
}

/* mproc_obj_dict_set, except that on success the dict takes over the
 * caller's references to key and value; on failure the caller keeps them. */
int value_dict_set_owned(mproc_obj *d, mproc_obj *key, mproc_obj *value);

#endif /* MPROC_VALUE_INTERNAL_H */

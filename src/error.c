/*
 * error.c - names and messages of error codes: the one list in
 * include/mproc/common.h (MPROC_ERRORS) expanded into two switches.
 * Codes outside the list that are negated errnos fall back to the C
 * library's names and descriptions, which are static strings.
 */
#include <errno.h>
#include <string.h>

#include "mproc/common.h"

const char *
mproc_strerror(int code)
{
    const char *text;

    switch (code) {
    case MPROC_OK:
        return "success";
#define MPROC__ERROR_TEXT(name, value, message)                                \
    case (value):                                                              \
        return (message);
        MPROC_ERRORS(MPROC__ERROR_TEXT)
#undef MPROC__ERROR_TEXT
    default:
        break;
    }
    text = code < 0 && code > -4096 ? strerrordesc_np(-code) : NULL;
    return text != NULL ? text : "unknown error";
}

const char *
mproc_errname(int code)
{
    const char *name;

    switch (code) {
    case MPROC_OK:
        return "MPROC_OK";
#define MPROC__ERROR_NAME(name, value, message)                                \
    case (value):                                                              \
        return "MPROC_" #name;
        MPROC_ERRORS(MPROC__ERROR_NAME)
#undef MPROC__ERROR_NAME
    default:
        break;
    }
    name = code < 0 && code > -4096 ? strerrorname_np(-code) : NULL;
    return name != NULL ? name : "MPROC_EUNKNOWN";
}

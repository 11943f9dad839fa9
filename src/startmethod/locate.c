/*
 * startmethod/locate.c - a target function as another execution of the same
 * program can find it again: (loaded object, offset from its load address,
 * build id).
 *
 * Addresses differ between executions (ASLR, PIE), offsets within one
 * object do not. The main executable is named "" (as dl_iterate_phdr names
 * it), a shared library by the path it was loaded from; a library the child
 * has not loaded (the parent dlopen'ed it) is loaded by that path. The
 * build id guards against a different binary (mproc_set_executable() to
 * another program, a library rebuilt meanwhile): a mismatch is refused, not
 * jumped into. Only addresses inside executable segments are accepted.
 */
#include "startmethod/startmethod.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

struct search {
    uintptr_t addr;     /* locate: the function; resolve: unused */
    const char *object; /* resolve: the object's name */
    uint64_t offset;    /* resolve: the offset to check */
    bool found;
    bool executable; /* the address lies in an executable segment */
    uintptr_t base;
    char *name; /* locate: copy of the object's name */
    uint8_t build_id[64];
    uint32_t build_id_len;
};

static void
read_build_id(const struct dl_phdr_info *info, struct search *s)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        const char *at, *end;

        if (ph->p_type != PT_NOTE)
            continue;
        at = (const char *)(info->dlpi_addr + ph->p_vaddr);
        end = at + ph->p_memsz;
        while (at + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)at;
            size_t name_len = (nh->n_namesz + 3) & ~(size_t)3;
            size_t desc_len = (nh->n_descsz + 3) & ~(size_t)3;
            const char *name = at + sizeof(*nh);
            const uint8_t *desc = (const uint8_t *)(name + name_len);

            if ((const char *)desc + desc_len > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                memcmp(name, "GNU", 4) == 0 &&
                nh->n_descsz <= sizeof(s->build_id)) {
                memcpy(s->build_id, desc, nh->n_descsz);
                s->build_id_len = nh->n_descsz;
                return;
            }
            at = (const char *)desc + desc_len;
        }
    }
}

static bool
in_executable_segment(const struct dl_phdr_info *info, uintptr_t addr)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;

        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && addr >= start &&
            addr - start < ph->p_memsz)
            return true;
    }
    return false;
}

static int
find_by_address(struct dl_phdr_info *info, size_t size, void *data)
{
    struct search *s = data;

    (void)size;
    if (!in_executable_segment(info, s->addr))
        return 0;
    s->found = true;
    s->base = info->dlpi_addr;
    s->name = strdup(info->dlpi_name != NULL ? info->dlpi_name : "");
    read_build_id(info, s);
    return 1;
}

static int
find_by_name(struct dl_phdr_info *info, size_t size, void *data)
{
    struct search *s = data;
    const char *name = info->dlpi_name != NULL ? info->dlpi_name : "";

    (void)size;
    if (strcmp(name, s->object) != 0)
        return 0;
    s->found = true;
    s->base = info->dlpi_addr;
    s->executable = in_executable_segment(info, info->dlpi_addr + s->offset);
    read_build_id(info, s);
    return 1;
}

int
mproc__target_locate(mproc_target fn, struct mproc__target_loc *out)
{
    struct search s = { .addr = (uintptr_t)fn };

    memset(out, 0, sizeof(*out));
    dl_iterate_phdr(find_by_address, &s);
    if (!s.found)
        return MPROC_EINVAL;
    if (s.name == NULL)
        return MPROC_ENOMEM;
    out->object = s.name;
    out->offset = s.addr - s.base;
    memcpy(out->build_id, s.build_id, s.build_id_len);
    out->build_id_len = s.build_id_len;
    return 0;
}

int
mproc__target_resolve(const struct mproc__target_loc *loc, mproc_target *fn)
{
    struct search s = { .object = loc->object, .offset = loc->offset };

    *fn = NULL;
    dl_iterate_phdr(find_by_name, &s);
    if (!s.found && loc->object[0] != '\0') {
        /* Loaded by the parent at run time: load it here too, for good. */
        if (dlopen(loc->object, RTLD_NOW | RTLD_GLOBAL) == NULL)
            return MPROC_EINVAL;
        dl_iterate_phdr(find_by_name, &s);
    }
    if (!s.found || !s.executable)
        return MPROC_EINVAL;
    if (s.build_id_len != loc->build_id_len ||
        memcmp(s.build_id, loc->build_id, s.build_id_len) != 0)
        return MPROC_EINVAL;
    *fn = (mproc_target)(s.base + loc->offset);
    return 0;
}

void
mproc__target_loc_clear(struct mproc__target_loc *loc)
{
    free(loc->object);
    loc->object = NULL;
}

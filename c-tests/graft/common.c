/* See graft.h. Reads the executable's code in memory and in its file
 * (/proc/self/exe, located through its program headers). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graft.h"

const char *const graft_names[GRAFT_FUNCTIONS] = {
    "create_initial_thread", "create_thread", "create_os_thread",
    "new_thread_trampoline", "reap_dead_thread", "interrupt_thread",
    "gc_stop_the_world", "gc_start_the_world",
    "check_sig_stop_for_gc_can_arrive_or_lose",
};

/* Bytes compared with the file: the jump and what follows it. */
#define COMPARED 32
#define JUMP_LEN 14

struct where { uintptr_t addr; long offset; int found; int first; };

static int find_segment(struct dl_phdr_info *info, size_t size, void *data)
{
    struct where *w = data;
    (void)size;
    if (!w->first)
        return 1; /* only the executable, the first object visited */
    w->first = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && w->addr >= start && w->addr < start + ph->p_filesz) {
            w->offset = (long)(ph->p_offset + (w->addr - start));
            w->found = 1;
        }
    }
    return 1;
}

void *graft_exe_function(int i)
{
    void *p = dlsym(RTLD_DEFAULT, graft_names[i]);
    struct where w = { (uintptr_t)p, 0, 0, 1 };
    if (!p)
        return NULL;
    dl_iterate_phdr(find_segment, &w);
    return w.found ? p : NULL;
}

/* Bytes of the function at addr compared with the file: its size from the
 * symbol table, at most COMPARED (beyond it may lie another, patched, one). */
static size_t compared(const void *addr)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym)
        return 0;
    return sym->st_size < COMPARED ? sym->st_size : COMPARED;
}

int graft_same_as_file(const void *addr, size_t n)
{
    struct where w = { (uintptr_t)addr, 0, 0, 1 };
    unsigned char file[64];
    dl_iterate_phdr(find_segment, &w);
    if (!w.found || n > sizeof file)
        return 0;
    int fd = open("/proc/self/exe", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t r = pread(fd, file, n, w.offset);
    close(fd);
    return r == (ssize_t)n && memcmp(file, addr, n) == 0;
}

int graft_jumps_to(const void *addr, const void *target)
{
    static const unsigned char jmp[6] = { 0xff, 0x25, 0, 0, 0, 0 };
    uint64_t t;
    memcpy(&t, (const char *)addr + 6, sizeof t);
    return memcmp(addr, jmp, sizeof jmp) == 0 && t == (uint64_t)(uintptr_t)target;
}

static int writable(const void *addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int w = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        char *p;
        unsigned long lo = strtoul(line, &p, 16);
        unsigned long hi = strtoul(p + 1, &p, 16);
        if ((unsigned long)addr >= lo && (unsigned long)addr < hi)
            w = (p[2] == 'w');
    }
    fclose(f);
    return w;
}

int graft_any_standin_writable(void)
{
    for (int i = 0; i < GRAFT_FUNCTIONS; i++) {
        const char *e = graft_exe_function(i);
        if (e && (writable(e) != 0 || writable(e + JUMP_LEN - 1) != 0))
            return 1;
    }
    return 0;
}

int graft_check_untouched(void)
{
    int n = 0, ok = 1;
    for (int i = 0; i < GRAFT_FUNCTIONS; i++) {
        void *e = graft_exe_function(i);
        if (!e)
            continue;
        n++;
        size_t n = compared(e);
        if (n == 0 || !graft_same_as_file(e, n)) {
            fprintf(stderr, "graft test: the executable's %s differs from its file\n", graft_names[i]);
            ok = 0;
        }
    }
    if (graft_any_standin_writable()) {
        fprintf(stderr, "graft test: a page of the stand-ins is writable\n");
        ok = 0;
    }
    if (ok)
        fprintf(stderr, "graft test: stand-ins untouched (%d functions)\n", n);
    return ok;
}

int graft_check_grafted(void)
{
    int ok = 1;
    for (int i = 0; i < GRAFT_FUNCTIONS; i++) {
        const char *e = graft_exe_function(i);
        void *ours = dlsym(RTLD_NEXT, graft_names[i]);
        if (!e || !ours || ours == e) {
            fprintf(stderr, "graft test: %s: executable's %p, library's %p\n", graft_names[i], (void *)e, ours);
            ok = 0;
            continue;
        }
        size_t n = compared(e);
        if (n < JUMP_LEN || !graft_jumps_to(e, ours) || !graft_same_as_file(e + JUMP_LEN, n - JUMP_LEN)) {
            fprintf(stderr, "graft test: the executable's %s is not exactly a jump to the library's\n", graft_names[i]);
            ok = 0;
        }
    }
    if (graft_any_standin_writable()) {
        fprintf(stderr, "graft test: a page of the stand-ins was left writable\n");
        ok = 0;
    }
    return ok;
}

int graft_count(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

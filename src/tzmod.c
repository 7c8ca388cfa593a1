/* SPDX-License-Identifier: MIT */
/* tz.h for libsaq.so: the zones are tz.cc's (Abseil's time zones, C++), built
 * as the module libsaq-tz.so.<version> that libsaq loads on the first call
 * here, so a process that never names a cron_tz does not map Abseil and
 * libstdc++ (about 2 MB of its RSS, and their start-up work). The module is
 * looked for beside libsaq.so, then in the directory libsaq was configured to
 * install into, then by the dynamic loader's own search; exactly this
 * version's, so a module of another libsaq is never loaded. When it cannot be
 * loaded, opening a zone fails with the loader's reason (the job's cron_tz
 * gets that message) and nothing else changes. libsaq.a links tz.cc itself
 * (its programs link Abseil), so this file is libsaq.so's only. */
#define _GNU_SOURCE
#include "tz.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SAQ_TZ_MODULE /* CMakeLists.txt sets the exact file name, with libsaq's version */
#define SAQ_TZ_MODULE "libsaq-tz.so"
#endif
#ifndef SAQ_TZ_LIBDIR
#define SAQ_TZ_LIBDIR ""
#endif

static struct {
    saq__tz_t *(*open)(const char *, char *, size_t);
    void (*free)(saq__tz_t *);
    const char *(*name)(const saq__tz_t *);
    int32_t (*offset)(const void *, int64_t);
} mod;
static char why[320]; /* why the module is not loaded ("" when it is) */
static int found;     /* a file of the module's name exists where it was looked for */
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Whether the file at `path` holds every segment its ELF header says it
 * loads: the loader maps a truncated file (a half-copied install, a full
 * disk) and the process dies of SIGBUS on the first page past its end.
 * 0 when it does, or when it is no ELF file (dlopen says why); -1, with why
 * set, when a segment lies past the end. */
static int truncated(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    ElfW(Ehdr) eh;
    int bad = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh &&
        !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_phentsize == sizeof(ElfW(Phdr))) {
        for (unsigned i = 0; i < eh.e_phnum && !bad; i++) {
            ElfW(Phdr) ph;
            off_t at = (off_t)eh.e_phoff + (off_t)i * (off_t)sizeof ph;
            if (pread(fd, &ph, sizeof ph, at) != (ssize_t)sizeof ph)
                bad = 1;
            else if (ph.p_type == PT_LOAD && ph.p_offset + ph.p_filesz > (uint64_t)st.st_size)
                bad = 1;
        }
    }
    close(fd);
    if (bad && !why[0])
        snprintf(why, sizeof why, "%.250s is truncated (its segments end past the file)", path);
    return bad ? -1 : 0;
}

/* dlopen `dir`/SAQ_TZ_MODULE (dir NULL: the bare name); NULL with why set */
static void *try_open(const char *dir, size_t dirlen)
{
    char path[4096];
    if (dir)
        snprintf(path, sizeof path, "%.*s/%s", (int)dirlen, dir, SAQ_TZ_MODULE);
    else
        snprintf(path, sizeof path, "%s", SAQ_TZ_MODULE);
    struct stat st;
    if (dir && stat(path, &st) == 0)
        found = 1;
    if (dir && truncated(path))
        return NULL;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h && !why[0]) { /* the first place's reason: beside libsaq.so, where it should be */
        const char *e = dlerror();
        snprintf(why, sizeof why, "%.300s", e ? e : SAQ_TZ_MODULE);
    }
    return h;
}

static void load(void)
{
    void *h = NULL;
    Dl_info self;
    if (dladdr((void *)&load, &self) && self.dli_fname && strchr(self.dli_fname, '/'))
        h = try_open(self.dli_fname, (size_t)(strrchr(self.dli_fname, '/') - self.dli_fname));
    /* the next place only while no file of that name was found: a module
     * that is there but cannot be loaded is the one meant (and the loader's
     * search could map the same truncated file) */
    if (!h && !found && SAQ_TZ_LIBDIR[0])
        h = try_open(SAQ_TZ_LIBDIR, strlen(SAQ_TZ_LIBDIR));
    if (!h && !found)
        h = try_open(NULL, 0);
    if (!h)
        return;
    *(void **)&mod.open = dlsym(h, "saq__tz_open");
    *(void **)&mod.free = dlsym(h, "saq__tz_free");
    *(void **)&mod.name = dlsym(h, "saq__tz_name");
    *(void **)&mod.offset = dlsym(h, "saq__tz_offset");
    if (!mod.open || !mod.free || !mod.name || !mod.offset) {
        snprintf(why, sizeof why, "%s lacks the saq__tz_* functions", SAQ_TZ_MODULE);
        mod.open = NULL;
        return; /* the handle stays open: never unloaded */
    }
    why[0] = '\0';
}

static int loaded(void)
{
    pthread_once(&once, load);
    return mod.open != NULL;
}

saq__tz_t *saq__tz_open(const char *name, char *err, size_t errlen)
{
    if (loaded()) {
        saq__tz_t *z = mod.open(name, err, errlen);
        if (!z && err && errlen && !err[0]) /* a module that says nothing */
            snprintf(err, errlen, "cron_tz: cannot load time zone '%.64s'", name ? name : "(null)");
        return z;
    }
    if (err && errlen)
        snprintf(err, errlen, "cron_tz: libsaq cannot load its time-zone module: %s", why);
    return NULL;
}

/* A zone exists only once the module is loaded: these need no check but
 * the NULL one. */
void saq__tz_free(saq__tz_t *z)
{
    if (z)
        mod.free(z);
}

const char *saq__tz_name(const saq__tz_t *z)
{
    return z ? mod.name(z) : "UTC";
}

int32_t saq__tz_offset(const void *z, int64_t t)
{
    return mod.offset(z, t);
}

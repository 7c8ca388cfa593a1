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
#include <pthread.h>
#include <stdio.h>
#include <string.h>

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
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* dlopen `dir`/SAQ_TZ_MODULE (dir NULL: the bare name); NULL with why set */
static void *try_open(const char *dir, size_t dirlen)
{
    char path[4096];
    if (dir)
        snprintf(path, sizeof path, "%.*s/%s", (int)dirlen, dir, SAQ_TZ_MODULE);
    else
        snprintf(path, sizeof path, "%s", SAQ_TZ_MODULE);
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
    if (!h && SAQ_TZ_LIBDIR[0])
        h = try_open(SAQ_TZ_LIBDIR, strlen(SAQ_TZ_LIBDIR));
    if (!h)
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
    if (loaded())
        return mod.open(name, err, errlen);
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

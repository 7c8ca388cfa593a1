// SPDX-License-Identifier: MIT
// IANA time zones (see tz.h) from the system's tz database: the TZif files in
// $TZDIR or /usr/share/zoneinfo, which Python saq's zoneinfo reads too, through
// Abseil's time-zone API (absl::LoadTimeZone, absl::TimeZone::At); never the
// process-global TZ. A loaded absl::TimeZone is immutable and thread-safe, so a
// zone can be shared by the setup thread and the worker's I/O thread without a
// lock. C++ stays inside this file: every function is extern "C" and throws nothing:
// any exception (std::bad_alloc) is caught here and becomes an error return.
#include "tz.h"

#include <absl/time/time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include <sys/stat.h>

#define TZ_NAME_MAX 128

struct saq__tz {
    absl::TimeZone tz;
    std::string name;
};

// A name the tz database could hold, as Python's zoneinfo takes it: printable
// ASCII without spaces, relative, no "." or ".." component. Also refused: the
// names Abseil reads without a file ("Fixed/UTC+hh:mm", "file:" paths), which
// zoneinfo does not know.
static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch <= 0x20 || ch >= 0x7f)
            return false;
    }
    for (const char *c = name; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
        size_t len = strcspn(c, "/");
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return false;
    }
    return strncmp(name, "Fixed/", 6) != 0 && strncmp(name, "file:", 5) != 0;
}

extern "C" saq__tz_t *saq__tz_open(const char *name, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!name || !valid_name(name)) {
        if (name && *name && strlen(name) <= TZ_NAME_MAX && !strchr(name, ' '))
            snprintf(err, errlen, "cron_tz: unknown time zone '%.64s' (an IANA name such as Europe/London)",
                     name);
        else
            snprintf(err, errlen, "cron_tz: a time zone name is printable ASCII, 1-%d bytes", TZ_NAME_MAX);
        return nullptr;
    }
    try {
        absl::TimeZone tz;
        // the zone's file, as Python's zoneinfo finds it: a regular file in
        // $TZDIR or /usr/share/zoneinfo ("localtime" included: Abseil would
        // read $LOCALTIME or /etc/localtime for that name; a FIFO would block)
        const char *dir = getenv("TZDIR");
        std::string path = std::string(dir && *dir ? dir : "/usr/share/zoneinfo") + "/" + name;
        struct stat st;
        bool file = stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
        if (!file && strcmp(name, "UTC") == 0) // UTC needs no tz database
            return new saq__tz{absl::UTCTimeZone(), name};
        if (!file || !absl::LoadTimeZone("file:" + path, &tz)) {
            snprintf(err, errlen, "cron_tz: unknown time zone '%.64s' (an IANA name such as Europe/London)",
                     name);
            return nullptr;
        }
        return new saq__tz{tz, name};
    } catch (const std::bad_alloc &) {
        snprintf(err, errlen, "cron_tz: out of memory");
    } catch (...) {
        snprintf(err, errlen, "cron_tz: cannot load time zone '%.64s'", name);
    }
    return nullptr;
}

extern "C" void saq__tz_free(saq__tz_t *z)
{
    delete z;
}

extern "C" const char *saq__tz_name(const saq__tz_t *z)
{
    return z ? z->name.c_str() : "UTC";
}

extern "C" int32_t saq__tz_offset(const void *zone, int64_t t)
{
    const saq__tz_t *z = static_cast<const saq__tz_t *>(zone);
    try {
        return z->tz.At(absl::FromUnixSeconds(t)).offset;
    } catch (...) {
        return 0;
    }
}

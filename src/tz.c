/* SPDX-License-Identifier: MIT */
/* saq_tzdata_version and saq_cron_next (saq.h), the public preview of a cron
 * job's fire times in a zone, and the tz database's version. The zones
 * themselves (tz.h) are tz.cc's: the system's tz database through Abseil's
 * time-zone API. */
#include "internal.h"
#include "cron.h"
#include "tz.h"

/* "2025b" from the first line of tzdata.zi ("# version 2025b") in $TZDIR or
 * /usr/share/zoneinfo, the directory the zones are read from; "?" without one */
static void read_version(char *out, size_t cap)
{
    const char *dir = getenv("TZDIR");
    char path[4096], line[128], v[32];
    snprintf(path, sizeof path, "%s/tzdata.zi", dir && *dir ? dir : "/usr/share/zoneinfo");
    snprintf(out, cap, "?");
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(line, sizeof line, f) && sscanf(line, "# version %31[0-9A-Za-z.-]", v) == 1)
        snprintf(out, cap, "%s", v);
    fclose(f);
}

static char version[32];
static void version_once(void) { read_version(version, sizeof version); }

SAQ_API const char *saq_tzdata_version(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, version_once);
    return version;
}

SAQ_API int saq_cron_next(const char *expr, const char *cron_tz, int64_t after_s, int n,
                          int64_t *times, int32_t *utc_offsets, char *err, size_t errlen)
{
    saq__cron_t c;
    saq__tz_t *z = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!expr || n < 0 || (!times && n > 0)) {
        snprintf(err, errlen, "saq_cron_next: %s", !expr ? "expr is NULL"
                                                  : n < 0 ? "n is negative" : "times is NULL");
        return SAQ_EINVAL;
    }
    if (saq__cron_parse(expr, &c, err, errlen))
        return SAQ_ECRON;
    if (cron_tz && *cron_tz && !(z = saq__tz_open(cron_tz, err, errlen)))
        return SAQ_ECRON;
    int k = 0;
    for (int64_t t = after_s; k < n; k++) {
        if ((t = saq__cron_next_in(&c, t, z ? saq__tz_offset : NULL, z)) < 0)
            break;
        times[k] = t;
        if (utc_offsets)
            utc_offsets[k] = z ? saq__tz_offset(z, t) : 0;
    }
    saq__tz_free(z);
    return k;
}

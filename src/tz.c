/* SPDX-License-Identifier: MIT */
/* IANA time zones through ICU's C API (see tz.h), and saq_cron_next (saq.h), the public preview
 * of a cron job's fire times in a zone. ICU's UCalendar answers the
 * UTC offset at an instant; a mutex per zone serialises it (a UCalendar is not
 * thread-safe), so a zone can be shared by the setup thread and the worker's
 * I/O thread. Which tz data ICU uses: its own (libicudata), or the .res files
 * in $ICU_TIMEZONE_FILES_DIR when that is set (ICU reads it itself). */
#include "internal.h"
#include "cron.h"
#include "tz.h"

#include <unicode/ucal.h>

#define TZ_NAME_MAX 128

struct saq__tz {
    pthread_mutex_t mu;
    UCalendar *cal;
    char *name;
};

/* The ASCII name as UTF-16 (ICU's UChar); -1 if not printable ASCII or too long. */
static int to_uchars(const char *name, UChar *out, size_t cap)
{
    size_t n = strlen(name);
    if (n == 0 || n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch <= 0x20 || ch >= 0x7f)
            return -1;
        out[i] = (UChar)ch;
    }
    return (int)n;
}

saq__tz_t *saq__tz_open(const char *name, char *err, size_t errlen)
{
    UChar id[TZ_NAME_MAX + 1], canon[TZ_NAME_MAX + 1];
    UErrorCode st = U_ZERO_ERROR;
    UBool is_system = 0;
    int n;
    if (err && errlen)
        err[0] = '\0';
    if (!name || (n = to_uchars(name, id, sizeof id / sizeof id[0])) < 0) {
        snprintf(err, errlen, "cron_tz: a time zone name is printable ASCII, 1-%d bytes", TZ_NAME_MAX);
        return NULL;
    }
    /* ICU opens any unknown ID as "Etc/Unknown" (GMT): check it names a zone */
    ucal_getCanonicalTimeZoneID(id, n, canon, TZ_NAME_MAX, &is_system, &st);
    if (U_FAILURE(st) || !is_system) {
        snprintf(err, errlen, "cron_tz: unknown time zone '%.64s' (an IANA name such as Europe/London)",
                 name);
        return NULL;
    }
    saq__tz_t *z = saq__calloc(1, sizeof *z);
    if (!z || !(z->name = saq__strdup(name))) {
        free(z);
        snprintf(err, errlen, "cron_tz: out of memory");
        return NULL;
    }
    z->cal = ucal_open(id, n, "en_US_POSIX", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st) || !z->cal) {
        snprintf(err, errlen, "cron_tz: ICU cannot open time zone '%.64s': %s", name, u_errorName(st));
        if (z->cal)
            ucal_close(z->cal);
        free(z->name);
        free(z);
        return NULL;
    }
    pthread_mutex_init(&z->mu, NULL);
    return z;
}

void saq__tz_free(saq__tz_t *z)
{
    if (!z)
        return;
    ucal_close(z->cal);
    pthread_mutex_destroy(&z->mu);
    free(z->name);
    free(z);
}

const char *saq__tz_name(const saq__tz_t *z)
{
    return z ? z->name : "UTC";
}

int32_t saq__tz_offset(const void *zone, int64_t t)
{
    saq__tz_t *z = (saq__tz_t *)zone;
    UErrorCode st = U_ZERO_ERROR;
    pthread_mutex_lock(&z->mu);
    ucal_setMillis(z->cal, (UDate)t * 1000.0, &st);
    int32_t ms = ucal_get(z->cal, UCAL_ZONE_OFFSET, &st);
    ms += ucal_get(z->cal, UCAL_DST_OFFSET, &st);
    pthread_mutex_unlock(&z->mu);
    return U_FAILURE(st) ? 0 : ms / 1000;
}

const char *saq__tz_data_version(void)
{
    UErrorCode st = U_ZERO_ERROR;
    const char *v = ucal_getTZDataVersion(&st);
    return U_FAILURE(st) || !v ? "?" : v;
}

SAQ_API const char *saq_tzdata_version(void)
{
    return saq__tz_data_version();
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

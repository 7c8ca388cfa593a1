/* SPDX-License-Identifier: MIT */
/* saq_tzdata_version and saq_cron_next (saq.h), the public preview of a cron
 * job's fire times in a zone. The zones themselves (tz.h) are tz.cc's: the
 * system's tz database through Abseil's time-zone API. */
#include "internal.h"
#include "cron.h"
#include "tz.h"

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

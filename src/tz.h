/* SPDX-License-Identifier: MIT */
/* IANA time zones for cron jobs (saq's cron_tz), read through ICU's C API
 * (ucal): never the process-global TZ. Internal (not exported). */
#ifndef SAQ_TZ_H
#define SAQ_TZ_H
#include <stddef.h>
#include <stdint.h>

typedef struct saq__tz saq__tz_t;

/* Open the IANA zone `name` (e.g. "America/New_York", or an alias ICU knows
 * such as "US/Eastern" or "UTC"). Returns the zone, or NULL with a one-line
 * reason in err (NUL-terminated, truncated to errlen): an unknown name (ICU
 * would silently use GMT for it: it is refused here), a name that is not
 * printable ASCII or longer than 128 bytes, ICU failing, or out of memory. */
saq__tz_t *saq__tz_open(const char *name, char *err, size_t errlen);
void saq__tz_free(saq__tz_t *z);
/* The zone's name as given to saq__tz_open. */
const char *saq__tz_name(const saq__tz_t *z);
/* The UTC offset (seconds east of UTC, DST included) in force at epoch
 * second t. Any thread (a lock serialises ICU's calendar). Returns 0 if ICU
 * fails (not seen with a zone saq__tz_open accepted). `z` is a const void *
 * so it can be cron.h's saq__utcoff_fn. */
int32_t saq__tz_offset(const void *z, int64_t t);
/* The version of the time zone data ICU uses (e.g. "2022e"), or "?" */
const char *saq__tz_data_version(void);

#endif

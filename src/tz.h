/* SPDX-License-Identifier: MIT */
/* IANA time zones for cron jobs (saq's cron_tz), read from the system's tz
 * database ($TZDIR or /usr/share/zoneinfo, as Python's zoneinfo does) through
 * Abseil's time-zone API (tz.cc, C++ behind these C functions): never the
 * process-global TZ. Internal (not exported). libsaq.a links tz.cc in;
 * libsaq.so's are tzmod.c's, which load tz.cc as a module on first use. */
#ifndef SAQ_TZ_H
#define SAQ_TZ_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct saq__tz saq__tz_t;

/* Open the IANA zone `name` (e.g. "America/New_York", or an alias the system's
 * tz database has, such as "US/Eastern", or "UTC"). Returns the zone, or NULL
 * with a one-line reason in err (NUL-terminated, truncated to errlen): an
 * unknown name (no regular file of that name in $TZDIR or /usr/share/zoneinfo,
 * as Python's zoneinfo looks it up, "localtime" included; Abseil would silently
 * use UTC for an unknown one, read $LOCALTIME for "localtime", and block on a
 * FIFO: all refused here; "UTC" needs no file), a name that is not printable ASCII, is longer than 128 bytes,
 * is absolute or has a "." or ".." component, or out of memory. */
saq__tz_t *saq__tz_open(const char *name, char *err, size_t errlen);
void saq__tz_free(saq__tz_t *z);
/* The zone's name as given to saq__tz_open. */
const char *saq__tz_name(const saq__tz_t *z);
/* The UTC offset (seconds east of UTC, DST included) in force at epoch
 * second t. Any thread, no lock (a loaded zone is immutable). `z` is a
 * const void * so it can be cron.h's saq__utcoff_fn. */
int32_t saq__tz_offset(const void *z, int64_t t);

#ifdef __cplusplus
}
#endif

#endif

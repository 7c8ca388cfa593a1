/* SPDX-License-Identifier: MIT */
/* Small utilities: allocation, strings, clocks, uuid1, buffers, fork generation,
 * error names and versions. */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void *saq__malloc(size_t n) { return malloc(n ? n : 1); }
void *saq__calloc(size_t n, size_t m) { return calloc(n ? n : 1, m ? m : 1); }
void *saq__realloc(void *p, size_t n) { return realloc(p, n ? n : 1); }

char *saq__strdup(const char *s) { return s ? strdup(s) : NULL; }

char *saq__strndup(const char *s, size_t n)
{
    char *r = malloc(n + 1);
    if (!r)
        return NULL;
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

char *saq__vsprintf(const char *fmt, va_list ap)
{
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        return NULL;
    return out;
}

void saq__set_vfmt(char **dst, const char *fmt, va_list ap)
{
    char *m = saq__vsprintf(fmt, ap);
    free(*dst);
    *dst = m;
}

char *saq__sprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *r = saq__vsprintf(fmt, ap);
    va_end(ap);
    return r;
}

int saq__set_str(char **dst, const char *src)
{
    char *c = NULL;
    if (src && !(c = strdup(src)))
        return -1;
    free(*dst);
    *dst = c;
    return 0;
}

int64_t saq__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double saq__now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

uint64_t saq__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t saq__timer_ms(double seconds)
{
    if (!(seconds > 0))
        return 0;
    if (seconds * 1000 > 9e15)
        return (uint64_t)9e15;
    return (uint64_t)ceil(seconds * 1000);
}

void saq__abstime(struct timespec *ts, clockid_t clock, uint64_t ms)
{
    clock_gettime(clock, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* uuid1 text as Python's str(uuid.uuid1()). Not libuuid's uuid_generate_time:
 * without the uuidd daemon it tries two socket connects and then locks and
 * rewrites a clock file on every call (40% of an enqueue's CPU, and tens of
 * microseconds of latency). The same layout, generated here: the 60-bit count
 * of 100 ns since 1582-10-15, strictly increasing within the process; version
 * 1 and the RFC 4122 variant; a 14-bit clock_seq and a 48-bit node drawn at
 * random once per process (the node with its multicast bit set, as RFC 4122
 * 4.5 asks of random nodes) and drawn again in a forked child. */
static _Atomic uint64_t uuid_last;   /* last timestamp handed out */
static _Atomic uint64_t uuid_seed;   /* bit 63 valid, 48-61 clock_seq, 0-47 node */
static atomic_uint uuid_seed_gen;    /* fork generation the seed belongs to */

static uint64_t uuid_seed_get(void)
{
    unsigned g = saq__fork_gen();
    if (atomic_load(&uuid_seed_gen) == g) { /* gen is stored after the seed */
        uint64_t s = atomic_load(&uuid_seed);
        if (s >> 63)
            return s;
    }
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint64_t)(saq__random01() * 9007199254740992.0) ^ ((uint64_t)getpid() << 40) ^ saq__mono_ms();
    uint64_t s = (1ull << 63) | (r & 0x3FFFFFFFFFFFFFFFull) | (1ull << 40);
    atomic_store(&uuid_seed, s);
    atomic_store(&uuid_seed_gen, g);
    return s;
}

void saq__uuid1(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 10000000u + (uint64_t)ts.tv_nsec / 100u + 0x01B21DD213814000ull;
    uint64_t t, prev = atomic_load(&uuid_last);
    do
        t = now > prev ? now : prev + 1;
    while (!atomic_compare_exchange_weak(&uuid_last, &prev, t));
    uint64_t seed = uuid_seed_get();
    unsigned cs = (unsigned)(seed >> 48) & 0x3FFF;
    uint8_t b[16];
    for (int i = 0; i < 4; i++) /* time_low */
        b[i] = (uint8_t)(t >> (24 - 8 * i));
    b[4] = (uint8_t)(t >> 40); /* time_mid */
    b[5] = (uint8_t)(t >> 32);
    b[6] = (uint8_t)(((t >> 56) & 0x0F) | 0x10); /* time_hi and version 1 */
    b[7] = (uint8_t)(t >> 48);
    b[8] = (uint8_t)(((cs >> 8) & 0x3F) | 0x80); /* variant 10 */
    b[9] = (uint8_t)cs;
    for (int i = 0; i < 6; i++) /* node */
        b[10 + i] = (uint8_t)(seed >> (40 - 8 * i));
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = 0;
}

/* xorshift128+ per thread, seeded from getrandom(); only used for jitter. */
double saq__random01(void)
{
    static _Thread_local uint64_t s[2];
    if (!s[0] && !s[1]) {
        if (getrandom(s, sizeof s, 0) != (ssize_t)sizeof s || (!s[0] && !s[1])) {
            s[0] = (uint64_t)saq__mono_ms() * 0x9E3779B97F4A7C15ull | 1;
            s[1] = (uint64_t)(uintptr_t)&s ^ 0xD1B54A32D192ED03ull;
        }
    }
    uint64_t x = s[0], y = s[1];
    s[0] = y;
    x ^= x << 23;
    s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return (double)((s[1] + y) >> 11) / 9007199254740992.0;
}

static atomic_uint fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void on_fork_child(void) { atomic_fetch_add(&fork_gen, 1); }
static void install_atfork(void) { pthread_atfork(NULL, NULL, on_fork_child); }

unsigned saq__fork_gen(void)
{
    pthread_once(&fork_once, install_atfork);
    return atomic_load(&fork_gen);
}

/* ---- buffers ---- */

static int buf_grow(saq__buf_t *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void saq__buf_put(saq__buf_t *b, const char *s, size_t n)
{
    if (buf_grow(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void saq__buf_puts(saq__buf_t *b, const char *s) { saq__buf_put(b, s, strlen(s)); }

void saq__buf_putc(saq__buf_t *b, char c)
{
    if (buf_grow(b, 1))
        return;
    b->p[b->len++] = c;
    b->p[b->len] = 0;
}

void saq__buf_printf(saq__buf_t *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        saq__buf_put(b, tmp, (size_t)n);
        return;
    }
    if (buf_grow(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *saq__buf_take(saq__buf_t *b)
{
    if (b->oom) {
        saq__buf_free(b);
        return NULL;
    }
    if (!b->p && buf_grow(b, 0))
        return NULL;
    b->p[b->len] = 0; /* an empty buffer has had nothing appended to end it */
    char *p = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void saq__buf_free(saq__buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

/* ---- debug trace (SAQ_DEBUG=1 in the environment) ---- */

/* -1 until SAQ_DEBUG is read; atomic: the first trace lines may come from
 * several I/O threads at once */
static atomic_int debug_on = -1;

void saq__debug(const char *fmt, ...)
{
    int on = atomic_load_explicit(&debug_on, memory_order_relaxed);
    if (on < 0) {
        const char *e = getenv("SAQ_DEBUG");
        on = e && *e && strcmp(e, "0");
        atomic_store_explicit(&debug_on, on, memory_order_relaxed);
    }
    if (!on)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "libsaq[%llu] %s\n", (unsigned long long)saq__mono_ms(), buf);
}

/* ---- reconnect backoff ---- */

uint64_t saq__backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, double u)
{
    uint64_t d = base_ms;
    for (unsigned i = 0; i < attempt && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999;
    return (uint64_t)((double)d * (0.5 + u / 2));
}

/* ---- versions and errors ---- */

SAQ_API unsigned saq_version(void) { return SAQ_VERSION_NUMBER; }
SAQ_API const char *saq_version_str(void) { return SAQ_VERSION_STR; }

static const struct {
    int code;
    const char *name, *text;
} errtab[] = {
    {SAQ_OK, "SAQ_OK", "success"},
    {SAQ_EINVAL, "SAQ_EINVAL", "invalid argument"},
    {SAQ_ENOMEM, "SAQ_ENOMEM", "out of memory"},
    {SAQ_ETIMEDOUT, "SAQ_ETIMEDOUT", "timed out"},
    {SAQ_ECLOSED, "SAQ_ECLOSED", "queue or worker closed"},
    {SAQ_EFORKED, "SAQ_EFORKED", "handle used in a forked child process"},
    {SAQ_EREDIS, "SAQ_EREDIS", "redis error reply"},
    {SAQ_EPROTO, "SAQ_EPROTO", "malformed data in redis"},
    {SAQ_ECONN, "SAQ_ECONN", "redis connection failed or lost"},
    {SAQ_EURL, "SAQ_EURL", "invalid redis url"},
    {SAQ_EJSON, "SAQ_EJSON", "invalid JSON"},
    {SAQ_ENOTFOUND, "SAQ_ENOTFOUND", "not found"},
    {SAQ_EWRONGQUEUE, "SAQ_EWRONGQUEUE", "job belongs to another queue"},
    {SAQ_EJOB, "SAQ_EJOB", "job failed or was aborted"},
    {SAQ_EUNKNOWN_KEY, "SAQ_EUNKNOWN_KEY", "unknown configuration key"},
    {SAQ_ECRON, "SAQ_ECRON", "invalid cron expression"},
    {SAQ_ESTATE, "SAQ_ESTATE", "operation not valid in the current state"},
    {SAQ_ETOOBIG, "SAQ_ETOOBIG", "payload too large"},
    {SAQ_EUVVERSION, "SAQ_EUVVERSION", "libuv in this process is older than libsaq needs"},
    {SAQ_ETLS, "SAQ_ETLS", "TLS failed (certificate, key or handshake)"},
};

SAQ_API const char *saq_strerror(int err)
{
    for (size_t i = 0; i < sizeof errtab / sizeof errtab[0]; i++)
        if (errtab[i].code == err)
            return errtab[i].text;
    return "unknown error";
}

SAQ_API const char *saq_err_name(int err)
{
    for (size_t i = 0; i < sizeof errtab / sizeof errtab[0]; i++)
        if (errtab[i].code == err)
            return errtab[i].name;
    return "SAQ_E?";
}

SAQ_API void *saq_alloc(size_t size) { return saq__malloc(size); }

/* Small utilities: allocation, strings, clocks, uuid1, buffers, fork generation,
 * error names and versions. */
#include "internal.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <uuid/uuid.h>

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

/* uuid1 text as Python's str(uuid.uuid1()): libuuid's time-based generator. */
void saq__uuid1(char out[37])
{
    uuid_t u;
    uuid_generate_time(u);
    uuid_unparse_lower(u, out);
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

int saq__debug_on = -1;

void saq__debug(const char *fmt, ...)
{
    if (saq__debug_on < 0) {
        const char *e = getenv("SAQ_DEBUG");
        saq__debug_on = e && *e && strcmp(e, "0");
    }
    if (!saq__debug_on)
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

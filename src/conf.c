/* SPDX-License-Identifier: MIT */
/* saq_conf_t: string key/value configuration, validated on set (the librdkafka
 * pass-through model: new keys need no binding release). */
#include "internal.h"
#include "tz.h"

#include <math.h>

typedef struct kv {
    char *key, *value;
} kv_t;

struct saq_conf {
    kv_t *items;
    size_t n, cap;
    char *errmsg;
    saq_transform_fn dump, load;
    void *transform_ud;
    saq__log_sink_t log; /* saq_conf_set_log/_cq (its level unused: the key log_level) */
};

enum { T_STR, T_INT, T_NUM, T_BOOL, T_URL, T_NAME, T_DIALECT, T_JSONOBJ, T_ID, T_CERTREQS, T_PATH, T_ORDER,
       T_LEVEL, T_BACKOFF, T_TZ };

static const struct keydef {
    const char *key;
    int type;
    double min, max;
} keys[] = {
    {"url", T_URL, 0, 0},
    {"name", T_NAME, 0, 0},
    {"dialect", T_DIALECT, 0, 0},
    {"max_concurrent_ops", T_INT, 1, 1000000},
    {"command_timeout_ms", T_INT, 1, 86400000},
    {"connect_timeout_ms", T_INT, 1, 86400000},
    {"reconnect_max_ms", T_INT, 10, 86400000},
    {"max_payload_bytes", T_INT, 1024, 536870912},
    {"concurrency", T_INT, 1, 100000},
    {"dequeue_timeout", T_NUM, 0, 86400},
    {"timers.schedule", T_NUM, 0.001, 86400},
    {"timers.worker_info", T_NUM, 0.001, 86400},
    {"timers.stats", T_NUM, 0.001, 86400},
    {"timers.sweep", T_NUM, 0.001, 86400},
    {"timers.abort", T_NUM, 0.001, 86400},
    {"burst", T_BOOL, 0, 0},
    {"max_burst_jobs", T_INT, 0, 2147483647},
    {"shutdown_grace_period", T_NUM, 0, 86400},
    {"cancellation_hard_deadline", T_NUM, 0, 86400},
    {"id", T_ID, 0, 0},
    {"metadata", T_JSONOBJ, 0, 0},
    {"swept_error_message", T_STR, 0, 0},
    {"dead_worker_check", T_NUM, 0, 86400},
    {"timers.liveness", T_NUM, 0, 3600},
    {"queue_order", T_ORDER, 0, 0},
    {"queue_weight", T_INT, 1, 1000000},
    {"tls.cert_reqs", T_CERTREQS, 0, 0},
    {"tls.check_hostname", T_BOOL, 0, 0},
    {"tls.ca_certs", T_PATH, 0, 0},
    {"tls.ca_path", T_PATH, 0, 0},
    {"tls.certfile", T_PATH, 0, 0},
    {"tls.keyfile", T_PATH, 0, 0},
    {"sentinel.username", T_STR, 0, 0},
    {"sentinel.password", T_STR, 0, 0},
    {"min_replicas", T_INT, 0, 1000},
    {"min_replicas_timeout_ms", T_INT, 1, 86400000},
    {"log_level", T_LEVEL, 0, 0},
    {"cron_tz", T_TZ, 0, 0},
    {"defaults.timeout", T_NUM, 0, 31536000},
    {"defaults.retries", T_INT, 0, 2147483647},
    {"defaults.ttl", T_INT, -1, 2147483647},
    {"defaults.retry_delay", T_NUM, 0, 31536000},
    {"defaults.retry_backoff", T_BACKOFF, 0, 31536000},
    {"failed_ttl", T_INT, -1, 2147483647},
    {"retry.min_delay", T_NUM, 0, 86400},
    {"retry.jitter", T_BOOL, 0, 0},
    {"timers.pause", T_NUM, 0, 3600},
};

/* The log_level words and their SAQ_LOG_* levels (0: off). */
static const struct {
    const char *word;
    int level;
} levels[] = {{"debug", SAQ_LOG_DEBUG}, {"info", SAQ_LOG_INFO},   {"warning", SAQ_LOG_WARNING},
              {"warn", SAQ_LOG_WARNING}, {"error", SAQ_LOG_ERROR}, {"off", 0}};

/* The level of a log_level word, or -1 when it is none of them (NULL too). */
static int parse_level(const char *v)
{
    for (size_t i = 0; v && i < sizeof levels / sizeof levels[0]; i++)
        if (!strcasecmp(v, levels[i].word))
            return levels[i].level;
    return -1;
}

static const char *level_word(int level)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (levels[i].level == level)
            return levels[i].word;
    return "warning";
}

void saq__conf_seterr(saq_conf_t *conf, const char *fmt, ...)
{
    if (!conf)
        return;
    va_list ap;
    va_start(ap, fmt);
    saq__set_vfmt(&conf->errmsg, fmt, ap);
    va_end(ap);
}

SAQ_API saq_conf_t *saq_conf_new(void) { return saq__calloc(1, sizeof(saq_conf_t)); }

SAQ_API void saq_conf_free(saq_conf_t *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; i < conf->n; i++) {
        free(conf->items[i].key);
        free(conf->items[i].value);
    }
    free(conf->items);
    free(conf->errmsg);
    saq__cq_unref(conf->log.cq);
    free(conf);
}

static const struct keydef *find_key(const char *key)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(keys[i].key, key))
            return &keys[i];
    return NULL;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        return *out = 1, 0;
    if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
        return *out = 0, 0;
    return -1;
}

static int parse_num(const char *v, double *out)
{
    char *end;
    if (!*v)
        return -1;
    double d = strtod(v, &end);
    if (*end || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

/* Check a queue name: non-empty, no ':' (breaks key parsing), no glob chars. */
static const char *bad_name(const char *v)
{
    if (!*v)
        return "queue name must not be empty";
    if (strlen(v) > 1000)
        return "queue name is longer than 1000 bytes";
    if (!saq__utf8_valid(v, strlen(v))) /* its records' "queue" could never match it */
        return "queue name must be valid UTF-8";
    for (const char *p = v; *p; p++) {
        if (*p == ':')
            return "queue name must not contain ':'";
        if (strchr("*?[]", *p))
            return "queue name must not contain glob characters * ? [ ]";
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return "queue name must not contain control characters";
        if (*p == ' ')
            return "queue name must not contain spaces";
    }
    return NULL;
}

/* Validate one value for its key; message into the conf on failure. */
static int check_value(saq_conf_t *conf, const struct keydef *kd, const char *value)
{
    double d;
    int b;
    char err[200];
    switch (kd->type) {
    case T_INT:
        if (parse_num(value, &d) || d != floor(d) || d < kd->min || d > kd->max) {
            saq__conf_seterr(conf, "%s must be an integer from %.0f to %.0f, got '%.60s'", kd->key,
                             kd->min, kd->max, value);
            return SAQ_EINVAL;
        }
        return 0;
    case T_NUM:
        if (parse_num(value, &d) || d < kd->min || d > kd->max) {
            saq__conf_seterr(conf, "%s must be a number from %g to %g (seconds), got '%.60s'",
                             kd->key, kd->min, kd->max, value);
            return SAQ_EINVAL;
        }
        return 0;
    case T_BOOL:
        if (parse_bool(value, &b)) {
            saq__conf_seterr(conf, "%s must be true or false, got '%.60s'", kd->key, value);
            return SAQ_EINVAL;
        }
        return 0;
    case T_URL: {
        saq__url_t u;
        if (saq__url_parse(value, &u, err, sizeof err)) {
            saq__conf_seterr(conf, "url: %s", err);
            return SAQ_EURL;
        }
        saq__url_free(&u);
        return 0;
    }
    case T_NAME: {
        const char *why = bad_name(value);
        if (why) {
            saq__conf_seterr(conf, "name '%.60s': %s", value, why);
            return SAQ_EINVAL;
        }
        return 0;
    }
    case T_ID:
        if (!*value || strchr(value, ':') || strlen(value) > 200) {
            saq__conf_seterr(conf, "id must be 1-200 characters without ':' (saq reads worker "
                                   "ids after the last ':')");
            return SAQ_EINVAL;
        }
        return 0;
    case T_DIALECT:
        if (strcmp(value, "0.26") && strcmp(value, "0.13")) {
            saq__conf_seterr(conf, "dialect must be \"0.26\" or \"0.13\", got '%.60s'", value);
            return SAQ_EINVAL;
        }
        return 0;
    case T_ORDER:
        if (strcmp(value, "strict") && strcmp(value, "weighted")) {
            saq__conf_seterr(conf, "queue_order must be \"strict\" or \"weighted\", got '%.60s'", value);
            return SAQ_EINVAL;
        }
        return 0;
    case T_TZ: { /* "" = UTC */
        saq__tz_t *z = *value ? saq__tz_open(value, err, sizeof err) : NULL;
        if (*value && !z) {
            saq__conf_seterr(conf, "%s", err);
            return SAQ_EINVAL;
        }
        saq__tz_free(z);
        return 0;
    }
    case T_LEVEL:
        if (parse_level(value) < 0) {
            saq__conf_seterr(conf, "log_level must be debug, info, warning (or warn), error or off, "
                                   "got '%.60s'", value);
            return SAQ_EINVAL;
        }
        return 0;
    case T_BACKOFF:
        if (parse_num(value, &d) ? parse_bool(value, &b) != 0 : d < kd->min || d > kd->max) {
            saq__conf_seterr(conf, "%s must be true, false or a cap in seconds from 0 to %.0f, got '%.60s'",
                             kd->key, kd->max, value);
            return SAQ_EINVAL;
        }
        return 0;
    case T_CERTREQS:
        if (saq__tls_cert_reqs(value) < 0) {
            saq__conf_seterr(conf, "%s must be none, optional or required, got '%.60s'", kd->key,
                             value);
            return SAQ_EINVAL;
        }
        return 0;
    case T_PATH:
        if (strlen(value) >= 4096) {
            saq__conf_seterr(conf, "%s is longer than 4095 bytes (PATH_MAX)", kd->key);
            return SAQ_EINVAL;
        }
        return 0;
    case T_JSONOBJ:
        if (strcmp(value, "null") && saq__json_validate(value, strlen(value), 'o', err, sizeof err)) {
            saq__conf_seterr(conf, "%s must be a JSON object or null: %s", kd->key, err);
            return SAQ_EINVAL;
        }
        return 0;
    default:
        return 0;
    }
}

SAQ_API int saq_conf_set(saq_conf_t *conf, const char *key, const char *value)
{
    if (!conf)
        return SAQ_EINVAL;
    if (!key || !value) {
        saq__conf_seterr(conf, "key and value must not be NULL");
        return SAQ_EINVAL;
    }
    const struct keydef *kd = find_key(key);
    if (!kd) {
        saq__conf_seterr(conf, "unknown configuration key '%.60s'", key);
        return SAQ_EUNKNOWN_KEY;
    }
    int e = check_value(conf, kd, value);
    if (e)
        return e;
    if (!strcmp(key, "timers.stats"))
        key = "timers.worker_info";
    for (size_t i = 0; i < conf->n; i++) {
        if (!strcmp(conf->items[i].key, key)) {
            char *v = saq__strdup(value);
            if (!v)
                return SAQ_ENOMEM;
            free(conf->items[i].value);
            conf->items[i].value = v;
            return 0;
        }
    }
    if (conf->n == conf->cap) {
        size_t cap = conf->cap ? conf->cap * 2 : 8;
        kv_t *it = saq__realloc(conf->items, cap * sizeof *it);
        if (!it)
            return SAQ_ENOMEM;
        conf->items = it;
        conf->cap = cap;
    }
    kv_t kv = {saq__strdup(key), saq__strdup(value)};
    if (!kv.key || !kv.value) {
        free(kv.key);
        free(kv.value);
        return SAQ_ENOMEM;
    }
    conf->items[conf->n++] = kv;
    return 0;
}

SAQ_API const char *saq_conf_get(const saq_conf_t *conf, const char *key)
{
    if (!conf || !key)
        return NULL;
    if (!strcmp(key, "timers.stats"))
        key = "timers.worker_info";
    for (size_t i = 0; i < conf->n; i++)
        if (!strcmp(conf->items[i].key, key))
            return conf->items[i].value;
    return NULL;
}

SAQ_API const char *saq_conf_errmsg(const saq_conf_t *conf)
{
    return conf && conf->errmsg ? conf->errmsg : "";
}

SAQ_API int saq_conf_set_transform(saq_conf_t *conf, saq_transform_fn dump, saq_transform_fn load,
                                   void *userdata)
{
    if (!conf)
        return SAQ_EINVAL;
    if (!dump != !load) {
        saq__conf_seterr(conf, "dump and load must be given together");
        return SAQ_EINVAL;
    }
    conf->dump = dump;
    conf->load = load;
    conf->transform_ud = userdata;
    return 0;
}

/* Replace the conf's log sink (a reference on a cq it names). */
static void set_sink(saq_conf_t *conf, saq_log_fn fn, void *ud, saq_cq_t *cq, uint64_t tag)
{
    if (cq)
        saq__cq_ref(cq);
    saq__cq_unref(conf->log.cq);
    conf->log = (saq__log_sink_t){fn, ud, cq, tag, 0};
}

SAQ_API int saq_conf_set_log(saq_conf_t *conf, saq_log_fn fn, void *userdata)
{
    if (!conf)
        return SAQ_EINVAL;
    set_sink(conf, fn, fn ? userdata : NULL, NULL, 0);
    return SAQ_OK;
}

SAQ_API int saq_conf_set_log_cq(saq_conf_t *conf, saq_cq_t *cq, uint64_t tag)
{
    if (!conf)
        return SAQ_EINVAL;
    set_sink(conf, NULL, NULL, cq, cq ? tag : 0);
    return SAQ_OK;
}

void saq__settings_defaults(saq__settings_t *s)
{
    memset(s, 0, sizeof *s);
    s->dialect = SAQ__DIALECT_026;
    s->max_concurrent_ops = 20;
    s->command_timeout_ms = 5000;
    s->connect_timeout_ms = 2000;
    s->reconnect_max_ms = 2000;
    s->max_payload = 16u << 20;
    s->concurrency = 10;
    s->t_schedule = 1;
    s->t_worker_info = 10;
    s->t_sweep = 60;
    s->t_abort = 1;
    s->hard_deadline_s = 1;
    s->dead_worker_check = 1;
    s->t_alive = 0.5;
    s->min_replicas_timeout_ms = 1000;
    s->weight = 1;
    s->retry_jitter = 1;
    s->t_pause = 0.5;
    int env = parse_level(getenv("SAQ_LOG_LEVEL"));
    s->log.level = env >= 0 ? env : SAQ_LOG_WARNING;
}

void saq__settings_free(saq__settings_t *s)
{
    saq__url_free(&s->url);
    free(s->url_text);
    free(s->name);
    free(s->worker_id);
    free(s->metadata);
    free(s->swept_msg);
    free(s->cron_tz);
    saq__cq_unref(s->log.cq);
    memset(s, 0, sizeof *s);
}

/* Apply the conf key "tls.<k>" (value v, checked by saq_conf_set) to t: it replaces what the
 * url's query said; an empty path means none. -1 when out of memory. */
static int merge_tls(saq__tls_opts_t *t, const char *k, const char *v)
{
    if (!strcmp(k, "cert_reqs"))
        t->cert_reqs = saq__tls_cert_reqs(v);
    else if (!strcmp(k, "check_hostname"))
        parse_bool(v, &t->want_check_hostname);
    else
        return saq__set_str(!strcmp(k, "ca_certs")  ? &t->ca_certs
                            : !strcmp(k, "ca_path") ? &t->ca_path
                            : !strcmp(k, "certfile") ? &t->certfile
                                                     : &t->keyfile,
                            *v ? v : NULL);
    return 0;
}

/* Apply the conf key "defaults.<k>" (value v, checked by saq_conf_set). */
static void set_default(saq__settings_t *s, const char *k, const char *v)
{
    double d = 0;
    int b = 0;
    if (!strcmp(k, "timeout")) {
        parse_num(v, &d);
        s->def_timeout = d;
        s->def_set |= SAQ__GIVEN_TIMEOUT;
    } else if (!strcmp(k, "retries")) {
        parse_num(v, &d);
        s->def_retries = (int)d;
        s->def_set |= SAQ__GIVEN_RETRIES;
    } else if (!strcmp(k, "ttl")) {
        parse_num(v, &d);
        s->def_ttl = (int)d;
        s->def_set |= SAQ__GIVEN_TTL;
    } else if (!strcmp(k, "retry_delay")) {
        parse_num(v, &d);
        s->def_retry_delay = d;
        s->def_set |= SAQ__GIVEN_RETRY_DELAY;
    } else if (!strcmp(k, "retry_backoff")) {
        if (parse_num(v, &d) == 0) /* a cap in seconds (0: none) */
            s->def_backoff = d > 0 ? 2 : 0, s->def_backoff_cap = d;
        else if (parse_bool(v, &b) == 0) /* true: uncapped; false: none */
            s->def_backoff = b, s->def_backoff_cap = 0;
        s->def_set |= SAQ__GIVEN_RETRY_BACKOFF;
    }
}

int saq__settings_from_conf(saq__settings_t *s, saq_conf_t *conf, int queue)
{
    char err[200];
    const char *tls_key = NULL; /* the first tls.* key set */
    const char *sentinel_key = NULL; /* the first sentinel.* key set */
    saq__settings_defaults(s);
    const char *url = conf ? saq_conf_get(conf, "url") : NULL;
    if (!url)
        url = "redis://localhost:6379/0";
    if (saq__url_parse(url, &s->url, err, sizeof err)) {
        saq__conf_seterr(conf, "url: %s", err);
        return SAQ_EURL;
    }
    s->url_text = saq__strdup(url);
    s->name = saq__strdup("default");
    s->swept_msg = saq__strdup("swept");
    if (!s->url_text || !s->name || !s->swept_msg)
        goto oom;
    if (!conf)
        return 0;
    s->dump = conf->dump;
    s->load = conf->load;
    s->transform_ud = conf->transform_ud;
    s->log.fn = conf->log.fn;
    s->log.ud = conf->log.ud;
    if ((s->log.cq = conf->log.cq)) {
        saq__cq_ref(s->log.cq);
        s->log.tag = conf->log.tag;
    }
    for (size_t i = 0; i < conf->n; i++) {
        const char *k = conf->items[i].key, *v = conf->items[i].value;
        double d = 0;
        int b = 0;
        parse_num(v, &d);
        parse_bool(v, &b);
        if (!strcmp(k, "name")) {
            if (saq__set_str(&s->name, v))
                goto oom;
        } else if (!strcmp(k, "dialect"))
            s->dialect = !strcmp(v, "0.13") ? SAQ__DIALECT_013 : SAQ__DIALECT_026;
        else if (!strcmp(k, "max_concurrent_ops"))
            s->max_concurrent_ops = (int)d;
        else if (!strcmp(k, "command_timeout_ms"))
            s->command_timeout_ms = (int)d;
        else if (!strcmp(k, "connect_timeout_ms"))
            s->connect_timeout_ms = (int)d;
        else if (!strcmp(k, "reconnect_max_ms"))
            s->reconnect_max_ms = (int)d;
        else if (!strcmp(k, "max_payload_bytes"))
            s->max_payload = (size_t)d;
        else if (!strcmp(k, "concurrency"))
            s->concurrency = (int)d;
        else if (!strcmp(k, "dequeue_timeout"))
            s->dequeue_timeout = d;
        else if (!strcmp(k, "timers.schedule"))
            s->t_schedule = d;
        else if (!strcmp(k, "timers.worker_info"))
            s->t_worker_info = d;
        else if (!strcmp(k, "timers.sweep"))
            s->t_sweep = d;
        else if (!strcmp(k, "timers.abort"))
            s->t_abort = d;
        else if (!strcmp(k, "timers.liveness"))
            s->t_alive = d;
        else if (!strcmp(k, "burst"))
            s->burst = b;
        else if (!strcmp(k, "max_burst_jobs"))
            s->max_burst_jobs = (int)d;
        else if (!strcmp(k, "shutdown_grace_period"))
            s->grace_s = d;
        else if (!strcmp(k, "cancellation_hard_deadline"))
            s->hard_deadline_s = d;
        else if (!strcmp(k, "id")) {
            if (saq__set_str(&s->worker_id, v))
                goto oom;
        } else if (!strcmp(k, "metadata")) {
            if (saq__set_str(&s->metadata, strcmp(v, "null") ? v : NULL))
                goto oom;
        } else if (!strcmp(k, "swept_error_message")) {
            if (saq__set_str(&s->swept_msg, v))
                goto oom;
        } else if (!strcmp(k, "dead_worker_check"))
            s->dead_worker_check = d;
        else if (!strcmp(k, "queue_order"))
            s->weighted = !strcmp(v, "weighted");
        else if (!strcmp(k, "queue_weight"))
            s->weight = (int)d;
        else if (!strncmp(k, "tls.", 4)) {
            tls_key = tls_key ? tls_key : k;
            if (merge_tls(&s->url.tls, k + 4, v))
                goto oom;
        } else if (!strncmp(k, "sentinel.", 9)) {
            sentinel_key = sentinel_key ? sentinel_key : k;
            if (saq__set_str(k[9] == 'u' ? &s->url.sentinel_username : &s->url.sentinel_password,
                             *v ? v : NULL))
                goto oom;
        } else if (!strcmp(k, "min_replicas"))
            s->min_replicas = (int)d;
        else if (!strcmp(k, "min_replicas_timeout_ms"))
            s->min_replicas_timeout_ms = (int)d;
        else if (!strcmp(k, "log_level"))
            s->log.level = parse_level(v);
        else if (!strncmp(k, "defaults.", 9))
            set_default(s, k + 9, v);
        else if (!strcmp(k, "failed_ttl"))
            s->has_failed_ttl = 1, s->failed_ttl = (int)d;
        else if (!strcmp(k, "retry.min_delay"))
            s->retry_min_delay = d;
        else if (!strcmp(k, "retry.jitter"))
            s->retry_jitter = b;
        else if (!strcmp(k, "timers.pause"))
            s->t_pause = d;
        else if (!strcmp(k, "cron_tz")) {
            if (saq__set_str(&s->cron_tz, *v ? v : NULL))
                goto oom;
        }
    }
    if (queue && sentinel_key && s->url.topo != SAQ__TOPO_SENTINEL) {
        saq__settings_free(s);
        saq__conf_seterr(conf, "%s needs a redis+sentinel:// url", sentinel_key);
        return SAQ_EINVAL;
    }
    saq__tls_opts_t *t = &s->url.tls;
    t->check_hostname = t->want_check_hostname && t->cert_reqs != SAQ__TLS_NONE;
    if (queue && tls_key && !t->enabled) {
        saq__settings_free(s);
        saq__conf_seterr(conf, "%s needs a rediss:// url (the tls.* keys configure TLS, which "
                               "only rediss://, rediss+sentinel:// and rediss+cluster:// turn "
                               "on)", tls_key);
        return SAQ_EINVAL;
    }
    return 0;
oom:
    saq__settings_free(s);
    saq__conf_seterr(conf, "out of memory");
    return SAQ_ENOMEM;
}

/* The settings in effect as a conf (saq_worker_conf_get): queue keys from `q`, worker keys from
 * `w`, every key set, numbers in their shortest exact form. NULL on OOM. */
saq_conf_t *saq__settings_export(const saq__settings_t *q, const saq__settings_t *w,
                                 const char *worker_id)
{
    saq_conf_t *c = saq_conf_new();
    const saq__tls_opts_t *tls = &q->url.tls;
    char n[27][40];
    const double nums[27] = {q->max_concurrent_ops, q->command_timeout_ms, q->connect_timeout_ms,
                             q->reconnect_max_ms, (double)q->max_payload, w->concurrency,
                             w->dequeue_timeout, w->t_schedule, w->t_worker_info, w->t_sweep,
                             w->t_abort, w->max_burst_jobs, w->grace_s, w->hard_deadline_s,
                             w->dead_worker_check, w->t_alive, w->weight, q->min_replicas,
                             q->min_replicas_timeout_ms, w->t_pause, q->retry_min_delay,
                             q->failed_ttl, q->def_timeout, q->def_retries, q->def_ttl,
                             q->def_retry_delay, q->def_backoff_cap};
    for (int i = 0; i < 27; i++)
        saq__fmt_double(n[i], nums[i]);
    const char *kv[][2] = {
        {"url", q->url_text}, {"name", q->name},
        {"dialect", q->dialect == SAQ__DIALECT_013 ? "0.13" : "0.26"},
        {"max_concurrent_ops", n[0]}, {"command_timeout_ms", n[1]}, {"connect_timeout_ms", n[2]},
        {"reconnect_max_ms", n[3]}, {"max_payload_bytes", n[4]}, {"concurrency", n[5]},
        {"dequeue_timeout", n[6]}, {"timers.schedule", n[7]}, {"timers.worker_info", n[8]},
        {"timers.sweep", n[9]}, {"timers.abort", n[10]}, {"burst", w->burst ? "true" : "false"},
        {"max_burst_jobs", n[11]}, {"shutdown_grace_period", n[12]},
        {"cancellation_hard_deadline", n[13]}, {"id", worker_id},
        {"metadata", w->metadata ? w->metadata : "null"}, {"swept_error_message", w->swept_msg},
        {"dead_worker_check", n[14]}, {"timers.liveness", n[15]},
        {"queue_order", w->weighted ? "weighted" : "strict"}, {"queue_weight", n[16]},
        {"min_replicas", n[17]}, {"min_replicas_timeout_ms", n[18]},
        {"log_level", level_word(q->log.level)}, {"cron_tz", w->cron_tz ? w->cron_tz : ""},
        {"timers.pause", n[19]}, {"retry.min_delay", n[20]},
        {"retry.jitter", q->retry_jitter ? "true" : "false"},
        {"failed_ttl", q->has_failed_ttl ? n[21] : NULL},
        {"defaults.timeout", q->def_set & SAQ__GIVEN_TIMEOUT ? n[22] : NULL},
        {"defaults.retries", q->def_set & SAQ__GIVEN_RETRIES ? n[23] : NULL},
        {"defaults.ttl", q->def_set & SAQ__GIVEN_TTL ? n[24] : NULL},
        {"defaults.retry_delay", q->def_set & SAQ__GIVEN_RETRY_DELAY ? n[25] : NULL},
        {"defaults.retry_backoff", !(q->def_set & SAQ__GIVEN_RETRY_BACKOFF) ? NULL
                                   : q->def_backoff == 2 ? n[26] : q->def_backoff ? "true" : "false"},
        {"sentinel.username", q->url.topo == SAQ__TOPO_SENTINEL && q->url.sentinel_username
                                  ? q->url.sentinel_username : NULL},
        /* a rediss:// queue's TLS settings in effect ("" for a path not given, which also
         * stands over the url's); none for another url, which refuses them */
        {"tls.cert_reqs", tls->enabled ? saq__tls_cert_reqs_name(tls->cert_reqs) : NULL},
        {"tls.check_hostname", !tls->enabled ? NULL : tls->check_hostname ? "true" : "false"},
        {"tls.ca_certs", !tls->enabled ? NULL : tls->ca_certs ? tls->ca_certs : ""},
        {"tls.ca_path", !tls->enabled ? NULL : tls->ca_path ? tls->ca_path : ""},
        {"tls.certfile", !tls->enabled ? NULL : tls->certfile ? tls->certfile : ""},
        {"tls.keyfile", !tls->enabled ? NULL : tls->keyfile ? tls->keyfile : ""},
    };
    for (size_t i = 0; c && i < sizeof kv / sizeof kv[0]; i++) {
        if (kv[i][1] && saq_conf_set(c, kv[i][0], kv[i][1])) {
            saq_conf_free(c);
            c = NULL;
        }
    }
    return c;
}

/* SPDX-License-Identifier: MIT */
/* The reply parser: hiredis's redisReader and its reply objects, with the
 * limits libsaq puts on what a server may make it allocate. */
#include "core.h"

static redisReplyObjectFunctions reply_fns;
static void *(*default_array)(const redisReadTask *, int);
static pthread_once_t reply_fns_once = PTHREAD_ONCE_INIT;

static void *create_array(const redisReadTask *t, int elements)
{
    /* NULL: the reader fails with an error, the connection is reset */
    return elements > SAQ__MAX_REPLY_ELEMENTS ? NULL : default_array(t, elements);
}

static void reply_fns_init(void)
{
    redisReader *r = redisReaderCreate(); /* hiredis's own functions, to wrap */
    if (!r)
        return;
    reply_fns = *r->fn;
    default_array = reply_fns.createArray;
    reply_fns.createArray = create_array;
    redisReaderFree(r);
}

redisReader *saq__reader_new(void)
{
    pthread_once(&reply_fns_once, reply_fns_init);
    redisReader *r = redisReaderCreate();
    if (r && default_array)
        r->fn = &reply_fns;
    return r;
}

/* SPDX-License-Identifier: MIT */
/* Linked into the consumers of libsaq.a: names that libsaq.a holds inside
 * (hiredis's sdsempty and redisReaderCreate, which libsaq calls, and libsaq's
 * own saq__buf_put), defined again by the program. libsaq.a keeps only saq_*
 * global, so this links without a duplicate definition, and libsaq keeps
 * calling its own copies. */
int sdsempty(int x);
int redisReaderCreate(int x);
int saq__buf_put(int x);

int sdsempty(int x) { return x + 1; }
int redisReaderCreate(int x) { return x + 2; }
int saq__buf_put(int x) { return x + 3; }

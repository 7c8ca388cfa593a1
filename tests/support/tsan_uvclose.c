/* SPDX-License-Identifier: MIT */
/* Linked into the test programs of the ThreadSanitizer build only
 * (-DSAQ_SANITIZE=thread), which export it so that it is found before libc's.
 *
 * libuv closes its descriptors (the loop's epoll fd, the eventfd behind
 * uv_async_t, ...) with syscall(SYS_close, fd), never close(3): libuv 1.44's
 * uv__close_nocancel, whose TSan-aware branch is compiled only when libuv
 * itself is built with -fsanitize=thread (Debian's is not; `objdump -d
 * libuv.so.1` shows no close@plt, only `mov $0x3,%edi; call syscall@plt`).
 * TSan then never learns the descriptor was closed: its state keeps the dead
 * loop thread's last epoll_ctl/read on it, and when the number is handed out
 * again by a call TSan does not intercept (mkstemp, fcntl(F_DUPFD_CLOEXEC)
 * in saq_cq_fd_dup) and then used by another thread, TSan reports a race
 * between two different files that the kernel ordered (the number can only
 * be reused after the close). Seen in test_faults (mkstemp reusing a freed
 * queue's epoll fd) and test_threads (saq_cq_fd_dup reusing a freed queue's
 * eventfd).
 *
 * Instead of suppressing those reports (that would need matching every
 * interceptor libuv calls on a descriptor, hiding real races on descriptors
 * too), this syscall() does for SYS_close what libuv's own TSan build does:
 * tell TSan through the sanitizer's syscall hooks, then make the call. Every
 * other system call is passed on unchanged. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>

#include <sanitizer/linux_syscall_hooks.h>

typedef long (*syscall_fn)(long, ...);

long syscall(long n, ...);

long syscall(long n, ...)
{
    static syscall_fn real;
    syscall_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!f) {
        f = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
        __atomic_store_n(&real, f, __ATOMIC_RELEASE);
    }
    /* syscall(2) takes at most six arguments, passed in registers: read them
     * all as libc's syscall() does, whatever this call used */
    va_list ap;
    va_start(ap, n);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (n == SYS_close)
        __sanitizer_syscall_pre_close(a[0]);
    long rc = f(n, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (n == SYS_close) {
        int e = errno;
        __sanitizer_syscall_post_close(rc, a[0]);
        errno = e;
    }
    return rc;
}

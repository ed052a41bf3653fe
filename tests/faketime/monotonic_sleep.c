/* Preloaded ahead of libfaketime by `make test-clock-ahead` (see the Makefile and README, "Testing").
 *
 * The suite runs with only the wall clock moved (FAKETIME_DONT_FAKE_MONOTONIC=1): libfaketime 0.9.10,
 * Debian 12's, cannot fake the monotonic clock for Python >= 3.11, whose timed lock waits
 * (Event.wait, Queue.get, Lock.acquire(timeout=...)) call sem_clockwait(CLOCK_MONOTONIC, deadline),
 * which 0.9.10 does not intercept: a faked deadline is years ahead of the kernel's clock, so every
 * timed wait blocks until its event is set, or forever.
 *
 * With the monotonic clock left alone, 0.9.10 still shifts every absolute clock_nanosleep() deadline
 * on CLOCK_MONOTONIC by the fake offset (src/libfaketime.c, clock_nanosleep, TIMER_ABSTIME branch):
 * the deadline becomes negative and the call fails with EINVAL, and Python's time.sleep() is exactly
 * that call (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ...)), so every sleep raises
 * "OSError: [Errno 22] Invalid argument". libfaketime 0.9.11 leaves the deadline untouched when
 * monotonic faking is disabled; this does the same for 0.9.10: clocks other than CLOCK_REALTIME go
 * to the kernel unchanged, CLOCK_REALTIME (which is moved) still goes through libfaketime.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_nanosleep_fn)(clockid_t, int, const struct timespec *, struct timespec *);

static clock_nanosleep_fn next_clock_nanosleep;

__attribute__((constructor)) static void find_next(void) {
    next_clock_nanosleep = (clock_nanosleep_fn)dlsym(RTLD_NEXT, "clock_nanosleep");
}

int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec *request, struct timespec *remain) {
    if (clock_id != CLOCK_REALTIME || next_clock_nanosleep == NULL) {
        /* clock_nanosleep returns the error number instead of setting errno. */
        return syscall(SYS_clock_nanosleep, clock_id, flags, request, remain) == 0 ? 0 : errno;
    }
    return next_clock_nanosleep(clock_id, flags, request, remain);
}

/*
 * asyncjob.h — OpenSSL's ASYNC job API (ASYNC_start_job(3)) as a standalone C library.
 *
 * Contract
 * --------
 * Every function mirrors its OpenSSL namesake (ASYNC_xxx -> asyncjob_xxx, ASYNC_WAIT_CTX_xxx ->
 * asyncjob_wait_ctx_xxx) and behaves as OpenSSL documents, except where noted below.
 *
 * Threads: jobs, pools, the current job and the pause-block count belong to the OS thread that
 * created them. A job may be resumed only by the thread that started it; any other thread gets
 * ASYNCJOB_ERR. A wait context is plain data and is not synchronised: use it from one thread at
 * a time (the callback it stores may be called from any thread — that is the caller's business).
 *
 * Differences from OpenSSL, each fixing a known trap:
 *  - args != NULL with size 0 is valid: nothing is copied and the job receives NULL.
 *  - Jobs nest: a job may start and resume other jobs; a job pauses back to whoever started or
 *    resumed it last. Resuming a job that is running (itself or one of the jobs that resumed
 *    it) returns ASYNCJOB_ERR.
 *  - The pause-block count (asyncjob_block_pause) belongs to the current job and ends with it.
 *  - Stacks have a guard page below them (an overflow faults instead of corrupting memory) and a
 *    configurable size (asyncjob_set_stack_size).
 *  - asyncjob_init_thread replaces an existing pool only when none of its jobs is in use.
 *  - max_size bounds the jobs in use, and the jobs of all threads together are bounded by a
 *    process-wide limit derived from the process's own (vm.max_map_count, RLIMIT_AS, thread
 *    limits; docs/api.md, "Limits"): at it asyncjob_start_job returns ASYNCJOB_NO_JOBS, and
 *    asyncjob_init_thread returns 0 at once for an init_size beyond it.
 *
 * Native job functions run on fiber stacks: they must not call into a JavaScript engine.
 */
#ifndef ASYNCJOB_H
#define ASYNCJOB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ASYNCJOB_ERR 0
#define ASYNCJOB_NO_JOBS 1
#define ASYNCJOB_PAUSE 2
#define ASYNCJOB_FINISH 3

#define ASYNCJOB_STATUS_UNSUPPORTED 0
#define ASYNCJOB_STATUS_ERR 1
#define ASYNCJOB_STATUS_OK 2
#define ASYNCJOB_STATUS_EAGAIN 3

#ifdef _WIN32
typedef intptr_t asyncjob_fd; /* a HANDLE-sized integer, as OpenSSL's OSSL_ASYNC_FD */
#else
typedef int asyncjob_fd;
#endif

typedef struct asyncjob_job asyncjob_job;
typedef struct asyncjob_wait_ctx asyncjob_wait_ctx;

typedef int (*asyncjob_callback_fn)(void *arg);
typedef void (*asyncjob_wait_fd_cleanup_fn)(asyncjob_wait_ctx *ctx, const void *key, asyncjob_fd fd,
                                            void *custom_data);
/* Allocates a stack of at least *num bytes; may raise *num. Returns its lowest address. */
typedef void *(*asyncjob_stack_alloc_fn)(size_t *num);
typedef void (*asyncjob_stack_free_fn)(void *addr);

#define ASYNCJOB_DEFAULT_STACK_SIZE (256u * 1024u)
#define ASYNCJOB_MIN_STACK_SIZE (16u * 1024u)

/* asyncjob_client.h (for other Node addons) defines these names itself, as calls through the
 * table asyncjob publishes; it includes this header for the types only. */
#ifndef ASYNCJOB_CLIENT_SHIM

/* ---- Jobs and the per-thread pool ---- */
int asyncjob_init_thread(size_t max_size, size_t init_size);
void asyncjob_cleanup_thread(void);
int asyncjob_start_job(asyncjob_job **job, asyncjob_wait_ctx *ctx, int *ret, int (*func)(void *),
                       void *args, size_t size);
int asyncjob_pause_job(void);
asyncjob_job *asyncjob_get_current_job(void);
asyncjob_wait_ctx *asyncjob_get_wait_ctx(asyncjob_job *job);
void asyncjob_block_pause(void);
void asyncjob_unblock_pause(void);
int asyncjob_is_capable(void);

/* ---- Wait contexts ---- */
asyncjob_wait_ctx *asyncjob_wait_ctx_new(void);
void asyncjob_wait_ctx_free(asyncjob_wait_ctx *ctx);
int asyncjob_wait_ctx_set_wait_fd(asyncjob_wait_ctx *ctx, const void *key, asyncjob_fd fd,
                                  void *custom_data, asyncjob_wait_fd_cleanup_fn cleanup);
int asyncjob_wait_ctx_get_fd(asyncjob_wait_ctx *ctx, const void *key, asyncjob_fd *fd,
                             void **custom_data);
int asyncjob_wait_ctx_get_all_fds(asyncjob_wait_ctx *ctx, asyncjob_fd *fd, size_t *numfds);
int asyncjob_wait_ctx_get_changed_fds(asyncjob_wait_ctx *ctx, asyncjob_fd *addfd,
                                      size_t *numaddfds, asyncjob_fd *delfd, size_t *numdelfds);
int asyncjob_wait_ctx_clear_fd(asyncjob_wait_ctx *ctx, const void *key);
int asyncjob_wait_ctx_set_callback(asyncjob_wait_ctx *ctx, asyncjob_callback_fn callback,
                                   void *callback_arg);
int asyncjob_wait_ctx_get_callback(asyncjob_wait_ctx *ctx, asyncjob_callback_fn *callback,
                                   void **callback_arg);
int asyncjob_wait_ctx_set_status(asyncjob_wait_ctx *ctx, int status);
int asyncjob_wait_ctx_get_status(asyncjob_wait_ctx *ctx);

/* ---- Stacks ----
 * The allocator may be replaced only before the first stack of the process is allocated
 * (returns 0 afterwards). A NULL argument leaves that function unchanged. The default allocator
 * maps stacks with mmap and puts a PROT_NONE guard page below each one; a custom allocator owns
 * its guard (or lack of one). On Windows the system allocates fiber stacks (with its own guard
 * pages), so a custom allocator cannot be installed there and this returns 0. */
int asyncjob_set_mem_functions(asyncjob_stack_alloc_fn alloc_fn, asyncjob_stack_free_fn free_fn);
void asyncjob_get_mem_functions(asyncjob_stack_alloc_fn *alloc_fn, asyncjob_stack_free_fn *free_fn);

/* asyncjob extensions (not in OpenSSL) */

/* The size of stacks created from now on (default ASYNCJOB_DEFAULT_STACK_SIZE). Sizes are
 * rounded up to whole pages; below ASYNCJOB_MIN_STACK_SIZE returns 0 and changes nothing. */
int asyncjob_set_stack_size(size_t size);
size_t asyncjob_get_stack_size(void);

/* How this process switches stacks: "asm-x86_64" or "asm-aarch64" (register-only switch, each
 * new stack's first frame written by hand), "ucontext" (swapcontext on every switch: other POSIX
 * architectures, glibc under a CET or GCS shadow stack, or forced on glibc with
 * ASYNCJOB_FIBER=ucontext in the environment), "windows-fibers", or "none" when
 * asyncjob_is_capable() is 0. */
const char *asyncjob_fiber_backend(void);

/* Jobs of the calling thread's pool that are running or paused (0 without a pool). */
size_t asyncjob_jobs_in_use(void);

#endif /* ASYNCJOB_CLIENT_SHIM */

#ifdef __cplusplus
}
#endif

#endif /* ASYNCJOB_H */

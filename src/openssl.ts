// asyncjob under OpenSSL's names (`asyncjob/openssl`), for line-by-line ports of C code that uses
// ASYNC_start_job(3) and ASYNC_WAIT_CTX_new(3). Integers come back where C returns them (1/0 and
// the ASYNC_* codes), and every C out-parameter is a reference object `{ value }`. The work is
// done by the main API (jobs.ts, wait-ctx.ts); this layer only translates.
import { isCapable } from './index';
import {
  type AsyncJob,
  NativeJobFunction,
  blockPause,
  cancelJob,
  cleanupThread,
  getCurrentJob,
  getWaitCtx,
  initThread,
  pauseJob,
  startJob,
  unblockPause,
} from './jobs';
import { validateJobFunction, validateJobOrNull } from './job-arguments';
import { ASYNC_FINISH } from './constants';
import { invalidArgType } from './errors';
import { WaitCtx, type WaitCtxCallback, type WaitFdCleanup } from './wait-ctx';

// Named, not `export *`: Node's ESM loader finds named exports of CommonJS reliably only so.
export {
  ASYNC_ERR,
  ASYNC_NO_JOBS,
  ASYNC_PAUSE,
  ASYNC_FINISH,
  ASYNC_STATUS_UNSUPPORTED,
  ASYNC_STATUS_ERR,
  ASYNC_STATUS_OK,
  ASYNC_STATUS_EAGAIN,
} from './constants';

/**
 * A C out-parameter: `int ret;` … `&ret` becomes `const ret = { value: 0 }` … `ret`. The
 * function writes `value`; ASYNC_start_job also reads its `job` reference.
 * @example
 * const numfds: Ref<number> = { value: 0 };
 * ASYNC_WAIT_CTX_get_all_fds(ctx, null, numfds);
 * console.log(numfds.value);
 */
export type Ref<T> = { value: T };

/**
 * OpenSSL's `ASYNC_JOB`: a job handle ({@link AsyncJob} of the main API).
 * @example
 * const job: Ref<ASYNC_JOB | null> = { value: null };
 */
export type ASYNC_JOB = AsyncJob;

/**
 * OpenSSL's `ASYNC_WAIT_CTX`: a {@link WaitCtx} of the main API, so `ctx.wait()` works on it too.
 * @example
 * const ctx: ASYNC_WAIT_CTX = ASYNC_WAIT_CTX_new();
 */
export type ASYNC_WAIT_CTX = WaitCtx;

/**
 * OpenSSL's `ASYNC_callback_fn`: the callback a wait context stores (its return value is passed
 * on to whoever calls it).
 * @example
 * const callback: Ref<ASYNC_callback_fn | null> = { value: null };
 */
export type ASYNC_callback_fn = WaitCtxCallback;

/**
 * OpenSSL's `OSSL_ASYNC_FD`: a file descriptor.
 * @example
 * const waitfd: OSSL_ASYNC_FD[] = [];
 */
export type OSSL_ASYNC_FD = number;

function validateRef(value: unknown, name: string): asserts value is Ref<unknown> {
  if (typeof value !== 'object' || value === null) {
    throw invalidArgType(name, 'a reference object { value }', value);
  }
}

function validateFdArray(value: unknown, name: string): asserts value is OSSL_ASYNC_FD[] | null {
  if (value !== null && !Array.isArray(value)) throw invalidArgType(name, 'an instance of Array or null', value);
}

function validateCtx(value: unknown, orNull = ''): asserts value is WaitCtx {
  if (!(value instanceof WaitCtx)) throw invalidArgType('ctx', `an instance of WaitCtx${orNull}`, value);
}

// What C does with `OSSL_ASYNC_FD *fd` when it is not NULL: fill it from the start.
function fill(target: OSSL_ASYNC_FD[] | null, fds: OSSL_ASYNC_FD[]): void {
  if (target === null) return;
  target.length = fds.length;
  fds.forEach((fd, i) => {
    target[i] = fd;
  });
}

/**
 * Sets up this thread's job pool (`initThread`): at most `max_size` jobs (0: no limit),
 * `init_size` of them created now.
 *
 * Throws `TypeError`/`RangeError` for bad sizes, as `initThread` does.
 * @returns 1, or 0 when the current pool has jobs in use, the jobs cannot be created, or
 * `init_size` is more than `jobLimits()` allows (then at once).
 * @example
 * if (!ASYNC_init_thread(16, 4)) console.log('Failed to init the thread pool');
 */
export function ASYNC_init_thread(max_size: number, init_size: number): number {
  return initThread(max_size, init_size) ? 1 : 0;
}

/**
 * Frees this thread's job pool (`cleanupThread`). Unlike OpenSSL, it refuses while jobs are
 * paused: it throws an Error with code `ERR_ASYNCJOB_JOBS_IN_USE` and frees nothing.
 * @example
 * ASYNC_cleanup_thread();
 */
export function ASYNC_cleanup_thread(): void {
  cleanupThread();
}

/**
 * `ASYNC_start_job(&job, ctx, &ret, func, args, size)`: starts `func(...args)` as a job when
 * `job.value` is null, or resumes the paused job in `job.value` (then `ctx`, `func` and `args`
 * are ignored, as in OpenSSL). On `ASYNC_PAUSE` `job.value` is the paused job; otherwise it
 * becomes null, and on `ASYNC_FINISH` `ret.value` is what `func` returned.
 *
 * If the job throws, it ends and the exception propagates (as from `startJob`), leaving `job`
 * and `ret` as they were. If writing `job.value` or `ret.value` throws (a frozen reference, a
 * throwing setter), that exception propagates too; a job that had just paused is cancelled first
 * (see `cancelJob`), so that no paused job is left where nobody can reach it.
 *
 * Throws `TypeError` (`ERR_INVALID_ARG_TYPE`) when `job` or `ret` is not a reference object,
 * `job.value` not a job or null, `ctx` not a WaitCtx or null, or `func` not a function when
 * starting; and the coded state errors of `startJob`.
 * @returns `ASYNC_PAUSE`, `ASYNC_FINISH`, `ASYNC_NO_JOBS` (the pool is full) or `ASYNC_ERR`.
 * @example
 * const job: Ref<ASYNC_JOB | null> = { value: null };
 * const ret = { value: 0 };
 * for (;;) {
 *   const status = ASYNC_start_job(job, ctx, ret, jobfunc, 'Hello world!');
 *   if (status !== ASYNC_PAUSE) break;
 *   await ctx.wait();
 * }
 */
export function ASYNC_start_job<A extends unknown[], R>(
  job: Ref<ASYNC_JOB | null>,
  ctx: ASYNC_WAIT_CTX | null,
  ret: Ref<R>,
  func: ((...args: A) => R) | null,
  ...args: A
): number {
  validateRef(job, 'job');
  validateRef(ret, 'ret');
  // Named as here: startJob's `job` is this `job.value`.
  validateJobOrNull(job.value, 'job.value');
  if (job.value === null && !(func instanceof NativeJobFunction)) validateJobFunction(func, 'job.value');
  const result = startJob(job.value, ctx, func, ...args);
  try {
    job.value = result.job;
    if (result.status === ASYNC_FINISH) ret.value = result.ret as R;
  } catch (error) {
    // A job the caller could not be handed would stay paused, out of reach, for good.
    if (result.job !== null) cancelJob(result.job);
    throw error;
  }
  return result.status;
}

/**
 * Pauses the current job (`pauseJob`): control returns to whoever started or resumed it.
 * Outside a job, or while pauses are blocked, it returns at once.
 * @returns 1.
 * @example
 * write(pipefds[1], buf);
 * ASYNC_pause_job(); // back to main until the job is resumed
 */
export function ASYNC_pause_job(): number {
  return pauseJob() ? 1 : 0;
}

/**
 * The job running now, or null outside any job (`getCurrentJob`).
 * @example
 * const currjob = ASYNC_get_current_job();
 * if (currjob === null) return 0;
 */
export function ASYNC_get_current_job(): ASYNC_JOB | null {
  return getCurrentJob();
}

/**
 * The wait context `job` was started with, or null (`getWaitCtx`).
 * @example
 * ASYNC_WAIT_CTX_set_wait_fd(ASYNC_get_wait_ctx(currjob), unique, fd, null, null);
 */
export function ASYNC_get_wait_ctx(job: ASYNC_JOB): ASYNC_WAIT_CTX | null {
  return getWaitCtx(job);
}

/**
 * Blocks pauses in the current job until the matching {@link ASYNC_unblock_pause} (`blockPause`).
 * @example
 * ASYNC_block_pause();
 * critical();
 * ASYNC_unblock_pause();
 */
export function ASYNC_block_pause(): void {
  blockPause();
}

/**
 * Undoes one {@link ASYNC_block_pause} (`unblockPause`).
 * @example
 * ASYNC_unblock_pause();
 */
export function ASYNC_unblock_pause(): void {
  unblockPause();
}

/**
 * Whether this platform can run jobs (`isCapable`).
 * @returns 1 or 0.
 * @example
 * if (!ASYNC_is_capable()) console.log('async jobs are not supported');
 */
export function ASYNC_is_capable(): number {
  return isCapable() ? 1 : 0;
}

/**
 * A new, empty wait context (`new WaitCtx()`).
 * @example
 * const ctx = ASYNC_WAIT_CTX_new();
 */
export function ASYNC_WAIT_CTX_new(): ASYNC_WAIT_CTX {
  return new WaitCtx();
}

/**
 * Frees `ctx`, running the cleanup of every fd still set (`ctx.free()`); null does nothing, as
 * in OpenSSL.
 *
 * Throws `ERR_ASYNCJOB_WAIT_CTX_IN_USE` while a job that started with it has not finished.
 * @example
 * ASYNC_WAIT_CTX_free(ctx);
 */
export function ASYNC_WAIT_CTX_free(ctx: ASYNC_WAIT_CTX | null): void {
  if (ctx === null) return;
  validateCtx(ctx, ' or null');
  ctx.free();
}

/**
 * Adds `fd` under `key` with `custom_data` and the `cleanup` that {@link ASYNC_WAIT_CTX_free}
 * runs as `cleanup(ctx, key, fd, custom_data)` (`ctx.setWaitFd`; null: no cleanup). Keys compare
 * by identity, so a module-level object plays the part of C's `&unique`.
 *
 * Throws `TypeError`/`RangeError` for a bad ctx, fd or cleanup.
 * @returns 1, or 0 when out of memory.
 * @example
 * const wptr: Ref<OSSL_ASYNC_FD> = { value: pipefds[1] };
 * ASYNC_WAIT_CTX_set_wait_fd(ctx, unique, pipefds[0], wptr, cleanup);
 */
export function ASYNC_WAIT_CTX_set_wait_fd(
  ctx: ASYNC_WAIT_CTX,
  key: unknown,
  fd: OSSL_ASYNC_FD,
  custom_data: unknown,
  cleanup: WaitFdCleanup | null,
): number {
  validateCtx(ctx);
  return ctx.setWaitFd(key, fd, custom_data, cleanup ?? undefined) ? 1 : 0;
}

/**
 * Looks up the newest fd set under `key` (`ctx.getFd`) into `fd.value` and
 * `custom_data.value`.
 * @returns 1, or 0 (the references untouched) when no fd is set under `key`.
 * @example
 * const fd = { value: -1 };
 * const data: Ref<unknown> = { value: null };
 * if (ASYNC_WAIT_CTX_get_fd(ctx, unique, fd, data)) console.log(fd.value);
 */
export function ASYNC_WAIT_CTX_get_fd(
  ctx: ASYNC_WAIT_CTX,
  key: unknown,
  fd: Ref<OSSL_ASYNC_FD>,
  custom_data: Ref<unknown>,
): number {
  validateCtx(ctx);
  validateRef(fd, 'fd');
  validateRef(custom_data, 'custom_data');
  const found = ctx.getFd(key);
  if (found === null) return 0;
  fd.value = found.fd;
  custom_data.value = found.customData;
  return 1;
}

/**
 * Counts the fds set into `numfds.value` and, unless `fd` is null, fills the array `fd` with
 * them in place (its length becomes the count) (`ctx.getAllFds`). Call it with null first to
 * learn the count, as in C.
 * @returns 1.
 * @example
 * const numfds = { value: 0 };
 * const waitfd: OSSL_ASYNC_FD[] = [];
 * ASYNC_WAIT_CTX_get_all_fds(ctx, null, numfds);
 * if (numfds.value === 1) ASYNC_WAIT_CTX_get_all_fds(ctx, waitfd, numfds);
 */
export function ASYNC_WAIT_CTX_get_all_fds(
  ctx: ASYNC_WAIT_CTX,
  fd: OSSL_ASYNC_FD[] | null,
  numfds: Ref<number>,
): number {
  validateCtx(ctx);
  validateFdArray(fd, 'fd');
  validateRef(numfds, 'numfds');
  const fds = ctx.getAllFds();
  fill(fd, fds);
  numfds.value = fds.length;
  return 1;
}

/**
 * Counts the fds added and deleted since the job was last resumed into `numaddfds.value` and
 * `numdelfds.value`, and fills the arrays `addfd` and `delfd` in place unless they are null
 * (`ctx.getChangedFds`).
 * @returns 1.
 * @example
 * const numadd = { value: 0 };
 * const numdel = { value: 0 };
 * const addfd: OSSL_ASYNC_FD[] = [];
 * const delfd: OSSL_ASYNC_FD[] = [];
 * ASYNC_WAIT_CTX_get_changed_fds(ctx, addfd, numadd, delfd, numdel);
 * addfd.forEach(watch);
 * delfd.forEach(unwatch);
 */
export function ASYNC_WAIT_CTX_get_changed_fds(
  ctx: ASYNC_WAIT_CTX,
  addfd: OSSL_ASYNC_FD[] | null,
  numaddfds: Ref<number>,
  delfd: OSSL_ASYNC_FD[] | null,
  numdelfds: Ref<number>,
): number {
  validateCtx(ctx);
  validateFdArray(addfd, 'addfd');
  validateRef(numaddfds, 'numaddfds');
  validateFdArray(delfd, 'delfd');
  validateRef(numdelfds, 'numdelfds');
  const { added, deleted } = ctx.getChangedFds();
  fill(addfd, added);
  fill(delfd, deleted);
  numaddfds.value = added.length;
  numdelfds.value = deleted.length;
  return 1;
}

/**
 * Removes the newest fd set under `key` without running its cleanup (`ctx.clearFd`).
 * @returns 1, or 0 when no fd is set under `key`.
 * @example
 * ASYNC_WAIT_CTX_clear_fd(ctx, unique);
 */
export function ASYNC_WAIT_CTX_clear_fd(ctx: ASYNC_WAIT_CTX, key: unknown): number {
  validateCtx(ctx);
  return ctx.clearFd(key) ? 1 : 0;
}

/**
 * Stores the callback an engine calls with `callback_arg` when the paused job may resume
 * (`ctx.setCallback`); null removes it.
 * @returns 1.
 * @example
 * ASYNC_WAIT_CTX_set_callback(ctx, (arg) => { wake(arg); return 1; }, job.value);
 */
export function ASYNC_WAIT_CTX_set_callback(
  ctx: ASYNC_WAIT_CTX,
  callback: ASYNC_callback_fn | null,
  callback_arg: unknown,
): number {
  validateCtx(ctx);
  return ctx.setCallback(callback, callback_arg) ? 1 : 0;
}

/**
 * Reads the stored callback and its argument into `callback.value` and `callback_arg.value`
 * (`ctx.getCallback`).
 * @returns 1, or 0 (the references untouched) when no callback is set.
 * @example
 * const callback: Ref<ASYNC_callback_fn | null> = { value: null };
 * const arg: Ref<unknown> = { value: null };
 * if (ASYNC_WAIT_CTX_get_callback(ctx, callback, arg)) callback.value!(arg.value);
 */
export function ASYNC_WAIT_CTX_get_callback(
  ctx: ASYNC_WAIT_CTX,
  callback: Ref<ASYNC_callback_fn | null>,
  callback_arg: Ref<unknown>,
): number {
  validateCtx(ctx);
  validateRef(callback, 'callback');
  validateRef(callback_arg, 'callback_arg');
  const stored = ctx.getCallback();
  if (stored === null) return 0;
  callback.value = stored.callback;
  callback_arg.value = stored.arg;
  return 1;
}

/**
 * Sets the status an engine reports, `ASYNC_STATUS_*` (`ctx.setStatus`).
 * @returns 1.
 * @example
 * ASYNC_WAIT_CTX_set_status(ctx, ASYNC_STATUS_EAGAIN);
 */
export function ASYNC_WAIT_CTX_set_status(ctx: ASYNC_WAIT_CTX, status: number): number {
  validateCtx(ctx);
  return ctx.setStatus(status) ? 1 : 0;
}

/**
 * The status last set, initially `ASYNC_STATUS_UNSUPPORTED` (`ctx.getStatus`).
 * @example
 * if (ASYNC_WAIT_CTX_get_status(ctx) === ASYNC_STATUS_EAGAIN) waitForCallback();
 */
export function ASYNC_WAIT_CTX_get_status(ctx: ASYNC_WAIT_CTX): number {
  validateCtx(ctx);
  return ctx.getStatus();
}

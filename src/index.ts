import { binding } from './binding';
import type { FiberBackend } from '../types/binding';

export type { FiberBackend };

/**
 * Return code of `startJob`: the job could not be started or resumed.
 * @example
 * if (result.status === ASYNC_ERR) throw result.error;
 */
export const ASYNC_ERR = 0;

/**
 * Return code of `startJob`: the thread's pool is at its `maxSize`; no job was started.
 * @example
 * if (result.status === ASYNC_NO_JOBS) retryLater();
 */
export const ASYNC_NO_JOBS = 1;

/**
 * Return code of `startJob`: the job paused; resume it with `startJob(result.job, …)`.
 * @example
 * if (result.status === ASYNC_PAUSE) pending.push(result.job);
 */
export const ASYNC_PAUSE = 2;

/**
 * Return code of `startJob`: the job finished; `result.ret` holds its return value.
 * @example
 * if (result.status === ASYNC_FINISH) console.log(result.ret);
 */
export const ASYNC_FINISH = 3;

/**
 * WaitCtx status: the engine does not report a status (the initial value).
 * @example
 * if (ctx.getStatus() === ASYNC_STATUS_UNSUPPORTED) waitOnFds(ctx);
 */
export const ASYNC_STATUS_UNSUPPORTED = 0;

/**
 * WaitCtx status: the engine failed.
 * @example
 * ctx.setStatus(ASYNC_STATUS_ERR);
 */
export const ASYNC_STATUS_ERR = 1;

/**
 * WaitCtx status: the engine is working normally.
 * @example
 * ctx.setStatus(ASYNC_STATUS_OK);
 */
export const ASYNC_STATUS_OK = 2;

/**
 * WaitCtx status: the engine is busy; the job waits for the WaitCtx callback before resuming.
 * @example
 * ctx.setStatus(ASYNC_STATUS_EAGAIN);
 * pauseJob();
 */
export const ASYNC_STATUS_EAGAIN = 3;

/**
 * Whether this platform can run jobs (OpenSSL's `ASYNC_is_capable`).
 * @example
 * import { isCapable } from 'asyncjob';
 * if (!isCapable()) console.warn('asyncjob: jobs are not supported on this platform');
 */
export function isCapable(): boolean {
  return binding.isCapable();
}

/**
 * How this process switches the stacks of native jobs: `'asm-x86_64'` (register-only switch),
 * `'ucontext'` (glibc `swapcontext`; used where the fast switch is unsafe, or forced with
 * `ASYNCJOB_FIBER=ucontext` in the environment), `'windows-fibers'`, or `'none'` when
 * {@link isCapable} is false.
 * @example
 * import { fiberBackend } from 'asyncjob';
 * console.log(`asyncjob switches stacks with ${fiberBackend()}`);
 */
export function fiberBackend(): FiberBackend {
  return binding.fiberBackend();
}

/**
 * Creates a pipe whose two ends are non-blocking and close-on-exec, the kind of fd a job gives
 * its WaitCtx to be woken through. Close both ends with `fs.closeSync` when done.
 *
 * Throws an Error shaped like Node's SystemError when the system call fails (`code` such as
 * `'EMFILE'`, negative `errno`, `syscall` such as `'pipe2'`), and an Error with `code`
 * `'ERR_ASYNCJOB_UNSUPPORTED'` on Windows, where it is not implemented yet.
 * @example
 * import * as fs from 'node:fs';
 * import { pipe } from 'asyncjob';
 * const [readFd, writeFd] = pipe();
 * fs.writeSync(writeFd, 'x'); // wakes whoever polls readFd
 */
export function pipe(): [readFd: number, writeFd: number] {
  return binding.pipe();
}

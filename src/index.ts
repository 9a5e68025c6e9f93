import { binding } from './binding';
import type { FiberBackend } from '../types/binding';

export type { FiberBackend };
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
export type { AsyncjobErrorCode } from './errors';
export { WaitCtx, type WaitFdCleanup, type WaitCtxCallback, type WaitOptions } from './wait-ctx';
export {
  AsyncJob,
  NativeJobFunction,
  nativeApi,
  type StartResult,
  startJob,
  pauseJob,
  getCurrentJob,
  getWaitCtx,
  blockPause,
  unblockPause,
  initThread,
  type JobLimits,
  jobLimits,
  cleanupThread,
  cancelJob,
  jobAwait,
  runJob,
  type RunJobOptions,
} from './jobs';
export { AbortError } from './errors';

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
 * How this process switches the stacks of native jobs: `'asm-x86_64'` or `'asm-aarch64'`
 * (register-only switch), `'ucontext'` (`swapcontext`; on other POSIX architectures, under a
 * shadow stack on glibc, or forced on glibc with `ASYNCJOB_FIBER=ucontext` in the environment),
 * `'windows-fibers'`, or `'none'` when {@link isCapable} is false.
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
 * `'EMFILE'`, negative `errno`, `syscall` such as `'pipe2'`). On Windows, where libuv watches
 * sockets only, it is a connected pair of loopback TCP sockets as C runtime fds, which Node's
 * `fs` reads, writes and closes like a pipe's (see docs/api.md).
 * @example
 * import * as fs from 'node:fs';
 * import { pipe } from 'asyncjob';
 * const [readFd, writeFd] = pipe();
 * fs.writeSync(writeFd, 'x'); // wakes whoever polls readFd
 */
export function pipe(): [readFd: number, writeFd: number] {
  return binding.pipe();
}

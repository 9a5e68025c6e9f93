// The object the native addon (native/addon/) exports. src/ wraps it; users never see it.

/** How this process switches stacks, as the C core reports it (asyncjob_fiber_backend). */
export type FiberBackend = 'asm-x86_64' | 'ucontext' | 'windows-fibers' | 'none';

export interface Binding {
  /** asyncjob_is_capable() != 0 */
  isCapable(): boolean;
  /** asyncjob_fiber_backend() */
  fiberBackend(): FiberBackend;
  /** A non-blocking, close-on-exec pipe; throws a SystemError-shaped Error on failure and
   * ERR_ASYNCJOB_UNSUPPORTED on Windows. */
  pipe(): [readFd: number, writeFd: number];
}

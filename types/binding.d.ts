// The object the native addon (native/addon/) exports. src/ wraps it; users never see it.
// src/ validates arguments and raises Node-style errors; the native side re-checks types only so
// that misuse can never crash the process (it throws TypeError / coded errors too).

/** How this process switches stacks, as the C core reports it (asyncjob_fiber_backend). */
export type FiberBackend =
  | 'asm-x86_64'
  | 'asm-aarch64'
  | 'ucontext'
  | 'windows-fibers'
  | 'none';

// Brands that keep the handle types apart (nothing else has these keys). Symbols that are not
// exported: they show in no completion list and no user code can name them.
declare const asyncJobBrand: unique symbol;
declare const nativeJobFunctionBrand: unique symbol;

/** A job handle (native class AsyncJob). `new` from JavaScript throws ERR_ILLEGAL_CONSTRUCTOR. */
export interface NativeAsyncJob {
  readonly [asyncJobBrand]: true;
}

/** A native job function with its argument bytes, made by a client addon. */
export interface NativeJobFunction {
  readonly [nativeJobFunctionBrand]: true;
}

/**
 * The native WaitCtx class: OpenSSL's ASYNC_WAIT_CTX over the core's asyncjob_wait_ctx. Every
 * method throws ERR_ASYNCJOB_WAIT_CTX_FREED after free(). Keys compare by SameValueZero. Every
 * method and the `freed` accessor check their receiver's type tag: TypeError ERR_INVALID_ARG_TYPE
 * for anything but a WaitCtx.
 */
export interface NativeWaitCtx {
  setWaitFd(
    key: unknown,
    fd: number,
    customData: unknown,
    cleanup: ((ctx: any, key: unknown, fd: number, customData: unknown) => void) | undefined,
  ): boolean;
  getFd(key: unknown): { fd: number; customData: unknown } | null;
  getAllFds(): number[];
  getChangedFds(): { added: number[]; deleted: number[] };
  clearFd(key: unknown): boolean;
  setCallback(callback: ((arg: unknown) => unknown) | null, arg: unknown): boolean;
  getCallback(): { callback: (arg: unknown) => unknown; arg: unknown } | null;
  setStatus(status: number): boolean;
  getStatus(): number;
  /** Calls done(error, readableFds) once: when one of fds is readable (uv_poll), after
   * timeoutMs (-1: never) with [], or with an error for an fd that is not open. Returns a
   * cancel function (cancelling never calls done). */
  pollFds(fds: number[], timeoutMs: number, done: (error: Error | null, readable: number[]) => void): () => void;
  /** poll(2) on fds for readability; timeoutMs -1 waits forever. */
  pollFdsSync(fds: number[], timeoutMs: number): number[];
  /** Runs the cleanup of every fd still set, then releases the core context. Throws
   * ERR_ASYNCJOB_WAIT_CTX_IN_USE while a running or paused job uses it. */
  free(): void;
  readonly freed: boolean;
}

export interface Binding {
  /** asyncjob_is_capable() != 0 */
  isCapable(): boolean;
  /** asyncjob_fiber_backend() */
  fiberBackend(): FiberBackend;
  /** A non-blocking, close-on-exec pipe (on Windows a loopback socket pair as C runtime fds);
   * throws a SystemError-shaped Error on failure. */
  pipe(): [readFd: number, writeFd: number];

  /** null when JavaScript jobs can run on this thread, else why not (e.g. no v8::Locker). */
  jsJobsUnavailableReason(): string | null;
  initThread(maxSize: number, initSize: number): boolean;
  /** The process-wide limits on jobs of each kind; Infinity where none binds. */
  jobLimits(): { jsJobs: number; nativeJobs: number };
  /** Throws ERR_ASYNCJOB_JOBS_IN_USE (and frees nothing) while jobs are paused. */
  cleanupThread(): void;
  /** Starts func(...args) as a job, or resumes `job` (func/args/ctx then ignored). Returns the
   * job's handle when it paused, else the status (ASYNC_FINISH, ASYNC_NO_JOBS, ASYNC_ERR), with
   * the return value (FINISH) or the error (ERR) waiting for takeOutcome(). Throws what func
   * threw; throws coded errors for state errors. */
  startJob(
    job: NativeAsyncJob | null,
    ctx: NativeWaitCtx | null,
    func: ((...args: unknown[]) => unknown) | NativeJobFunction | null,
    args: unknown[],
  ): NativeAsyncJob | 0 | 1 | 3;
  /** The return value or error the last finished or failed startJob() left (once). */
  takeOutcome(): unknown;
  pauseJob(): boolean;
  /** Ends a paused job: with a reason its pauses throw it until the job ends (it unwinds).
   * Returns how it ended: 0 returned (value waiting for takeOutcome()), 1 threw the reason, 2
   * threw something else (waiting for takeOutcome()), 3 no outcome (a native job, discarded). */
  cancelJob(job: NativeAsyncJob, reason: unknown): 0 | 1 | 2 | 3;
  /** The job's id, for cancelCollected. */
  jobId(job: NativeAsyncJob): number;
  /** Cancels the paused job `id` with `reason` if its handle was garbage-collected: a cancelJob
   * outcome, or -1 when there was nothing to do. */
  cancelCollected(id: number, reason: unknown): -1 | 0 | 1 | 2 | 3;
  getCurrentJob(): NativeAsyncJob | null;
  getWaitCtx(job: NativeAsyncJob): NativeWaitCtx | null;
  /** Whether pauses are blocked in the current job (false outside any job). */
  pausesBlocked(): boolean;
  blockPause(): void;
  unblockPause(): void;
  /** For util.inspect: 0 paused, 1 running, 2 finished; plus 4 for a live native job. */
  jobState(job: NativeAsyncJob): number;
  /** What to write to stderr about the jobs still paused when this thread ends (textForMany with
   * %n for their number), once, after its last JavaScript; no arguments: nothing. */
  setExitWarning(textForOne?: string, textForMany?: string): void;
  /** The exit warning does not count this job (a Fiber of asyncjob/fibers). */
  quietAtExit(job: NativeAsyncJob): void;
  /** For util.inspect: a copy of the Map of keys with fds (key -> internal id) and whether a
   * callback (JavaScript or C) is set; null once freed. */
  waitCtxInspectState(ctx: NativeWaitCtx): { keys: Map<unknown, number>; callback: boolean } | null;

  AsyncJob: abstract new () => NativeAsyncJob;
  /** Made by native addons (asyncjob_native_function_new); `new` throws ERR_ILLEGAL_CONSTRUCTOR. */
  NativeJobFunction: abstract new () => NativeJobFunction;
  /** asyncjob's C API for other addons: a type-tagged external (asyncjob_client.h). */
  nativeApi: object;
  WaitCtx: new () => NativeWaitCtx;
}

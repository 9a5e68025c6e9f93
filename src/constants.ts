// OpenSSL's ASYNC_* return codes and ASYNC_STATUS_* wait-context status values.

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

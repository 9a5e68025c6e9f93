// The model: docs/api.md as an executable, pure-JavaScript state machine. It never calls
// asyncjob; it only says what the real API must do next. Each rule cites the section of
// docs/api.md it comes from (`§ startJob` is the section "startJob(job, ctx, func, ...args)").
// The interpreter (interpreter.mjs) performs the same operation on the real API and compares.
//
// Expected outcomes are { value } (returns this; compared by sameShape in expect.mjs) or
// { error: { cls, code } } (throws an instance of cls with that code), or { thrown } (throws
// this very object).

export const ASYNC_ERR = 0;
export const ASYNC_NO_JOBS = 1;
export const ASYNC_PAUSE = 2;
export const ASYNC_FINISH = 3;
export const ASYNC_STATUS_UNSUPPORTED = 0;
export const ASYNC_STATUS_OK = 2;
export const ASYNC_STATUS_EAGAIN = 3;

// § initThread: "sizes beyond what the addon accepts (maxSize above 10^9, initSize above 10^6)".
export const MAX_POOL_MAX = 1e9;
export const MAX_POOL_INIT = 1e6;
// § class WaitCtx, rules: "fds are integers from 0 to 2^31-1".
export const MAX_FD = 2 ** 31 - 1;

export const error = (cls, code) => ({ error: { cls, code } });
export const value = (v) => ({ value: v });

// § class WaitCtx, rules: "Keys ... compare by SameValueZero, like Map keys".
export function sameValueZero(a, b) {
  return a === b || (a !== a && b !== b); // eslint-disable-line no-self-compare
}

// The key the test client's setFdJob uses (a C pointer): equal to no JavaScript value.
export const NATIVE_KEY = Symbol('test client kFdKey');

export class Model {
  constructor() {
    // § Concepts, "The per-thread pool": "Without initThread, the first startJob creates a pool
    // with no limit." maxSize 0 means no limit.
    this.maxSize = 0;
    this.jobs = []; // every job ever started: { id, kind: 'js'|'native'|'scripted'|'run', state, ... }
    this.chain = []; // § Concepts, "Nesting": the running jobs, innermost (current) last
    this.ctxs = []; // every WaitCtx made: { id, freed, entries, callback, status, users }
    this.pipes = []; // { r, w, open, bytes }
    this.nativePausedAfterJsParentFinished = false; // the situation of known defect 7
  }

  // ---- jobs ----

  get current() {
    return this.chain.length === 0 ? null : this.chain[this.chain.length - 1];
  }

  /** § initThread: "maxSize: the most jobs in use (running or paused) at once". */
  inUse() {
    return this.jobs.filter((j) => j.state === 'running' || j.state === 'paused').length;
  }

  poolFull() {
    return this.maxSize > 0 && this.inUse() >= this.maxSize;
  }

  /**
   * § startJob with job null. Returns { call, job }: call.expected is the outcome of startJob,
   * known now for errors, NO_JOBS and native jobs, or set when the new JS job pauses, finishes
   * or throws. `func` is { kind: 'js' | 'scripted' } or a native spec.
   */
  start(ctx, func) {
    const call = { expected: null };
    // § startJob, Throws: "ERR_ASYNCJOB_WAIT_CTX_FREED when starting with a freed ctx".
    if (ctx !== null && ctx.freed) {
      call.expected = error(Error, 'ERR_ASYNCJOB_WAIT_CTX_FREED');
      return { call, job: null };
    }
    // § Constants: "ASYNC_NO_JOBS: the thread's pool is at its maxSize; nothing was started".
    if (this.poolFull()) {
      call.expected = value({ status: ASYNC_NO_JOBS, job: null, ret: undefined });
      return { call, job: null };
    }
    const job = {
      id: this.jobs.length,
      kind: func.kind === 'js' || func.kind === 'scripted' ? func.kind : 'native',
      native: func.kind === 'js' || func.kind === 'scripted' ? null : { ...func, pauses: 0, step: 0 },
      state: 'running',
      ctx,
      // § blockPause: "The count belongs to the job: it starts at 0 for every job".
      blocked: 0,
      startedBy: this.current,
      handle: null,
      call,
    };
    this.jobs.push(job);
    // § startJob: "A job keeps the WaitCtx it started with until it finishes, and meanwhile the
    // WaitCtx cannot be freed."
    if (ctx !== null) ctx.users.add(job);
    this.chain.push(job);
    if (job.kind === 'native') this.runNative(job, true);
    return { call, job };
  }

  /** § startJob with a job handle: resume, or the state errors of § startJob, Throws. */
  resume(job) {
    const call = { expected: null };
    if (job.state === 'finished') {
      call.expected = error(Error, 'ERR_ASYNCJOB_JOB_FINISHED');
    } else if (job.state === 'running') {
      // "ERR_ASYNCJOB_JOB_RUNNING when job is running: the current job (a job resuming itself)
      // or one of the jobs that resumed it".
      call.expected = error(Error, 'ERR_ASYNCJOB_JOB_RUNNING');
    } else {
      job.state = 'running';
      job.call = call;
      // § getChangedFds: "since the job using the context was last resumed".
      if (job.ctx !== null) resetChanges(job.ctx);
      this.chain.push(job);
      if (job.kind === 'native') this.runNative(job, false);
    }
    return call;
  }

  /** § pauseJob, in the current JS job. Returns whether the job really pauses. */
  pause(job) {
    // "Outside a job, or while pauses are blocked, it does nothing and returns true."
    if (job === null || job.blocked > 0) return false;
    this.leave(job, 'paused', value({ status: ASYNC_PAUSE, job: job.handle, ret: undefined }));
    return true;
  }

  /** § startJob, Returns: ASYNC_FINISH with func's return value. */
  finish(job, ret) {
    this.leave(job, 'finished', value({ status: ASYNC_FINISH, job: null, ret }));
  }

  /** § startJob, Throws: "whatever func threw: the job has then ended and its slot is back in the pool". */
  throwFrom(job, thrown) {
    this.leave(job, 'finished', { thrown });
  }

  leave(job, state, expected) {
    // § Concepts, "Nesting": "Each job pauses back to whoever started or resumed it last".
    this.chain.pop();
    job.state = state;
    job.call.expected = expected;
    if (state === 'finished') this.ended(job);
  }

  ended(job) {
    job.state = 'finished';
    job.blocked = 0; // "...and ends with it"
    if (job.ctx !== null) job.ctx.users.delete(job);
    if (job.kind === 'js' && this.jobs.some((j) => (j.kind === 'native' || j.nativeRun) && j.startedBy === job && j.state === 'paused')) {
      this.nativePausedAfterJsParentFinished = true;
    }
  }

  /**
   * § runJob: the job starts at once (its first part runs inside runJob()) and stays in use
   * until the promise settles, which happens only while the event loop runs. Returns
   * { expected } when it cannot start, else { job }.
   */
  startRun(pausesAtFirst, native) {
    // "The promise rejects ... with ERR_ASYNCJOB_NO_JOBS when the pool is full".
    if (this.poolFull()) return { expected: error(Error, 'ERR_ASYNCJOB_NO_JOBS'), job: null };
    const job = { id: this.jobs.length, kind: 'run', native: null, nativeRun: native, state: pausesAtFirst ? 'paused' : 'finished', ctx: null, blocked: 0, startedBy: this.current, handle: null, call: null };
    this.jobs.push(job);
    return { job };
  }

  /** The promise of runJob settled: its job has ended. */
  settleRun(job) {
    if (job.state !== 'finished') this.ended(job);
  }

  /** § cancelJob. */
  cancel(job) {
    if (job.state === 'finished') return error(Error, 'ERR_ASYNCJOB_JOB_FINISHED');
    if (job.state === 'running') return error(Error, 'ERR_ASYNCJOB_JOB_RUNNING');
    // "cancelJob returns when the job has ended: its handle is then stale, its slot is back in
    // the pool and its WaitCtx is released (it can be freed). Jobs it started are not affected."
    this.ended(job);
    // A cancelled job is not resumed normally; whether its context's change tracking was reset
    // is not documented: stop checking getChangedFds on that context until the next resume.
    if (job.ctx !== null) job.ctx.changesUnknown = true;
    return value(undefined);
  }

  /** § getWaitCtx. */
  getWaitCtx(job) {
    if (job.state === 'finished') return error(Error, 'ERR_ASYNCJOB_JOB_FINISHED');
    // "The very WaitCtx object job was started with, or null".
    return value(job.ctx === null ? null : job.ctx.obj);
  }

  /** § blockPause / unblockPause: "Outside a job both do nothing." */
  blockPause() {
    if (this.current !== null) this.current.blocked++;
  }

  unblockPause() {
    // "unblockPause() never takes it below zero."
    if (this.current !== null && this.current.blocked > 0) this.current.blocked--;
  }

  /** § initThread. `maxSize`/`initSize` are the values passed (any type). */
  initThread(maxSize, initSize) {
    for (const [name, size, bound] of [['maxSize', maxSize, MAX_POOL_MAX], ['initSize', initSize, MAX_POOL_INIT]]) {
      // "Throws TypeError (ERR_INVALID_ARG_TYPE) for a size that is not a number, and RangeError
      // (ERR_OUT_OF_RANGE) for a negative or non-integer size, ... and for sizes beyond what the
      // addon accepts (maxSize above 10^9, initSize above 10^6)."
      void name;
      if (typeof size !== 'number') return error(TypeError, 'ERR_INVALID_ARG_TYPE');
      if (!Number.isInteger(size) || size < 0 || size > bound) return error(RangeError, 'ERR_OUT_OF_RANGE');
    }
    // "... for initSize > maxSize when maxSize > 0".
    if (maxSize > 0 && initSize > maxSize) return error(RangeError, 'ERR_OUT_OF_RANGE');
    // "Returns false when the current pool has jobs in use (also when called from inside a job;
    // nothing changes)". Otherwise it "replaces an existing pool if none of its jobs is in use".
    if (this.inUse() > 0) return value(false);
    this.maxSize = maxSize;
    return value(true);
  }

  /** § cleanupThread. */
  cleanupThread() {
    // "it refuses while jobs are in use: it throws an Error with code ERR_ASYNCJOB_JOBS_IN_USE
    // and frees nothing"
    if (this.inUse() > 0) return error(Error, 'ERR_ASYNCJOB_JOBS_IN_USE');
    // "The next startJob creates a default pool (no limit) again."
    this.maxSize = 0;
    return value(undefined);
  }

  // ---- native jobs of the test client (test/native-client/client.cc) ----

  /** Runs a native job until it pauses or finishes; sets job.call.expected. */
  runNative(job, first) {
    const n = job.native;
    const pause = () => this.leave(job, 'paused', value({ status: ASYNC_PAUSE, job: job.handle, ret: undefined }));
    const finish = (ret) => this.finish(job, ret);
    if (n.kind === 'pauser') {
      // PauserJob: pauses n times; returns n.
      if (n.pauses < n.n) {
        n.pauses++;
        pause();
      } else finish(n.n);
    } else if (n.kind === 'forever') {
      pause(); // PauseForeverJob: pauses until a pause returns 0 (cancellation)
    } else if (n.kind === 'setFd') {
      // SetFdJob: set the fd under its own key, pause, clear it, (pause again), return 0.
      if (first) {
        if (job.ctx === null) return finish(-2);
        job.ctx.entries.push({ key: NATIVE_KEY, fd: n.fd, data: undefined, cleanup: null, added: true, deleted: false });
        return pause();
      }
      n.step++;
      if (n.step === 1) {
        if (!clearFd(job.ctx, NATIVE_KEY)) return finish(-6);
        if (n.again) return pause();
      }
      finish(0);
    } else {
      throw new Error(`model: unknown native job ${n.kind}`);
    }
  }

  // ---- WaitCtx (§ class WaitCtx) ----

  newCtx(obj) {
    // § new WaitCtx(): "An empty context: no fds, no callback, status ASYNC_STATUS_UNSUPPORTED".
    const ctx = {
      id: this.ctxs.length,
      obj,
      freed: false,
      entries: [], // oldest first, as set: { key, fd, data, cleanup, added, deleted }
      callback: null,
      status: ASYNC_STATUS_UNSUPPORTED,
      users: new Set(),
      changesUnknown: false,
    };
    this.ctxs.push(ctx);
    return ctx;
  }

  /** § class WaitCtx, rules: "After free() every method throws ... ERR_ASYNCJOB_WAIT_CTX_FREED". */
  freedError(ctx) {
    return ctx.freed ? error(Error, 'ERR_ASYNCJOB_WAIT_CTX_FREED') : null;
  }

  /** § ctx.setWaitFd. `cleanup` is a model tag or undefined; `cleanupValid` false for a non-function. */
  setWaitFd(ctx, key, fd, data, cleanup, cleanupValid) {
    if (ctx.freed) return error(Error, 'ERR_ASYNCJOB_WAIT_CTX_FREED');
    // "Throws TypeError (ERR_INVALID_ARG_TYPE) for a non-number fd or a cleanup that is not a
    // function, and RangeError (ERR_OUT_OF_RANGE) for an fd that is not an integer from 0 to 2^31-1."
    if (typeof fd !== 'number') return error(TypeError, 'ERR_INVALID_ARG_TYPE');
    if (!Number.isInteger(fd) || fd < 0 || fd > MAX_FD) return error(RangeError, 'ERR_OUT_OF_RANGE');
    if (!cleanupValid) return error(TypeError, 'ERR_INVALID_ARG_TYPE');
    // "Setting a key that is already set adds another entry".
    ctx.entries.push({ key, fd, data, cleanup, added: true, deleted: false });
    return value(true);
  }

  /** § ctx.getFd: "The newest entry set under key, or null when none is." */
  getFd(ctx, key) {
    const e = findLive(ctx, key);
    return value(e === undefined ? null : { fd: e.fd, customData: e.data });
  }

  /** § ctx.getAllFds: "Every fd set, newest first, one per entry". */
  getAllFds(ctx) {
    return value(liveNewestFirst(ctx).map((e) => e.fd));
  }

  /** § ctx.getChangedFds. */
  getChangedFds(ctx) {
    const newestFirst = [...ctx.entries].reverse();
    return value({
      added: newestFirst.filter((e) => e.added).map((e) => e.fd),
      deleted: newestFirst.filter((e) => e.deleted).map((e) => e.fd),
    });
  }

  /** § ctx.clearFd: "Removes the newest entry set under key without running its cleanup". */
  clearFd(ctx, key) {
    return value(clearFd(ctx, key));
  }

  /** § ctx.setCallback / getCallback. */
  setCallback(ctx, callback, arg) {
    ctx.callback = callback === null ? null : { callback, arg };
    return value(true);
  }

  getCallback(ctx) {
    return value(ctx.callback === null ? null : { callback: ctx.callback.callback, arg: ctx.callback.arg });
  }

  /** § ctx.setStatus: "any 32-bit integer is kept". */
  setStatus(ctx, status) {
    if (typeof status !== 'number') return error(TypeError, 'ERR_INVALID_ARG_TYPE');
    if (!Number.isInteger(status) || status < -(2 ** 31) || status > 2 ** 31 - 1) return error(RangeError, 'ERR_OUT_OF_RANGE');
    ctx.status = status;
    return value(true);
  }

  /** § ctx.waitSync: "returns the readable fds"; "[] at once when no fds are set";
   * ERR_ASYNCJOB_BAD_FD "for an fd that is not open". */
  waitSync(ctx) {
    const fds = liveNewestFirst(ctx).map((e) => e.fd);
    const bad = fds.find((fd) => this.pipeOf(fd) === undefined);
    if (bad !== undefined) return { error: { cls: Error, code: 'ERR_ASYNCJOB_BAD_FD', fd: bad } };
    return value(this.readable(fds));
  }

  /** The distinct fds among `fds` that a read would not block on (sorted). */
  readable(fds) {
    return [...new Set(fds.filter((fd) => this.pipeOf(fd)?.r === fd && this.pipeOf(fd).bytes > 0))].sort((a, b) => a - b);
  }

  pipeOf(fd) {
    return this.pipes.find((p) => p.open && (p.r === fd || p.w === fd));
  }

  /**
   * § ctx.free(): the cleanups to expect, newest first, or an error. Marks each entry's
   * cleanup plan (`close`: whether its pipe is closed now) before the real free() runs.
   */
  free(ctx) {
    // "A second call does nothing."
    if (ctx.freed) return { outcome: value(undefined), cleanups: [] };
    // "Throws ERR_ASYNCJOB_WAIT_CTX_IN_USE, and changes nothing, while a job that was started
    // with the context has not finished."
    if (ctx.users.size > 0) return { outcome: error(Error, 'ERR_ASYNCJOB_WAIT_CTX_IN_USE'), cleanups: [] };
    // "Runs the cleanup of every fd still set, newest first, as cleanup(ctx, key, fd, customData)".
    const live = liveNewestFirst(ctx);
    ctx.freed = true;
    ctx.entries = [];
    ctx.callback = null;
    const cleanups = [];
    for (const e of live) {
      if (e.cleanup === undefined || e.cleanup === null) continue;
      const plan = e.cleanup;
      const pipe = this.pipeOf(e.fd);
      // The fuzzer's 'close' cleanup closes its pipe unless another live entry still uses it.
      plan.close = plan.kind === 'close' && pipe !== undefined && !this.pipeInUse(pipe);
      if (plan.close) pipe.open = false;
      cleanups.push({ ctx: ctx.obj, key: e.key, fd: e.fd, data: e.data, plan });
    }
    // "If a cleanup throws, the others still run and free() rethrows the first exception".
    const firstThrow = cleanups.find((c) => c.plan.kind === 'throw');
    return { outcome: firstThrow ? { thrown: firstThrow.plan.error } : value(undefined), cleanups };
  }

  pipeInUse(pipe) {
    return this.ctxs.some((c) => !c.freed && liveNewestFirst(c).some((e) => e.fd === pipe.r || e.fd === pipe.w)) || pipe.busy > 0;
  }
}

function liveNewestFirst(ctx) {
  return ctx.entries.filter((e) => !e.deleted).reverse();
}

function findLive(ctx, key) {
  return liveNewestFirst(ctx).find((e) => sameValueZero(e.key, key));
}

function clearFd(ctx, key) {
  const e = findLive(ctx, key);
  if (e === undefined) return false;
  // § getChangedFds: "An fd added and cleared in between appears in neither list."
  if (e.added) ctx.entries.splice(ctx.entries.indexOf(e), 1);
  else e.deleted = true;
  return true;
}

function resetChanges(ctx) {
  ctx.entries = ctx.entries.filter((e) => !e.deleted);
  for (const e of ctx.entries) e.added = false;
  ctx.changesUnknown = false;
}

// The job API of ASYNC_start_job(3) for JavaScript functions, and runJob() on top of it.
import { AsyncResource, executionAsyncId } from 'node:async_hooks';
import { type InspectOptionsStylized, inspect } from 'node:util';
import * as vm from 'node:vm';

import { binding } from './binding';
import {
  ASYNC_ERR,
  ASYNC_FINISH,
  ASYNC_NO_JOBS,
  ASYNC_PAUSE,
  ASYNC_STATUS_EAGAIN,
  ASYNC_STATUS_OK,
} from './constants';
import { AbortError, asyncjobError, describeReceived, invalidArgType, outOfRange, validateInteger } from './errors';
import { refuseThenable, validateJobFunction, validateJobOrNull } from './job-arguments';
import type { NativeAsyncJob, NativeJobFunction as NativeJobFunctionHandle } from '../types/binding';
import { WaitCtx } from './wait-ctx';
import { pausedOutsideJob } from './warnings';

/**
 * A job: a function running on a stack of its own that can pause anywhere in its call stack.
 * Handles come from {@link startJob} (on `ASYNC_PAUSE`) and {@link getCurrentJob}; the class has
 * no public constructor. A handle goes stale when its job finishes.
 * @example
 * const r = startJob(null, null, () => { pauseJob(); return 1; });
 * r.job instanceof AsyncJob; // true
 */
export interface AsyncJob extends NativeAsyncJob {}
export const AsyncJob = binding.AsyncJob as unknown as abstract new () => AsyncJob;

// util.inspect(job): AsyncJob { state: 'paused', kind: 'javascript' }. A finished job's kind is
// known from its async resource: only JavaScript jobs have one. Never throws, whatever it is
// called on or with.
Object.defineProperty(binding.AsyncJob.prototype, inspect.custom, {
  value: function inspectJob(this: NativeAsyncJob, depth = 0, options?: InspectOptionsStylized): string {
    const stylize = options?.stylize ?? String;
    let state: number;
    try {
      state = binding.jobState(this);
    } catch {
      return stylize('[AsyncJob: not a job handle]', 'special'); // e.g. Object.create(prototype)
    }
    if (depth < 0) return stylize('[AsyncJob]', 'special');
    const native = (state & 4) !== 0;
    const shown = { state: (['paused', 'running', 'finished'] as const)[state & 3], kind: native ? 'native' : 'javascript' };
    return `AsyncJob ${inspect(shown, options)}`;
  },
  writable: true,
  configurable: true,
});

/**
 * A native function made into a job function by a native addon (with
 * `asyncjob_native_function_new()` of `asyncjob_client.h`): {@link startJob} and {@link runJob}
 * run it as a job on a fiber stack of its own, and its `int` return value becomes `ret`. It has
 * no public constructor. See docs/native.md.
 * @example
 * const fn = myEngineAddon.hashJob(buffer); // a NativeJobFunction
 * const status = await runJob(fn);
 */
export interface NativeJobFunction extends NativeJobFunctionHandle {}
export const NativeJobFunction = binding.NativeJobFunction as unknown as abstract new () => NativeJobFunction;

/**
 * asyncjob's C API for other native addons, as a type-tagged external: what
 * `asyncjob_client_init()` of `asyncjob_client.h` fetches (see docs/native.md).
 * @example
 * myEngineAddon.init(nativeApi); // for addons that take the table explicitly
 */
export const nativeApi: object = binding.nativeApi;

/**
 * What {@link startJob} returns: a union discriminated by `status`, so that checking it narrows
 * the rest (`ret` is `R` after `status === ASYNC_FINISH`, `job` an {@link AsyncJob} after
 * `status === ASYNC_PAUSE`, `error` an `Error` after `status === ASYNC_ERR`).
 * @example
 * const r = startJob(null, null, () => 42);
 * if (r.status === ASYNC_FINISH) r.ret; // number
 * else if (r.status === ASYNC_PAUSE) r.job; // AsyncJob
 */
export type StartResult<R> =
  | {
      /** The job finished. */
      status: typeof ASYNC_FINISH;
      job: null;
      /** The function's return value. */
      ret: R;
      error?: undefined;
    }
  | {
      /** The job paused. */
      status: typeof ASYNC_PAUSE;
      /** The paused job: resume it with `startJob(job, …)`. */
      job: AsyncJob;
      ret: undefined;
      error?: undefined;
    }
  | {
      /** The thread's pool is full, or the process is at its {@link jobLimits}. */
      status: typeof ASYNC_NO_JOBS;
      job: null;
      ret: undefined;
      error?: undefined;
    }
  | {
      /** No job could be started. */
      status: typeof ASYNC_ERR;
      job: null;
      ret: undefined;
      /** Why (`ERR_ASYNCJOB_START_FAILED`, its message saying why). */
      error: Error;
    };

// Each job runs in the async context (AsyncLocalStorage, async_hooks) it was started in, on
// every resume, and its caller's context is left as it was: every start and resume runs inside
// the job's own AsyncResource. Native jobs run no JavaScript and go without.
const resources = new WeakMap<NativeAsyncJob, AsyncResource>();

// Node's vm watchdogs (the `timeout` and `breakOnSigint` options of vm's run methods) call
// TerminateExecution() when they fire, which V8 delivers to whichever thread holds the isolate
// then. A job paused inside such a run would have its timeout land in its caller's code (the
// main script stopped silently). So while a job runs inside one, its pauses are blocked (native
// code's asyncjob_pause_job() returns at once) and pauseJob() throws: the watchdog can only ever
// land in the job's own code. vm.Script's run methods (which vm.runInContext() and the others
// call) are wrapped to know, once the first JavaScript job starts.
const vmWatchdogDepth = new WeakMap<NativeAsyncJob, number>();
let vmWatched = false;

function hasWatchdog(options: unknown): boolean {
  if (options === null || typeof options !== 'object') return false;
  const { timeout, breakOnSigint } = options as { timeout?: unknown; breakOnSigint?: unknown };
  return timeout !== undefined || breakOnSigint === true;
}

function watchVmWatchdogs(): void {
  if (vmWatched) return;
  vmWatched = true;
  const targets: [object | undefined, string, number][] = [
    [vm.Script.prototype, 'runInContext', 1],
    [vm.Script.prototype, 'runInNewContext', 1],
    [vm.Script.prototype, 'runInThisContext', 0],
    // vm.SourceTextModule / SyntheticModule (--experimental-vm-modules): evaluate({ timeout }).
    [(vm as { Module?: { prototype: object } }).Module?.prototype, 'evaluate', 0],
  ];
  for (const [target, name, optionsIndex] of targets) {
    const descriptor = target === undefined ? undefined : Object.getOwnPropertyDescriptor(target, name);
    const original = descriptor?.value;
    if (typeof original !== 'function' || !descriptor!.configurable) continue;
    const wrapped = {
      [name](this: unknown, ...args: unknown[]): unknown {
        const job = hasWatchdog(args[optionsIndex]) ? binding.getCurrentJob() : null;
        if (job === null) return Reflect.apply(original, this, args);
        vmWatchdogDepth.set(job, (vmWatchdogDepth.get(job) ?? 0) + 1);
        binding.blockPause();
        try {
          return Reflect.apply(original, this, args);
        } finally {
          binding.unblockPause();
          vmWatchdogDepth.set(job, vmWatchdogDepth.get(job)! - 1);
        }
      },
    }[name];
    Object.defineProperty(wrapped, 'length', { value: original.length });
    Object.defineProperty(target, name, { ...descriptor, value: wrapped });
  }
}

// How a pending runJob() ends itself when cancelJob() ends its job: with what the job's
// unwinding threw, or the reason it was cancelled with.
const runs = new WeakMap<NativeAsyncJob, (error: unknown) => void>();

// Paused jobs that nobody can reach are cancelled (they unwind) once their handle is collected.
// A paused job's own stack is a GC root: no frame of this file that stays on a job's stack
// across a pause (the function wrapper in startJob, pauseJob, jobAwait) may hold the job's
// handle, or the job would never be collected. The lookups are done in helper functions, whose
// frames are gone by the time the job pauses.
interface Collected {
  readonly id: number;
  readonly resource: AsyncResource | undefined;
}
const collector = new FinalizationRegistry<Collected>(cancelCollected);

function cancelCollected({ id, resource }: Collected): void {
  const reason = asyncjobError(
    'ERR_ASYNCJOB_JOB_COLLECTED',
    'This job was paused when its handle was garbage-collected: nothing could resume it any more, so it was cancelled',
  );
  const status =
    resource !== undefined
      ? resource.runInAsyncScope(binding.cancelCollected, binding, id, reason)
      : binding.cancelCollected(id, reason);
  if (status === -1) return;
  ended(null, resource);
  if (status === 2) {
    // Nobody is left to rethrow this to: it must not vanish, nor crash the process.
    const thrown = binding.takeOutcome();
    process.emitWarning(
      `A garbage-collected job threw while it was unwinding: ${inspect(thrown)}`,
      { code: 'ASYNCJOB_COLLECTED_JOB_THREW' },
    );
  } else if (status === 0) {
    binding.takeOutcome(); // what it returned: nobody asks for it
  }
}

function watchCollection(handle: NativeAsyncJob, resource: AsyncResource | undefined): void {
  collector.register(handle, { id: binding.jobId(handle), resource }, handle);
}

// The async resources of the new JavaScript jobs whose first run is going on (innermost last):
// a job gets its entry in `resources` only when it first pauses, since a handle costs a job that
// ends at once more than the rest of its start.
const firstRuns: AsyncResource[] = [];

// binding.jobState(): the state in its low two bits.
const JOB_FINISHED = 2;

// A JavaScript job's async resource, which knows whether it has been destroyed (a field, not a
// WeakSet: an ephemeron table entry per job cost about 1 µs of a pooled start->finish).
class JobResource extends AsyncResource {
  destroyed = false;
}

// A job has ended: its async resource is destroyed (once: a refused call on a finished job
// reaches here again), and its handle no longer watched.
function ended(job: NativeAsyncJob | null, resource: AsyncResource | undefined): void {
  if (resource instanceof JobResource && !resource.destroyed) {
    resource.destroyed = true;
    resource.emitDestroy();
  }
  if (job !== null) collector.unregister(job);
}

function validateJob(job: unknown): asserts job is AsyncJob {
  if (!(job instanceof binding.AsyncJob)) throw invalidArgType('job', 'an instance of AsyncJob', job);
}

/**
 * Starts `func(...args)` as a new job (`job` null), or resumes the paused `job` (then `ctx`,
 * `func` and `args` are ignored, as in OpenSSL). Returns `ASYNC_PAUSE` with the job's handle
 * when it pauses, `ASYNC_FINISH` with its return value when it finishes, `ASYNC_NO_JOBS` when
 * the thread's pool is full or the process is at its {@link jobLimits}, `ASYNC_ERR` with
 * `error` (`ERR_ASYNCJOB_START_FAILED`, its message saying why) when no job could be started.
 * If `func` throws, the job ends and `startJob` throws that value.
 *
 * Throws `TypeError` (`ERR_INVALID_ARG_TYPE`) for a bad `job`, `ctx` or `func` (naming both `job`
 * and `func` when both are null: a resume with the null `job` of a finished job), `TypeError`
 * (`ERR_ASYNCJOB_ASYNC_FUNCTION`) for an `async` function or async generator function (its body
 * would run outside the job: wait for promises inside a plain function with {@link jobAwait}),
 * and coded errors for wrong states: `ERR_ASYNCJOB_JOB_FINISHED`, `ERR_ASYNCJOB_JOB_RUNNING`
 * (resuming a running job, itself included), `ERR_ASYNCJOB_WAIT_CTX_FREED`,
 * `ERR_ASYNCJOB_JS_JOBS_UNAVAILABLE`. A job function that returns a promise or other thenable
 * ends its job by throwing `ERR_ASYNCJOB_ASYNC_FUNCTION`, the thenable as the error's `promise`
 * (with a rejection handler attached, so that its rejection is not reported as unhandled).
 * @example
 * let r = startJob(null, null, (name: string) => {
 *   pauseJob();
 *   return `hello ${name}`;
 * }, 'world');
 * while (r.status === ASYNC_PAUSE) r = startJob(r.job, null, null);
 * console.log(r.ret); // 'hello world'
 */
export function startJob(job: AsyncJob | null, ctx: WaitCtx | null, func: NativeJobFunction): StartResult<number>;
export function startJob<A extends unknown[], R>(
  job: AsyncJob | null,
  ctx: WaitCtx | null,
  func: ((...args: A) => R) | null,
  ...args: A
): StartResult<R>;
export function startJob<A extends unknown[], R>(
  job: AsyncJob | null,
  ctx: WaitCtx | null,
  func: ((...args: A) => R) | NativeJobFunction | null,
  ...args: A
): StartResult<R> {
  let resource: AsyncResource | undefined;
  let run: ((...a: A) => R) | NativeJobFunction | null = null;
  if (job !== null) {
    validateJobOrNull(job);
    resource = resources.get(job);
  } else if (ctx !== null && !(ctx instanceof WaitCtx)) {
    throw invalidArgType('ctx', 'an instance of WaitCtx or null', ctx);
  } else if (func instanceof binding.NativeJobFunction) {
    run = func;
  } else {
    validateJobFunction(func);
    watchVmWatchdogs();
    const fresh = new JobResource('asyncjob.Job');
    resource = fresh;
    const target = func;
    run = (...a: A): R => refuseThenable(target(...a));
  }
  const fn = run as ((...a: unknown[]) => unknown) | NativeJobFunction | null;
  let outcome: NativeAsyncJob | number;
  const firstRun = job === null && resource !== undefined;
  if (firstRun) firstRuns.push(resource!);
  try {
    outcome =
      resource !== undefined
        ? resource.runInAsyncScope(binding.startJob, binding, job, ctx, fn, args)
        : binding.startJob(job, ctx, fn, args);
  } catch (error) {
    // The job threw (it has ended), or the call was refused (a paused job stays as it was).
    if (job === null || (binding.jobState(job) & 3) === JOB_FINISHED) ended(job, resource);
    throw error;
  } finally {
    if (firstRun) firstRuns.pop();
  }
  if (typeof outcome === 'object') {
    if (job === null) {
      // A new job's first pause: from now on it has a handle (a job that ends at once costs none).
      if (resource !== undefined) resources.set(outcome, resource);
      watchCollection(outcome, resource);
    }
    return { status: ASYNC_PAUSE, job: outcome, ret: undefined };
  }
  ended(job, resource);
  if (outcome === ASYNC_FINISH) return { status: ASYNC_FINISH, job: null, ret: binding.takeOutcome() as R };
  if (outcome === ASYNC_ERR) return { status: ASYNC_ERR, job: null, ret: undefined, error: binding.takeOutcome() as Error };
  return { status: ASYNC_NO_JOBS, job: null, ret: undefined };
}

/**
 * Pauses the current job: control returns to whoever started or last resumed it (its
 * `startJob` returns `ASYNC_PAUSE`), and `pauseJob()` returns `true` when the job is resumed.
 * Outside a job, or while pauses are blocked, it does nothing and returns `true`.
 *
 * Throws `ERR_ASYNCJOB_PAUSE_IN_ASYNC_SCOPE` inside a nested async scope
 * (`AsyncResource.runInAsyncScope` within the job): Node's async context stack cannot survive
 * such a pause. Throws `ERR_ASYNCJOB_PAUSE_IN_VM_TIMEOUT` inside a `vm` run with a `timeout` or
 * `breakOnSigint`: its watchdog would fire in whatever code runs while the job is paused.
 * @example
 * startJob(null, null, () => {
 *   console.log('before');
 *   pauseJob();
 *   console.log('after a resume');
 * });
 */
export function pauseJob(): boolean {
  checkPause(); // not inline: this frame stays on the job's stack (see collector)
  return binding.pauseJob() !== false;
}

function checkPause(): void {
  const job = binding.getCurrentJob();
  if (job === null) pausedOutsideJob();
  if (job !== null && vmWatchdogDepth.get(job)) {
    throw asyncjobError(
      'ERR_ASYNCJOB_PAUSE_IN_VM_TIMEOUT',
      'pauseJob() inside a vm run with a timeout or breakOnSigint: its watchdog would fire in ' +
        'whatever code runs while the job is paused; pause outside the vm call, or run it without ' +
        'those options',
    );
  }
  if (job !== null && !binding.pausesBlocked()) {
    // A job in its first run has no entry yet: it is the innermost one in firstRuns.
    const resource = resources.get(job) ?? firstRuns[firstRuns.length - 1];
    if (resource !== undefined && executionAsyncId() !== resource.asyncId()) {
      throw asyncjobError(
        'ERR_ASYNCJOB_PAUSE_IN_ASYNC_SCOPE',
        'pauseJob() inside a nested async scope (AsyncResource.runInAsyncScope within the job) ' +
          'would corrupt Node\'s async context stack; pause outside that scope',
      );
    }
  }
}

/**
 * The job running now (the same handle its caller receives on `ASYNC_PAUSE`), or `null`
 * outside any job.
 * @example
 * startJob(null, null, () => getCurrentJob() !== null); // ret: true
 */
export function getCurrentJob(): AsyncJob | null {
  return binding.getCurrentJob();
}

/**
 * The WaitCtx `job` was started with, or `null`. Throws `ERR_ASYNCJOB_JOB_FINISHED` for a
 * finished job.
 * @example
 * const ctx = new WaitCtx();
 * startJob(null, ctx, () => getWaitCtx(getCurrentJob()!) === ctx); // ret: true
 */
export function getWaitCtx(job: AsyncJob): WaitCtx | null {
  validateJob(job);
  return binding.getWaitCtx(job) as WaitCtx | null;
}

/**
 * Blocks pauses in the current job: until the matching {@link unblockPause}, `pauseJob()`
 * returns at once. Calls nest; outside a job they are ignored. The count belongs to the job.
 * @example
 * blockPause();
 * try { criticalSection(); } finally { unblockPause(); }
 */
export function blockPause(): void {
  binding.blockPause();
}

/**
 * Undoes one {@link blockPause}; the count never goes below zero.
 * @example
 * blockPause();
 * unblockPause();
 */
export function unblockPause(): void {
  binding.unblockPause();
}

// The documented bounds (docs/api.md); native/addon/js_jobs.cc checks them again.
const MAX_MAX_SIZE = 1e9;
const MAX_INIT_SIZE = 1e6;

/**
 * Sets up this thread's pool: at most `maxSize` jobs in use at once (0: no limit of its own),
 * `initSize` of them created now. Replaces an existing pool that has no job in use and returns
 * `true`; returns `false` when jobs are in use or cannot be created, and at once, creating and
 * freeing nothing, when `initSize` is more than {@link jobLimits} allows. Without it, the first
 * job creates a pool with no limit of its own. The process's {@link jobLimits} apply whatever
 * `maxSize` says.
 *
 * Throws `TypeError` (`ERR_INVALID_ARG_TYPE`) for a non-number and `RangeError`
 * (`ERR_OUT_OF_RANGE`) for a negative or non-integer size, a `maxSize` above 10^9, an
 * `initSize` above 10^6, or `initSize > maxSize` when `maxSize > 0`.
 * @example
 * initThread(16, 2); // up to 16 jobs, 2 host threads ready now
 */
export function initThread(maxSize: number, initSize: number): boolean {
  validateInteger(maxSize, 'maxSize', 0, MAX_MAX_SIZE);
  validateInteger(initSize, 'initSize', 0, MAX_INIT_SIZE);
  if (maxSize > 0 && initSize > maxSize) throw outOfRange('initSize', `<= maxSize (${maxSize})`, initSize);
  return binding.initThread(maxSize, initSize);
}

/** What {@link jobLimits} returns. */
export interface JobLimits {
  /** The most JavaScript jobs (host threads) the process may hold at once, with no native job. */
  readonly jsJobs: number;
  /** The most native jobs (fiber stacks) the process may hold at once, with no JavaScript job. */
  readonly nativeJobs: number;
}

/**
 * The process-wide limits on jobs: how many jobs all threads (main and workers) may hold at
 * once, idle ones in their pools included, before `startJob` returns `ASYNC_NO_JOBS` as for a
 * full pool. Derived once, at the first job, as half of what the process has left under the
 * limits that bind it (`vm.max_map_count`, `RLIMIT_AS`, `RLIMIT_DATA`, thread limits), so that
 * jobs run out while the rest of the program still has room; `Infinity` where none binds. Both
 * kinds draw on the same maps and address space, so with some of each, fewer of each fit.
 * Raise the system's limits to raise them; `initThread(maxSize)` can only lower them.
 * @example
 * const { jsJobs, nativeJobs } = jobLimits(); // e.g. { jsJobs: 8134, nativeJobs: 16275 }
 */
export function jobLimits(): JobLimits {
  return Object.freeze(binding.jobLimits());
}

/**
 * Frees this thread's pool (its idle host threads end). Throws `ERR_ASYNCJOB_JOBS_IN_USE` and
 * frees nothing while jobs are paused.
 * @example
 * cleanupThread();
 */
export function cleanupThread(): void {
  binding.cleanupThread();
}

/**
 * Ends a paused job by unwinding it: the job is resumed, its pending `pauseJob()` throws
 * `reason` (by default an {@link AbortError}, `code: 'ABORT_ERR'`), and so does every later
 * `pauseJob()` in it until it ends, so its `catch` and `finally` blocks run and it can release
 * what it holds. The job runs to its end inside `cancelJob()`. Native code pausing inside it sees
 * `asyncjob_pause_job()` return 0. A paused native job's stack is freed as it is, without running
 * anything more on it. Its handle is then stale and its WaitCtx released.
 *
 * Returns what the job returned if it caught the reason and returned, `undefined` if it ended by
 * throwing the reason; rethrows anything else it threw. A job that {@link runJob} runs may be
 * cancelled too (its handle from `getCurrentJob()`): the run then rejects with the reason (or
 * with what else the job threw) after the job has unwound and its WaitCtx has been freed.
 *
 * Throws `ERR_ASYNCJOB_JOB_FINISHED` for a finished job and `ERR_ASYNCJOB_JOB_RUNNING` for a
 * running one (the current job, or one that resumed it).
 * @example
 * const r = startJob(null, null, () => {
 *   try { pauseJob(); } finally { console.log('released'); }
 * });
 * cancelJob(r.job!); // prints 'released'
 */
export function cancelJob(job: AsyncJob, reason?: unknown): unknown {
  validateJob(job);
  const why = reason === undefined ? new AbortError() : reason;
  const resource = resources.get(job);
  const status =
    resource !== undefined
      ? resource.runInAsyncScope(binding.cancelJob, binding, job, why)
      : binding.cancelJob(job, why);
  const outcome = status === 0 || status === 2 ? binding.takeOutcome() : undefined;
  ended(job, resource);
  const endRun = runs.get(job);
  runs.delete(job);
  endRun?.(status === 2 ? outcome : why);
  if (status === 2) throw outcome;
  return outcome;
}

interface AwaitWaker {
  /** Before each pause: say the job waits for the callback. */
  arm(): void;
  /** Once the value has settled. */
  wake(): void;
}

function awaitWaker(): AwaitWaker {
  const job = binding.getCurrentJob();
  if (job === null) {
    throw asyncjobError(
      'ERR_ASYNCJOB_NOT_IN_JOB',
      'jobAwait() outside a job: use `await` there (jobAwait pauses the job it is called in)',
    );
  }
  if (binding.pausesBlocked()) {
    throw asyncjobError(
      'ERR_ASYNCJOB_PAUSE_BLOCKED',
      'jobAwait() with pauses blocked (blockPause()): the job could not pause to wait; unblock first',
    );
  }
  const ctx = binding.getWaitCtx(job) as WaitCtx | null;
  const callback = ctx === null || ctx.freed ? null : ctx.getCallback();
  if (ctx === null || callback === null) {
    throw asyncjobError(
      'ERR_ASYNCJOB_NO_WAKE_CALLBACK',
      'jobAwait() in a job with no WaitCtx callback: nothing could resume it when the promise ' +
        'settles; run it with runJob(), or start it with a WaitCtx whose callback resumes it',
    );
  }
  return {
    arm: () => void ctx.setStatus(ASYNC_STATUS_EAGAIN),
    wake: () => void callback.callback(callback.arg),
  };
}

/**
 * Waits inside a job for a promise (or any value; thenables are followed) to settle, and
 * returns its value or throws its reason: the job pauses until then, and the thread goes on
 * with other work. The job's driver is woken through the job's WaitCtx callback: {@link runJob}
 * installs one; a hand-written {@link startJob} loop must start the job with a WaitCtx whose
 * callback resumes it (jobAwait sets the status to `ASYNC_STATUS_EAGAIN` before each pause and
 * calls the callback once, when the promise has settled; it pauses again if resumed before).
 *
 * Throws `ERR_ASYNCJOB_NOT_IN_JOB` outside a job, `ERR_ASYNCJOB_NO_WAKE_CALLBACK` in a job
 * without a WaitCtx callback, `ERR_ASYNCJOB_PAUSE_BLOCKED` while pauses are blocked, and what
 * `pauseJob()` throws (the reason of a {@link cancelJob}).
 * @example
 * const text = await runJob(() => {
 *   const body = jobAwait(fetchSomething()); // synchronous code, waiting for a promise
 *   return body.toUpperCase();
 * });
 */
export function jobAwait<T>(value: T): Awaited<T> {
  const waker = awaitWaker(); // not inline: this frame stays on the job's stack (see collector)
  const settled: { done: boolean; ok: boolean; value: unknown } = { done: false, ok: false, value: undefined };
  Promise.resolve(value).then(
    (result) => {
      settled.done = true;
      settled.ok = true;
      settled.value = result;
      waker.wake();
    },
    (error: unknown) => {
      settled.done = true;
      settled.value = error;
      waker.wake();
    },
  );
  while (!settled.done) {
    waker.arm();
    pauseJob();
  }
  if (settled.ok) return settled.value as Awaited<T>;
  throw settled.value;
}

/**
 * Runs `func(...args)` (or a {@link NativeJobFunction}) as a job to its end without blocking the
 * event loop, and resolves with its return value (rejects with what it threw). The job gets a
 * fresh {@link WaitCtx} with a wake callback installed (`getWaitCtx(getCurrentJob()).getCallback()`
 * in JavaScript, `asyncjob_wait_ctx_get_callback()` in native code); after every pause it is
 * resumed when one of its wait fds becomes readable or the callback is called (if it set fds);
 * when the callback is called (if it set none and its status is `ASYNC_STATUS_EAGAIN`); else on
 * the next turn of the event loop. Before each resume the status is set back to
 * `ASYNC_STATUS_OK`. While it waits, the pending run keeps the process alive, as pending I/O
 * does. The WaitCtx is freed (cleanups run) when the job ends.
 *
 * Rejects with `TypeError` for a bad `func` (`ERR_ASYNCJOB_ASYNC_FUNCTION` for an async function or
 * one that returns a thenable, as {@link startJob} throws), `ERR_ASYNCJOB_NO_JOBS` when the pool is full or
 * the process is at its {@link jobLimits}, `ERR_ASYNCJOB_BAD_FD` when a wait fd cannot be
 * watched or the `SystemError` (`EMFILE`, …) of {@link WaitCtx.wait} when the process is out of
 * fds for the watch (either way ending the job and freeing the WaitCtx, as nothing could resume
 * it), and with the reason when {@link cancelJob} or `options.signal` ends the job (after the
 * job has unwound; with what else it threw, if it threw something else; the WaitCtx is freed
 * then too, and nothing of the run keeps the process alive).
 *
 * With an options object first, `options.signal` (an `AbortSignal`) aborts the run: the job is
 * cancelled with `signal.reason` as soon as it is paused (at its next pause, if the signal is
 * aborted while it runs), and a signal aborted already rejects at once, starting nothing.
 * @example
 * const sum = await runJob((a: number, b: number) => {
 *   pauseJob(); // resumed on the next turn of the event loop
 *   return a + b;
 * }, 2, 3); // 5
 * await runJob({ signal: AbortSignal.timeout(1000) }, () => jobAwait(slowOperation()));
 */
export function runJob(func: NativeJobFunction): Promise<number>;
export function runJob<A extends unknown[], R>(func: (...args: A) => R, ...args: A): Promise<R>;
export function runJob(options: RunJobOptions, func: NativeJobFunction): Promise<number>;
export function runJob<A extends unknown[], R>(options: RunJobOptions, func: (...args: A) => R, ...args: A): Promise<R>;
export function runJob(...params: unknown[]): Promise<unknown> {
  let options: RunJobOptions = {};
  let func = params[0];
  let args = params.slice(1);
  let optionsTaken = '';
  if (func !== null && typeof func === 'object' && !(func instanceof binding.NativeJobFunction)) {
    options = func as RunJobOptions;
    func = params[1];
    args = params.slice(2);
    // Said when func is wrong: the object first may have been meant as something else.
    optionsTaken = ` (runJob(options, func, ...args): the first argument, ${describeReceived(options)}, was taken as options)`;
  }
  return runJobWith(options, func, args, optionsTaken);
}

/** The options of {@link runJob}. */
export interface RunJobOptions {
  /** Aborts the run: the job is cancelled with `signal.reason` and the run rejects with it. */
  signal?: AbortSignal;
}

// Runs waiting for their wake callback keep the thread's event loop alive together, through one
// timer that is referenced while any of them waits: a timer made and cleared for every wait
// was a measurable part of a wait's cost (npm run bench:cost). Returns the hold's release,
// which does nothing the second time.
let processHolds = 0;
let processHoldTimer: ReturnType<typeof setInterval> | null = null;
function holdProcess(): () => void {
  if (processHolds++ === 0) {
    processHoldTimer ??= setInterval(() => {}, 2 ** 30);
    processHoldTimer.ref();
  }
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    if (--processHolds === 0) processHoldTimer!.unref();
  };
}

function runJobWith(options: RunJobOptions, func: unknown, args: unknown[], optionsTaken: string): Promise<unknown> {
  type R = unknown;
  return new Promise<R>((resolve, reject) => {
    const { signal } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      reject(invalidArgType('options.signal', 'an instance of AbortSignal', signal));
      return;
    }
    if (typeof func !== 'function' && !(func instanceof binding.NativeJobFunction)) {
      reject(invalidArgType('func', `of type function or a NativeJobFunction${optionsTaken}`, func));
      return;
    }
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const ctx = new WaitCtx();
    let job: AsyncJob | null = null;
    let woken = false;
    let onWake: (() => void) | null = null;
    let cancelWait: (() => void) | null = null;
    let resumeImmediate: ReturnType<typeof setImmediate> | null = null;
    // A job waiting for its callback keeps the process alive, like any pending operation: the
    // callback may come from a native thread that holds nothing on the event loop.
    let keepAlive: (() => void) | null = null; // lets go of holdProcess()

    ctx.setCallback(() => {
      woken = true;
      const wake = onWake;
      onWake = null;
      if (wake !== null) wake();
      return 1;
    });

    const stopWaiting = () => {
      cancelWait?.();
      cancelWait = null;
      if (resumeImmediate !== null) clearImmediate(resumeImmediate);
      resumeImmediate = null;
      onWake = null;
      keepAlive?.();
      keepAlive = null;
    };

    // Set while the job runs (in step): an abort then waits for its next pause.
    let stepping = false;
    let abortRequested = false;

    // Ends the run: the job is finished (or cancelled), the WaitCtx freed (its cleanups run).
    const settle = (outcome: { value: R } | { error: unknown }) => {
      signal?.removeEventListener('abort', onAbort);
      stopWaiting();
      if (job !== null) {
        runs.delete(job);
        try {
          cancelJob(job);
        } catch {
          // it finished after all
        }
        job = null;
      }
      try {
        ctx.free();
      } catch (error) {
        if ('value' in outcome) outcome = { error }; // a cleanup threw: report it
      }
      if ('value' in outcome) resolve(outcome.value);
      else reject(outcome.error);
    };

    const resumeSoon = () => {
      stopWaiting();
      resumeImmediate = setImmediate(step);
    };

    const cancelled = (error: unknown) => {
      job = null; // cancelJob() has ended it
      settle({ error });
    };

    // Cancels the paused job with the signal's reason; cancelJob() then ends the run (cancelled).
    const abort = () => {
      stopWaiting();
      try {
        cancelJob(job!, signal!.reason);
      } catch {
        // what the job threw instead has gone to cancelled() already
      }
    };

    function onAbort(): void {
      if (stepping) abortRequested = true;
      else if (job !== null) abort();
    }
    signal?.addEventListener('abort', onAbort, { once: true });

    const waitForWake = () => {
      if (woken) return resumeSoon(); // the callback came before the pause: not lost
      const fds = ctx.getAllFds();
      if (fds.length > 0) {
        onWake = resumeSoon;
        cancelWait = ctx.pollFds(fds, -1, (error) => {
          cancelWait = null;
          if (error !== null) {
            settle({ error }); // a wait fd the job can never be woken through
            return;
          }
          resumeSoon();
        });
      } else if (ctx.getStatus() === ASYNC_STATUS_EAGAIN) {
        onWake = resumeSoon;
        keepAlive = holdProcess();
      } else {
        resumeSoon();
      }
    };

    function step(): void {
      resumeImmediate = null;
      let result: StartResult<R>;
      try {
        ctx.setStatus(ASYNC_STATUS_OK);
        woken = false;
        stepping = true;
        result =
          job !== null
            ? startJob<[], R>(job, ctx, null)
            : (startJob(null, ctx, func as (...a: unknown[]) => R, ...args) as StartResult<R>);
      } catch (error) {
        job = null; // it ended by throwing
        settle({ error });
        return;
      } finally {
        stepping = false;
      }
      switch (result.status) {
        case ASYNC_PAUSE:
          if (job === null) runs.set(result.job!, cancelled); // once: the handle stays the same
          job = result.job!;
          if (abortRequested) {
            abort(); // the signal was aborted while the job ran
            return;
          }
          try {
            waitForWake();
          } catch (error) {
            settle({ error }); // e.g. waiting on fds is unsupported on this platform
          }
          return;
        case ASYNC_FINISH:
          job = null;
          settle({ value: result.ret as R });
          return;
        case ASYNC_NO_JOBS:
          settle({
            error: asyncjobError(
              'ERR_ASYNCJOB_NO_JOBS',
              "runJob(): the thread's job pool is full (initThread maxSize), or the process is at its job limits (jobLimits())",
            ),
          });
          return;
        default:
          settle({ error: result.error ?? asyncjobError('ERR_ASYNCJOB_START_FAILED', 'runJob(): the job could not be started') });
      }
    }

    step();
  });
}

// asyncjob/fibers: node-fibers' `Fiber` on asyncjob's public job API. A fiber is a JavaScript
// job (its own host thread, see docs/fibers.md): run() starts or resumes the job, Fiber.yield()
// pauses it. The module's export is the Fiber function itself, as `require('fibers')`'s is.
//
// Garbage collection: a yielded fiber nobody can reach is unwound, as node-fibers documents.
// A paused job's stack is a GC root, so no frame that stays on a fiber's stack across a pause
// (the job entry below, Fiber.yield) holds the Fiber, its state or its job handle in a local:
// they reach the running fiber through `running` (which holds only fibers that run) in helpers
// that return before the pause. The job's WaitCtx, which the job holds for its lifetime,
// reaches its fiber through a WeakRef only.
import {
  ASYNC_ERR,
  ASYNC_FINISH,
  ASYNC_NO_JOBS,
  ASYNC_PAUSE,
  type AsyncJob,
  WaitCtx,
  cancelJob,
  getCurrentJob,
  getWaitCtx,
  pauseJob,
  startJob,
} from './index';
import { binding } from './binding';

/** A fiber: a function running on a stack of its own that can yield anywhere in its call stack. */
interface Fiber {
  /**
   * Starts the fiber (its function gets `value` as its one argument, or none without one) or
   * resumes it where it yielded (its `Fiber.yield()` returns `value`). Returns what the fiber
   * passes to its next `Fiber.yield()`, or what its function returns; throws what its function
   * throws. A fiber that has returned or thrown may be run again, from the start.
   *
   * Throws `Error('This Fiber is already running')` for a running fiber (itself, or one of the
   * fibers that ran the current one), `TypeError('run() excepts 1 or no arguments')` (sic, as
   * node-fibers), `RangeError('Out of memory')` when no job can be started (the pool is full or
   * the process is at asyncjob's `jobLimits()`; the `cause` says which).
   * @example
   * const fiber = Fiber((x: number) => Fiber.yield(x + 1) * 2);
   * fiber.run(1); // 2
   * fiber.run(5); // 10
   */
  run(value?: unknown): any;
  /**
   * Unwinds a yielded fiber: its `Fiber.yield()` throws `Error('This Fiber is a zombie')`, and so
   * does every later one, until its function ends; the fiber is then as if it had returned.
   * Returns what the function returned (`undefined` if it ended by the zombie error); throws
   * anything else it threw. Does nothing for a fiber that has not started.
   *
   * Throws `Error('This Fiber is not yielding')` for a running fiber, `TypeError('reset() expects
   * no arguments')`.
   * @example
   * const fiber = Fiber(() => { try { Fiber.yield(); } finally { console.log('unwound'); } });
   * fiber.run();
   * fiber.reset(); // prints 'unwound'
   */
  reset(): any;
  /**
   * Makes the yielded fiber's `Fiber.yield()` throw `exception`. Returns what the fiber yields or
   * returns next; if it does not catch `exception`, throwInto() throws it back.
   *
   * Throws `Error('This Fiber is not yielding')` for a fiber that is not yielded,
   * `TypeError('throwInto() expects 1 or no arguments')`.
   * @example
   * const fiber = Fiber(() => { try { Fiber.yield(); } catch (e) { return 'caught ' + e; } });
   * fiber.run();
   * fiber.throwInto('stop'); // 'caught stop'
   */
  throwInto(exception?: unknown): any;
  /**
   * Whether the fiber has started and not yet returned or thrown.
   * @example
   * Fiber(() => Fiber.current!.started).run(); // true
   */
  readonly started: boolean;
}

interface FiberConstructor {
  /**
   * A new fiber that runs `fn`, not started yet; `new` is optional.
   *
   * Throws `TypeError('Fiber expects 1 argument')` unless called with exactly one argument,
   * `TypeError('Fiber expects a function')` when it is not a function.
   * @example
   * const Fiber = require('asyncjob/fibers');
   * Fiber(() => console.log('in a fiber')).run();
   */
  (fn: (value?: any) => any): Fiber;
  new (fn: (value?: any) => any): Fiber;
  readonly prototype: Fiber;
  /**
   * The fiber running now, `undefined` outside fibers (and in a plain asyncjob job).
   * @example
   * Fiber(() => console.log(Fiber.current !== undefined)).run(); // true
   * Fiber.current; // undefined
   */
  readonly current: Fiber | undefined;
  /**
   * Pauses the current fiber: the run() (or throwInto()) that ran it returns `value`. Returns the
   * value of the run() that resumes it; throws what throwInto() gives it.
   *
   * Throws `Error('yield() called with no fiber running')` outside a fiber,
   * `TypeError('yield() expects 1 or no arguments')`, and, while the fiber is being unwound
   * (reset(), or collected), `Error('This Fiber is a zombie')`. asyncjob's own pause errors apply
   * too: inside `AsyncResource.runInAsyncScope` it throws `ERR_ASYNCJOB_PAUSE_IN_ASYNC_SCOPE`.
   * @example
   * const fiber = Fiber(() => { Fiber.yield('first'); return 'second'; });
   * fiber.run(); // 'first'
   * fiber.run(); // 'second'
   */
  yield(value?: unknown): any;
  /**
   * node-fibers' cap on cached idle stacks (default 120). Kept for compatibility only: setting it
   * changes nothing, since asyncjob keeps every idle host thread of a thread's pool anyway (until
   * `cleanupThread()`). Programs that raised it to avoid re-creating stacks (some set 1e9) must
   * not start thousands of threads by doing so. To have host threads ready ahead, use asyncjob's
   * `initThread(maxSize, initSize)`.
   * @example
   * Fiber.poolSize = 16; // reads back 16; no thread is created
   */
  poolSize: number;
  /**
   * How many times a fiber has started (each start takes a job) in this thread.
   * @example
   * Fiber(() => {}).run();
   * Fiber.fibersCreated; // 1 or more
   */
  readonly fibersCreated: number;
}

// What a fiber's state is between its run() calls.
interface FiberState {
  readonly fn: (...args: unknown[]) => unknown;
  started: boolean;
  // Paused (in Fiber.yield() or any other pause of its job) and waiting for a run().
  yielding: boolean;
  job: AsyncJob | null;
  ctx: WaitCtx | null;
  start: Start | null;
  // What run()/throwInto() hands to the pending Fiber.yield(), and what Fiber.yield() hands back.
  resumeWith: { value: unknown; thrown: boolean } | null;
  yielded: unknown;
  // The error every Fiber.yield() throws while reset() unwinds the fiber.
  zombie: Error | null;
}

const states = new WeakMap<object, FiberState>();
// The fibers running now, innermost last: a fiber is pushed while a run(), throwInto() or
// reset() of it is on the stack, and popped when that returns.
const running: Fiber[] = [];
// The zombie error of each fiber whose job was collected, keyed by the job's collection error
// (every pause of that job throws the same one); every Fiber.yield() of that fiber throws it.
const collectedZombies = new WeakMap<object, Error>();
const collectionReasons = new WeakMap<object, object>();
let poolSize = 120;
let fibersCreated = 0;

function zombieError(): Error {
  return new Error('This Fiber is a zombie');
}

function illegalInvocation(): TypeError {
  return new TypeError('Illegal invocation');
}

function stateOf(self: unknown): FiberState {
  const state = typeof self === 'object' && self !== null ? states.get(self) : undefined;
  if (state === undefined) throw illegalInvocation();
  return state;
}

function currentFiber(): Fiber | undefined {
  const top = running[running.length - 1];
  if (top === undefined) return undefined;
  const job = states.get(top)!.job;
  // A plain job started from inside a fiber is not that fiber.
  return job === null || job === getCurrentJob() ? top : undefined;
}

// The WaitCtx callback of every fiber's job: jobAwait() calls it when its promise settles, and
// it resumes the fiber there and then, as a settled Future resumes the fiber waiting on it. Its
// argument is the start it belongs to, which reaches the fiber weakly: a promise settling after
// the fiber ended (reset, say) and started again must not resume the new start.
interface Start {
  readonly fiber: WeakRef<Fiber>;
}

function wakeFiber(start: unknown): number {
  const fiber = (start as Start).fiber.deref();
  const state = fiber === undefined ? undefined : states.get(fiber);
  if (fiber === undefined || state === undefined || state.start !== start || !state.yielding) return 0;
  try {
    fiber.run();
  } catch (error) {
    // Nobody called this run() to catch it: it goes where a throwing callback's error goes.
    process.nextTick(() => {
      throw error;
    });
  }
  return 1;
}

// The first frame on a fiber's job: holds the function and its argument, nothing of the fiber.
// What the function returns goes back boxed: a fiber may return a promise (an async function
// run as a fiber does), which run() returns as node-fibers' does, where a job's thenable result
// is refused. A collected fiber that ends by its zombie error ends its job by the collection
// error, which the collector expects (anything else it reports as a warning).
function fiberEntry(fn: (...args: unknown[]) => unknown, args: unknown[]): { value: unknown } {
  adoptJob();
  try {
    return { value: Reflect.apply(fn, globalThis, args) };
  } catch (error) {
    throw (typeof error === 'object' && error !== null && collectionReasons.get(error)) || error;
  }
}

function adoptJob(): void {
  const job = getCurrentJob()!;
  states.get(running[running.length - 1])!.job = job;
  // node-fibers lets a process end with fibers yielded (its generator examples do): the warning
  // about jobs still paused at exit does not count fibers.
  binding.quietAtExit(job);
}

function ended(state: FiberState): void {
  state.started = false;
  state.yielding = false;
  state.job = null;
  state.resumeWith = null;
  state.yielded = undefined;
  state.zombie = null;
  state.start = null;
  const ctx = state.ctx;
  state.ctx = null;
  ctx?.free();
}

// Starts or resumes the fiber and turns the job's outcome into run()'s.
function enter(fiber: Fiber, state: FiberState, args: unknown[]): unknown {
  let result;
  running.push(fiber);
  try {
    if (!state.started) {
      const ctx = new WaitCtx();
      const start: Start = { fiber: new WeakRef(fiber) };
      ctx.setCallback(wakeFiber, start);
      state.ctx = ctx;
      state.start = start;
      state.started = true;
      fibersCreated++;
      result = startJob(null, ctx, fiberEntry, state.fn, args);
    } else {
      state.yielding = false;
      result = startJob(state.job, null, null);
    }
  } catch (error) {
    ended(state);
    throw error;
  } finally {
    running.pop();
    state.resumeWith = null;
  }
  switch (result.status) {
    case ASYNC_PAUSE: {
      state.job = result.job;
      state.yielding = true;
      const value = state.yielded;
      state.yielded = undefined;
      return value;
    }
    case ASYNC_FINISH:
      ended(state);
      return (result.ret as { value: unknown }).value;
    default:
      ended(state);
      throw new RangeError('Out of memory', {
        cause:
          result.status === ASYNC_NO_JOBS
            ? new Error("asyncjob: the thread's job pool is full (initThread maxSize), or the process is at its job limits (jobLimits())")
            : result.status === ASYNC_ERR
              ? result.error
              : undefined,
      });
  }
}

const Fiber = function Fiber(this: unknown, fn: (...args: unknown[]) => unknown): Fiber {
  if (arguments.length !== 1) throw new TypeError('Fiber expects 1 argument');
  if (typeof fn !== 'function') throw new TypeError('Fiber expects a function');
  if (!new.target) return new (Fiber as unknown as FiberConstructor)(fn);
  states.set(this as object, {
    fn,
    started: false,
    yielding: false,
    job: null,
    ctx: null,
    start: null,
    resumeWith: null,
    yielded: undefined,
    zombie: null,
  });
  return this as Fiber;
} as unknown as FiberConstructor;

function run(this: Fiber, value?: unknown): unknown {
  const state = stateOf(this);
  if (state.started && !state.yielding) throw new Error('This Fiber is already running');
  if (arguments.length > 1) throw new TypeError('run() excepts 1 or no arguments');
  if (state.started) state.resumeWith = { value: arguments.length === 0 ? undefined : value, thrown: false };
  return enter(this, state, arguments.length === 0 ? [] : [value]);
}

function throwInto(this: Fiber, exception?: unknown): unknown {
  const state = stateOf(this);
  if (!state.yielding) throw new Error('This Fiber is not yielding');
  if (arguments.length > 1) throw new TypeError('throwInto() expects 1 or no arguments');
  state.resumeWith = { value: exception, thrown: true };
  return enter(this, state, []);
}

function reset(this: Fiber): unknown {
  const state = stateOf(this);
  if (!state.started) return undefined;
  if (!state.yielding) throw new Error('This Fiber is not yielding');
  if (arguments.length > 0) throw new TypeError('reset() expects no arguments');
  const zombie = zombieError();
  state.zombie = zombie;
  state.yielding = false;
  running.push(this);
  try {
    // Every pause of the job throws `zombie` until it ends; cancelJob() returns what it
    // returned (boxed by fiberEntry), undefined if it ended by throwing `zombie`, and throws
    // anything else.
    return (cancelJob(state.job!, zombie) as { value: unknown } | undefined)?.value;
  } finally {
    running.pop();
    ended(state);
  }
}

// Fiber.yield(): its frame stays on the fiber's stack while it is paused, so it keeps nothing
// of the fiber: beforeYield() and afterYield() find it and return.
function yieldFiber(value?: unknown): unknown {
  beforeYield(arguments.length, value);
  try {
    pauseJob();
  } catch (error) {
    throw pauseError(error);
  }
  return afterYield();
}

function beforeYield(argc: number, value: unknown): void {
  const fiber = currentFiber();
  if (fiber === undefined) {
    // A fiber whose job is being collected is unwound with no run() of it on the stack: its
    // pause throws the collection error, which yieldFiber() turns into its zombie error.
    if (isOrphanedFiberJob()) return;
    throw new Error('yield() called with no fiber running');
  }
  const state = states.get(fiber)!;
  if (state.zombie !== null) throw state.zombie;
  if (argc > 1) throw new TypeError('yield() expects 1 or no arguments');
  state.yielded = value;
}

function isOrphanedFiberJob(): boolean {
  const job = getCurrentJob();
  return job !== null && getWaitCtx(job)?.getCallback()?.callback === wakeFiber;
}

function afterYield(): unknown {
  const fiber = currentFiber();
  if (fiber === undefined) return undefined;
  const state = states.get(fiber)!;
  const resumeWith = state.resumeWith;
  state.resumeWith = null;
  if (resumeWith === null) return undefined;
  if (resumeWith.thrown) throw resumeWith.value;
  return resumeWith.value;
}

// A collected fiber's job is cancelled with ERR_ASYNCJOB_JOB_COLLECTED: its yields throw a
// zombie error instead, as node-fibers' do when it unwinds a fiber it collects.
function pauseError(error: unknown): unknown {
  if (typeof error !== 'object' || error === null || (error as { code?: unknown }).code !== 'ERR_ASYNCJOB_JOB_COLLECTED') {
    return error;
  }
  let zombie = collectedZombies.get(error);
  if (zombie === undefined) {
    zombie = zombieError();
    collectedZombies.set(error, zombie);
    collectionReasons.set(zombie, error);
  }
  return zombie;
}

function method<F extends (...args: any[]) => unknown>(name: string, fn: F): PropertyDescriptor {
  Object.defineProperty(fn, 'name', { value: name });
  return { value: fn, writable: true, enumerable: false, configurable: true };
}

Object.defineProperties(Fiber.prototype, {
  run: method('run', run),
  reset: method('reset', reset),
  throwInto: method('throwInto', throwInto),
  started: {
    get(this: unknown) {
      const state = typeof this === 'object' && this !== null ? states.get(this) : undefined;
      return state?.started;
    },
    enumerable: false,
    configurable: true,
  },
});

Object.defineProperties(Fiber, {
  yield: method('yield', yieldFiber),
  current: { get: currentFiber, enumerable: true, configurable: true },
  poolSize: {
    get: () => poolSize,
    set(size: unknown) {
      poolSize = Number(size);
    },
    enumerable: true,
    configurable: true,
  },
  fibersCreated: { get: () => fibersCreated, enumerable: true, configurable: true },
});

export = Fiber;

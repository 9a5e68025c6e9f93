// The checks of a job's arguments that startJob (and so runJob) and ASYNC_start_job share:
// errors that name the argument at fault, and no silent async jobs (an async function, or one
// that returns a thenable, is refused with ERR_ASYNCJOB_ASYNC_FUNCTION).
import { types as utilTypes } from 'node:util';

import { binding } from './binding';
import { describeReceived, invalidArgType, withCode } from './errors';
import type { NativeAsyncJob } from '../types/binding';

// The job argument of startJob (`job`) and of ASYNC_start_job (`job.value`, named so).
export function validateJobOrNull(job: unknown, name = 'job'): asserts job is NativeAsyncJob | null {
  if (job !== null && !(job instanceof binding.AsyncJob)) {
    throw invalidArgType(name, 'an instance of AsyncJob (to resume a paused job) or null (to start one)', job);
  }
}

// The function of a job that starts (job null). No function at all is most often a resume whose
// job was null: the job had finished (`r.job` is null after ASYNC_FINISH). Name both arguments.
export function validateJobFunction(func: unknown, jobName = 'job'): asserts func is (...args: any[]) => unknown {
  if (typeof func !== 'function') {
    if (func === null || func === undefined) {
      throw withCode(
        new TypeError(
          `The "${jobName}" argument is null and the "func" argument is ${func}: to resume a job, pass ` +
            'the paused job (a job that has finished cannot be resumed); to start one, pass a ' +
            'function or a NativeJobFunction',
        ),
        'ERR_INVALID_ARG_TYPE',
      );
    }
    throw invalidArgType('func', `of type function or a NativeJobFunction (when "${jobName}" is null)`, func);
  }
  if (isAsyncFunction(func)) {
    const why = isAsyncGeneratorFunction(func)
      ? 'an async generator function: calling it only makes a generator, whose body runs as it is ' +
        'iterated, on the event loop, outside the job'
      : 'an async function: its body would run in the job only up to its first `await`, and the ' +
        'rest on the event loop, outside the job';
    throw asyncFunctionError(
      `The "func" argument must not be ${why}, where pauseJob() does nothing. Pass a plain ` +
        `function, and wait for a promise inside it with jobAwait(promise). Received ${describeReceived(func)}`,
    );
  }
}

// An async function or async generator function, also bound or behind a Proxy (which keep the
// prototype of their target).
function isAsyncFunction(func: Function): boolean {
  if (utilTypes.isAsyncFunction(func)) return true;
  const prototype = prototypeOf(func);
  return prototype === AsyncFunctionPrototype || prototype === AsyncGeneratorFunctionPrototype;
}

function isAsyncGeneratorFunction(func: Function): boolean {
  return utilTypes.isGeneratorFunction(func) || prototypeOf(func) === AsyncGeneratorFunctionPrototype;
}

function prototypeOf(value: object): unknown {
  try {
    return Object.getPrototypeOf(value);
  } catch {
    return undefined; // a revoked Proxy, a throwing getPrototypeOf trap
  }
}

const AsyncFunctionPrototype = Object.getPrototypeOf(async function () {});
const AsyncGeneratorFunctionPrototype = Object.getPrototypeOf(async function* () {});

function asyncFunctionError(message: string): TypeError & { code: 'ERR_ASYNCJOB_ASYNC_FUNCTION' } {
  return withCode(new TypeError(message), 'ERR_ASYNCJOB_ASYNC_FUNCTION');
}

// A job function that returns a promise (or any thenable) finished before what it started: its
// caller would get a pending promise as the job's result while the work goes on outside the job.
// The job ends by throwing ERR_ASYNCJOB_ASYNC_FUNCTION instead (startJob throws it, runJob
// rejects with it). The thenable is the error's `promise`, for whoever wants its outcome; a
// rejection handler is attached to it so that its rejection is not reported again as unhandled.
export function refuseThenable<R>(value: R): R {
  if ((typeof value !== 'object' || value === null) && typeof value !== 'function') return value;
  let then: unknown;
  try {
    then = (value as { then?: unknown }).then;
  } catch {
    return value; // a throwing getter: not a thenable we can tell
  }
  if (typeof then !== 'function') return value;
  const error = asyncFunctionError(
    'The job function returned a promise (a thenable): the job finished before the promise ' +
      'settled, and its work went on outside the job. Wait for the promise inside the job with ' +
      'jobAwait(promise) and return its value; the promise is this error\'s `promise`',
  );
  Object.defineProperty(error, 'promise', { value, enumerable: false, writable: true, configurable: true });
  try {
    Reflect.apply(then, value, [undefined, () => {}]);
  } catch {
    // a thenable whose then() throws has nothing left to report
  }
  throw error;
}

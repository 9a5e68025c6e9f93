// Errors shaped like Node's own (TypeError / RangeError with ERR_INVALID_ARG_TYPE,
// ERR_OUT_OF_RANGE) and asyncjob's coded state errors (ERR_ASYNCJOB_*),
// plus the validators src/ uses on every public entry point.

// Every `code` an error thrown (or a promise rejected) by asyncjob can carry, except the errno
// names (EMFILE, …) of SystemError-shaped errors. test/error-codes.test.ts greps src/ and
// native/addon/ for codes and fails when one is missing here.
export const ERROR_CODES = Object.freeze([
  // Node's own codes, for the errors shaped like Node's.
  'ERR_INVALID_ARG_TYPE',
  'ERR_OUT_OF_RANGE',
  'ERR_ILLEGAL_CONSTRUCTOR',
  'ABORT_ERR',
  // asyncjob's own.
  'ERR_ASYNCJOB_ASYNC_FUNCTION',
  'ERR_ASYNCJOB_BAD_FD',
  'ERR_ASYNCJOB_BINARY_INCOMPATIBLE',
  'ERR_ASYNCJOB_JOBS_IN_USE',
  'ERR_ASYNCJOB_JOB_CANCELLED',
  'ERR_ASYNCJOB_JOB_COLLECTED',
  'ERR_ASYNCJOB_JOB_FINISHED',
  'ERR_ASYNCJOB_JOB_RUNNING',
  'ERR_ASYNCJOB_JS_JOBS_UNAVAILABLE',
  'ERR_ASYNCJOB_NO_JOBS',
  'ERR_ASYNCJOB_NO_MEMORY',
  'ERR_ASYNCJOB_NO_WAKE_CALLBACK',
  'ERR_ASYNCJOB_NOT_IN_JOB',
  'ERR_ASYNCJOB_PAUSE_BLOCKED',
  'ERR_ASYNCJOB_PAUSE_IN_ASYNC_SCOPE',
  'ERR_ASYNCJOB_PAUSE_IN_VM_TIMEOUT',
  'ERR_ASYNCJOB_START_FAILED',
  'ERR_ASYNCJOB_UNSUPPORTED',
  'ERR_ASYNCJOB_WAIT_CTX_FREED',
  'ERR_ASYNCJOB_WAIT_CTX_IN_USE',
  'ERR_ASYNCJOB_WRONG_THREAD',
] as const);

/**
 * Every `code` that an error thrown by asyncjob (or a rejection of its promises) can carry:
 * Node's `ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE`, `ERR_ILLEGAL_CONSTRUCTOR` and `ABORT_ERR`
 * for errors shaped like Node's, and asyncjob's own `ERR_ASYNCJOB_*`. SystemError-shaped errors
 * (from `pipe()`, or a wait out of fds) carry an errno name such as `'EMFILE'` instead.
 * @example
 * import type { AsyncjobErrorCode } from 'asyncjob';
 * function retryable(code: AsyncjobErrorCode): boolean {
 *   return code === 'ERR_ASYNCJOB_NO_JOBS';
 * }
 */
export type AsyncjobErrorCode = (typeof ERROR_CODES)[number];

/** An asyncjob code of its own: `ERR_ASYNCJOB_<what>`. */
export type AsyncjobOwnErrorCode = Extract<AsyncjobErrorCode, `ERR_ASYNCJOB_${string}`>;

/** An Error carrying a Node-style `code`. */
export interface CodedError extends Error {
  code: AsyncjobErrorCode;
}

/** `error` with its `code` set as Node sets it (an own enumerable property). */
export function withCode<E extends Error, C extends AsyncjobErrorCode>(error: E, code: C): E & { code: C } {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  return error as E & { code: C };
}

/** Describes a received value as Node's validators do: "type string ('abc')", "null", … */
export function describeReceived(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name ? `an instance of ${name}` : 'an object';
  }
  let shown = String(value);
  if (typeof value === 'string') shown = `'${value.length > 28 ? `${value.slice(0, 25)}...` : value}'`;
  if (typeof value === 'bigint') shown = `${value}n`;
  return `type ${typeof value} (${shown})`;
}

export function invalidArgType(name: string, expected: string, actual: unknown): TypeError & { code: 'ERR_INVALID_ARG_TYPE' } {
  return withCode(
    new TypeError(`The "${name}" argument must be ${expected}. Received ${describeReceived(actual)}`),
    'ERR_INVALID_ARG_TYPE',
  );
}

export function outOfRange(name: string, range: string, actual: unknown): RangeError & { code: 'ERR_OUT_OF_RANGE' } {
  return withCode(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(actual)}`),
    'ERR_OUT_OF_RANGE',
  );
}

/** A state error of asyncjob's own: `code` is `ERR_ASYNCJOB_<what>`. */
export function asyncjobError(code: AsyncjobOwnErrorCode, message: string): CodedError {
  return withCode(new Error(message), code);
}

export function validateFunction(value: unknown, name: string): asserts value is (...args: any[]) => unknown {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value);
}

/** An integer in [min, max]: TypeError for a non-number, RangeError otherwise. */
export function validateInteger(value: unknown, name: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
}

/** The largest fd accepted anywhere (2^31 - 1, as OpenSSL's int fds). */
export const MAX_FD = 2 ** 31 - 1;

/**
 * What a job cancelled without a reason throws from its pending `pauseJob()` (and from every
 * later one): an `AbortError` shaped like Node's own (`name: 'AbortError'`, `code: 'ABORT_ERR'`).
 */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(message = 'The job was cancelled', options?: { cause?: unknown }) {
    super(message, options);
  }
}
Object.defineProperty(AbortError.prototype, 'name', {
  value: 'AbortError',
  writable: true,
  enumerable: false,
  configurable: true,
});

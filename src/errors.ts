// Errors shaped like Node's own (TypeError / RangeError with ERR_INVALID_ARG_TYPE,
// ERR_OUT_OF_RANGE) and asyncjob's coded state errors (ERR_ASYNCJOB_*),
// plus the validators src/ uses on every public entry point.

/** An Error carrying a Node-style `code`. */
export interface CodedError extends Error {
  code: string;
}

function withCode<E extends Error>(error: E, code: string): E & { code: string } {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  return error as E & { code: string };
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

export function invalidArgType(name: string, expected: string, actual: unknown): TypeError & { code: string } {
  return withCode(
    new TypeError(`The "${name}" argument must be ${expected}. Received ${describeReceived(actual)}`),
    'ERR_INVALID_ARG_TYPE',
  );
}

export function outOfRange(name: string, range: string, actual: unknown): RangeError & { code: string } {
  return withCode(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(actual)}`),
    'ERR_OUT_OF_RANGE',
  );
}

/** A state error of asyncjob's own: `code` is `ERR_ASYNCJOB_<what>`. */
export function asyncjobError(code: `ERR_ASYNCJOB_${string}`, message: string): CodedError {
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

// WaitCtx: OpenSSL's ASYNC_WAIT_CTX. The class extends the binding's, so instances are the
// native objects themselves (getWaitCtx() returns the very object a job started with). This
// layer validates arguments before they reach native code and adds wait(), waitSync() and
// Symbol.dispose.
import { type InspectOptionsStylized, inspect } from 'node:util';

import { binding } from './binding';
import { MAX_FD, invalidArgType, validateFunction, validateInteger } from './errors';

/** The cleanup of a wait fd: `free()` calls it for every fd still set. */
export type WaitFdCleanup = (ctx: WaitCtx, key: unknown, fd: number, customData: unknown) => void;

/** The callback a WaitCtx stores for the engine to call when the job may resume. */
export type WaitCtxCallback = (arg: unknown) => unknown;

/** Options of {@link WaitCtx.wait}. */
export interface WaitOptions {
  /** Milliseconds after which the wait resolves with `[]` (an integer from 0 to 2^31-1). */
  timeout?: number;
  /** Aborting it rejects the wait with an `AbortError`. */
  signal?: AbortSignal;
}

const MAX_TIMEOUT = 2 ** 31 - 1;

// Node 20 defines Symbol.dispose; 'nodejs.dispose' is the name it registers it under.
const disposeSymbol: typeof Symbol.dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose');

// As Node's own AbortError: name 'AbortError', code 'ABORT_ERR', the signal's reason as cause.
class AbortError extends Error {
  readonly code = 'ABORT_ERR';

  constructor(signal: AbortSignal) {
    super('The operation was aborted', { cause: signal.reason });
    this.name = 'AbortError';
  }
}

// The native accessor checks its receiver's type tag, which no prototype trick can fake: reading
// it is the receiver check of the methods defined here, before their arguments are looked at.
const nativeFreed = Object.getOwnPropertyDescriptor(binding.WaitCtx.prototype, 'freed')!.get!;
function validateThis(self: unknown): void {
  nativeFreed.call(self);
}

function validateFds(fds: unknown): asserts fds is number[] {
  if (!Array.isArray(fds)) throw invalidArgType('fds', 'an instance of Array', fds);
  fds.forEach((fd, i) => validateInteger(fd, `fds[${i}]`, 0, MAX_FD));
}

/**
 * A wait context (OpenSSL's `ASYNC_WAIT_CTX`): the file descriptors a paused job waits on, a
 * callback the engine can call to wake it, and a status. Keys compare by SameValueZero, like Map
 * keys. Release it with {@link WaitCtx.free} (or `using`), which runs the fds' cleanups; one that
 * is only garbage-collected releases its memory without running them.
 *
 * Every method throws an Error with code `ERR_ASYNCJOB_WAIT_CTX_FREED` once it is freed, and every
 * method and accessor a `TypeError` (`ERR_INVALID_ARG_TYPE`) when called on anything but a
 * WaitCtx (`Reflect.apply(ctx.getFd, other, [])`); `wait()` rejects with them.
 * @example
 * import * as fs from 'node:fs';
 * import { WaitCtx, pipe } from 'asyncjob';
 * using ctx = new WaitCtx();
 * const [readFd, writeFd] = pipe();
 * ctx.setWaitFd('engine', readFd, null, () => { fs.closeSync(readFd); fs.closeSync(writeFd); });
 * setTimeout(() => fs.writeSync(writeFd, 'x'), 10);
 * await ctx.wait(); // [readFd]
 */
export class WaitCtx extends binding.WaitCtx {
  /**
   * Whether {@link WaitCtx.free} has run (it counts as freed while its cleanups run).
   * @example
   * ctx.free();
   * ctx.freed; // true
   */
  declare readonly freed: boolean;

  /**
   * Creates an empty wait context: no fds, no callback, status `ASYNC_STATUS_UNSUPPORTED`.
   * @example
   * const ctx = new WaitCtx();
   * startJob(null, ctx, work);
   */
  constructor() {
    super();
  }

  /**
   * Adds `fd` under `key` (any value, compared by SameValueZero) with `customData`, and the
   * `cleanup` that {@link WaitCtx.free} runs for it as `cleanup(ctx, key, fd, customData)`.
   * Setting a key again adds another entry; {@link WaitCtx.getFd} and {@link WaitCtx.clearFd}
   * then act on the newest. The fd need not be open (as in OpenSSL).
   *
   * Throws `TypeError` (`ERR_INVALID_ARG_TYPE`) for a non-number fd or a cleanup that is not a
   * function, `RangeError` (`ERR_OUT_OF_RANGE`) for an fd that is not an integer in 0..2^31-1.
   * @returns `true` (`false` only when out of memory).
   * @example
   * const key = {};
   * ctx.setWaitFd(key, readFd, { engine: 'hw' }, (ctx, key, fd) => fs.closeSync(fd));
   */
  override setWaitFd(key: unknown, fd: number, customData?: unknown, cleanup?: WaitFdCleanup): boolean {
    validateThis(this);
    validateInteger(fd, 'fd', 0, MAX_FD);
    if (cleanup !== undefined) validateFunction(cleanup, 'cleanup');
    return super.setWaitFd(key, fd, customData, cleanup);
  }

  /**
   * The newest fd set under `key`, with its custom data, or `null` when none is set.
   * @example
   * ctx.setWaitFd('engine', readFd, 42);
   * ctx.getFd('engine'); // { fd: readFd, customData: 42 }
   */
  override getFd(key: unknown): { fd: number; customData: unknown } | null {
    return super.getFd(key);
  }

  /**
   * Every fd set, newest first (an fd set under two keys appears twice).
   * @example
   * const fds = ctx.getAllFds();
   */
  override getAllFds(): number[] {
    return super.getAllFds();
  }

  /**
   * The fds added and cleared since the job using this context was last resumed (since it was
   * created, if never). An fd added and cleared in between appears in neither list.
   * @example
   * const { added, deleted } = ctx.getChangedFds();
   * for (const fd of added) watch(fd);
   * for (const fd of deleted) unwatch(fd);
   */
  override getChangedFds(): { added: number[]; deleted: number[] } {
    return super.getChangedFds();
  }

  /**
   * Removes the newest fd set under `key` without running its cleanup (whoever clears an fd
   * cleans it up, as in OpenSSL).
   * @returns `false` when no fd is set under `key`.
   * @example
   * if (ctx.clearFd('engine')) fs.closeSync(readFd);
   */
  override clearFd(key: unknown): boolean {
    return super.clearFd(key);
  }

  /**
   * Stores the callback an engine calls (with `arg`) when the paused job may resume; `null`
   * removes it. The C callback the core stores calls it: at once when native code calls it on
   * a thread that holds this isolate's lock, else queued to this thread (it returns 1 then).
   *
   * Throws `TypeError` (`ERR_INVALID_ARG_TYPE`) when `callback` is neither a function nor null.
   * @returns `true`.
   * @example
   * ctx.setCallback((job) => { resumeLater(job); return 1; }, job);
   */
  override setCallback(callback: WaitCtxCallback | null, arg?: unknown): boolean {
    validateThis(this);
    if (callback !== null && typeof callback !== 'function') {
      throw invalidArgType('callback', 'of type function or null', callback);
    }
    return super.setCallback(callback, arg);
  }

  /**
   * The stored callback and its argument, or `null` when none is set.
   * @example
   * const stored = ctx.getCallback();
   * if (stored !== null) stored.callback(stored.arg);
   */
  override getCallback(): { callback: WaitCtxCallback; arg: unknown } | null {
    return super.getCallback();
  }

  /**
   * Sets the status an engine reports (`ASYNC_STATUS_*`; any 32-bit integer is kept).
   *
   * Throws `TypeError` (`ERR_INVALID_ARG_TYPE`) for a non-number, `RangeError`
   * (`ERR_OUT_OF_RANGE`) for a non-integer or one outside the 32-bit range.
   * @returns `true`.
   * @example
   * ctx.setStatus(ASYNC_STATUS_EAGAIN);
   */
  override setStatus(status: number): boolean {
    validateThis(this);
    validateInteger(status, 'status', -(2 ** 31), 2 ** 31 - 1);
    return super.setStatus(status);
  }

  /**
   * The status last set, initially `ASYNC_STATUS_UNSUPPORTED` (0).
   * @example
   * if (ctx.getStatus() === ASYNC_STATUS_EAGAIN) waitForCallback();
   */
  override getStatus(): number {
    return super.getStatus();
  }

  /**
   * Waits without blocking for one of the fds set now to become readable (or at end of file or
   * in error: a read would not block). Resolves with every fd readable at that moment; with
   * `[]` on the next turn of the event loop when no fds are set (so a loop of waits and resumes
   * lets timers and I/O run), or when `timeout` ms pass first. It watches fds only: a call of
   * the stored callback does not end it.
   *
   * Rejects with `TypeError`/`RangeError` for bad options, with an `AbortError` (code
   * `ABORT_ERR`, `cause` the signal's reason) when `signal` is or gets aborted, with
   * `ERR_ASYNCJOB_BAD_FD` when an fd cannot be watched (not open, a regular file, or watched by
   * the event loop already), with a `SystemError`-shaped error (code `EMFILE`, negative `errno`,
   * `syscall`, `fd`) when the process is out of fds (or memory) for the watch, and with
   * `ERR_ASYNCJOB_WAIT_CTX_FREED` when the context is freed before or during the wait. On
   * Windows the fds must be sockets (libuv watches nothing else there), as `pipe()` makes.
   * Watching an fd puts it into non-blocking mode, as libuv does.
   * @example
   * const readable = await ctx.wait({ timeout: 1000, signal: AbortSignal.timeout(5000) });
   * if (readable.length === 0) console.log('timed out');
   */
  async wait(options: WaitOptions = {}): Promise<number[]> {
    validateThis(this);
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    const { timeout, signal } = options;
    if (timeout !== undefined) validateInteger(timeout, 'options.timeout', 0, MAX_TIMEOUT);
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
    }
    if (signal?.aborted) throw new AbortError(signal);
    // With no fds, pollFds resolves [] on the next turn of the event loop, not in a microtask:
    // `while (paused) { await ctx.wait(); resume }` must let timers and I/O run between resumes.
    // It is a pending wait like any other (free() rejects it).
    const fds = this.getAllFds();
    return new Promise<number[]>((resolve, reject) => {
      const onAbort = () => {
        cancel();
        reject(new AbortError(signal!));
      };
      const cancel = this.pollFds(fds, timeout ?? -1, (error, readable) => {
        signal?.removeEventListener('abort', onAbort);
        if (error !== null) reject(error);
        else resolve(readable);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Blocks (poll(2)) until one of the fds set now is readable, for at most `timeoutMs`
   * (-1, the default: no limit) and returns every readable fd; `[]` at once when no fds are set.
   *
   * Throws `RangeError` (`ERR_OUT_OF_RANGE`) for a bad timeout, `ERR_ASYNCJOB_BAD_FD` for an fd
   * that is not open (on Windows also for one that is no socket).
   * @example
   * const readable = ctx.waitSync(100);
   */
  waitSync(timeoutMs = -1): number[] {
    validateThis(this);
    validateInteger(timeoutMs, 'timeoutMs', -1, MAX_TIMEOUT);
    return this.pollFdsSync(this.getAllFds(), timeoutMs);
  }

  /**
   * The event-loop wait under {@link WaitCtx.wait}, on the given fds: calls
   * `done(null, readable)` once on the first readiness, `done(null, fds readable by then)`
   * after `timeoutMs` (-1: never; with no fds or a timeout of 0: on the next turn of the event
   * loop, after the `setImmediate` callbacks queued before it), or `done(error)`
   * (`ERR_ASYNCJOB_BAD_FD`, a `SystemError` such as `EMFILE`, `ERR_ASYNCJOB_WAIT_CTX_FREED`).
   * Returns a function that cancels the wait; `done` is then never called.
   * @example
   * const cancel = ctx.pollFds(ctx.getAllFds(), -1, (error, readable) => resume(job));
   */
  override pollFds(
    fds: number[],
    timeoutMs: number,
    done: (error: Error | null, readable: number[]) => void,
  ): () => void {
    validateThis(this);
    validateFds(fds);
    validateInteger(timeoutMs, 'timeoutMs', -1, MAX_TIMEOUT);
    validateFunction(done, 'done');
    return super.pollFds(fds, timeoutMs, done);
  }

  /**
   * The poll(2) under {@link WaitCtx.waitSync}, on the given fds: the readable ones, waiting at
   * most `timeoutMs` (-1: no limit).
   * @example
   * const [readable] = ctx.pollFdsSync([readFd], 0);
   */
  override pollFdsSync(fds: number[], timeoutMs: number): number[] {
    validateThis(this);
    validateFds(fds);
    validateInteger(timeoutMs, 'timeoutMs', -1, MAX_TIMEOUT);
    return super.pollFdsSync(fds, timeoutMs);
  }

  /**
   * Runs the cleanup of every fd still set (newest first), removes the callback and releases
   * the context; pending waits reject with `ERR_ASYNCJOB_WAIT_CTX_FREED`. A second call does
   * nothing. If cleanups throw, the others still run and the first exception is rethrown.
   *
   * Throws `ERR_ASYNCJOB_WAIT_CTX_IN_USE` (and frees nothing) while a job that started with it
   * has not finished.
   * @example
   * const ctx = new WaitCtx();
   * try { runEngine(ctx); } finally { ctx.free(); }
   */
  override free(): void {
    super.free();
  }

  /**
   * Calls {@link WaitCtx.free}, so that `using ctx = new WaitCtx()` frees it at the end of the
   * block.
   * @example
   * {
   *   using ctx = new WaitCtx();
   *   ctx.setWaitFd('k', fd, null, cleanup);
   * } // cleanup(ctx, 'k', fd, null) has run
   */
  [disposeSymbol](): void {
    validateThis(this);
    this.free();
  }
}

const STATUS_NAMES = ['ASYNC_STATUS_UNSUPPORTED', 'ASYNC_STATUS_ERR', 'ASYNC_STATUS_OK', 'ASYNC_STATUS_EAGAIN'];

// util.inspect(ctx): WaitCtx { fds: Map(1) { 'engine' => 12 }, status: 'ASYNC_STATUS_EAGAIN',
// callback: true, freed: false }. Never throws, whatever it is called on or with. `fds` maps each key to its newest fd; fds that no key shows
// (older entries of a key set again, fds native code set on the context) are `otherFds`.
// `callback` counts C callbacks native code installed too.
Object.defineProperty(WaitCtx.prototype, inspect.custom, {
  value: function inspectWaitCtx(this: WaitCtx, depth = 0, options?: InspectOptionsStylized): string {
    const stylize = options?.stylize ?? String;
    let state: ReturnType<typeof binding.waitCtxInspectState>;
    try {
      state = binding.waitCtxInspectState(this);
    } catch {
      return stylize('[WaitCtx: not a wait context]', 'special'); // e.g. Object.create(prototype)
    }
    if (depth < 0) return stylize('[WaitCtx]', 'special');
    const shown: Record<string, unknown> = {};
    if (state !== null) {
      const native = binding.WaitCtx.prototype;
      const fds = new Map<unknown, number>();
      for (const key of state.keys.keys()) {
        const entry = native.getFd.call(this, key);
        if (entry !== null) fds.set(key, entry.fd);
      }
      const otherFds = native.getAllFds.call(this);
      for (const fd of fds.values()) {
        const at = otherFds.indexOf(fd);
        if (at >= 0) otherFds.splice(at, 1);
      }
      const status = native.getStatus.call(this);
      shown.fds = fds;
      if (otherFds.length > 0) shown.otherFds = otherFds;
      shown.status = STATUS_NAMES[status] ?? status;
      shown.callback = state.callback;
    }
    shown.freed = state === null;
    const nested = options === undefined ? {} : { ...options, depth: options.depth === null ? null : options.depth! - 1 };
    return `WaitCtx ${inspect(shown, nested)}`;
  },
  writable: true,
  configurable: true,
});

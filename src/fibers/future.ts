// asyncjob/fibers/future: node-fibers' `Future` (require('fibers/future')) on asyncjob/fibers.
// A Future is a value that arrives later; wait() inside a fiber yields the fiber until it does,
// and a settled Future resumes its waiting fibers there and then, inside return() or throw().
// Loading the module installs Function.prototype.future, as node-fibers' does.
import Fiber = require('../fibers');

type Errback = (error: any, value?: any) => void;

// Who is told when a future settles: a node-style callback, or a future that takes the error
// and a callback that takes the value.
type Listener = { errback: Errback } | { errorsTo: Future; onValue: (value: any) => void };

// What get() does to a thrown error's `stack` when it is an accessor (V8 11.x and later): the
// stack of the get() that rethrows it, then, after a separator, the stack where it was made.
function linkStacks(error: object, rethrownAt: { stack?: string }): void {
  let original = Object.getOwnPropertyDescriptor(error, 'futureStack');
  if (original === undefined) {
    original = Object.getOwnPropertyDescriptor(error, 'stack');
    if (original === undefined) return;
    Object.defineProperty(error, 'futureStack', original);
  }
  const getOriginal = original.get;
  if (getOriginal === undefined) return;
  Object.defineProperty(error, 'stack', {
    get() {
      const made = getOriginal.call(error) as string | undefined;
      const here = (rethrownAt.stack ?? '').split('\n').slice(1);
      if (!made) return rethrownAt.stack;
      const [message, ...frames] = made.split('\n');
      return [message, ...here, '    - - - - -', ...frames].join('\n');
    },
    set(stack: unknown) {
      Object.defineProperty(error, 'stack', { value: stack, writable: true, enumerable: false, configurable: true });
    },
    enumerable: false,
    configurable: true,
  });
}

function notify(listener: Listener, error: unknown, value: unknown, failed: boolean): void {
  if ('errback' in listener) {
    if (failed) listener.errback(error);
    else listener.errback(undefined, value);
  } else if (failed) {
    listener.errorsTo.throw(error);
  } else {
    listener.onValue(value);
  }
}

function isFuture(value: unknown): value is Future {
  return value instanceof Future;
}

/**
 * A value that arrives later. `new Future()` makes one that {@link Future.return} or
 * {@link Future.throw} settles; `fn.future()`, {@link Future.task}, {@link Future.wrap} and
 * {@link Future.fromPromise} make settling ones.
 * @example
 * const Future = require('asyncjob/fibers/future');
 * const sleep = (ms) => { const f = new Future(); setTimeout(() => f.return(), ms); return f; };
 * Future.task(() => { sleep(10).wait(); console.log('10 ms later'); }).detach();
 */
class Future<T = any> {
  /** `true` once settled (unset before). */
  declare resolved?: true;
  /** The value, once returned. */
  declare value?: T;
  /** The error, once thrown. */
  declare error?: unknown;
  /** What the wrapped function returned, on futures from {@link Future.wrap}. */
  declare _?: unknown;
  #listeners: Listener[] = [];

  /**
   * Settles the future with `value`: every pending callback and waiting fiber runs now, in the
   * order they were added (an exception one throws is rethrown on the next tick).
   * Throws `Error('Future resolved more than once')`.
   * @example
   * const f = new Future();
   * f.return(42);
   * f.get(); // 42
   */
  return(value?: T): void {
    this.#settle(false, undefined, value);
  }

  /**
   * Settles the future with `error`, which get() and wait() throw; as {@link Future.return}
   * otherwise. Throws `Error('Future resolved more than once')` and, for a falsy `error`,
   * `Error('Must throw non-empty error')`.
   * @example
   * const f = new Future();
   * f.throw(new Error('failed'));
   * f.get(); // throws 'failed'
   */
  throw(error: unknown): void {
    if (this.resolved) throw new Error('Future resolved more than once');
    if (!error) throw new Error('Must throw non-empty error');
    this.#settle(true, error, undefined);
  }

  #settle(failed: boolean, error: unknown, value: unknown): void {
    if (this.resolved) throw new Error('Future resolved more than once');
    if (failed) this.error = error;
    else this.value = value as T;
    this.resolved = true;
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) {
      try {
        notify(listener, error, value, failed);
      } catch (thrown) {
        process.nextTick(() => {
          throw thrown;
        });
      }
    }
  }

  /**
   * The value, or throws the error, of a settled future (its `stack`, where V8 makes it an
   * accessor, gains the stack of this get()). Throws `Error('Future must resolve before value is
   * ready')` when it has not settled.
   * @example
   * Future.fromPromise(Promise.resolve(1)).wait(); // 1 (inside a fiber)
   */
  get(): T {
    if (!this.resolved) throw new Error('Future must resolve before value is ready');
    if ('error' in this) {
      const error = this.error;
      if (typeof error === 'object' && error !== null) {
        const rethrownAt: { stack?: string } = {};
        Error.captureStackTrace(rethrownAt, Future.prototype.get);
        linkStacks(error, rethrownAt);
      }
      throw error;
    }
    return this.value as T;
  }

  /**
   * Yields the current fiber until the future settles, then returns its value or throws its
   * error. A settled future returns at once, even outside a fiber.
   * Throws `Error("Can't wait without a fiber")` outside a fiber on an unsettled future.
   * @example
   * Fiber(() => console.log(Future.fromPromise(Promise.resolve('ok')).wait())).run();
   */
  wait(): T {
    if (!this.resolved) Future.wait(this);
    return this.get();
  }

  /**
   * Whether the future has settled.
   * @example
   * new Future().isResolved(); // false
   */
  isResolved(): boolean {
    return this.resolved === true;
  }

  /**
   * A node-style callback `(err, value)` that throws `err` into the future when it is truthy
   * and returns `value` otherwise.
   * @example
   * const f = new Future();
   * fs.readFile('a.txt', f.resolver());
   * f.wait();
   */
  resolver(): Errback {
    return (error: unknown, value?: unknown) => {
      if (error) this.throw(error);
      else this.return(value as T);
    };
  }

  /**
   * Calls `errback(err, value)` when the future settles (at once if it has), or, with two
   * arguments, throws the error into `errorsTo` or calls `onValue(value)`. Returns this future.
   * @example
   * calc().resolve((err, value) => console.log(err ?? value));
   */
  resolve(errback: Errback): this;
  resolve(errorsTo: Future, onValue: (value: T) => void): this;
  resolve(first: Errback | Future, onValue?: (value: T) => void): this {
    const listener: Listener = onValue ? { errorsTo: first as Future, onValue } : { errback: first as Errback };
    if (!this.resolved) {
      this.#listeners.push(listener);
    } else if ('errback' in listener) {
      listener.errback(this.error, this.value);
    } else if ('error' in this) {
      listener.errorsTo.throw(this.error);
    } else {
      listener.onValue(this.value);
    }
    return this;
  }

  /**
   * Calls `onValue(value)` if the future returns; nothing if it throws. Returns this future.
   * @example
   * task.resolveSuccess((value) => console.log(value));
   */
  resolveSuccess(onValue: (value: T) => void): this {
    this.resolve((error, value) => {
      if (!error) onValue(value);
    });
    return this;
  }

  /**
   * Settles `future` as this future settles.
   * @example
   * source.proxy(target); // target returns or throws what source does
   */
  proxy(future: Future<T>): void {
    this.resolve((error, value) => {
      if (error) future.throw(error);
      else future.return(value);
    });
  }

  /**
   * Throws this future's error, if it throws, into `futures` (a future or an array of them).
   * Returns this future.
   * @example
   * step.proxyErrors([overall, other]);
   */
  proxyErrors(futures: Future | Future[]): this {
    this.resolve((error) => {
      if (!error) return;
      for (const future of Array.isArray(futures) ? futures : [futures]) future.throw(error);
    });
    return this;
  }

  /**
   * A promise that settles as this future does.
   * @example
   * const value = await task.promise();
   */
  promise(): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.resolve((error, value) => {
        if (error) reject(error);
        else resolve(value);
      });
    });
  }

  /**
   * For a future nobody waits on: if it throws, the error is thrown to the event loop (an
   * uncaught exception), not lost.
   * @example
   * Future.task(main).detach();
   */
  detach(): void {
    this.resolve((error) => {
      if (error) throw error;
    });
  }

  /**
   * Yields the current fiber until every future given (as arguments or in arrays) has settled.
   * It does not throw their errors: get() or wait() on each does. A `fn.future()` future not
   * started yet runs in the waiting fiber itself (the first such one only).
   * Throws `Error('<value> is not a future')` for anything else and `Error("Can't wait without a
   * fiber")` outside a fiber.
   * @example
   * const a = readFuture('a.txt'), b = readFuture('b.txt');
   * Future.wait(a, b); // or Future.wait([a, b])
   */
  static wait(...futures: (Future | Future[])[]): void {
    const pending: Future[] = [];
    let inline: TaskFuture | undefined;
    const add = (future: Future) => {
      if (future.isResolved()) return;
      if (inline === undefined && future instanceof TaskFuture && !future.started) inline = future;
      else pending.push(future);
    };
    for (const arg of futures) {
      if (isFuture(arg)) {
        add(arg);
      } else if (Array.isArray(arg)) {
        for (const item of arg) {
          if (!isFuture(item)) throw new Error(`${String(item)} is not a future`);
          add(item);
        }
      } else {
        throw new Error(`${String(arg)} is not a future`);
      }
    }
    // This frame stays on the fiber's stack while it yields: the fiber is only in the
    // callbacks (reached through the futures), not in a local here.
    const count = armWaiters(pending, inline === undefined ? 0 : 1);
    if (inline !== undefined) {
      inline.runHere();
      count.left--;
    }
    if (count.left > 0) Fiber.yield();
  }

  /**
   * Runs `fn` in a fiber of its own, on the next tick, and returns a future of its result;
   * with several functions, a future of the array of their results (or of an error one threw).
   * @example
   * Future.task(() => main()).detach();
   */
  static task(fn: () => unknown, ...more: (() => unknown)[]): Future {
    if (more.length === 0) return fn.future()();
    const all = [fn, ...more];
    const result = new Future<unknown[]>();
    const values: unknown[] = new Array(all.length);
    let left = all.length;
    let failure: unknown;
    all.forEach((task, index) => {
      task.future()().resolve((error: unknown, value: unknown) => {
        if (error) failure = error;
        values[index] = value;
        if (--left > 0) return;
        if (failure) result.throw(failure);
        else result.return(values);
      });
    });
    return result;
  }

  /**
   * Makes node-style callback functions return futures: `Future.wrap(fn)` is a function that
   * calls `fn` with a callback appended and returns a future of the callback's value (the
   * future's `_` is what `fn` returned); with `multi`, of the array of every argument after the
   * error. `Future.wrap(object)` is an object inheriting from `object` with, for each of its
   * functions, a wrapped one named with `suffix` (default `'Future'`) appended. A wrapped
   * function also carries the wrapped variants of its own function properties.
   * @example
   * const fs = Future.wrap(require('node:fs'));
   * fs.readFileFuture('a.txt', 'utf8').wait();
   */
  static wrap(fn: (...args: any[]) => any, multi?: boolean, suffix?: string): (...args: any[]) => Future;
  static wrap<O extends object>(object: O, multi?: boolean, suffix?: string): O & Record<string, (...args: any[]) => Future>;
  static wrap(target: unknown, multi?: boolean, suffix?: string): unknown {
    return wrapAny(target, multi, suffix, true);
  }

  /**
   * A future that settles as `promise` does.
   * @example
   * const body = Future.fromPromise(fetchText(url)).wait();
   */
  static fromPromise<T>(promise: PromiseLike<T>): Future<T> {
    const future = new Future<T>();
    promise.then(
      (value) => future.return(value),
      (error) => future.throw(error),
    );
    return future;
  }
}

function armWaiters(pending: Future[], inline: number): { left: number } {
  const fiber = Fiber.current;
  if (fiber === undefined) throw new Error("Can't wait without a fiber");
  const count = { left: pending.length + inline };
  const arrived = () => {
    if (--count.left === 0) fiber.run();
  };
  for (const future of pending) future.resolve(arrived);
  return count;
}

// The future of a `fn.future()` call: runs the call in a new fiber on the next tick, unless a
// Future.wait() has run it in its own fiber by then.
class TaskFuture extends Future {
  started = false;
  readonly #call: () => unknown;

  constructor(call: () => unknown) {
    super();
    this.#call = call;
    process.nextTick(() => {
      if (!this.started) Fiber(() => this.runHere()).run();
    });
  }

  runHere(): void {
    this.started = true;
    try {
      this.return(this.#call());
    } catch (error) {
      this.throw(error);
    }
  }
}

function wrapFunction(fn: (...args: any[]) => any, multi: boolean | undefined, suffix: string | undefined, withMembers: boolean) {
  const wrapped = function (this: unknown, ...args: unknown[]): Future {
    const future = new Future();
    const settle = future.resolver();
    args.push(multi ? (error: unknown, ...values: unknown[]) => settle(error, values) : settle);
    future._ = Reflect.apply(fn, this, args);
    return future;
  };
  if (withMembers) {
    // Libraries such as `request` are functions with methods: the wrapper inherits fn's
    // properties and carries their wrapped variants.
    Object.setPrototypeOf(wrapped, wrapObject(Object.create(fn), multi, suffix, false));
  }
  return wrapped;
}

function wrapObject(object: object, multi: boolean | undefined, suffix: string | undefined, withMembers: boolean): object {
  const wrapped = Object.create(object);
  for (const key in object) {
    const member = wrapped[key];
    if (member instanceof Function) wrapped[key + (suffix ?? 'Future')] = wrapFunction(member, multi, suffix, withMembers);
  }
  return wrapped;
}

function wrapAny(target: unknown, multi: boolean | undefined, suffix: string | undefined, withMembers: boolean): unknown {
  if (typeof target === 'object') return wrapObject(target as object, multi, suffix, withMembers);
  if (typeof target === 'function') return wrapFunction(target as (...args: any[]) => any, multi, suffix, withMembers);
  return undefined;
}

declare global {
  interface Function {
    /**
     * asyncjob/fibers/future: a function that calls this one in a new fiber (on the next tick)
     * and returns a {@link Future} of its result; with `detach`, the future is detached.
     * @example
     * const add = function (a: number, b: number) { return a + b; }.future();
     * add(1, 2).wait(); // 3, inside a fiber
     */
    future(detach?: boolean): (...args: any[]) => Future;
  }
}

Object.defineProperty(Function.prototype, 'future', {
  value: function future(this: (...args: any[]) => any, detach?: boolean) {
    const fn = this;
    const caller = function (this: unknown, ...args: unknown[]): Future {
      const future = new TaskFuture(() => Reflect.apply(fn, this, args));
      if (detach) future.detach();
      return future;
    };
    caller.toString = () => `<<Future ${String(fn)}.future()>>`;
    return caller;
  },
  writable: true,
  enumerable: false,
  configurable: true,
});

export = Future;

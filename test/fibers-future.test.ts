import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cleanupThread } from 'asyncjob';
import Fiber = require('asyncjob/fibers');
import Future = require('asyncjob/fibers/future');
import { budget } from './time-scale';
import { thrown } from './throws';

// asyncjob/fibers/future against the Future API that node-fibers' README and doc comments
// describe: settling, callbacks, waiting in fibers, tasks, wrapping node-style callback APIs
// (real fs calls) and promises.

// Runs fn in a fiber and resolves with what it returns (rejects with what it throws).
function inFiber<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    Fiber(() => {
      try {
        resolve(fn());
      } catch (error) {
        reject(error);
      }
    }).run();
  });
}

function later<T>(ms: number, value: T): Future<T> {
  const future = new Future<T>();
  setTimeout(() => future.return(value), ms);
  return future;
}

describe('asyncjob/fibers/future: Future', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asyncjob-future-'));
    fs.writeFileSync(path.join(dir, 'a.txt'), 'alpha');
    fs.writeFileSync(path.join(dir, 'b.txt'), 'bravo!');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // Every fiber these tests start has ended: cleanupThread() throws ERR_ASYNCJOB_JOBS_IN_USE if not.
  afterEach(() => cleanupThread());

  it('is the module itself', () => {
    expect(require('asyncjob/fibers/future')).to.equal(Future);
  });

  describe('settling', () => {
    it('return() then get(); throw() then get() throws', () => {
      const ok = new Future<number>();
      expect(ok.isResolved()).to.equal(false);
      ok.return(5);
      expect(ok.isResolved()).to.equal(true);
      expect(ok.get()).to.equal(5);
      const error = new Error('failed');
      const bad = new Future();
      bad.throw(error);
      expect(bad.isResolved()).to.equal(true);
      expect(thrown(() => bad.get())).to.equal(error);
    });

    it('refuses a second settlement, a falsy error and get() before settling', () => {
      const future = new Future();
      expect(thrown(() => future.get()).message).to.equal('Future must resolve before value is ready');
      expect(thrown(() => future.throw(null)).message).to.equal('Must throw non-empty error');
      future.return(1);
      expect(thrown(() => future.return(2)).message).to.equal('Future resolved more than once');
      expect(thrown(() => future.throw(new Error('x'))).message).to.equal('Future resolved more than once');
    });

    it('get() of a thrown error links the stack of the get() to where it was made, where stack is an accessor', () => {
      const error = new Error('linked');
      const original = error.stack!;
      const future = new Future();
      future.throw(error);
      thrown(() => future.get());
      const accessor = Object.getOwnPropertyDescriptor(new Error('probe'), 'stack')!.get !== undefined;
      expect((error as any).futureStack).to.equal(original);
      if (accessor) {
        expect(error.stack!.split('\n')[0]).to.equal('Error: linked');
        expect(error.stack).to.include('    - - - - -');
        expect(error.stack!.split('    - - - - -\n')[1]).to.equal(original.split('\n').slice(1).join('\n'));
      } else {
        expect(error.stack).to.equal(original); // Node 20: a data property, left as it is
      }
    });
  });

  describe('callbacks', () => {
    it('resolve(errback) is called on settling, or at once when settled', () => {
      const calls: unknown[][] = [];
      const future = new Future<string>();
      expect(future.resolve((...args: unknown[]) => calls.push(args))).to.equal(future);
      expect(calls).to.deep.equal([]);
      future.return('v');
      expect(calls).to.deep.equal([[undefined, 'v']]);
      future.resolve((...args: unknown[]) => calls.push(args));
      expect(calls[1]).to.deep.equal([undefined, 'v']);
      const error = new Error('e');
      const failing = new Future();
      failing.resolve((...args: unknown[]) => calls.push(args));
      failing.throw(error);
      expect(calls[2]).to.deep.equal([error]);
    });

    it('resolve(future, callback) throws errors into the future and passes values to the callback', () => {
      const errorsTo = new Future();
      const values: unknown[] = [];
      const ok = new Future();
      ok.resolve(errorsTo, (v) => values.push(v));
      ok.return(1);
      expect(values).to.deep.equal([1]);
      const bad = new Future();
      bad.resolve(errorsTo, (v) => values.push(v));
      const error = new Error('into');
      bad.throw(error);
      expect(thrown(() => errorsTo.get())).to.equal(error);
      expect(values).to.deep.equal([1]);
    });

    it('resolveSuccess, proxy, proxyErrors, resolver', () => {
      const values: unknown[] = [];
      const a = new Future();
      a.resolveSuccess((v) => values.push(v));
      a.return('a');
      const b = new Future();
      b.resolveSuccess((v) => values.push(v));
      b.throw(new Error('b'));
      expect(values).to.deep.equal(['a']);

      const source = new Future();
      const target = new Future();
      expect(source.proxy(target)).to.equal(undefined);
      source.return(42);
      expect(target.get()).to.equal(42);

      const failing = new Future();
      const t1 = new Future();
      const t2 = new Future();
      expect(failing.proxyErrors([t1, t2])).to.equal(failing);
      failing.throw(new Error('both'));
      expect(thrown(() => t1.get()).message).to.equal('both');
      expect(thrown(() => t2.get()).message).to.equal('both');

      const r = new Future();
      r.resolver()(null, 'fine');
      expect(r.get()).to.equal('fine');
      const r2 = new Future();
      r2.resolver()(new Error('err'));
      expect(thrown(() => r2.get()).message).to.equal('err');
    });

    it('promise() settles as the future does', async () => {
      const ok = new Future();
      const p = ok.promise();
      ok.return('p');
      expect(await p).to.equal('p');
      const bad = new Future();
      bad.throw(new Error('rejected'));
      const error = await bad.promise().then(() => null, (e) => e);
      expect(error.message).to.equal('rejected');
    });
  });

  describe('waiting in fibers', () => {
    it('wait() yields the fiber until the future settles; the event loop runs meanwhile', async () => {
      const log: string[] = [];
      const done = inFiber(() => {
        log.push('waiting');
        const value = later(20, 'late').wait();
        log.push(`got ${value}`);
        return value;
      });
      log.push('main goes on');
      expect(await done).to.equal('late');
      expect(log).to.deep.equal(['waiting', 'main goes on', 'got late']);
    });

    it('wait() throws the error a future was thrown', async () => {
      const error = new Error('waited for');
      const result = await inFiber(() => {
        const future = new Future();
        setTimeout(() => future.throw(error), 5);
        return thrown(() => future.wait());
      });
      expect(result).to.equal(error);
    });

    it('a settled future returns from wait() even outside a fiber; an unsettled one throws', () => {
      const settled = new Future();
      settled.return(3);
      expect(settled.wait()).to.equal(3);
      expect(thrown(() => new Future().wait()).message).to.equal("Can't wait without a fiber");
    });

    it('Future.wait() takes futures and arrays of futures and throws none of their errors', async () => {
      const results = await inFiber(() => {
        const a = later(10, 'a');
        const b = later(5, 'b');
        const c = new Future();
        setTimeout(() => c.throw(new Error('c failed')), 1);
        const resolved = new Future();
        resolved.return('r');
        Future.wait(a, [b, c, resolved]);
        return [a.isResolved(), b.isResolved(), c.isResolved(), a.get(), b.get(), thrown(() => c.get()).message];
      });
      expect(results).to.deep.equal([true, true, true, 'a', 'b', 'c failed']);
    });

    it('Future.wait() refuses what is not a future', async () => {
      const messages = await inFiber(() => [
        thrown(() => Future.wait(1 as any)).message,
        thrown(() => Future.wait([new Future(), 'x'] as any)).message,
      ]);
      expect(messages).to.deep.equal(['1 is not a future', 'x is not a future']);
      expect(thrown(() => Future.wait(new Future())).message).to.equal("Can't wait without a fiber");
    });

    it('throwInto() reaches a fiber waiting on a future', async () => {
      const waiting = new Future();
      let fiber!: ReturnType<typeof Fiber>;
      const outcome = new Promise((resolve) => {
        fiber = Fiber(() => resolve(thrown(() => waiting.wait())));
      });
      fiber.run();
      fiber.throwInto(new Error('no longer interested'));
      expect(((await outcome) as Error).message).to.equal('no longer interested');
    });
  });

  describe('tasks', () => {
    it('fn.future() runs fn in a fiber of its own on the next tick and returns a future of its result', async () => {
      const log: string[] = [];
      const add = function (this: unknown, a: number, b: number) {
        log.push(`in fiber: ${Fiber.current !== undefined}`);
        return a + b + later(5, 0).wait();
      }.future();
      const future = add(2, 3);
      log.push('returned');
      expect(future.isResolved()).to.equal(false);
      expect(await future.promise()).to.equal(5);
      expect(log).to.deep.equal(['returned', 'in fiber: true']);
      expect(String(add)).to.match(/^<<Future function \(a, b\) \{[\s\S]*\}\.future\(\)>>$/);
    });

    it('fn.future() passes this; a throw becomes the future\'s error', async () => {
      const obj = {
        base: 10,
        plus: function (this: { base: number }, n: number) {
          return this.base + n;
        }.future(),
        fail: function () {
          throw new Error('task failed');
        }.future(),
      };
      expect(await obj.plus(1).promise()).to.equal(11);
      expect(await obj.fail().promise().then(() => null, (e: Error) => e.message)).to.equal('task failed');
    });

    it('Future.wait() runs an unstarted task in the waiting fiber itself', async () => {
      const [waiter, ranIn] = await inFiber(() => {
        const task = function () {
          return Fiber.current;
        }.future()();
        Future.wait(task);
        return [Fiber.current, task.get()];
      });
      expect(ranIn).to.equal(waiter);
    });

    it('Future.task() with one function, and with several (an array of results)', async () => {
      expect(await Future.task(() => later(5, 'one').wait()).promise()).to.equal('one');
      expect(await Future.task(() => 1, () => later(5, 2).wait(), () => 3).promise()).to.deep.equal([1, 2, 3]);
      const error = await Future.task(() => 1, () => {
        throw new Error('one failed');
      }).promise().then(() => null, (e: Error) => e.message);
      expect(error).to.equal('one failed');
    });
  });

  describe('Future.wrap() on node-style callback APIs', () => {
    it('wraps fs.readFile: the future has the file, `_` what readFile returned', async () => {
      const readFile = Future.wrap(fs.readFile);
      const [text, underscore] = await inFiber(() => {
        const future = readFile(path.join(dir, 'a.txt'), 'utf8');
        return [future.wait(), future._];
      });
      expect(text).to.equal('alpha');
      expect(underscore).to.equal(undefined);
      const error = await inFiber(() => thrown(() => readFile(path.join(dir, 'missing.txt')).wait()));
      expect(error.code).to.equal('ENOENT');
    });

    it('wraps an object: every function gets a Future-suffixed variant (or the given suffix)', async () => {
      // The module object itself, as node-fibers users wrap it (a TypeScript `import * as fs`
      // namespace is an object of getters, and Node 24 warns when its deprecated fs.F_OK is read).
      const fsModule = require('node:fs') as typeof fs;
      const wrappedFs = Future.wrap(fsModule) as any;
      expect(Object.getPrototypeOf(wrappedFs)).to.equal(fsModule);
      expect(wrappedFs.readFileSync).to.equal(fsModule.readFileSync);
      const [names, sizes] = await inFiber(() => {
        const list: string[] = wrappedFs.readdirFuture(dir).wait();
        list.sort();
        const stats = list.map((name) => wrappedFs.statFuture(path.join(dir, name)));
        Future.wait(stats);
        return [list, stats.map((s: Future) => s.get().size)];
      });
      expect(names).to.deep.equal(['a.txt', 'b.txt']);
      expect(sizes).to.deep.equal([5, 6]);
      const suffixed = Future.wrap(fsModule, false, 'Later') as any;
      expect(typeof suffixed.readFileLater).to.equal('function');
      expect(suffixed.readFileFuture).to.equal(undefined);
    });

    it('multi collects every callback argument after the error', async () => {
      const api = (a: number, cb: (err: Error | null, x: number, y: number) => void) => {
        setTimeout(() => cb(null, a, a * 2), 1);
        return 'handle';
      };
      const values = await inFiber(() => {
        const future = Future.wrap(api, true)(4);
        return [future.wait(), future._];
      });
      expect(values).to.deep.equal([[4, 8], 'handle']);
    });

    it('a wrapped function carries wrapped variants of its own function properties', async () => {
      const api = Object.assign((cb: (e: null, v: string) => void) => cb(null, 'main'), {
        other: (cb: (e: null, v: string) => void) => cb(null, 'other'),
      });
      const wrapped = Future.wrap(api) as any;
      expect(wrapped().get()).to.equal('main');
      expect(wrapped.otherFuture().get()).to.equal('other');
      expect(wrapped.other).to.equal(api.other);
    });
  });

  describe('Future.fromPromise()', () => {
    it('settles as the promise does, waited on in a fiber', async () => {
      const results = await inFiber(() => [
        Future.fromPromise(new Promise((r) => setTimeout(() => r('resolved'), 5))).wait(),
        thrown(() => Future.fromPromise(Promise.reject(new Error('rejected'))).wait()).message,
      ]);
      expect(results).to.deep.equal(['resolved', 'rejected']);
    });
  });

  describe('detach()', function () {
    this.timeout(budget(30000));
    const futurePath = require.resolve('asyncjob/fibers/future');
    const run = (code: string) => spawnSync(process.execPath, ['-e', code, futurePath], { encoding: 'utf8', timeout: budget(20000) });

    it('a detached task that throws throws to the event loop (an uncaught exception)', () => {
      const result = run(`
        const Future = require(process.argv[1]);
        process.on('uncaughtException', (e) => { console.log('uncaught: ' + e.message); });
        Future.task(() => { throw new Error('boom'); }).detach();
        setTimeout(() => console.log('alive'), 20);
      `);
      expect(result.stderr).to.equal('');
      expect(result.stdout).to.equal('uncaught: boom\nalive\n');
    });

    it('a detached task that returns is silent; a callback that throws is rethrown on the next tick', () => {
      const result = run(`
        const Future = require(process.argv[1]);
        process.on('uncaughtException', (e) => { console.log('uncaught: ' + e.message); });
        Future.task(() => 'fine').detach();
        const f = new Future();
        f.resolve(() => { throw new Error('from a callback'); });
        f.resolve(() => console.log('second callback still called'));
        f.return(1);
        console.log('return() returned');
      `);
      expect(result.stderr).to.equal('');
      expect(result.stdout).to.equal('second callback still called\nreturn() returned\nuncaught: from a callback\n');
    });
  });
});

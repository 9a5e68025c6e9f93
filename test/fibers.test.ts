import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import * as fs from 'node:fs';
import { cleanupThread, getCurrentJob, getWaitCtx, jobAwait, pauseJob, startJob, ASYNC_FINISH } from 'asyncjob';
import Fiber = require('asyncjob/fibers');
import Future = require('asyncjob/fibers/future');
import { budget } from './time-scale';
import { thrown } from './throws';

// asyncjob/fibers against node-fibers' documented behaviour (its README and API comments):
// every call, the errors of illegal use, nesting, exceptions both ways, unwinding by reset()
// and by garbage collection, and what asyncjob adds (jobAwait inside a fiber).

describe('asyncjob/fibers: Fiber', () => {
  // Every fiber these tests start has ended: cleanupThread() throws ERR_ASYNCJOB_JOBS_IN_USE if not.
  afterEach(() => cleanupThread());

  it('is the module itself, callable with or without new', () => {
    expect(require('asyncjob/fibers')).to.equal(Fiber);
    const a = Fiber(() => 1);
    const b = new Fiber(() => 2);
    expect(a).to.be.instanceOf(Fiber);
    expect(b).to.be.instanceOf(Fiber);
    expect(a.run()).to.equal(1);
    expect(b.run()).to.equal(2);
  });

  it('refuses a wrong number of arguments or a non-function, as node-fibers does', () => {
    const noArg = thrown(() => (Fiber as any)());
    expect(noArg).to.be.instanceOf(TypeError);
    expect(noArg.message).to.equal('Fiber expects 1 argument');
    expect(thrown(() => (Fiber as any)(() => 1, 2)).message).to.equal('Fiber expects 1 argument');
    const notFn = thrown(() => (Fiber as any)(42));
    expect(notFn).to.be.instanceOf(TypeError);
    expect(notFn.message).to.equal('Fiber expects a function');
  });

  it('run(value) passes the value as the only argument; run() passes none', () => {
    expect(Fiber((...args: unknown[]) => args).run('x')).to.deep.equal(['x']);
    expect(Fiber((...args: unknown[]) => args).run()).to.deep.equal([]);
    expect(Fiber((...args: unknown[]) => args).run(undefined)).to.deep.equal([undefined]);
  });

  it('yield(value) returns the value from run(), and run(value) from yield()', () => {
    const fiber = Fiber((first: number) => {
      const second = Fiber.yield(first * 10);
      const third = Fiber.yield(second * 10);
      return third * 10;
    });
    expect(fiber.run(1)).to.equal(10);
    expect(fiber.run(2)).to.equal(20);
    expect(fiber.run(3)).to.equal(30);
    expect(fiber.started).to.equal(false);
  });

  it('started is true from the first run() until the function ends, and a finished fiber runs again', () => {
    let runs = 0;
    const fiber = Fiber(() => {
      runs++;
      expect(Fiber.current!.started).to.equal(true);
      Fiber.yield();
    });
    expect(fiber.started).to.equal(false);
    fiber.run();
    expect(fiber.started).to.equal(true);
    fiber.run();
    expect(fiber.started).to.equal(false);
    fiber.run();
    expect(runs).to.equal(2);
    fiber.run();
    expect((Fiber.prototype as any).started).to.equal(undefined);
  });

  it('Fiber.current is the running fiber, undefined outside fibers and in plain jobs', () => {
    expect(Fiber.current).to.equal(undefined);
    const fiber = Fiber(() => {
      const here = Fiber.current;
      const inPlainJob = startJob(null, null, () => Fiber.current);
      expect(inPlainJob.status).to.equal(ASYNC_FINISH);
      Fiber.yield();
      return [here, Fiber.current, inPlainJob.ret];
    });
    fiber.run();
    expect(Fiber.current).to.equal(undefined);
    const [here, afterYield, inPlainJob] = fiber.run();
    expect(here).to.equal(fiber);
    expect(afterYield).to.equal(fiber);
    expect(inPlainJob).to.equal(undefined);
  });

  it('an async function runs as a fiber up to its first await, and run() returns its promise', async () => {
    const fiber = Fiber(async (x: number) => {
      const inFiber = Fiber.current !== undefined;
      await null;
      return [x, inFiber, Fiber.current];
    });
    const promise = fiber.run(1);
    expect(promise).to.be.instanceOf(Promise);
    expect(fiber.started).to.equal(false);
    expect(await promise).to.deep.equal([1, true, undefined]);
    const task = Future.task(async () => 'from a task');
    expect(await (await task.promise())).to.equal('from a task');
  });

  it('calls the function with this = globalThis', () => {
    expect(Fiber(function (this: unknown) { return this; }).run()).to.equal(globalThis);
  });

  describe('illegal use', () => {
    it('yield outside a fiber throws', () => {
      const error = thrown(() => Fiber.yield());
      expect(error).to.be.instanceOf(Error);
      expect(error.message).to.equal('yield() called with no fiber running');
    });

    it('yield from a plain asyncjob job started inside a fiber throws', () => {
      const message = Fiber(() => startJob(null, null, () => thrown(() => Fiber.yield()).message).ret).run();
      expect(message).to.equal('yield() called with no fiber running');
    });

    it('yield and run take at most one argument', () => {
      const fiber = Fiber(() => thrown(() => (Fiber.yield as any)(1, 2)));
      const error = fiber.run();
      expect(error).to.be.instanceOf(TypeError);
      expect(error.message).to.equal('yield() expects 1 or no arguments');
      const runError = thrown(() => (Fiber(() => 1).run as any)(1, 2));
      expect(runError).to.be.instanceOf(TypeError);
      expect(runError.message).to.equal('run() excepts 1 or no arguments'); // sic: node-fibers' words
    });

    it('running a running fiber throws: itself, or a fiber that ran the current one', () => {
      const self = Fiber(() => thrown(() => Fiber.current!.run()));
      expect(self.run().message).to.equal('This Fiber is already running');
      const outer = Fiber(() => {
        const that = Fiber.current!;
        return Fiber(() => thrown(() => that.run()).message).run();
      });
      expect(outer.run()).to.equal('This Fiber is already running');
    });

    it('throwInto and reset of a fiber that is not yielding throw', () => {
      const fresh = Fiber(() => 1);
      expect(thrown(() => fresh.throwInto(new Error('x'))).message).to.equal('This Fiber is not yielding');
      expect(fresh.reset()).to.equal(undefined); // not started: no effect
      const running = Fiber(() => [thrown(() => Fiber.current!.reset()).message, thrown(() => Fiber.current!.throwInto(1)).message]);
      expect(running.run()).to.deep.equal(['This Fiber is not yielding', 'This Fiber is not yielding']);
      const yielded = Fiber(() => Fiber.yield());
      yielded.run();
      expect(thrown(() => (yielded.throwInto as any)(1, 2)).message).to.equal('throwInto() expects 1 or no arguments');
      expect(thrown(() => (yielded.reset as any)(1)).message).to.equal('reset() expects no arguments');
      yielded.run();
    });

    it('the methods refuse receivers that are not fibers', () => {
      for (const name of ['run', 'reset', 'throwInto'] as const) {
        const error = thrown(() => (Fiber.prototype[name] as any).call({}));
        expect(error, name).to.be.instanceOf(TypeError);
        expect(error.message, name).to.equal('Illegal invocation');
      }
    });
  });

  describe('nesting', () => {
    it('a yield returns to whoever ran the fiber, main or another fiber', () => {
      const log: string[] = [];
      const inner = Fiber(() => {
        log.push('inner 1');
        Fiber.yield('from inner');
        log.push('inner 2');
        return 'inner done';
      });
      const outer = Fiber(() => {
        log.push(`outer got ${inner.run()}`);
        Fiber.yield('from outer');
        log.push(`outer got ${inner.run()}`); // resumed from main now, inner from outer
        return 'outer done';
      });
      expect(outer.run()).to.equal('from outer');
      expect(Fiber.current).to.equal(undefined);
      expect(outer.run()).to.equal('outer done');
      expect(log).to.deep.equal(['inner 1', 'outer got from inner', 'inner 2', 'outer got inner done']);
    });

    it('a fiber started in one fiber can be resumed from main and from another fiber', () => {
      const shared = Fiber(() => {
        for (;;) Fiber.yield(Fiber.current);
      });
      Fiber(() => expect(shared.run()).to.equal(shared)).run();
      expect(shared.run()).to.equal(shared);
      Fiber(() => expect(shared.run()).to.equal(shared)).run();
      shared.reset();
    });

    it('three levels deep, each finishing inside the other (node-fibers gh-16)', () => {
      let depth = 0;
      Fiber(() => {
        Fiber(() => {
          Fiber(() => {
            depth = 3;
          }).run();
        }).run();
      }).run();
      expect(depth).to.equal(3);
    });
  });

  describe('exceptions', () => {
    it('run() throws what the fiber throws, and the fiber is reset', () => {
      const error = new Error('from the fiber');
      const fiber = Fiber(() => {
        Fiber.yield();
        throw error;
      });
      fiber.run();
      expect(thrown(() => fiber.run())).to.equal(error);
      expect(fiber.started).to.equal(false);
      expect(fiber.run()).to.equal(undefined); // from the start again: its first yield
      fiber.reset();
    });

    it('throwInto() makes yield() throw; caught, the fiber goes on', () => {
      const fiber = Fiber(() => {
        try {
          Fiber.yield('waiting');
        } catch (e) {
          return `caught ${(e as Error).message}`;
        }
        return 'not thrown';
      });
      expect(fiber.run()).to.equal('waiting');
      expect(fiber.throwInto(new Error('stop'))).to.equal('caught stop');
    });

    it('throwInto() throws the exception back when the fiber does not catch it', () => {
      let finallyRan = false;
      const fiber = Fiber(() => {
        try {
          Fiber.yield();
        } finally {
          finallyRan = true;
        }
      });
      fiber.run();
      const error = new Error('uncaught');
      expect(thrown(() => fiber.throwInto(error))).to.equal(error);
      expect(finallyRan).to.equal(true);
      expect(fiber.started).to.equal(false);
    });

    it('an exception crosses nested fibers to the run() that ran them', () => {
      const error = new RangeError('deep');
      const outer = Fiber(() => Fiber(() => Fiber(() => {
        throw error;
      }).run()).run());
      expect(thrown(() => outer.run())).to.equal(error);
    });
  });

  describe('reset()', () => {
    it('unwinds a yielded fiber: yield() throws a zombie error, finally blocks run', () => {
      const log: string[] = [];
      const fiber = Fiber(() => {
        try {
          try {
            Fiber.yield();
          } finally {
            log.push('inner finally');
          }
        } catch (e) {
          log.push(`caught ${(e as Error).message}`);
          log.push(`again: ${thrown(() => Fiber.yield()).message}`);
          throw e;
        } finally {
          log.push('outer finally');
        }
      });
      fiber.run();
      expect(fiber.reset()).to.equal(undefined);
      expect(log).to.deep.equal([
        'inner finally',
        'caught This Fiber is a zombie',
        'again: This Fiber is a zombie',
        'outer finally',
      ]);
      expect(fiber.started).to.equal(false);
      expect(fiber.run()).to.equal(undefined); // as new: it yields again
      expect(fiber.reset()).to.equal(undefined);
    });

    it('returns what the fiber returns, and throws what else it throws', () => {
      const returns = Fiber(() => {
        try {
          Fiber.yield();
        } catch {
          return 'returned while unwinding';
        }
      });
      returns.run();
      expect(returns.reset()).to.equal('returned while unwinding');
      const other = new Error('other');
      const throws = Fiber(() => {
        try {
          Fiber.yield();
        } finally {
          throw other; // eslint-disable-line no-unsafe-finally
        }
      });
      throws.run();
      expect(thrown(() => throws.reset())).to.equal(other);
    });

    it('node-fibers test/unwind.js: every yield throws until the function ends', () => {
      let ii = 0;
      const fiber = Fiber(() => {
        for (ii = 0; ii < 1000; ++ii) {
          try {
            Fiber.yield();
          } catch {
            // keeps yielding
          }
        }
      });
      fiber.run();
      fiber.reset();
      expect(ii).to.equal(1000);
    });
  });

  describe('what asyncjob adds', () => {
    it('jobAwait() inside a fiber resumes it through its WaitCtx callback, before the next macrotask', async () => {
      const log: string[] = [];
      let resolve!: (value: number) => void;
      const promise = new Promise<number>((r) => (resolve = r));
      const fiber = Fiber(() => {
        expect(getWaitCtx(getCurrentJob()!)!.getCallback()).to.not.equal(null);
        log.push('waiting');
        const value = jobAwait(promise);
        log.push(`got ${value}, current is the fiber: ${Fiber.current === fiber}`);
        return value;
      });
      expect(fiber.run()).to.equal(undefined);
      log.push('run() returned');
      const done = new Promise<void>((r) =>
        setTimeout(() => {
          resolve(7);
          setImmediate(() => {
            log.push('next macrotask');
            r();
          });
        }, 5),
      );
      await done;
      expect(log).to.deep.equal(['waiting', 'run() returned', 'got 7, current is the fiber: true', 'next macrotask']);
      expect(fiber.started).to.equal(false);
    });

    it('jobAwait() of a rejected promise throws inside the fiber', async () => {
      const seen = new Promise<unknown>((resolve) => {
        Fiber(() => {
          try {
            jobAwait(Promise.reject(new Error('rejected')));
          } catch (error) {
            resolve(error);
          }
        }).run();
      });
      expect(((await seen) as Error).message).to.equal('rejected');
    });

    it('a jobAwait() cut short by reset() does not resume the fiber once started again', async () => {
      let resolve!: (value: number) => void;
      const promise = new Promise<number>((r) => (resolve = r));
      let phase = 'first';
      const fiber = Fiber(() => {
        if (phase === 'first') {
          jobAwait(promise);
          return 'never';
        }
        return `${Fiber.yield('second start yielded')} resumed by run()`;
      });
      fiber.run();
      expect(fiber.reset()).to.equal(undefined); // jobAwait threw the zombie error
      phase = 'second';
      expect(fiber.run()).to.equal('second start yielded');
      resolve(1);
      await new Promise((r) => setTimeout(r, 10));
      expect(fiber.started).to.equal(true);
      expect(fiber.run('x')).to.equal('x resumed by run()');
    });

    it('a fiber runs in the async context of its first run(), on every resume', () => {
      const als = new AsyncLocalStorage<string>();
      const fiber = als.run('start', () =>
        Fiber(() => {
          const first = als.getStore();
          Fiber.yield();
          return [first, als.getStore()];
        }),
      );
      als.run('first run', () => fiber.run());
      expect(als.run('resume', () => fiber.run())).to.deep.equal(['first run', 'first run']);
      expect(als.getStore()).to.equal(undefined);
    });

    it('yield inside AsyncResource.runInAsyncScope is refused (node-fibers allowed it)', () => {
      const error = Fiber(() => thrown(() => new AsyncResource('T').runInAsyncScope(() => Fiber.yield()))).run();
      expect(error.code).to.equal('ERR_ASYNCJOB_PAUSE_IN_ASYNC_SCOPE');
    });

    it('a plain pauseJob() inside a fiber returns to run() with undefined', () => {
      const fiber = Fiber(() => {
        pauseJob();
        return 'after';
      });
      expect(fiber.run()).to.equal(undefined);
      expect(fiber.run()).to.equal('after');
    });

    it('poolSize reads back what was set; fibersCreated counts starts', () => {
      const created = Fiber.fibersCreated;
      Fiber(() => 1).run();
      expect(Fiber.fibersCreated).to.equal(created + 1);
      expect(Fiber.poolSize).to.equal(120);
      cleanupThread(); // no pool, no idle host thread
      // Linux's /proc (under Wine, /proc/self is the Wine process's own).
      const threads = () => (process.platform === 'linux' ? fs.readdirSync('/proc/self/task').length : NaN);
      const before = threads();
      Fiber.poolSize = 1e9; // as some node-fibers programs set it: must not start threads
      expect(Fiber.poolSize).to.equal(1e9);
      if (!Number.isNaN(before)) expect(threads(), 'no host thread made').to.equal(before);
      Fiber.poolSize = 120;
      expect(Fiber(() => 'still runs').run()).to.equal('still runs');
    });
  });
});

describe('asyncjob/fibers in child processes', function () {
  this.timeout(budget(60000));
  const fibersPath = require.resolve('asyncjob/fibers');
  function runChild(code: string, flags: string[] = []) {
    const result = spawnSync(process.execPath, [...flags, '-e', code, fibersPath], { encoding: 'utf8', timeout: budget(30000) });
    return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
  }

  it('yielded fibers do not keep the process alive, and the exit is clean', () => {
    const result = runChild(`
      const Fiber = require(process.argv[1]);
      for (let i = 0; i < 10; i++) Fiber(() => { Fiber.yield(); console.log('never'); }).run();
      setTimeout(() => console.log('timer'), 10);
    `);
    expect(result.stderr).to.equal('');
    expect(result.status).to.equal(0);
    expect(result.stdout).to.equal('timer\n');
  });

  it('process.exit() inside a fiber exits (node-fibers test/exit.js)', () => {
    const result = runChild(`
      const Fiber = require(process.argv[1]);
      Fiber(() => process.exit(3)).run();
      console.log('fail');
    `);
    expect(result.status).to.equal(3);
    expect(result.stdout).to.equal('');
  });

  it('a dropped yielded fiber is collected: its yield throws the zombie error, finally runs, its host thread is freed', function () {
    if (process.platform !== 'linux') this.skip(); // counts threads through Linux's /proc
    const result = runChild(
      `
      const fs = require('node:fs');
      const Fiber = require(process.argv[1]);
      const { cleanupThread } = require(require('node:path').join(require('node:path').dirname(process.argv[1]), 'index.js'));
      const threads = () => fs.readdirSync('/proc/self/task').length;
      const N = 8;
      const seen = [];
      let finallyRan = 0;
      Fiber(() => {}).run(); // the pool exists
      cleanupThread();
      (async () => {
        // A joined thread can still be listed in /proc for a moment (the kernel wakes the joiner
        // before it removes the task): count once the number stays put.
        let before = threads();
        for (let i = 0; i < 50; i++) {
          await new Promise((r) => setTimeout(r, 20));
          const settled = threads();
          if (settled === before) break;
          before = settled;
        }
        (function drop() {
          for (let i = 0; i < N; i++) {
            Fiber(function () {
              try {
                Fiber.yield();
              } catch (e) {
                seen.push(e.message);
                throw e;
              } finally {
                finallyRan++;
              }
            }).run();
          }
        })();
        const paused = threads();
        for (let i = 0; i < 100 && finallyRan < N; i++) {
          global.gc();
          await new Promise((r) => setTimeout(r, 20));
        }
        cleanupThread(); // throws ERR_ASYNCJOB_JOBS_IN_USE if a job is still paused
        let after = threads();
        for (let i = 0; i < 100 && after > before; i++) {
          await new Promise((r) => setTimeout(r, 20));
          after = threads();
        }
        console.log(JSON.stringify({ before, paused, after, finallyRan, seen: [...new Set(seen)] }));
      })();
    `,
      ['--expose-gc'],
    );
    expect(result.stderr).to.equal('');
    expect(result.status).to.equal(0);
    const report = JSON.parse(result.stdout);
    expect(report.finallyRan).to.equal(8);
    expect(report.seen).to.deep.equal(['This Fiber is a zombie']);
    expect(report.paused).to.be.at.least(report.before + 8);
    expect(report.after).to.equal(report.before);
  });

  it('a dropped fiber waiting in jobAwait() on a pending promise is collected too', () => {
    const result = runChild(
      `
      const Fiber = require(process.argv[1]);
      const { jobAwait } = require(require('node:path').join(require('node:path').dirname(process.argv[1]), 'index.js'));
      let seen = null;
      (function drop() {
        Fiber(function () {
          try { jobAwait(new Promise(() => {})); } catch (e) { seen = e.code; }
        }).run();
      })();
      (async () => {
        for (let i = 0; i < 50 && seen === null; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
        console.log(seen);
      })();
    `,
      ['--expose-gc'],
    );
    expect(result.stderr).to.equal('');
    expect(result.stdout).to.equal('ERR_ASYNCJOB_JOB_COLLECTED\n');
  });

  it('a collected fiber that throws something else while unwinding is reported as a warning', () => {
    const result = runChild(
      `
      const Fiber = require(process.argv[1]);
      (function drop() {
        Fiber(function () {
          try { Fiber.yield(); } finally { throw new Error('thrown while unwinding'); }
        }).run();
      })();
      (async () => {
        for (let i = 0; i < 10; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
        console.log('alive');
      })();
    `,
      ['--expose-gc'],
    );
    expect(result.status).to.equal(0);
    expect(result.stdout).to.equal('alive\n');
    expect(result.stderr).to.include('ASYNCJOB_COLLECTED_JOB_THREW');
    expect(result.stderr).to.include('Error: thrown while unwinding');
  });

  it('a fiber that holds itself is never collected (node-fibers documents this leak)', () => {
    const result = runChild(
      `
      const Fiber = require(process.argv[1]);
      let finallyRan = false;
      (function drop() {
        Fiber(function () {
          const that = Fiber.current;
          try { Fiber.yield(); } finally { finallyRan = true; }
        }).run();
      })();
      (async () => {
        for (let i = 0; i < 10; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
        console.log(finallyRan);
      })();
    `,
      ['--expose-gc'],
    );
    expect(result.stderr).to.equal('');
    expect(result.stdout).to.equal('false\n');
  });
});

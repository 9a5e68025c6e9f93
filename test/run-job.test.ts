import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  AbortError,
  ASYNC_FINISH,
  ASYNC_PAUSE,
  ASYNC_STATUS_EAGAIN,
  ASYNC_STATUS_ERR,
  ASYNC_STATUS_OK,
  AsyncJob,
  cancelJob,
  getCurrentJob,
  getWaitCtx,
  initThread,
  pauseJob,
  pipe,
  runJob,
  startJob,
  WaitCtx,
} from 'asyncjob';
import { budget } from './time-scale';

// runJob() per API.md: drives a job to its end without blocking the event loop, resuming it on
// a wait fd, on the WaitCtx callback, or on the next turn of the loop.


type Stored = { callback: (arg: unknown) => unknown; arg: unknown };

// The WaitCtx runJob gave the running job (throws outside a job, to fail loudly).
function myCtx(): WaitCtx {
  const job = getCurrentJob();
  if (job === null) throw new Error('not inside a job');
  const ctx = getWaitCtx(job);
  if (ctx === null) throw new Error('runJob gave the job no WaitCtx');
  return ctx;
}

// What a promise settled with: { ok, value }, so that rejections with undefined show too.
async function settle<T>(promise: Promise<T>): Promise<{ ok: boolean; value: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, value: error };
  }
}

// Fails with a clear message, rather than a mocha timeout, when `promise` does not settle
// within `ms` (scaled to this run's speed).
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = budget(ms);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${limit} ms`)), limit);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const nextImmediate = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('runJob()', () => {
  afterEach(() => {
    expect(initThread(0, 0), 'no job left in use').to.equal(true);
  });

  describe('results', () => {
    it('resolves with the return value; the arguments are passed', async () => {
      expect(await runJob((a: number, b: string, c: { n: number }) => `${a}${b}${c.n}`, 4, 'x', { n: 2 })).to.equal('4x2');
      expect(await runJob(() => undefined)).to.equal(undefined);
      const obj = { same: true };
      expect(await runJob((o: object) => {
        pauseJob();
        return o;
      }, obj)).to.equal(obj);
    });

    it('resolves with the return value after pauses', async () => {
      const value = await runJob((n: number) => {
        let sum = 0;
        for (let i = 1; i <= n; i++) {
          pauseJob();
          sum += i;
        }
        return sum;
      }, 10);
      expect(value).to.equal(55);
    });

    it('rejects with what the job threw, before or after a pause', async () => {
      const before = new RangeError('at once');
      expect(await settle(runJob(() => {
        throw before;
      }))).to.deep.equal({ ok: false, value: before });
      const r = await settle(runJob(() => {
        pauseJob();
        throw new SyntaxError('after a pause');
      }));
      expect(r.ok).to.equal(false);
      expect(r.value).to.be.instanceOf(SyntaxError).with.property('message', 'after a pause');
    });

    it('rejects with non-Error values thrown, as they are', async () => {
      const thrownObject = { custom: 1 };
      const values: unknown[] = ['a string', 42, null, undefined, thrownObject, Symbol.for('thrown'), 10n];
      for (const value of values) {
        const r = await settle(runJob(() => {
          pauseJob();
          throw value;
        }));
        expect(r.ok, String(typeof value)).to.equal(false);
        expect(r.value, String(typeof value)).to.equal(value);
      }
    });

    it('rejects (does not throw) with TypeError ERR_INVALID_ARG_TYPE for a non-function', async () => {
      for (const bad of [42, 'f', null, undefined, {}, Promise.resolve()]) {
        let promise: Promise<unknown> | undefined;
        expect(() => {
          promise = runJob(bad as unknown as () => unknown);
        }, 'no synchronous throw').not.to.throw();
        expect(promise).to.be.instanceOf(Promise);
        const r = await settle(promise!);
        expect(r.ok).to.equal(false);
        expect(r.value).to.be.instanceOf(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
      }
    });

    it('rejects with ERR_ASYNCJOB_NO_JOBS when the pool is full', async () => {
      expect(initThread(1, 0)).to.equal(true);
      const held = startJob(null, null, () => {
        pauseJob();
        return 'held';
      });
      expect(held.status).to.equal(ASYNC_PAUSE);
      let ran = false;
      const r = await settle(runJob(() => {
        ran = true;
      }));
      expect(r.ok).to.equal(false);
      expect(r.value).to.be.instanceOf(Error).with.property('code', 'ERR_ASYNCJOB_NO_JOBS');
      expect(ran).to.equal(false);
      expect(startJob(held.job, null, null)).to.deep.include({ status: ASYNC_FINISH, ret: 'held' });
      expect(await runJob(() => 'fits now')).to.equal('fits now');
      expect(initThread(0, 0)).to.equal(true);
    });
  });

  describe('when a paused job is resumed', () => {
    it('with no fds and status OK: on the next turn of the event loop, without blocking it', async () => {
      const log: string[] = [];
      setImmediate(() => log.push('immediate scheduled before'));
      const promise = runJob(() => {
        log.push('job starts');
        pauseJob();
        log.push('job resumed');
        return 'done';
      });
      log.push('runJob returned');
      expect(log).to.deep.equal(['job starts', 'runJob returned']);
      await Promise.resolve();
      expect(log, 'not resumed by a microtask').to.deep.equal(['job starts', 'runJob returned']);
      expect(await promise).to.equal('done');
      expect(log).to.deep.equal(['job starts', 'runJob returned', 'immediate scheduled before', 'job resumed']);
    });

    it('with no fds and status OK: a job pausing in a loop lets timers run between resumes', async () => {
      let fired = false;
      setTimeout(() => {
        fired = true;
      }, 20);
      const resumes = await within(runJob(() => {
        let n = 0;
        while (!fired) {
          pauseJob();
          n++;
        }
        return n;
      }), 5000, 'a job waiting for a timer');
      expect(resumes).to.be.greaterThan(0);
    });

    it('with status ASYNC_STATUS_ERR (not EAGAIN) and no fds: also on the next turn', async () => {
      const promise = runJob(() => {
        myCtx().setStatus(ASYNC_STATUS_ERR);
        pauseJob();
        return myCtx().getStatus();
      });
      expect(await within(promise, 5000, 'status ERR')).to.equal(ASYNC_STATUS_OK);
    });

    describe('with a wait fd (pipe()): only when the fd becomes readable', () => {
      it('resumes after the byte is written, not before', async () => {
        const [readFd, writeFd] = pipe();
        const log: string[] = [];
        let writtenAt = 0;
        let immediates = 0;
        const tick = () => {
          immediates++;
          if (log.length < 2 && immediates < 100000) setImmediate(tick);
        };
        const promise = runJob(() => {
          myCtx().setWaitFd('pipe', readFd);
          log.push('paused');
          pauseJob();
          const resumedAt = performance.now();
          log.push('resumed');
          const byte = Buffer.alloc(1);
          const n = fs.readSync(readFd, byte);
          myCtx().clearFd('pipe');
          return { resumedAt, read: byte.toString('latin1', 0, n) };
        });
        // The write is due 30 ms after the job paused, however long starting it took (in node.exe
        // under Wine it can take longer than that, and the write would be due at the first turn).
        setTimeout(() => {
          writtenAt = performance.now();
          log.push('written');
          fs.writeSync(writeFd, 'x');
        }, budget(30)); // long enough for the event loop to turn a few times first
        setImmediate(tick);
        try {
          const r = await within(promise, 5000, 'a job waiting on a pipe');
          expect(log).to.deep.equal(['paused', 'written', 'resumed']);
          expect(r.read).to.equal('x');
          expect(r.resumedAt).to.be.at.least(writtenAt);
          expect(immediates, 'the event loop turned while the job waited').to.be.greaterThan(1);
        } finally {
          fs.closeSync(readFd);
          fs.closeSync(writeFd);
        }
      });

      it('waits on the fd even when the callback is not called, and on any of several fds', async () => {
        const [r1, w1] = pipe();
        const [r2, w2] = pipe();
        const log: string[] = [];
        setTimeout(() => {
          log.push('written to the second');
          fs.writeSync(w2, 'y');
        }, 30);
        try {
          const got = await within(runJob(() => {
            myCtx().setWaitFd('one', r1);
            myCtx().setWaitFd('two', r2);
            pauseJob();
            log.push('resumed');
            const buf = Buffer.alloc(4);
            return fs.readSync(r2, buf) === 1 ? buf.toString('latin1', 0, 1) : '?';
          }), 5000, 'a job waiting on two pipes');
          expect(got).to.equal('y');
          expect(log).to.deep.equal(['written to the second', 'resumed']);
        } finally {
          for (const fd of [r1, w1, r2, w2]) fs.closeSync(fd);
        }
      });

      it('two jobs waiting on the same fd both resume when it becomes readable', async () => {
        // As with an engine's one notification fd shared by all its jobs. Each runJob has
        // its own WaitCtx, so both wait on the fd at once.
        const [readFd, writeFd] = pipe();
        const log: string[] = [];
        setTimeout(() => {
          log.push('written');
          fs.writeSync(writeFd, 'x');
        }, 30);
        const job = (name: string) => () => {
          myCtx().setWaitFd('shared', readFd);
          pauseJob();
          log.push(`${name} resumed`);
          myCtx().clearFd('shared'); // the byte stays for the other job
          return name;
        };
        try {
          const results = await within(Promise.allSettled([runJob(job('a')), runJob(job('b'))]), 5000, 'two jobs on one fd');
          expect(results).to.deep.equal([
            { status: 'fulfilled', value: 'a' },
            { status: 'fulfilled', value: 'b' },
          ]);
          expect(log[0]).to.equal('written');
          expect([...log].sort()).to.deep.equal(['a resumed', 'b resumed', 'written']);
        } finally {
          fs.closeSync(readFd);
          fs.closeSync(writeFd);
        }
      });

      it('resumes when the callback is called, even though the fd stays unreadable', async () => {
        const [readFd, writeFd] = pipe();
        let stored: Stored | null = null;
        const log: string[] = [];
        setTimeout(() => {
          log.push('callback');
          stored!.callback(stored!.arg);
        }, 30);
        try {
          await within(runJob(() => {
            stored = myCtx().getCallback();
            myCtx().setWaitFd('pipe', readFd);
            pauseJob();
            log.push('resumed');
            myCtx().clearFd('pipe');
          }), 5000, 'a job with an fd woken by the callback');
          expect(log).to.deep.equal(['callback', 'resumed']);
        } finally {
          fs.closeSync(readFd);
          fs.closeSync(writeFd);
        }
      });
    });

    it('with status ASYNC_STATUS_EAGAIN and no fds: when the callback is called, not before', async () => {
      const log: string[] = [];
      let stored: Stored | null = null;
      const promise = runJob(() => {
        stored = myCtx().getCallback();
        myCtx().setStatus(ASYNC_STATUS_EAGAIN);
        log.push('paused');
        pauseJob();
        log.push('resumed');
        return 'woken';
      });
      expect(stored).to.not.equal(null);
      expect(stored!.callback).to.be.a('function');
      for (let i = 0; i < 5; i++) await nextImmediate();
      await sleep(30);
      expect(log, 'not resumed without the callback').to.deep.equal(['paused']);
      setTimeout(() => {
        log.push('callback');
        stored!.callback(stored!.arg);
        log.push('callback returned');
      }, 10);
      expect(await within(promise, 5000, 'an EAGAIN job')).to.equal('woken');
      expect(log).to.deep.equal(['paused', 'callback', 'callback returned', 'resumed']);
    });

    it('with status EAGAIN: a callback call made before the pause is not lost', async () => {
      const value = await within(runJob(() => {
        const { callback, arg } = myCtx().getCallback()!;
        callback(arg);
        myCtx().setStatus(ASYNC_STATUS_EAGAIN);
        pauseJob();
        return 'still resumed';
      }), 5000, 'an EAGAIN job that called its callback before pausing');
      expect(value).to.equal('still resumed');
    });

    it('with status EAGAIN: a callback call made before one pause does not count for the next', async () => {
      const log: string[] = [];
      let stored: Stored | null = null;
      const promise = runJob(() => {
        stored = myCtx().getCallback();
        stored!.callback(stored!.arg);
        myCtx().setStatus(ASYNC_STATUS_EAGAIN);
        pauseJob(); // resumed: the call above
        log.push('first resume');
        myCtx().setStatus(ASYNC_STATUS_EAGAIN);
        pauseJob(); // needs a new call
        log.push('second resume');
      });
      await sleep(30);
      expect(log).to.deep.equal(['first resume']);
      log.push('callback');
      stored!.callback(stored!.arg);
      await within(promise, 5000, 'second EAGAIN pause');
      expect(log).to.deep.equal(['first resume', 'callback', 'second resume']);
    });

    it('sets the status back to ASYNC_STATUS_OK before each resume', async () => {
      let stored: Stored | null = null;
      setTimeout(() => stored!.callback(stored!.arg), 20);
      const seen = await within(runJob(() => {
        const ctx = myCtx();
        stored = ctx.getCallback();
        const statuses: number[] = [];
        ctx.setStatus(ASYNC_STATUS_EAGAIN);
        pauseJob(); // woken by the timer
        statuses.push(ctx.getStatus());
        ctx.setStatus(ASYNC_STATUS_ERR);
        pauseJob(); // next turn
        statuses.push(ctx.getStatus());
        ctx.setStatus(12345);
        pauseJob();
        statuses.push(ctx.getStatus());
        ctx.getCallback()!.callback(undefined);
        ctx.setStatus(ASYNC_STATUS_EAGAIN);
        pauseJob(); // woken by the call before the pause
        statuses.push(ctx.getStatus());
        return statuses;
      }), 5000, 'status resets');
      expect(seen).to.deep.equal([ASYNC_STATUS_OK, ASYNC_STATUS_OK, ASYNC_STATUS_OK, ASYNC_STATUS_OK]);
    });
  });

  describe('the WaitCtx', () => {
    it('is a fresh WaitCtx per job, with the callback installed', async () => {
      const [a, b] = await Promise.all([
        runJob(() => {
          const ctx = myCtx();
          pauseJob();
          return { ctx, same: myCtx() === ctx, hasCallback: ctx.getCallback() !== null };
        }),
        runJob(() => myCtx()),
      ]);
      expect(a.ctx).to.be.instanceOf(WaitCtx);
      expect(a.same).to.equal(true);
      expect(a.hasCallback).to.equal(true);
      expect(a.ctx).to.not.equal(b);
    });

    it('is freed when the job ends: cleanups of fds still set run, cleared ones do not', async () => {
      const cleaned: Array<[string, number, unknown]> = [];
      let cleanupCtxIsJobCtx = false;
      const cleanup = (ctx: WaitCtx, key: unknown, fd: number, data: unknown) => {
        cleaned.push([String(key), fd, data]);
        cleanupCtxIsJobCtx = ctx === jobCtx;
      };
      let jobCtx: WaitCtx | null = null;
      let freedAtEnd: boolean | null = null;
      const value = await runJob(() => {
        const ctx = myCtx();
        jobCtx = ctx;
        pauseJob();
        // fds need not be open: nobody polls them after the job has ended
        ctx.setWaitFd('kept-1', 1000001, 'data-1', cleanup);
        ctx.setWaitFd('cleared', 1000002, 'data-2', cleanup);
        ctx.setWaitFd('kept-2', 1000003, 'data-3', cleanup);
        ctx.clearFd('cleared');
        freedAtEnd = ctx.freed;
        return 'ended';
      });
      expect(value).to.equal('ended');
      expect(freedAtEnd).to.equal(false);
      expect(jobCtx!.freed).to.equal(true);
      expect(cleaned).to.deep.equal([
        ['kept-2', 1000003, 'data-3'],
        ['kept-1', 1000001, 'data-1'],
      ]);
      expect(cleanupCtxIsJobCtx).to.equal(true);
    });

    it('is freed when the job throws, too', async () => {
      let jobCtx: WaitCtx | null = null;
      const cleaned: string[] = [];
      const r = await settle(runJob(() => {
        jobCtx = myCtx();
        pauseJob();
        jobCtx.setWaitFd('k', 1000004, null, () => cleaned.push('k'));
        throw new Error('boom');
      }));
      expect(r.ok).to.equal(false);
      expect(jobCtx!.freed).to.equal(true);
      expect(cleaned).to.deep.equal(['k']);
    });

    describe('is freed after an fd wait (pipe()): the cleanup closes the pipe', () => {
      it('runs the cleanup that closes both ends', async () => {
        const [readFd, writeFd] = pipe();
        const closed: number[] = [];
        setTimeout(() => fs.writeSync(writeFd, 'z'), 10);
        let jobCtx: WaitCtx | null = null;
        await within(runJob(() => {
          jobCtx = myCtx();
          jobCtx.setWaitFd('pipe', readFd, null, () => {
            fs.closeSync(readFd);
            fs.closeSync(writeFd);
            closed.push(readFd, writeFd);
          });
          pauseJob();
          return 'read ready';
        }), 5000, 'an fd job');
        expect(jobCtx!.freed).to.equal(true);
        expect(closed).to.deep.equal([readFd, writeFd]);
        expect(() => fs.fstatSync(readFd)).to.throw().with.property('code', 'EBADF');
      });
    });
  });

  describe('cancelJob() on a runJob() job', () => {
    async function expectCancelled(promise: Promise<unknown>): Promise<void> {
      const r = await settle(within(promise, 5000, 'the cancelled run'));
      expect(r.ok).to.equal(false);
      // cancelJob() without a reason: the job unwound with an AbortError, which the run rejects with.
      expect(r.value).to.be.instanceOf(AbortError).with.property('code', 'ABORT_ERR');
      expect((r.value as Error).name).to.equal('AbortError');
    }

    describe('waiting on a pipe', () => {
      it('rejects the run, stops its wait and frees its WaitCtx: the cleanup closes the fds', async () => {
        const [readFd, writeFd] = pipe();
        let job: AsyncJob | null = null;
        let jobCtx: WaitCtx | null = null;
        let resumed = false;
        const closed: number[] = [];
        const promise = runJob(() => {
          job = getCurrentJob();
          jobCtx = myCtx();
          jobCtx.setWaitFd('pipe', readFd, null, () => {
            fs.closeSync(readFd);
            fs.closeSync(writeFd);
            closed.push(readFd, writeFd);
          });
          pauseJob();
          resumed = true;
        });
        await sleep(10);
        cancelJob(job!);
        expect(closed, 'cleanups ran within cancelJob()').to.deep.equal([readFd, writeFd]);
        expect(jobCtx!.freed).to.equal(true);
        await expectCancelled(promise);
        expect(resumed).to.equal(false);
        expect(() => fs.fstatSync(readFd)).to.throw().with.property('code', 'EBADF');
      });
    });

    it('between resumes (no fds, status OK): the job is not started again on the next turn', async () => {
      let starts = 0;
      let job: AsyncJob | null = null;
      const promise = runJob(() => {
        starts++;
        job = getCurrentJob();
        for (;;) pauseJob();
      });
      cancelJob(job!); // its resume is already scheduled for the next turn of the loop
      await expectCancelled(promise);
      for (let i = 0; i < 3; i++) await nextImmediate();
      expect(starts).to.equal(1);
    });

    it('waiting for its callback (EAGAIN): nothing keeps the process alive afterwards', () => {
      const child = `
        const { runJob, pauseJob, getCurrentJob, getWaitCtx, cancelJob, ASYNC_STATUS_EAGAIN } = require(process.argv[1]);
        let job;
        runJob(() => {
          job = getCurrentJob();
          getWaitCtx(job).setStatus(ASYNC_STATUS_EAGAIN);
          pauseJob();
        }).catch((error) => console.log(error.code));
        setTimeout(() => cancelJob(job), 10);
      `;
      // A guard against a child that never exits, not a speed limit: node.exe under Wine takes
      // seconds to start a child on a loaded machine (5 s was once too little there).
      const result = spawnSync(process.execPath, ['-e', child, require.resolve('asyncjob')], {
        encoding: 'utf8',
        timeout: budget(20000),
      });
      expect(result.status, `the child exited by itself; stderr: ${result.stderr}`).to.equal(0);
      expect(result.stdout.trim()).to.equal('ABORT_ERR');
    });
  });

  describe('concurrency and context', () => {
    it('runs 50 jobs concurrently, each resolving with its own value', async () => {
      const wakeups: Stored[] = [];
      const promises = Array.from({ length: 50 }, (_, i) =>
        runJob((n: number, tag: string) => {
          const mine = { n, tag, trail: [] as number[] };
          for (let p = 0; p < 1 + (n % 4); p++) {
            if (n % 3 === 0) {
              // woken by the callback from a timer
              wakeups.push(myCtx().getCallback()!);
              myCtx().setStatus(ASYNC_STATUS_EAGAIN);
            }
            pauseJob();
            mine.trail.push(p);
          }
          return `${mine.tag}:${mine.n * mine.n}:${mine.trail.join('')}`;
        }, i, `job-${i}`),
      );
      const waker = setInterval(() => {
        for (const w of wakeups.splice(0)) w.callback(w.arg);
      }, 2);
      try {
        const values = await within(Promise.all(promises), 10000, '50 concurrent jobs');
        expect(values).to.deep.equal(
          Array.from({ length: 50 }, (_, i) => `job-${i}:${i * i}:${'0123'.slice(0, 1 + (i % 4))}`),
        );
      } finally {
        clearInterval(waker);
      }
    });

    it('keeps the AsyncLocalStorage store of runJob() inside the job across pauses', async () => {
      const als = new AsyncLocalStorage<string>();
      const wakeups: Stored[] = [];
      const jobBody = () => {
        const seen: Array<string | undefined> = [als.getStore()];
        pauseJob(); // next turn
        seen.push(als.getStore());
        wakeups.push(myCtx().getCallback()!);
        myCtx().setStatus(ASYNC_STATUS_EAGAIN);
        pauseJob(); // woken by the callback, called in another store
        seen.push(als.getStore());
        pauseJob();
        seen.push(als.getStore());
        return seen;
      };
      const a = als.run('store-a', () => runJob(jobBody));
      const b = als.run('store-b', () => runJob(jobBody));
      expect(als.getStore(), 'the caller is untouched').to.equal(undefined);
      const waker = setInterval(() => {
        als.run('waker', () => {
          for (const w of wakeups.splice(0)) w.callback(w.arg);
        });
      }, 5);
      try {
        const [seenA, seenB] = await within(Promise.all([a, b]), 5000, 'ALS jobs');
        expect(seenA).to.deep.equal(['store-a', 'store-a', 'store-a', 'store-a']);
        expect(seenB).to.deep.equal(['store-b', 'store-b', 'store-b', 'store-b']);
      } finally {
        clearInterval(waker);
      }
    });

    it('works when called from inside another job', async () => {
      let inner: Promise<string> | null = null;
      const outer = startJob(null, null, () => {
        inner = runJob(() => {
          pauseJob();
          return 'inner';
        });
        pauseJob();
        return 'outer';
      });
      expect(outer.status).to.equal(ASYNC_PAUSE);
      expect(await within(inner!, 5000, 'runJob from a job')).to.equal('inner');
      expect(startJob(outer.job as AsyncJob, null, null)).to.deep.include({ status: ASYNC_FINISH, ret: 'outer' });
    });
  });
});

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { AsyncLocalStorage } from 'node:async_hooks';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  AbortError,
  ASYNC_FINISH,
  ASYNC_PAUSE,
  ASYNC_STATUS_EAGAIN,
  AsyncJob,
  blockPause,
  cancelJob,
  getCurrentJob,
  getWaitCtx,
  jobAwait,
  pauseJob,
  pipe,
  runJob,
  startJob,
  unblockPause,
  WaitCtx,
} from 'asyncjob';
import { expectExitWarning } from './exit-warning';
import { budget } from './time-scale';

// Cancellation unwinds (docs/api.md § cancelJob): the pending pauseJob() throws the reason, every
// later one throws it again, catch and finally blocks run; runJob's AbortSignal; paused jobs
// whose handles are collected; jobAwait().
// eslint-disable-next-line @typescript-eslint/no-require-imports
const client = require(path.resolve(__dirname, '..', '..', 'test', 'native-client')) as {
  pauseFromNative(): number;
  jobsInUse(): number;
};

function code(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  return 'no error';
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('cancelJob() unwinds the job', () => {
  it('throws the default AbortError from the pending pause: catch and finally run, later pauses throw again', () => {
    const log: string[] = [];
    const r = startJob(null, null, () => {
      try {
        pauseJob();
        log.push('not reached');
      } catch (error) {
        log.push(`caught ${(error as Error).name} ${(error as { code: string }).code}`);
      } finally {
        log.push('finally');
      }
      for (let i = 0; i < 2; i++) {
        try {
          pauseJob();
        } catch (error) {
          log.push(`again ${error instanceof AbortError}`);
        }
      }
      return 'unwound';
    });
    expect(r.status).to.equal(ASYNC_PAUSE);
    expect(cancelJob(r.job!)).to.equal('unwound'); // it caught the reason and returned
    expect(log).to.deep.equal(['caught AbortError ABORT_ERR', 'finally', 'again true', 'again true']);
    expect(code(() => startJob(r.job, null, null))).to.equal('ERR_ASYNCJOB_JOB_FINISHED');
    expect(client.jobsInUse()).to.equal(0);
  });

  it('throws the given reason, whatever it is, and returns undefined when the job ends by throwing it', () => {
    for (const reason of [new Error('stop'), 'a string', 0, null, { why: 'object' }]) {
      let seen: unknown = 'nothing';
      const r = startJob(null, null, () => {
        try {
          pauseJob();
        } catch (error) {
          seen = error;
          throw error;
        }
      });
      expect(cancelJob(r.job!, reason)).to.equal(undefined);
      expect(seen).to.equal(reason);
    }
  });

  it('rethrows what else the job threw while unwinding', () => {
    const r = startJob(null, null, () => {
      try {
        pauseJob();
      } finally {
        throw new RangeError('cleanup failed');
      }
    });
    expect(() => cancelJob(r.job!)).to.throw(RangeError, 'cleanup failed');
    expect(client.jobsInUse()).to.equal(0);
  });

  it('unwinds through nested calls, and each frame\'s finally runs innermost first', () => {
    const log: string[] = [];
    const level = (n: number): void => {
      try {
        if (n === 0) pauseJob();
        else level(n - 1);
      } finally {
        log.push(`frame ${n}`);
      }
    };
    const r = startJob(null, null, () => level(3));
    cancelJob(r.job!);
    expect(log).to.deep.equal(['frame 0', 'frame 1', 'frame 2', 'frame 3']);
  });

  it('native code pausing in a cancelled JavaScript job sees 0; the next JavaScript pause throws', () => {
    const log: unknown[] = [];
    const r = startJob(null, null, () => {
      log.push(client.pauseFromNative()); // the pending pause, in native code: returns 0
      log.push(client.pauseFromNative()); // and every later one
      try {
        pauseJob();
      } catch (error) {
        log.push((error as Error).message);
      }
    });
    expect(r.status).to.equal(ASYNC_PAUSE);
    cancelJob(r.job!, new Error('cancelled'));
    expect(log).to.deep.equal([0, 0, 'cancelled']);
  });

  it('a blocked pause in a cancelled job returns as usual (pauses are blocked)', () => {
    const log: unknown[] = [];
    const r = startJob(null, null, () => {
      try {
        pauseJob();
      } finally {
        blockPause();
        log.push(pauseJob()); // blocked: returns true, throws nothing
        unblockPause();
      }
    });
    cancelJob(r.job!);
    expect(log).to.deep.equal([true]);
  });

  it('the unwinding runs in the job\'s async context and with its own handle', () => {
    const als = new AsyncLocalStorage<string>();
    let seen: unknown[] = [];
    let handle: AsyncJob | null = null;
    const r = als.run('job', () =>
      startJob(null, null, () => {
        handle = getCurrentJob();
        try {
          pauseJob();
        } finally {
          seen = [als.getStore(), getCurrentJob() === handle];
        }
      }),
    );
    als.run('caller', () => cancelJob(r.job!));
    expect(seen).to.deep.equal(['job', true]);
  });

  it('a job cancelled from inside another job unwinds, and control returns to that job', () => {
    const log: string[] = [];
    const inner = startJob(null, null, () => {
      try {
        pauseJob();
      } finally {
        log.push('inner finally');
      }
    });
    const outer = startJob(null, null, () => {
      cancelJob(inner.job!);
      log.push('outer goes on');
      return 'outer done';
    });
    expect(outer).to.deep.include({ status: ASYNC_FINISH, ret: 'outer done' });
    expect(log).to.deep.equal(['inner finally', 'outer goes on']);
  });

  it('refuses the running job and a finished one', () => {
    const r = startJob(null, null, () => code(() => cancelJob(getCurrentJob()!)));
    expect(r.ret).to.equal('ERR_ASYNCJOB_JOB_RUNNING');
    const p = startJob(null, null, () => pauseJob());
    cancelJob(p.job!);
    expect(code(() => cancelJob(p.job!))).to.equal('ERR_ASYNCJOB_JOB_FINISHED');
  });

  it('frees the job\'s WaitCtx hold: the context can be freed, its cleanups run', () => {
    const ctx = new WaitCtx();
    const [readFd, writeFd] = pipe();
    const r = startJob(null, ctx, () => {
      getWaitCtx(getCurrentJob()!)!.setWaitFd('p', readFd, null, () => {
        fs.closeSync(readFd);
        fs.closeSync(writeFd);
      });
      pauseJob();
    });
    expect(code(() => ctx.free())).to.equal('ERR_ASYNCJOB_WAIT_CTX_IN_USE');
    cancelJob(r.job!);
    ctx.free();
    expect(() => fs.fstatSync(readFd)).to.throw().with.property('code', 'EBADF');
  });
});

describe('cancelJob() and termination', function () {
  this.timeout(budget(60000));

  it('worker.terminate() ends a worker whose cancelled job never finishes unwinding', () => {
    const child = `
      const { Worker } = require('node:worker_threads');
      const w = new Worker(\`
        const aj = require(\${JSON.stringify(process.argv[1])});
        const { parentPort } = require('node:worker_threads');
        const r = aj.startJob(null, null, () => {
          try { aj.pauseJob(); } finally { parentPort.postMessage('unwinding'); for (;;) {} }
        });
        aj.cancelJob(r.job);
      \`, { eval: true });
      w.on('message', () => setTimeout(() => w.terminate().then((code) => console.log('terminated', code)), 20));
    `;
    const result = spawnSync(process.execPath, ['-e', child, require.resolve('asyncjob')], {
      encoding: 'utf8',
      timeout: budget(30000),
    });
    expect(result.stderr).to.equal('');
    expect([result.status, result.stdout.trim()]).to.deep.equal([0, 'terminated 1']);
  });
});

describe('runJob() with an AbortSignal', () => {
  it('rejects with the signal\'s reason after the job has unwound and its WaitCtx cleanups ran', async () => {
    const controller = new AbortController();
    const log: string[] = [];
    const [readFd, writeFd] = pipe();
    const promise = runJob({ signal: controller.signal }, () => {
      getWaitCtx(getCurrentJob()!)!.setWaitFd('k', readFd, null, () => {
        fs.closeSync(readFd);
        fs.closeSync(writeFd);
        log.push('cleanup');
      });
      try {
        jobAwait(new Promise(() => {})); // never settles
      } finally {
        log.push('finally');
      }
    });
    setTimeout(() => controller.abort(new Error('user gave up')), 20);
    let rejected: unknown = null;
    await promise.catch((error: unknown) => {
      rejected = error;
      log.push('rejected');
    });
    expect((rejected as Error).message).to.equal('user gave up');
    expect(log).to.deep.equal(['finally', 'cleanup', 'rejected']);
  });

  it('rejects with the default reason (an AbortError DOMException) of abort()', async () => {
    const controller = new AbortController();
    const promise = runJob({ signal: controller.signal }, () => {
      for (;;) pauseJob();
    });
    await nextTurn();
    controller.abort();
    const error = await promise.then(() => null, (e: unknown) => e);
    expect(error).to.equal(controller.signal.reason);
    expect((error as Error).name).to.equal('AbortError');
  });

  it('an already aborted signal rejects at once and starts nothing', async () => {
    let called = false;
    const error = await runJob({ signal: AbortSignal.abort('early') }, () => {
      called = true;
    }).then(() => null, (e: unknown) => e);
    expect(error).to.equal('early');
    expect(called).to.equal(false);
  });

  it('an abort while the job runs takes effect at its next pause', async () => {
    const controller = new AbortController();
    const log: string[] = [];
    const promise = runJob({ signal: controller.signal }, () => {
      controller.abort('from inside');
      log.push('still running');
      try {
        pauseJob();
        log.push('resumed normally');
      } catch (error) {
        log.push(`threw ${String(error)}`);
        throw error;
      }
    });
    const error = await promise.then(() => null, (e: unknown) => e);
    expect(error).to.equal('from inside');
    expect(log).to.deep.equal(['still running', 'threw from inside']);
  });

  it('a job that finishes before the abort resolves; the later abort does nothing', async () => {
    const controller = new AbortController();
    const value = await runJob({ signal: controller.signal }, (a: number) => {
      pauseJob();
      return a * 2;
    }, 21);
    controller.abort();
    expect(value).to.equal(42);
  });

  it('AbortSignal.timeout() cancels a job waiting in jobAwait()', async () => {
    const error = await runJob({ signal: AbortSignal.timeout(30) }, () => jobAwait(new Promise(() => {}))).then(
      () => null,
      (e: unknown) => e,
    );
    expect((error as Error).name).to.equal('TimeoutError');
  });

  it('refuses a signal that is not an AbortSignal with ERR_INVALID_ARG_TYPE', async () => {
    const error = await runJob({ signal: {} as AbortSignal }, () => 1).then(() => null, (e: unknown) => e);
    expect(error).to.be.instanceOf(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
    expect((error as Error).message).to.contain('"options.signal"');
  });

  it('cancelJob(job, reason) on a run rejects it with that reason', async () => {
    let job: AsyncJob | null = null;
    const promise = runJob(() => {
      job = getCurrentJob();
      getWaitCtx(job!)!.setStatus(ASYNC_STATUS_EAGAIN);
      pauseJob();
    });
    cancelJob(job!, 'my reason');
    expect(await promise.then(() => null, (e: unknown) => e)).to.equal('my reason');
  });
});

describe('jobAwait()', () => {
  it('returns what the promise resolves to, under runJob()', async () => {
    const value = await runJob(() => {
      const a = jobAwait(new Promise<number>((resolve) => setTimeout(() => resolve(20), 10)));
      const b = jobAwait(Promise.resolve(22));
      return a + b;
    });
    expect(value).to.equal(42);
  });

  it('throws what the promise rejects with', async () => {
    const value = await runJob(() => {
      try {
        jobAwait(Promise.reject(new Error('no luck')));
        return 'not reached';
      } catch (error) {
        return (error as Error).message;
      }
    });
    expect(value).to.equal('no luck');
  });

  it('follows thenables and returns plain values', async () => {
    const thenable = { then: (resolve: (v: string) => void) => setTimeout(() => resolve('thenable'), 5) };
    expect(await runJob(() => [jobAwait(thenable), jobAwait(7)])).to.deep.equal(['thenable', 7]);
  });

  it('lets many jobs wait at once, each resumed with its own value', async () => {
    const values = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        runJob(() => jobAwait(new Promise<number>((resolve) => setTimeout(() => resolve(i), 20 - i)))),
      ),
    );
    expect(values).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
  });

  it('works in a hand-written startJob loop whose WaitCtx callback resumes the job', async () => {
    const ctx = new WaitCtx();
    let done: (value: unknown) => void = () => {};
    const result = new Promise<unknown>((resolve) => {
      done = resolve;
    });
    ctx.setCallback(() => {
      setImmediate(() => {
        r = startJob(r.job, null, null);
        if (r.status === ASYNC_FINISH) done(r.ret);
      });
      return 1;
    });
    let r = startJob(null, ctx, () => jobAwait(new Promise<string>((resolve) => setTimeout(() => resolve('looped'), 10))));
    expect(r.status).to.equal(ASYNC_PAUSE);
    expect(await result).to.equal('looped');
    ctx.free();
  });

  it('throws coded errors where it cannot wait', () => {
    expect(code(() => jobAwait(1))).to.equal('ERR_ASYNCJOB_NOT_IN_JOB');
    expect(startJob(null, null, () => code(() => jobAwait(1))).ret).to.equal('ERR_ASYNCJOB_NO_WAKE_CALLBACK');
    const ctx = new WaitCtx();
    ctx.setCallback(() => 1);
    const blocked = startJob(null, ctx, () => {
      blockPause();
      return code(() => jobAwait(1));
    });
    expect(blocked.ret).to.equal('ERR_ASYNCJOB_PAUSE_BLOCKED');
    ctx.free();
  });

  it('throws the reason when the waiting job is cancelled', async () => {
    let job: AsyncJob | null = null;
    let seen: unknown = null;
    const promise = runJob(() => {
      job = getCurrentJob();
      try {
        jobAwait(new Promise(() => {}));
      } catch (error) {
        seen = error;
        throw error;
      }
    });
    await nextTurn();
    cancelJob(job!, 'stop waiting');
    expect(seen).to.equal('stop waiting');
    expect(await promise.then(() => null, (e: unknown) => e)).to.equal('stop waiting');
  });
});

describe('paused jobs whose handles are collected', function () {
  this.timeout(budget(60000));

  // In a child with --expose-gc: the jobs are dropped, collected, cancelled (their finally
  // blocks run), their host threads go back to the pool and the pool can be freed.
  it('are cancelled after GC: finally blocks run, WaitCtx holds are released, host threads end', () => {
    const child = `
      const aj = require(process.argv[1]);
      const client = require(process.argv[2]);
      const fs = require('node:fs');
      // Linux's /proc (under Wine, /proc/self is the Wine process's own, which says nothing here).
      const proc = process.platform === 'linux';
      const threads = () => proc ? fs.readdirSync('/proc/self/task').length : -1;
      const out = { reasons: [], proc };
      const before = threads();
      const ctx = new aj.WaitCtx();
      let finals = 0;
      (function drop() {
        for (let i = 0; i < 16; i++) {
          aj.startJob(null, i === 0 ? ctx : null, () => {
            try {
              aj.pauseJob();
            } catch (error) {
              if (out.reasons.length === 0) out.reasons.push(error.code, aj.getCurrentJob() !== null);
              throw error;
            } finally {
              finals++;
            }
          });
        }
        // a native job, freed when collected
        aj.startJob(null, null, client.pauseForever());
        // and one that keeps its own handle on its stack: never collected
        aj.startJob(null, null, () => { const me = aj.getCurrentJob(); aj.pauseJob(); return me; });
      })();
      out.pausedThreads = threads() - before;
      (async () => {
        for (let i = 0; i < 20 && finals < 16; i++) {
          globalThis.gc();
          await new Promise((resolve) => setImmediate(resolve));
        }
        out.finals = finals;
        out.inUse = client.jobsInUse();
        try { ctx.free(); out.ctxFreed = ctx.freed; } catch (error) { out.ctxFreed = error.code; }
        out.threadsAfterGc = threads() - before;
        process.stdout.write(JSON.stringify(out));
      })();
    `;
    const result = spawnSync(
      process.execPath,
      ['--expose-gc', '-e', child, require.resolve('asyncjob'), path.resolve(__dirname, '..', '..', 'test', 'native-client')],
      { encoding: 'utf8', timeout: budget(30000) },
    );
    expectExitWarning(result.stderr, 1); // the job that holds its own handle
    const out = JSON.parse(result.stdout);
    expect(out.finals).to.equal(16);
    expect(out.reasons).to.deep.equal(['ERR_ASYNCJOB_JOB_COLLECTED', true]);
    expect(out.inUse, 'only the job that holds its own handle is left').to.equal(1);
    expect(out.ctxFreed).to.equal(true);
    if (out.proc) {
      // /proc/self/task exists (Linux): 17 host threads while paused, 16 idle in the pool after,
      // which the pool keeps (OpenSSL's semantics) until cleanupThread().
      expect(out.pausedThreads).to.equal(17);
      expect(out.threadsAfterGc).to.equal(17);
    }
  });

  it('the thread count comes back down once the collected jobs\' pool is freed', function () {
    const child = `
      const aj = require(process.argv[1]);
      const fs = require('node:fs');
      const threads = () => fs.readdirSync('/proc/self/task').length;
      const before = threads();
      (function drop() { for (let i = 0; i < 8; i++) aj.startJob(null, null, () => aj.pauseJob()); })();
      const paused = threads() - before;
      (async () => {
        for (let i = 0; i < 20; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
        aj.cleanupThread(); // throws ERR_ASYNCJOB_JOBS_IN_USE if a job were still paused
        process.stdout.write(JSON.stringify({ paused, after: threads() - before }));
      })();
    `;
    if (process.platform !== 'linux') this.skip(); // counts threads through Linux's /proc
    const result = spawnSync(process.execPath, ['--expose-gc', '-e', child, require.resolve('asyncjob')], {
      encoding: 'utf8',
      timeout: budget(30000),
    });
    expect(result.stderr).to.equal('');
    expect(JSON.parse(result.stdout)).to.deep.equal({ paused: 8, after: 0 });
  });

  it('in a worker too: the worker\'s dropped jobs are collected and unwound', () => {
    const child = `
      const { Worker } = require('node:worker_threads');
      const w = new Worker(\`
        const aj = require(\${JSON.stringify(process.argv[1])});
        const { parentPort } = require('node:worker_threads');
        let finals = 0;
        (function drop() {
          for (let i = 0; i < 5; i++) aj.startJob(null, null, () => { try { aj.pauseJob(); } finally { finals++; } });
        })();
        (async () => {
          for (let i = 0; i < 20 && finals < 5; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
          aj.cleanupThread(); // throws ERR_ASYNCJOB_JOBS_IN_USE if a job were still paused
          parentPort.postMessage(finals);
        })();
      \`, { eval: true });
      w.on('message', (finals) => { console.log(finals); w.terminate(); });
    `;
    const result = spawnSync(process.execPath, ['--expose-gc', '-e', child, require.resolve('asyncjob')], {
      encoding: 'utf8',
      timeout: budget(30000),
    });
    expect(result.stderr).to.equal('');
    expect(result.stdout.trim()).to.equal('5');
  });

  it('a collected job that throws something else while unwinding is reported as a warning', () => {
    const child = `
      const aj = require(process.argv[1]);
      process.on('warning', (w) => { if (w.code === 'ASYNCJOB_COLLECTED_JOB_THREW') console.log(w.code, /cleanup broke/.test(w.message)); });
      (function drop() { aj.startJob(null, null, () => { try { aj.pauseJob(); } finally { throw new Error('cleanup broke'); } }); })();
      (async () => { for (let i = 0; i < 20; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); } })();
    `;
    const result = spawnSync(process.execPath, ['--expose-gc', '--no-warnings', '-e', child, require.resolve('asyncjob')], {
      encoding: 'utf8',
      timeout: budget(30000),
    });
    expect(result.status).to.equal(0);
    expect(result.stdout.trim()).to.equal('ASYNCJOB_COLLECTED_JOB_THREW true');
  });
});

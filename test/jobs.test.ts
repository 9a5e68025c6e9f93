import { expect } from 'chai';
import * as path from 'node:path';
import {
  ASYNC_FINISH,
  ASYNC_NO_JOBS,
  ASYNC_PAUSE,
  AsyncJob,
  blockPause,
  cancelJob,
  cleanupThread,
  getCurrentJob,
  getWaitCtx,
  initThread,
  pauseJob,
  startJob,
  unblockPause,
  WaitCtx,
} from 'asyncjob';
import { expectCode } from './throws';

// Resumes a paused job until it finishes; returns its value.
function finish<R>(job: AsyncJob | null): R {
  let r = startJob<[], R>(job, null, null);
  while (r.status === ASYNC_PAUSE) r = startJob<[], R>(r.job, null, null);
  expect(r.status).to.equal(ASYNC_FINISH);
  return r.ret as R;
}

describe('startJob / pauseJob', () => {
  afterEach(() => {
    initThread(0, 0); // a fresh default pool for the next test (fails loudly if one leaked)
  });

  it('runs a function with its arguments to ASYNC_FINISH', () => {
    const r = startJob(null, null, (a: number, b: string) => `${a}${b}`, 4, 'x');
    expect(r).to.deep.include({ status: ASYNC_FINISH, job: null, ret: '4x' });
  });

  it('pauses anywhere in the call stack and resumes exactly there', () => {
    const trace: string[] = [];
    const deep = (n: number): number => {
      if (n === 0) {
        trace.push('pausing');
        pauseJob();
        trace.push('resumed');
        return 0;
      }
      return deep(n - 1) + n;
    };
    const r = startJob(null, null, () => deep(50));
    expect(r.status).to.equal(ASYNC_PAUSE);
    expect(r.job).to.be.instanceOf(AsyncJob);
    trace.push('caller');
    expect(finish<number>(r.job)).to.equal((50 * 51) / 2);
    expect(trace).to.deep.equal(['pausing', 'caller', 'resumed']);
  });

  it('keeps locals, closures and objects of the paused frames', () => {
    const r = startJob(null, null, () => {
      const big = Array.from({ length: 1000 }, (_, i) => ({ i, s: `item-${i}` }));
      const closure = () => big.length;
      pauseJob();
      return big.every((o, i) => o.i === i && o.s === `item-${i}`) && closure() === 1000;
    });
    expect(finish<boolean>(r.job)).to.equal(true);
  });

  it('getCurrentJob() inside a job is the handle the caller receives; null outside', () => {
    let inside: AsyncJob | null = null;
    const r = startJob(null, null, () => {
      inside = getCurrentJob();
      pauseJob();
      return getCurrentJob() === inside;
    });
    expect(inside).to.equal(r.job);
    expect(getCurrentJob()).to.equal(null);
    expect(finish<boolean>(r.job)).to.equal(true);
  });

  it('pauseJob() outside a job is a no-op returning true', () => {
    expect(pauseJob()).to.equal(true);
  });

  it('ignores func and args when resuming', () => {
    const r = startJob(null, null, () => {
      pauseJob();
      return 'original';
    });
    const again = startJob(r.job, null, () => 'other');
    expect(again).to.deep.include({ status: ASYNC_FINISH, ret: 'original' });
  });

  it('rethrows what the job threw, and the job ends', () => {
    const thrown = { custom: true };
    expect(() => startJob(null, null, () => {
      throw thrown;
    })).to.throw().that.equals(thrown);
    const r = startJob(null, null, () => {
      pauseJob();
      throw new RangeError('after a pause');
    });
    expect(() => startJob(r.job, null, null)).to.throw(RangeError, 'after a pause');
    expectCode(() => startJob(r.job, null, null), 'ERR_ASYNCJOB_JOB_FINISHED');
  });

  it('refuses finished, running and foreign handles with coded errors', () => {
    const r = startJob(null, null, () => {
      const me = getCurrentJob()!;
      let code: string | undefined;
      try {
        startJob(me, null, null);
      } catch (e) {
        code = (e as { code?: string }).code;
      }
      return code;
    });
    expect(r.ret).to.equal('ERR_ASYNCJOB_JOB_RUNNING');
    expectCode(() => startJob({} as AsyncJob, null, null), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => startJob(null, null, 42 as unknown as () => void), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => startJob(null, {} as WaitCtx, () => 1), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => new (AsyncJob as unknown as new () => AsyncJob)(), 'ERR_ILLEGAL_CONSTRUCTOR', TypeError);
  });

  it('nests: a job pauses back to whoever resumed it last', () => {
    const order: string[] = [];
    let inner: AsyncJob | null = null;
    const outer = startJob(null, null, () => {
      const r = startJob(null, null, () => {
        order.push('inner runs');
        pauseJob(); // back to outer
        order.push('inner resumed by the caller');
        return 'inner done';
      });
      expect(r.status).to.equal(ASYNC_PAUSE);
      inner = r.job;
      order.push('outer got inner paused');
      pauseJob(); // back to the caller
      order.push('outer resumed');
      return 'outer done';
    });
    expect(outer.status).to.equal(ASYNC_PAUSE);
    const r = startJob(inner, null, null); // the caller resumes inner directly
    expect(r).to.deep.include({ status: ASYNC_FINISH, ret: 'inner done' });
    expect(finish<string>(outer.job)).to.equal('outer done');
    expect(order).to.deep.equal(['inner runs', 'outer got inner paused', 'inner resumed by the caller', 'outer resumed']);
  });

  it('blockPause()/unblockPause() nest, belong to the job, and are ignored outside one', () => {
    blockPause();
    unblockPause();
    unblockPause();
    const r = startJob(null, null, () => {
      blockPause();
      blockPause();
      pauseJob(); // blocked: returns at once
      unblockPause();
      pauseJob(); // still blocked
      unblockPause();
      unblockPause(); // below zero: stays at zero
      pauseJob(); // pauses
      blockPause();
      return 'ended blocked';
    });
    expect(r.status).to.equal(ASYNC_PAUSE);
    expect(finish<string>(r.job)).to.equal('ended blocked');
    const next = startJob(null, null, () => pauseJob());
    expect(next.status, 'the next job starts unblocked').to.equal(ASYNC_PAUSE);
    finish(next.job);
  });

  it('holds 200 jobs paused at once', () => {
    const jobs: AsyncJob[] = [];
    for (let i = 0; i < 200; i++) {
      const r = startJob(null, null, (n: number) => {
        const mine = { n };
        pauseJob();
        pauseJob();
        return mine.n * 2;
      }, i);
      expect(r.status).to.equal(ASYNC_PAUSE);
      jobs.push(r.job!);
    }
    for (const job of [...jobs].reverse()) expect(startJob(job, null, null).status).to.equal(ASYNC_PAUSE);
    jobs.forEach((job, i) => expect(startJob(job, null, null)).to.deep.include({ status: ASYNC_FINISH, ret: i * 2 }));
  });

  it('gives a catchable RangeError on deep recursion, and the job goes on', () => {
    const r = startJob(null, null, () => {
      const recurse = (n: number): number => recurse(n + 1) + 1;
      let caught: unknown;
      try {
        recurse(0);
      } catch (e) {
        caught = e;
      }
      pauseJob();
      return caught instanceof RangeError;
    });
    expect(finish<boolean>(r.job)).to.equal(true);
  });

  it('cancelJob() ends a paused job without running the rest of it', () => {
    let reached = false;
    const r = startJob(null, null, () => {
      pauseJob();
      reached = true;
    });
    cancelJob(r.job!);
    expect(reached).to.equal(false);
    expectCode(() => startJob(r.job, null, null), 'ERR_ASYNCJOB_JOB_FINISHED');
    expect(startJob(null, null, () => 'still working').ret).to.equal('still working');
  });
});

describe('initThread / cleanupThread', () => {
  afterEach(() => {
    initThread(0, 0);
  });

  it('validates sizes like Node does', () => {
    expectCode(() => initThread('1' as unknown as number, 0), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => initThread(-1, 0), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => initThread(1.5, 0), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => initThread(2, 3), 'ERR_OUT_OF_RANGE', RangeError);
  });

  it('refuses sizes beyond 10^9 (maxSize) and 10^6 (initSize) with RangeError, as documented', () => {
    expectCode(() => initThread(1e9 + 1, 0), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => initThread(2e9, 0), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => initThread(0, 1e6 + 1), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => initThread(0, 2e6), 'ERR_OUT_OF_RANGE', RangeError);
    expect(initThread(1e9, 0)).to.equal(true);
    // The binding checks them again, for callers that bypass src/.
    const binding = require('node-gyp-build')(path.resolve(__dirname, '..', '..')) as {
      initThread(maxSize: number, initSize: number): boolean;
    };
    expectCode(() => binding.initThread(2e9, 0), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => binding.initThread(0, 2e6), 'ERR_OUT_OF_RANGE', RangeError);
  });

  it('bounds the pool: ASYNC_NO_JOBS when full, the slot comes back when a job ends', () => {
    expect(initThread(2, 1)).to.equal(true);
    const a = startJob(null, null, () => pauseJob());
    const b = startJob(null, null, () => pauseJob());
    expect([a.status, b.status]).to.deep.equal([ASYNC_PAUSE, ASYNC_PAUSE]);
    expect(startJob(null, null, () => 1)).to.deep.include({ status: ASYNC_NO_JOBS, job: null });
    expect(initThread(4, 0), 'a pool with jobs in use is not replaced').to.equal(false);
    finish(a.job);
    expect(startJob(null, null, () => 'fits again').ret).to.equal('fits again');
    finish(b.job);
  });

  it('cleanupThread() refuses while jobs are paused and frees nothing', () => {
    const r = startJob(null, null, () => {
      pauseJob();
      return 'survived';
    });
    expectCode(() => cleanupThread(), 'ERR_ASYNCJOB_JOBS_IN_USE');
    expect(finish<string>(r.job)).to.equal('survived');
    cleanupThread();
    expect(startJob(null, null, () => 'default pool again').ret).to.equal('default pool again');
  });
});

describe('jobs and their WaitCtx', () => {
  it('getWaitCtx() returns the very WaitCtx the job started with, or null', () => {
    const ctx = new WaitCtx();
    const r = startJob(null, ctx, () => {
      const mine = getWaitCtx(getCurrentJob()!);
      pauseJob();
      return mine;
    });
    expect(getWaitCtx(r.job!)).to.equal(ctx);
    expectCode(() => ctx.free(), 'ERR_ASYNCJOB_WAIT_CTX_IN_USE');
    expect(finish<WaitCtx>(r.job)).to.equal(ctx);
    ctx.free();
    const none = startJob(null, null, () => pauseJob());
    expect(getWaitCtx(none.job!)).to.equal(null);
    finish(none.job);
    expectCode(() => getWaitCtx(none.job!), 'ERR_ASYNCJOB_JOB_FINISHED');
  });

  it('tracks fds added and cleared since the last resume', () => {
    const ctx = new WaitCtx();
    const a = Symbol('a');
    const b = Symbol('b');
    const r = startJob(null, ctx, () => {
      const w = getWaitCtx(getCurrentJob()!)!;
      pauseJob(); // 1: nothing
      w.setWaitFd(a, 10);
      pauseJob(); // 2: 10 added
      w.clearFd(a);
      pauseJob(); // 3: 10 deleted
      w.setWaitFd(b, 11);
      w.clearFd(b);
      pauseJob(); // 4: added and cleared: neither
      return 0;
    });
    const seen = [ctx.getChangedFds()];
    let job = r.job;
    for (let i = 0; i < 3; i++) {
      job = startJob(job, null, null).job;
      seen.push(ctx.getChangedFds());
    }
    expect(seen).to.deep.equal([
      { added: [], deleted: [] },
      { added: [10], deleted: [] },
      { added: [], deleted: [10] },
      { added: [], deleted: [] },
    ]);
    finish(job);
    ctx.free();
  });
});

describe('results survive hostile prototypes', () => {
  it('an Object.prototype accessor cannot leave a stale handle that resumes another job', () => {
    const r = startJob(null, null, () => {
      pauseJob();
      return 'own';
    });
    Object.defineProperty(Object.prototype, 'outcome', {
      configurable: true,
      get() {
        throw new Error('hostile getter');
      },
      set() {},
    });
    let resumed: unknown;
    try {
      resumed = startJob(r.job, null, null);
    } finally {
      delete (Object.prototype as Record<string, unknown>).outcome;
    }
    expect(resumed).to.deep.include({ status: ASYNC_FINISH, ret: 'own' });
    const other = startJob(null, null, () => {
      pauseJob();
      return 'other';
    });
    expect(() => startJob(r.job, null, null)).to.throw(Error).with.property('code', 'ERR_ASYNCJOB_JOB_FINISHED');
    expect(finish<string>(other.job)).to.equal('other');
  });
});

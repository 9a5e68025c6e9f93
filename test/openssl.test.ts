import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as asyncjob from 'asyncjob';
import { AsyncJob, initThread, pipe, WaitCtx } from 'asyncjob';
import {
  ASYNC_ERR,
  ASYNC_FINISH,
  ASYNC_NO_JOBS,
  ASYNC_PAUSE,
  ASYNC_STATUS_EAGAIN,
  ASYNC_STATUS_ERR,
  ASYNC_STATUS_OK,
  ASYNC_STATUS_UNSUPPORTED,
  type ASYNC_JOB,
  type ASYNC_WAIT_CTX,
  type ASYNC_callback_fn,
  ASYNC_block_pause,
  ASYNC_cleanup_thread,
  ASYNC_get_current_job,
  ASYNC_get_wait_ctx,
  ASYNC_init_thread,
  ASYNC_is_capable,
  ASYNC_pause_job,
  ASYNC_start_job,
  ASYNC_unblock_pause,
  ASYNC_WAIT_CTX_clear_fd,
  ASYNC_WAIT_CTX_free,
  ASYNC_WAIT_CTX_get_all_fds,
  ASYNC_WAIT_CTX_get_callback,
  ASYNC_WAIT_CTX_get_changed_fds,
  ASYNC_WAIT_CTX_get_fd,
  ASYNC_WAIT_CTX_get_status,
  ASYNC_WAIT_CTX_new,
  ASYNC_WAIT_CTX_set_callback,
  ASYNC_WAIT_CTX_set_status,
  ASYNC_WAIT_CTX_set_wait_fd,
  type OSSL_ASYNC_FD,
  type Ref,
} from 'asyncjob/openssl';
import { budget } from './time-scale';
import { expectCode } from './throws';


// lib/index.js sits one level under the package root.
const packageRoot = path.resolve(path.dirname(require.resolve('asyncjob')), '..');

function isOpen(fd: number): boolean {
  try {
    fs.fstatSync(fd);
    return true;
  } catch (error) {
    expect(error).to.have.property('code', 'EBADF');
    return false;
  }
}

// Runs a paused job to its end through the OpenSSL-named API; returns ret.value.
function finish<R>(job: Ref<ASYNC_JOB | null>, ret: Ref<R>): R {
  let status: number;
  do status = ASYNC_start_job(job, null, ret, null);
  while (status === ASYNC_PAUSE);
  expect(status).to.equal(ASYNC_FINISH);
  return ret.value;
}

describe('asyncjob/openssl: jobs', () => {
  afterEach(() => {
    initThread(0, 0); // a fresh default pool (fails loudly if a test leaked a paused job)
  });

  it('exports the ASYNC_* and ASYNC_STATUS_* constants with OpenSSL\'s values', () => {
    expect([ASYNC_ERR, ASYNC_NO_JOBS, ASYNC_PAUSE, ASYNC_FINISH]).to.deep.equal([0, 1, 2, 3]);
    expect([ASYNC_STATUS_UNSUPPORTED, ASYNC_STATUS_ERR, ASYNC_STATUS_OK, ASYNC_STATUS_EAGAIN])
      .to.deep.equal([0, 1, 2, 3]);
    expect(ASYNC_FINISH).to.equal(asyncjob.ASYNC_FINISH);
  });

  it('ASYNC_is_capable() is 1 or 0, as isCapable() says', () => {
    expect(ASYNC_is_capable()).to.equal(asyncjob.isCapable() ? 1 : 0);
  });

  it('ASYNC_start_job() reads and writes job.value and fills ret.value on ASYNC_FINISH', () => {
    const job: Ref<ASYNC_JOB | null> = { value: null };
    const ret: Ref<number> = { value: -1 };
    let inside: ASYNC_JOB | null = null;
    const func = (a: number, b: number): number => {
      inside = ASYNC_get_current_job();
      const resumed = ASYNC_pause_job();
      return resumed === 1 ? a + b : -2;
    };
    expect(ASYNC_start_job(job, null, ret, func, 2, 3)).to.equal(ASYNC_PAUSE);
    expect(job.value).to.be.instanceOf(AsyncJob);
    expect(job.value, 'the handle ASYNC_get_current_job() gave the job').to.equal(inside);
    expect(ret.value, 'ret is written on ASYNC_FINISH only').to.equal(-1);
    expect(ASYNC_get_current_job()).to.equal(null);
    const paused = job.value;
    expect(ASYNC_start_job(job, null, ret, () => 99), 'func and args are ignored on resume').to.equal(ASYNC_FINISH);
    expect(job.value).to.equal(null);
    expect(ret.value).to.equal(5);
    expectCode(() => ASYNC_start_job({ value: paused }, null, ret, null), 'ERR_ASYNCJOB_JOB_FINISHED');
  });

  it('runs the C loop: the same references across every pause, any return type', () => {
    const job: Ref<ASYNC_JOB | null> = { value: null };
    const ret: Ref<string> = { value: '' };
    const seen: (ASYNC_JOB | null)[] = [];
    const statuses: number[] = [];
    for (;;) {
      const status = ASYNC_start_job(job, null, ret, (word: string) => {
        for (let i = 0; i < 3; i++) ASYNC_pause_job();
        return word.toUpperCase();
      }, 'done');
      statuses.push(status);
      seen.push(job.value);
      if (status !== ASYNC_PAUSE) break;
    }
    expect(statuses).to.deep.equal([ASYNC_PAUSE, ASYNC_PAUSE, ASYNC_PAUSE, ASYNC_FINISH]);
    expect(seen[0]).to.be.instanceOf(AsyncJob);
    expect(seen.slice(1)).to.deep.equal([seen[0], seen[0], null]);
    expect(ret.value).to.equal('DONE');
  });

  it('ASYNC_init_thread() bounds the pool: ASYNC_NO_JOBS when full; 0 while jobs are in use', () => {
    expect(ASYNC_init_thread(1, 1)).to.equal(1);
    const a: Ref<ASYNC_JOB | null> = { value: null };
    const ret: Ref<number> = { value: 0 };
    expect(ASYNC_start_job(a, null, ret, () => ASYNC_pause_job())).to.equal(ASYNC_PAUSE);
    const b: Ref<ASYNC_JOB | null> = { value: null };
    expect(ASYNC_start_job(b, null, ret, () => 2)).to.equal(ASYNC_NO_JOBS);
    expect(b.value).to.equal(null);
    expect(ret.value).to.equal(0);
    expect(ASYNC_init_thread(4, 0)).to.equal(0);
    expectCode(() => ASYNC_cleanup_thread(), 'ERR_ASYNCJOB_JOBS_IN_USE');
    expect(finish(a, ret)).to.equal(1);
    ASYNC_cleanup_thread();
    expect(ASYNC_start_job(b, null, ret, () => 7)).to.equal(ASYNC_FINISH);
    expect(ret.value).to.equal(7);
  });

  it('propagates what the job threw and leaves the references as they were', () => {
    const job: Ref<ASYNC_JOB | null> = { value: null };
    const ret: Ref<number> = { value: 5 };
    expect(ASYNC_start_job(job, null, ret, (): number => {
      ASYNC_pause_job();
      throw new RangeError('job failed');
    })).to.equal(ASYNC_PAUSE);
    const paused = job.value;
    expect(() => ASYNC_start_job(job, null, ret, null)).to.throw(RangeError, 'job failed');
    expect(job.value).to.equal(paused);
    expect(ret.value).to.equal(5);
  });

  it('cancels a job that paused when job.value refuses its handle: no paused job is left unreachable', () => {
    let resumed = 0;
    const pauseOnce = (): number => {
      ASYNC_pause_job();
      return ++resumed;
    };
    const ret: Ref<number> = { value: 0 };
    const frozen = Object.freeze({ value: null }) as Ref<ASYNC_JOB | null>;
    expect(() => ASYNC_start_job(frozen, null, ret, pauseOnce)).to.throw(TypeError);
    const refused = new Error('refused');
    const throwing = {
      get value(): ASYNC_JOB | null {
        return null;
      },
      set value(_: ASYNC_JOB | null) {
        throw refused;
      },
    };
    expect(() => ASYNC_start_job(throwing, null, ret, pauseOnce)).to.throw(refused);
    // A reference that took the handle on the first pause and refuses it on the next one.
    const job: Ref<ASYNC_JOB | null> = { value: null };
    expect(ASYNC_start_job(job, null, ret, () => {
      ASYNC_pause_job();
      return pauseOnce();
    })).to.equal(ASYNC_PAUSE);
    Object.freeze(job);
    expect(() => ASYNC_start_job(job, null, ret, null)).to.throw(TypeError);
    expectCode(() => ASYNC_start_job(job, null, ret, null), 'ERR_ASYNCJOB_JOB_FINISHED');
    expect(resumed, 'the cancelled jobs never ran on').to.equal(0);
    ASYNC_cleanup_thread(); // ERR_ASYNCJOB_JOBS_IN_USE if a job were still paused
    // On ASYNC_FINISH the job has ended: a ret that refuses the value loses it, nothing more.
    const finished: Ref<ASYNC_JOB | null> = { value: null };
    expect(() => ASYNC_start_job(finished, null, Object.freeze({ value: 0 }), () => 1)).to.throw(TypeError);
    expect(finished.value).to.equal(null);
    ASYNC_cleanup_thread();
  });

  it('ASYNC_pause_job() outside a job and while blocked returns 1 at once; blocks nest', () => {
    expect(ASYNC_pause_job()).to.equal(1);
    ASYNC_block_pause(); // ignored outside a job
    ASYNC_unblock_pause();
    const job: Ref<ASYNC_JOB | null> = { value: null };
    const ret: Ref<string> = { value: '' };
    expect(ASYNC_start_job(job, null, ret, () => {
      ASYNC_block_pause();
      ASYNC_block_pause();
      ASYNC_pause_job();
      ASYNC_unblock_pause();
      ASYNC_pause_job();
      ASYNC_unblock_pause();
      ASYNC_pause_job(); // unblocked: pauses
      return 'paused once';
    })).to.equal(ASYNC_PAUSE);
    expect(finish(job, ret)).to.equal('paused once');
  });

  it('ASYNC_get_wait_ctx() returns the WaitCtx the job started with, or null', () => {
    const ctx = ASYNC_WAIT_CTX_new();
    expect(ctx).to.be.instanceOf(WaitCtx);
    const job: Ref<ASYNC_JOB | null> = { value: null };
    const ret: Ref<ASYNC_WAIT_CTX | null> = { value: null };
    expect(ASYNC_start_job(job, ctx, ret, () => {
      ASYNC_pause_job();
      return ASYNC_get_wait_ctx(ASYNC_get_current_job()!);
    })).to.equal(ASYNC_PAUSE);
    expect(ASYNC_get_wait_ctx(job.value!)).to.equal(ctx);
    expect(finish(job, ret)).to.equal(ctx);
    ASYNC_WAIT_CTX_free(ctx);
    expect(ASYNC_start_job(job, null, ret, () => {
      ASYNC_pause_job();
      return ASYNC_get_wait_ctx(ASYNC_get_current_job()!);
    })).to.equal(ASYNC_PAUSE);
    expect(finish(job, ret)).to.equal(null);
  });

  it('throws the main API\'s errors for bad arguments', () => {
    const ret = { value: 0 };
    const job = { value: null };
    for (const bad of [null, undefined, 1, 'job']) {
      expectCode(() => ASYNC_start_job(bad as unknown as Ref<null>, null, ret, () => 1), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => ASYNC_start_job(job, null, bad as unknown as Ref<number>, () => 1), 'ERR_INVALID_ARG_TYPE', TypeError);
    }
    expectCode(() => ASYNC_start_job({ value: {} as ASYNC_JOB }, null, ret, null), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => ASYNC_start_job(job, {} as ASYNC_WAIT_CTX, ret, () => 1), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => ASYNC_start_job(job, null, ret, 42 as unknown as () => number), 'ERR_INVALID_ARG_TYPE', TypeError);
    expect(job.value).to.equal(null);
    expectCode(() => ASYNC_init_thread('1' as unknown as number, 0), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => ASYNC_init_thread(-1, 0), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => ASYNC_init_thread(2e9, 0), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => ASYNC_init_thread(0, 2e6), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => ASYNC_get_wait_ctx({} as ASYNC_JOB), 'ERR_INVALID_ARG_TYPE', TypeError);

    const notCtx = {} as ASYNC_WAIT_CTX;
    const n = { value: 0 };
    const calls: (() => unknown)[] = [
      () => ASYNC_WAIT_CTX_free(notCtx),
      () => ASYNC_WAIT_CTX_set_wait_fd(notCtx, 'k', 0, null, null),
      () => ASYNC_WAIT_CTX_get_fd(notCtx, 'k', n, n),
      () => ASYNC_WAIT_CTX_get_all_fds(notCtx, null, n),
      () => ASYNC_WAIT_CTX_get_changed_fds(notCtx, null, n, null, n),
      () => ASYNC_WAIT_CTX_clear_fd(notCtx, 'k'),
      () => ASYNC_WAIT_CTX_set_callback(notCtx, null, null),
      () => ASYNC_WAIT_CTX_get_callback(notCtx, { value: null }, n),
      () => ASYNC_WAIT_CTX_set_status(notCtx, ASYNC_STATUS_OK),
      () => ASYNC_WAIT_CTX_get_status(notCtx),
    ];
    const ctx = ASYNC_WAIT_CTX_new();
    try {
      const notRef = 7 as unknown as Ref<number>;
      const notArray = 'fds' as unknown as number[];
      calls.push(
        () => ASYNC_WAIT_CTX_set_wait_fd(ctx, 'k', '3' as unknown as number, null, null),
        () => ASYNC_WAIT_CTX_set_wait_fd(ctx, 'k', 3, null, 'close' as unknown as null),
        () => ASYNC_WAIT_CTX_get_fd(ctx, 'k', notRef, n),
        () => ASYNC_WAIT_CTX_get_fd(ctx, 'k', n, notRef),
        () => ASYNC_WAIT_CTX_get_all_fds(ctx, notArray, n),
        () => ASYNC_WAIT_CTX_get_all_fds(ctx, null, notRef),
        () => ASYNC_WAIT_CTX_get_changed_fds(ctx, notArray, n, null, n),
        () => ASYNC_WAIT_CTX_get_changed_fds(ctx, null, notRef, null, n),
        () => ASYNC_WAIT_CTX_get_changed_fds(ctx, null, n, notArray, n),
        () => ASYNC_WAIT_CTX_get_changed_fds(ctx, null, n, null, notRef),
        () => ASYNC_WAIT_CTX_set_callback(ctx, 42 as unknown as null, null),
        () => ASYNC_WAIT_CTX_get_callback(ctx, notRef as unknown as Ref<null>, n),
        () => ASYNC_WAIT_CTX_get_callback(ctx, { value: null }, notRef),
        () => ASYNC_WAIT_CTX_set_status(ctx, '2' as unknown as number),
      );
      for (const [i, call] of calls.entries()) {
        expect(call, `call ${i}`).to.throw(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
      }
      expectCode(() => ASYNC_WAIT_CTX_set_wait_fd(ctx, 'k', -1, null, null), 'ERR_OUT_OF_RANGE', RangeError);
      expectCode(() => ASYNC_WAIT_CTX_set_wait_fd(ctx, 'k', 2 ** 31, null, null), 'ERR_OUT_OF_RANGE', RangeError);
      expectCode(() => ASYNC_WAIT_CTX_set_status(ctx, 1.5), 'ERR_OUT_OF_RANGE', RangeError);
      expect(ASYNC_WAIT_CTX_get_all_fds(ctx, null, n)).to.equal(1);
      expect(n.value, 'nothing was set by the failed calls').to.equal(0);
    } finally {
      ASYNC_WAIT_CTX_free(ctx);
    }
    expectCode(() => ASYNC_WAIT_CTX_get_status(ctx), 'ERR_ASYNCJOB_WAIT_CTX_FREED');
  });
});

describe('asyncjob/openssl: wait contexts', () => {
  it('ASYNC_WAIT_CTX_set_status() / get_status()', () => {
    const ctx = ASYNC_WAIT_CTX_new();
    expect(ASYNC_WAIT_CTX_get_status(ctx)).to.equal(ASYNC_STATUS_UNSUPPORTED);
    expect(ASYNC_WAIT_CTX_set_status(ctx, ASYNC_STATUS_EAGAIN)).to.equal(1);
    expect(ASYNC_WAIT_CTX_get_status(ctx)).to.equal(ASYNC_STATUS_EAGAIN);
    ASYNC_WAIT_CTX_free(ctx);
  });

  it('ASYNC_WAIT_CTX_set_callback() / get_callback(): refs untouched when none is set', () => {
    const ctx = ASYNC_WAIT_CTX_new();
    const callback: Ref<ASYNC_callback_fn | null> = { value: null };
    const arg: Ref<unknown> = { value: 'untouched' };
    expect(ASYNC_WAIT_CTX_get_callback(ctx, callback, arg)).to.equal(0);
    expect([callback.value, arg.value]).to.deep.equal([null, 'untouched']);
    const wake: ASYNC_callback_fn = (a) => (a as { woken: number }).woken++;
    const state = { woken: 0 };
    expect(ASYNC_WAIT_CTX_set_callback(ctx, wake, state)).to.equal(1);
    expect(ASYNC_WAIT_CTX_get_callback(ctx, callback, arg)).to.equal(1);
    expect(callback.value).to.equal(wake);
    expect(arg.value).to.equal(state);
    callback.value!(arg.value);
    expect(state.woken).to.equal(1);
    expect(ASYNC_WAIT_CTX_set_callback(ctx, null, null)).to.equal(1);
    expect(ASYNC_WAIT_CTX_get_callback(ctx, callback, arg)).to.equal(0);
    ASYNC_WAIT_CTX_free(ctx);
  });

  it('ASYNC_WAIT_CTX_free(null) does nothing', () => {
    ASYNC_WAIT_CTX_free(null);
  });
});

describe('asyncjob/openssl wait contexts with real pipes (pipe())', () => {
  let opened: number[] = [];
  afterEach(() => {
    for (const fd of opened) fs.closeSync(fd);
    opened = [];
    initThread(0, 0);
  });
  function openPipe(): [OSSL_ASYNC_FD, OSSL_ASYNC_FD] {
    const ends = pipe();
    opened.push(...ends);
    return ends;
  }
  // Closes an fd of openPipe() now (afterEach must not close its number again: it may be reused).
  function close(fd: OSSL_ASYNC_FD): void {
    fs.closeSync(fd);
    opened = opened.filter((open) => open !== fd);
  }

  it('set_wait_fd / get_fd / clear_fd: 1 or 0, refs written on a hit only', () => {
    const ctx = ASYNC_WAIT_CTX_new();
    const [r, w] = openPipe();
    const key = {};
    const wptr: Ref<OSSL_ASYNC_FD> = { value: w };
    expect(ASYNC_WAIT_CTX_set_wait_fd(ctx, key, r, wptr, null)).to.equal(1);
    const fd: Ref<OSSL_ASYNC_FD> = { value: -1 };
    const data: Ref<unknown> = { value: null };
    expect(ASYNC_WAIT_CTX_get_fd(ctx, {}, fd, data), 'keys compare by identity').to.equal(0);
    expect([fd.value, data.value]).to.deep.equal([-1, null]);
    expect(ASYNC_WAIT_CTX_get_fd(ctx, key, fd, data)).to.equal(1);
    expect(fd.value).to.equal(r);
    expect(data.value).to.equal(wptr);
    expect(ASYNC_WAIT_CTX_clear_fd(ctx, key)).to.equal(1);
    expect(ASYNC_WAIT_CTX_clear_fd(ctx, key)).to.equal(0);
    expect(ASYNC_WAIT_CTX_get_fd(ctx, key, fd, data)).to.equal(0);
    ASYNC_WAIT_CTX_free(ctx);
    expect(isOpen(r) && isOpen(w), 'clear_fd does not run a cleanup').to.equal(true);
  });

  it('get_all_fds: counts only with null, fills the array in place', () => {
    const ctx = ASYNC_WAIT_CTX_new();
    const [r1] = openPipe();
    const [r2] = openPipe();
    const numfds: Ref<number> = { value: -1 };
    const fds: OSSL_ASYNC_FD[] = [99, 99, 99, 99];
    expect(ASYNC_WAIT_CTX_get_all_fds(ctx, fds, numfds)).to.equal(1);
    expect(numfds.value).to.equal(0);
    expect(fds).to.deep.equal([]);
    ASYNC_WAIT_CTX_set_wait_fd(ctx, 'first', r1, null, null);
    ASYNC_WAIT_CTX_set_wait_fd(ctx, 'second', r2, null, null);
    fds.push(99, 99, 99);
    expect(ASYNC_WAIT_CTX_get_all_fds(ctx, null, numfds)).to.equal(1);
    expect(numfds.value).to.equal(2);
    expect(fds, 'a counts-only call leaves the array alone').to.deep.equal([99, 99, 99]);
    const same = fds;
    expect(ASYNC_WAIT_CTX_get_all_fds(ctx, fds, numfds)).to.equal(1);
    expect(fds).to.equal(same);
    expect(fds).to.have.lengthOf(2).and.have.members([r1, r2]);
    expect(fds).to.deep.equal(ctx.getAllFds());
    ASYNC_WAIT_CTX_free(ctx);
  });

  it('get_changed_fds: counts only, in place, tracking reset on every resume', () => {
    const ctx = ASYNC_WAIT_CTX_new();
    const [r] = openPipe();
    const key = Symbol('engine');
    const job: Ref<ASYNC_JOB | null> = { value: null };
    const ret: Ref<number> = { value: 0 };
    expect(ASYNC_start_job(job, ctx, ret, () => {
      const w = ASYNC_get_wait_ctx(ASYNC_get_current_job()!)!;
      ASYNC_WAIT_CTX_set_wait_fd(w, key, r, null, null);
      ASYNC_pause_job();
      ASYNC_WAIT_CTX_clear_fd(w, key);
      ASYNC_pause_job();
      return 1;
    })).to.equal(ASYNC_PAUSE);

    const numadd: Ref<number> = { value: -1 };
    const numdel: Ref<number> = { value: -1 };
    const addfd: OSSL_ASYNC_FD[] = [7, 7, 7];
    const delfd: OSSL_ASYNC_FD[] = [7, 7, 7];
    expect(ASYNC_WAIT_CTX_get_changed_fds(ctx, null, numadd, null, numdel)).to.equal(1);
    expect([numadd.value, numdel.value]).to.deep.equal([1, 0]);
    expect([addfd, delfd], 'counts only').to.deep.equal([[7, 7, 7], [7, 7, 7]]);
    expect(ASYNC_WAIT_CTX_get_changed_fds(ctx, addfd, numadd, delfd, numdel)).to.equal(1);
    expect([addfd, delfd]).to.deep.equal([[r], []]);

    expect(ASYNC_start_job(job, ctx, ret, null)).to.equal(ASYNC_PAUSE);
    expect(ASYNC_WAIT_CTX_get_changed_fds(ctx, addfd, numadd, null, numdel)).to.equal(1);
    expect([numadd.value, numdel.value]).to.deep.equal([0, 1]);
    expect(addfd).to.deep.equal([]);
    expect(ASYNC_WAIT_CTX_get_changed_fds(ctx, null, numadd, delfd, numdel)).to.equal(1);
    expect(delfd).to.deep.equal([r]);

    expect(finish(job, ret)).to.equal(1);
    ASYNC_WAIT_CTX_free(ctx);
  });

  it('ASYNC_WAIT_CTX_free() runs each cleanup as cleanup(ctx, key, fd, custom_data)', () => {
    const ctx = ASYNC_WAIT_CTX_new();
    const [r, w] = openPipe();
    const key = {};
    const wptr: Ref<OSSL_ASYNC_FD> = { value: w };
    const calls: unknown[][] = [];
    ASYNC_WAIT_CTX_set_wait_fd(ctx, key, r, wptr, (c, k, fd, vw) => {
      calls.push([c, k, fd, vw]);
      close(fd);
      close((vw as Ref<OSSL_ASYNC_FD>).value);
    });
    ASYNC_WAIT_CTX_free(ctx);
    expect(calls).to.have.lengthOf(1);
    expect(calls[0][0]).to.equal(ctx);
    expect(calls[0][1]).to.equal(key);
    expect(calls[0][2]).to.equal(r);
    expect(calls[0][3]).to.equal(wptr);
    expect([isOpen(r), isOpen(w)]).to.deep.equal([false, false]);
  });

  it('a job woken through its pipe: ASYNC_pause_job(), ctx.wait(), ASYNC_start_job() again', async () => {
    const ctx = ASYNC_WAIT_CTX_new();
    const [r, w] = openPipe();
    const job: Ref<ASYNC_JOB | null> = { value: null };
    const ret: Ref<string> = { value: '' };
    const jobfunc = (): string => {
      ASYNC_WAIT_CTX_set_wait_fd(ASYNC_get_wait_ctx(ASYNC_get_current_job()!)!, 'pipe', r, null, null);
      ASYNC_pause_job();
      const buf = Buffer.alloc(8);
      return buf.toString('utf8', 0, fs.readSync(r, buf, 0, 8, null));
    };
    expect(ASYNC_start_job(job, ctx, ret, jobfunc)).to.equal(ASYNC_PAUSE);
    setTimeout(() => fs.writeSync(w, 'wake'), 20);
    expect(await ctx.wait({ timeout: budget(5000) })).to.deep.equal([r]);
    expect(ASYNC_start_job(job, ctx, ret, jobfunc)).to.equal(ASYNC_FINISH);
    expect(ret.value).to.equal('wake');
    ASYNC_WAIT_CTX_free(ctx);
  });
});

describe('examples/seed-example.ts (the man page\'s EXAMPLES program)', () => {
  it('prints exactly the man page\'s expected output', function () {
    this.timeout(budget(30000));
    const program = path.join(packageRoot, 'build', 'examples', 'seed-example.js');
    expect(fs.existsSync(program), `${program} (npm run build:examples)`).to.equal(true);
    const result = spawnSync(process.execPath, [program], { cwd: packageRoot, encoding: 'utf8' });
    expect({ status: result.status, signal: result.signal }, `stderr: ${result.stderr}`)
      .to.deep.equal({ status: 0, signal: null });
    // The man page's expected output, line for line (shared with npm run test:package).
    const expected = fs.readFileSync(path.join(packageRoot, 'examples', 'seed-example.expected'), 'utf8');
    expect(expected.split('\n')).to.have.length(9); // eight lines and the final newline
    expect(result.stdout).to.equal(expected);
  });
});

describe('ES module entry points', () => {
  it('import { … } from \'asyncjob\' and \'asyncjob/openssl\' give every export, as require() does', function () {
    this.timeout(budget(30000));
    const source = `
      import { createRequire } from 'node:module';
      import { startJob, WaitCtx, runJob, pipe } from 'asyncjob';
      import { ASYNC_start_job, ASYNC_WAIT_CTX_new, ASYNC_PAUSE } from 'asyncjob/openssl';
      import * as main from 'asyncjob';
      import * as openssl from 'asyncjob/openssl';
      const require = createRequire(process.cwd() + '/');
      const missing = (esm, cjs) => Object.keys(cjs).filter((name) => esm[name] !== cjs[name]);
      console.log(JSON.stringify({
        types: [startJob, WaitCtx, runJob, pipe, ASYNC_start_job, ASYNC_WAIT_CTX_new].map((f) => typeof f),
        ASYNC_PAUSE,
        missingMain: missing(main, require('asyncjob')),
        missingOpenssl: missing(openssl, require('asyncjob/openssl')),
      }));
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', source], {
      cwd: packageRoot,
      encoding: 'utf8',
    });
    expect(result.status, `stderr: ${result.stderr}`).to.equal(0);
    expect(JSON.parse(result.stdout)).to.deep.equal({
      types: Array(6).fill('function'),
      ASYNC_PAUSE: 2,
      missingMain: [],
      missingOpenssl: [],
    });
  });
});

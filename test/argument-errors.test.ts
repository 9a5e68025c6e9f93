import { expect } from 'chai';
import {
  ASYNC_FINISH,
  ASYNC_PAUSE,
  type AsyncJob,
  WaitCtx,
  cancelJob,
  getWaitCtx,
  pauseJob,
  runJob,
  startJob,
} from 'asyncjob';
import * as openssl from 'asyncjob/openssl';
import { thrown } from './throws';

// Errors name the argument actually at fault and say what to pass.
interface Coded extends Error {
  code: string;
}

async function rejected(promise: Promise<unknown>): Promise<Coded> {
  return promise.then(
    () => expect.fail('resolved'),
    (error: Coded) => error,
  );
}

function expectArgError(error: Coded, message: RegExp): void {
  expect(error).to.be.instanceOf(TypeError);
  expect(error.code).to.equal('ERR_INVALID_ARG_TYPE');
  expect(error.message).to.match(message);
}

describe('errors name the argument at fault', () => {
  it('startJob: resuming with the null job of a finished job names job and func, and says what to pass', () => {
    let r = startJob(null, null, () => {
      pauseJob();
      return 1;
    });
    expect(r.status).to.equal(ASYNC_PAUSE);
    r = startJob(r.job as AsyncJob, null, null);
    expect(r.status).to.equal(ASYNC_FINISH);
    const error = thrown<Coded>(() => startJob(r.job, null, null)); // r.job is null now
    expectArgError(error, /^The "job" argument is null and the "func" argument is null: /);
    expect(error.message).to.match(/to resume a job, pass the paused job/);
    expect(error.message).to.match(/to start one, pass a function or a NativeJobFunction/);
    expectArgError(thrown<Coded>(() => startJob(null, null, undefined as never)), /"job" argument is null and the "func" argument is undefined/);
  });

  it('startJob: a job that is neither a handle nor null is the job argument, with both choices said', () => {
    expectArgError(
      thrown<Coded>(() => startJob(undefined as never, null, null)),
      /^The "job" argument must be an instance of AsyncJob \(to resume a paused job\) or null \(to start one\)\. Received undefined$/,
    );
    expectArgError(thrown<Coded>(() => startJob({} as never, null, () => 1)), /"job" argument .* Received an instance of Object/);
  });

  it('startJob: a func of the wrong type is the func argument, when starting', () => {
    expectArgError(
      thrown<Coded>(() => startJob(null, null, 5 as never)),
      /^The "func" argument must be of type function or a NativeJobFunction \(when "job" is null\)\. Received type number \(5\)$/,
    );
    expectArgError(thrown<Coded>(() => startJob(null, 5 as never, () => 1)), /^The "ctx" argument must be an instance of WaitCtx or null/);
  });

  it('runJob: an object first is taken as options, and a bad func then says so', async () => {
    const ctx = new WaitCtx();
    expectArgError(
      await rejected(runJob(ctx as never)),
      /^The "func" argument .*the first argument, an instance of WaitCtx, was taken as options\)\. Received undefined$/,
    );
    ctx.free();
    expectArgError(await rejected(runJob(5 as never)), /^The "func" argument must be of type function or a NativeJobFunction\. Received type number \(5\)$/);
    expectArgError(await rejected(runJob({ signal: 5 } as never, () => 1)), /^The "options\.signal" argument must be an instance of AbortSignal/);
  });

  it('ASYNC_start_job names job.value, its job argument being the reference', () => {
    const ret = { value: 0 };
    expectArgError(thrown<Coded>(() => openssl.ASYNC_start_job({ value: null }, null, ret, null)), /^The "job\.value" argument is null and the "func" argument is null/);
    expectArgError(
      thrown<Coded>(() => openssl.ASYNC_start_job({ value: 5 as never }, null, ret, () => 1)),
      /^The "job\.value" argument must be an instance of AsyncJob \(to resume a paused job\) or null/,
    );
    expectArgError(thrown<Coded>(() => openssl.ASYNC_start_job({ value: null }, null, ret, 5 as never)), /"func" argument .*\(when "job\.value" is null\)/);
    expectArgError(thrown<Coded>(() => openssl.ASYNC_start_job(null as never, null, ret, () => 1)), /^The "job" argument must be a reference object/);
    // A resume from the reference ASYNC_start_job filled works as before.
    const job: openssl.Ref<openssl.ASYNC_JOB | null> = { value: null };
    expect(openssl.ASYNC_start_job(job, null, ret, () => (pauseJob(), 7))).to.equal(ASYNC_PAUSE);
    expect(openssl.ASYNC_start_job(job, null, ret, null)).to.equal(ASYNC_FINISH);
    expect(ret.value).to.equal(7);
  });

  it('ASYNC_WAIT_CTX_free says null is accepted too', () => {
    expectArgError(thrown<Coded>(() => openssl.ASYNC_WAIT_CTX_free(5 as never)), /^The "ctx" argument must be an instance of WaitCtx or null\./);
    expect(() => openssl.ASYNC_WAIT_CTX_free(null)).not.to.throw();
  });

  it("WaitCtx's native setCallback, reached past the class, says null is accepted too", () => {
    const ctx = new WaitCtx();
    const native = Object.getPrototypeOf(WaitCtx.prototype) as { setCallback(callback: unknown, arg?: unknown): boolean };
    expectArgError(thrown<Coded>(() => native.setCallback.call(ctx, 5)), /^The "callback" argument must be of type function or null\./);
    expect(native.setCallback.call(ctx, null)).to.equal(true);
    ctx.free();
  });

  it('cancelJob and getWaitCtx name their job argument', () => {
    expectArgError(thrown<Coded>(() => cancelJob(null as never)), /^The "job" argument must be an instance of AsyncJob\. Received null$/);
    expectArgError(thrown<Coded>(() => getWaitCtx(5 as never)), /^The "job" argument must be an instance of AsyncJob\. Received type number/);
  });
});

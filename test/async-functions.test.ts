import { expect } from 'chai';
import * as path from 'node:path';
import {
  ASYNC_FINISH,
  type NativeJobFunction,
  jobAwait,
  pauseJob,
  runJob,
  startJob,
} from 'asyncjob';
import { thrown } from './throws';

// No silent async jobs: an async function would run in the job only to its first await, so
// startJob and runJob refuse it up front; a job function that returns a thenable ends its job
// with the same error, and the thenable's outcome is neither lost nor reported as unhandled.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const client = require(path.resolve(__dirname, '..', '..', 'test', 'native-client')) as {
  jobsInUse(): number;
  pauser(n: number): NativeJobFunction;
};

interface Refusal extends TypeError {
  code: string;
  promise?: unknown;
}

function expectRefusal(error: Refusal, message: RegExp): void {
  expect(error).to.be.instanceOf(TypeError);
  expect(error.code).to.equal('ERR_ASYNCJOB_ASYNC_FUNCTION');
  expect(error.message).to.match(message);
  expect(error.message).to.match(/jobAwait\(promise\)/);
}

// Every kind of async function, also where only its prototype tells.
const asyncFunctions: [string, (...args: any[]) => unknown][] = [
  ['an async function', async function named() {}],
  ['an async arrow', async () => 1],
  ['an async method', { async m() {} }.m],
  ['a bound async function', async function bound() {}.bind(null)],
  ['a Proxy of an async function', new Proxy(async () => 1, {})],
];
const asyncGenerators: [string, (...args: any[]) => unknown][] = [
  ['an async generator function', async function* gen() {}],
  ['a bound async generator function', async function* gen() {}.bind(null)],
];

describe('startJob and runJob refuse async functions (ERR_ASYNCJOB_ASYNC_FUNCTION)', () => {
  for (const [what, fn] of asyncFunctions) {
    it(`startJob refuses ${what} before any job starts`, () => {
      let ran = false;
      const spy = new Proxy(fn, { apply: () => (ran = true) });
      expectRefusal(thrown<Refusal>(() => startJob(null, null, spy)), /must not be an async function: .*first `await`/);
      expect(ran).to.equal(false);
      expect(client.jobsInUse()).to.equal(0);
    });

    it(`runJob rejects ${what} with the same error`, async () => {
      const error = await runJob(fn).then(
        () => expect.fail('resolved'),
        (e: Refusal) => e,
      );
      expectRefusal(error, /must not be an async function/);
      const withOptions = await runJob({}, fn).then(
        () => expect.fail('resolved'),
        (e: Refusal) => e,
      );
      expect(withOptions.code).to.equal('ERR_ASYNCJOB_ASYNC_FUNCTION');
    });
  }

  for (const [what, fn] of asyncGenerators) {
    it(`refuses ${what}: its body would run as it is iterated, outside the job`, async () => {
      expectRefusal(thrown<Refusal>(() => startJob(null, null, fn)), /must not be an async generator function: .*iterated/);
      const error = await runJob(fn).then(() => expect.fail('resolved'), (e: Refusal) => e);
      expect(error.code).to.equal('ERR_ASYNCJOB_ASYNC_FUNCTION');
    });
  }

  it('still runs plain functions, generator functions and native job functions', async () => {
    expect(startJob(null, null, () => 1).ret).to.equal(1);
    const r = startJob(null, null, function* () {
      yield 1;
    });
    expect(r.status).to.equal(ASYNC_FINISH);
    expect(await runJob(client.pauser(1))).to.equal(1); // it paused once and returned 1
  });
});

describe('a job function returning a thenable ends its job with ERR_ASYNCJOB_ASYNC_FUNCTION', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  // Lets any unhandled rejection be reported: Node reports them after the microtasks drain.
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

  it('startJob throws it after the job ran to its end, the promise as its `promise`', async () => {
    const promise = Promise.resolve(5);
    let after = false;
    const error = thrown<Refusal>(() =>
      startJob(null, null, () => {
        after = true; // a plain function that returns a promise instead of waiting for it
        return promise;
      }),
    );
    expectRefusal(error, /returned a promise \(a thenable\)/);
    expect(after).to.equal(true);
    expect(error.promise).to.equal(promise);
    expect(await (error.promise as Promise<number>)).to.equal(5);
    expect(client.jobsInUse()).to.equal(0);
  });

  it('a rejected promise is not reported as unhandled, and its reason stays reachable', async () => {
    const reason = new Error('the engine failed');
    const error = thrown<Refusal>(() => startJob(null, null, () => Promise.reject(reason)));
    expect(error.code).to.equal('ERR_ASYNCJOB_ASYNC_FUNCTION');
    await settle();
    expect(unhandled).to.deep.equal([]);
    expect(await (error.promise as Promise<never>).catch((e: unknown) => e)).to.equal(reason);
  });

  it('also after pauses, and for a thenable that is no Promise', () => {
    let thenCalls = 0;
    const thenable = { then: (_resolve: unknown, reject: unknown) => (thenCalls++, expect(reject).to.be.a('function')) };
    let r = startJob(null, null, () => {
      pauseJob();
      return thenable;
    });
    expect(r.job).not.to.equal(null);
    const error = thrown<Refusal>(() => (r = startJob(r.job, null, null)));
    expect(error.code).to.equal('ERR_ASYNCJOB_ASYNC_FUNCTION');
    expect(error.promise).to.equal(thenable);
    expect(thenCalls).to.equal(1); // the rejection handler
  });

  it('a thenable whose then() throws is refused all the same; a throwing `then` getter is no thenable', () => {
    const throwingThen = {
      then() {
        throw new Error('then threw');
      },
    };
    expect(thrown<Refusal>(() => startJob(null, null, () => throwingThen)).code).to.equal('ERR_ASYNCJOB_ASYNC_FUNCTION');
    const throwingGetter = Object.defineProperty({}, 'then', {
      get() {
        throw new Error('getter threw');
      },
    });
    // Not a thenable anyone can tell: it is the job's value, as before.
    expect(startJob(null, null, () => throwingGetter).ret).to.equal(throwingGetter);
  });

  it('runJob rejects with it; the promise rejection is not unhandled', async () => {
    const reason = new Error('late');
    const error = await runJob(() => {
      pauseJob();
      return Promise.reject(reason);
    }).then(() => expect.fail('resolved'), (e: Refusal) => e);
    expectRefusal(error, /returned a promise/);
    await settle();
    expect(unhandled).to.deep.equal([]);
    expect(await (error.promise as Promise<never>).catch((e: unknown) => e)).to.equal(reason);
  });

  it('waiting for the promise with jobAwait() is the way: the job returns its value', async () => {
    expect(await runJob(() => jobAwait(Promise.resolve(5)) + 1)).to.equal(6);
  });
});

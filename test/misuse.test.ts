import { expect } from 'chai';
import { inspect } from 'node:util';
import * as asyncjob from 'asyncjob';
import * as openssl from 'asyncjob/openssl';

// JS misuse must never crash the process: every public function, fed values of every kind,
// either works or throws an Error (TypeError/RangeError or a coded ERR_ASYNCJOB_* error).
const oddValues: unknown[] = [
  undefined, null, 0, -1, 1.5, NaN, Infinity, 2 ** 40, -0, '', 'x', true, Symbol('s'), 10n,
  {}, [], [1, 2], () => 1, new Map(), Object.create(null), new Proxy({}, {}),
];

function callSafely(fn: (...args: unknown[]) => unknown, args: unknown[]): void {
  try {
    const result = fn(...args);
    if (result instanceof Promise) result.catch(() => undefined);
  } catch (error) {
    if (!(error instanceof Error)) expect.fail(`${fn.name}(${inspect(args)}) threw a non-Error: ${inspect(error)}`);
    const code = (error as { code?: unknown }).code;
    if (code !== undefined) expect(String(code)).to.match(/^(ERR_|ABORT_ERR|E[A-Z]+$)/);
  }
}

describe('misuse never crashes the process', () => {
  after(() => {
    // Whatever paused jobs the calls above left behind are unwound, and the pool is usable.
    asyncjob.initThread(0, 0);
  });

  for (const [name, module] of [['asyncjob', asyncjob], ['asyncjob/openssl', openssl]] as const) {
    it(`${name}: every function with odd arguments in every position`, () => {
      const functions = Object.entries(module).filter(([, v]) => typeof v === 'function') as Array<
        [string, (...args: unknown[]) => unknown]
      >;
      expect(functions.length).to.be.greaterThan(10);
      for (const [fnName, fn] of functions) {
        if (fnName === 'pipe') continue; // opens real fds: covered by pipe.test.ts
        if (/^[A-Z]/.test(fnName) && fn.prototype !== undefined && fnName !== fnName.toUpperCase()) {
          // classes: constructing them with odd arguments
          for (const v of oddValues) callSafely((...a: unknown[]) => new (fn as unknown as new (...x: unknown[]) => unknown)(...a), [v]);
          continue;
        }
        callSafely(fn, []);
        for (const v of oddValues) {
          callSafely(fn, [v]);
          callSafely(fn, [null, v]);
          callSafely(fn, [v, v, v]);
          callSafely(fn, [null, null, v]);
        }
      }
    });
  }

  it('WaitCtx methods with odd arguments, before and after free()', () => {
    const ctx = new asyncjob.WaitCtx();
    const methods = ['setWaitFd', 'getFd', 'getAllFds', 'getChangedFds', 'clearFd', 'setCallback', 'getCallback', 'setStatus', 'getStatus', 'waitSync'] as const;
    for (const freed of [false, true]) {
      if (freed) ctx.free();
      for (const m of methods) {
        const fn = (ctx[m] as (...args: unknown[]) => unknown).bind(ctx);
        for (const v of oddValues) {
          callSafely(fn, [v]);
          callSafely(fn, [v, v]);
          callSafely(fn, [Symbol('k'), v, v, v]);
        }
      }
    }
  });

  it('a stale, foreign or fake job handle is refused with a coded error', () => {
    const r = asyncjob.startJob(null, null, () => asyncjob.pauseJob());
    const job = r.job!;
    asyncjob.startJob(job, null, null);
    for (const fn of [() => asyncjob.startJob(job, null, null), () => asyncjob.getWaitCtx(job), () => asyncjob.cancelJob(job)]) {
      expect(fn).to.throw(Error).with.property('code', 'ERR_ASYNCJOB_JOB_FINISHED');
    }
    const fake = Object.create(asyncjob.AsyncJob.prototype);
    expect(() => asyncjob.startJob(fake, null, null)).to.throw(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
  });

  it('the process still works afterwards', async () => {
    expect(await asyncjob.runJob((a: number) => {
      asyncjob.pauseJob();
      return a + 1;
    }, 41)).to.equal(42);
  });
});

describe('every method and accessor of the addon\'s classes checks its receiver', () => {
  // As Node's own "Illegal invocation" cases, but coded: nothing reads another object (an AsyncJob
  // handle, another addon's tagged object) as a WaitCtx.
  async function expectRefused(fn: (...args: unknown[]) => unknown, self: unknown, what: string): Promise<void> {
    let error: unknown;
    try {
      const result = Reflect.apply(fn, self, []);
      if (!(result instanceof Promise)) expect.fail(`${what} on ${inspect(self)} returned ${inspect(result)}`);
      await result;
      expect.fail(`${what} on ${inspect(self)} resolved`);
    } catch (caught) {
      error = caught;
    }
    expect(error, `${what} on ${inspect(self)}`).to.be.instanceOf(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
    expect((error as Error).message, what).to.contain('"this" argument must be an instance of WaitCtx');
  }

  it('WaitCtx (the class and its native base), AsyncJob, NativeJobFunction: every own member', async () => {
    const path = require('node:path') as typeof import('node:path');
    const client = require(path.resolve(__dirname, '..', '..', 'test', 'native-client', 'index.js')) as {
      pauser(n: number): asyncjob.NativeJobFunction;
      wrongTagObject(): object;
      untaggedExternal(): object;
    };
    const { WaitCtx, AsyncJob, NativeJobFunction } = asyncjob;
    const nativeWaitCtx = Object.getPrototypeOf(WaitCtx.prototype) as object;
    const live = new WaitCtx();
    const paused = asyncjob.startJob(null, null, () => asyncjob.pauseJob());
    const receivers: unknown[] = [
      undefined, null, 0, 'x', {}, () => 1, new Proxy(live, {}),
      Object.create(WaitCtx.prototype), Object.create(nativeWaitCtx), WaitCtx.prototype, nativeWaitCtx,
      paused.job, AsyncJob.prototype, client.pauser(1), asyncjob.nativeApi,
      client.wrongTagObject(), client.untaggedExternal(),
    ];
    const members: string[] = [];
    for (const [name, prototype] of [
      ['WaitCtx', WaitCtx.prototype], ['native WaitCtx', nativeWaitCtx],
      ['AsyncJob', AsyncJob.prototype], ['NativeJobFunction', NativeJobFunction.prototype],
    ] as const) {
      for (const key of Reflect.ownKeys(prototype)) {
        if (key === 'constructor') continue;
        const descriptor = Object.getOwnPropertyDescriptor(prototype, key)!;
        if (key === inspect.custom) {
          // What util.inspect calls: never throws, says what it was called on.
          for (const self of receivers) expect(Reflect.apply(descriptor.value, self, [])).to.be.a('string');
          continue;
        }
        for (const fn of [descriptor.value, descriptor.get, descriptor.set]) {
          if (typeof fn !== 'function') continue;
          members.push(`${name}.${String(key)}`);
          for (const self of receivers) await expectRefused(fn, self, `${name}.${String(key)}`);
        }
      }
    }
    expect(members).to.include.members(['WaitCtx.wait', 'WaitCtx.waitSync', 'native WaitCtx.freed', 'native WaitCtx.getFd']);
    // AsyncJob and NativeJobFunction are opaque handles: no members to misuse.
    expect(members.filter((m) => !m.includes('WaitCtx'))).to.deep.equal([]);
    expect(live.freed, 'the real WaitCtx behind the proxy is untouched').to.equal(false);
    asyncjob.cancelJob(paused.job!);
    live.free();
  });
});

describe('loading beside another copy of asyncjob', () => {
  it('loads when the global nativeApi slot is already taken (a nested second copy)', () => {
    const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
    const script = `
      Object.defineProperty(globalThis, Symbol.for('asyncjob.nativeApi'), { value: 'taken first' });
      const { startJob } = require(process.argv[1]);
      console.log(startJob(null, null, () => 'works').ret, globalThis[Symbol.for('asyncjob.nativeApi')]);
    `;
    const child = spawnSync(process.execPath, ['-e', script, require.resolve('asyncjob')], { encoding: 'utf8' });
    expect(child.status, child.stderr).to.equal(0);
    expect(child.stdout.trim()).to.equal('works taken first');
  });
});

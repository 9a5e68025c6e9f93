import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { ASYNC_PAUSE, cancelJob, pauseJob, pipe, startJob, WaitCtx } from 'asyncjob';
import { budget } from './time-scale';
import { expectCode } from './throws';

const onWindows = process.platform === 'win32' ? describe : describe.skip;

// The binding's own methods, to check that they re-check what the TypeScript layer validates.
const native = Object.getPrototypeOf(WaitCtx.prototype) as Record<string, (...args: unknown[]) => unknown>;

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; fd?: number }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected the promise to reject');
}

// Runs `code` in a fresh node (extra flags first); returns its exit status, stdout and stderr.
function runChild(code: string, flags: string[] = []): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...flags, '-e', code, require.resolve('asyncjob')], {
    encoding: 'utf8',
    timeout: budget(30000),
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('WaitCtx', () => {
  let ctx: WaitCtx;
  beforeEach(() => {
    ctx = new WaitCtx();
  });
  afterEach(() => {
    ctx.free();
  });

  it('starts empty: no fds, no callback, status 0, not freed', () => {
    expect(ctx).to.be.instanceOf(WaitCtx);
    expect(ctx.getAllFds()).to.deep.equal([]);
    expect(ctx.getChangedFds()).to.deep.equal({ added: [], deleted: [] });
    expect(ctx.getCallback()).to.equal(null);
    expect(ctx.getStatus()).to.equal(0);
    expect(ctx.freed).to.equal(false);
  });

  describe('keys', () => {
    it('compare by SameValueZero: NaN finds NaN, -0 finds +0', () => {
      expect(ctx.setWaitFd(NaN, 5)).to.equal(true);
      expect(ctx.setWaitFd(-0, 6)).to.equal(true);
      expect(ctx.getFd(Number('not a number'))).to.deep.equal({ fd: 5, customData: undefined });
      expect(ctx.getFd(0)).to.deep.equal({ fd: 6, customData: undefined });
      expect(ctx.clearFd(+0)).to.equal(true);
      expect(ctx.getFd(-0)).to.equal(null);
      expect(ctx.getFd(NaN)).to.deep.equal({ fd: 5, customData: undefined });
    });

    it('compare objects by identity and primitives by value', () => {
      const a = { name: 'a' };
      const lookalike = { name: 'a' };
      ctx.setWaitFd(a, 7);
      ctx.setWaitFd('7', 8);
      ctx.setWaitFd(7, 9);
      expect(ctx.getFd(a)?.fd).to.equal(7);
      expect(ctx.getFd(lookalike)).to.equal(null);
      expect(ctx.getFd('7')?.fd).to.equal(8);
      expect(ctx.getFd(7)?.fd).to.equal(9);
      expect(ctx.getFd(undefined)).to.equal(null);
    });

    it('accept undefined, null, symbols and functions as keys', () => {
      const symbol = Symbol('k');
      const fn = () => 0;
      const keys: unknown[] = [undefined, null, symbol, fn];
      keys.forEach((key, i) => ctx.setWaitFd(key, 10 + i));
      keys.forEach((key, i) => expect(ctx.getFd(key)?.fd, String(key)).to.equal(10 + i));
      expect(ctx.getFd(Symbol('k'))).to.equal(null);
    });

    it('set twice add a second entry; getFd and clearFd act on the newest', () => {
      const key = {};
      ctx.setWaitFd(key, 3, 'first');
      ctx.setWaitFd(key, 4, 'second');
      expect(ctx.getAllFds()).to.deep.equal([4, 3]);
      expect(ctx.getFd(key)).to.deep.equal({ fd: 4, customData: 'second' });
      expect(ctx.clearFd(key)).to.equal(true);
      expect(ctx.getFd(key)).to.deep.equal({ fd: 3, customData: 'first' });
      expect(ctx.clearFd(key)).to.equal(true);
      expect(ctx.getFd(key)).to.equal(null);
      expect(ctx.clearFd(key)).to.equal(false);
      expect(ctx.getAllFds()).to.deep.equal([]);
    });

    it('can be set again after they were cleared', () => {
      ctx.setWaitFd('k', 3, 'old');
      ctx.clearFd('k');
      ctx.setWaitFd('k', 4, 'new');
      expect(ctx.getFd('k')).to.deep.equal({ fd: 4, customData: 'new' });
    });
  });

  it('returns the very customData object that was set', () => {
    const data = { buffer: Buffer.from('x') };
    ctx.setWaitFd('k', 3, data);
    expect(ctx.getFd('k')?.customData).to.equal(data);
  });

  it('clearFd returns false for keys that were never set', () => {
    ctx.setWaitFd('set', 3);
    expect(ctx.clearFd('other')).to.equal(false);
    expect(ctx.clearFd({})).to.equal(false);
    expect(ctx.getAllFds()).to.deep.equal([3]);
  });

  it('getAllFds lists every fd set, newest first, one per entry', () => {
    ctx.setWaitFd('a', 3);
    ctx.setWaitFd('b', 9);
    ctx.setWaitFd('c', 3);
    expect(ctx.getAllFds()).to.deep.equal([3, 9, 3]);
    ctx.clearFd('b');
    expect(ctx.getAllFds()).to.deep.equal([3, 3]);
  });

  it('getChangedFds outside any job reports every fd added since creation', () => {
    ctx.setWaitFd('a', 3);
    ctx.setWaitFd('b', 4);
    ctx.setWaitFd('c', 5);
    ctx.clearFd('b'); // added and cleared before any resume: it never happened
    expect(ctx.getChangedFds()).to.deep.equal({ added: [5, 3], deleted: [] });
  });

  it('accepts the whole fd range 0 to 2^31-1', () => {
    expect(ctx.setWaitFd('low', 0)).to.equal(true);
    expect(ctx.setWaitFd('high', 2 ** 31 - 1)).to.equal(true);
    expect(ctx.getAllFds()).to.deep.equal([2 ** 31 - 1, 0]);
  });

  describe('callback and status', () => {
    it('stores the callback with its argument, and null removes it', () => {
      const callback = (arg: unknown) => arg;
      const arg = { job: 1 };
      expect(ctx.setCallback(callback, arg)).to.equal(true);
      const stored = ctx.getCallback();
      expect(stored?.callback).to.equal(callback);
      expect(stored?.arg).to.equal(arg);
      expect(ctx.setCallback(null)).to.equal(true);
      expect(ctx.getCallback()).to.equal(null);
    });

    it('replaces the callback; an omitted argument is undefined', () => {
      ctx.setCallback(() => 1, 'a');
      const second = () => 2;
      ctx.setCallback(second);
      expect(ctx.getCallback()).to.deep.equal({ callback: second, arg: undefined });
    });

    it('keeps the status last set, any 32-bit integer', () => {
      expect(ctx.setStatus(3)).to.equal(true);
      expect(ctx.getStatus()).to.equal(3);
      ctx.setStatus(-(2 ** 31));
      expect(ctx.getStatus()).to.equal(-(2 ** 31));
      ctx.setStatus(2 ** 31 - 1);
      expect(ctx.getStatus()).to.equal(2 ** 31 - 1);
    });
  });

  describe('free()', () => {
    it('runs the cleanup of every fd still set with (ctx, key, fd, customData), newest first', () => {
      const calls: unknown[][] = [];
      const cleanup = (...args: unknown[]) => {
        calls.push(args);
      };
      const key = { id: 'obj' };
      ctx.setWaitFd(key, 3, 'data3', cleanup);
      ctx.setWaitFd('cleared', 4, 'data4', cleanup);
      ctx.setWaitFd(NaN, 5, undefined, cleanup);
      ctx.setWaitFd('no cleanup', 6, 'data6');
      ctx.setWaitFd(key, 7, 'data7', cleanup);
      ctx.clearFd('cleared');
      ctx.free();
      expect(calls).to.have.lengthOf(3);
      expect(calls[0]).to.deep.equal([ctx, key, 7, 'data7']);
      expect(calls[0][0]).to.equal(ctx);
      expect(calls[0][1]).to.equal(key);
      expect(calls[1]).to.deep.equal([ctx, NaN, 5, undefined]);
      expect(calls[2]).to.deep.equal([ctx, key, 3, 'data3']);
    });

    it('does not run the cleanup of fds that were cleared', () => {
      let ran = 0;
      ctx.setWaitFd('k', 3, null, () => ran++);
      ctx.clearFd('k');
      ctx.free();
      expect(ran).to.equal(0);
    });

    it('counts as freed while the cleanups run', () => {
      const seen: unknown[] = [];
      ctx.setWaitFd('k', 3, null, (c) => {
        seen.push(c.freed);
        try {
          c.getAllFds();
        } catch (error) {
          seen.push((error as { code?: string }).code);
        }
        c.free(); // a no-op, not a recursion
      });
      ctx.free();
      expect(seen).to.deep.equal([true, 'ERR_ASYNCJOB_WAIT_CTX_FREED']);
    });

    it('runs every cleanup when one throws, then rethrows the first exception', () => {
      const ran: number[] = [];
      const first = new Error('first');
      ctx.setWaitFd('a', 3, null, () => {
        ran.push(3);
        throw new Error('second');
      });
      ctx.setWaitFd('b', 4, null, () => {
        ran.push(4);
        throw first;
      });
      expect(() => ctx.free()).to.throw(Error).that.equals(first);
      expect(ran).to.deep.equal([4, 3]);
      expect(ctx.freed).to.equal(true);
    });

    it('makes every method throw ERR_ASYNCJOB_WAIT_CTX_FREED; a second free() is a no-op', async () => {
      let cleanups = 0;
      ctx.setWaitFd('k', 3, null, () => cleanups++);
      ctx.free();
      expect(ctx.freed).to.equal(true);
      expect(() => ctx.free()).to.not.throw();
      expect(cleanups).to.equal(1);
      const calls: Array<[string, () => unknown]> = [
        ['setWaitFd', () => ctx.setWaitFd('k', 3)],
        ['getFd', () => ctx.getFd('k')],
        ['getAllFds', () => ctx.getAllFds()],
        ['getChangedFds', () => ctx.getChangedFds()],
        ['clearFd', () => ctx.clearFd('k')],
        ['setCallback', () => ctx.setCallback(() => 1)],
        ['getCallback', () => ctx.getCallback()],
        ['setStatus', () => ctx.setStatus(1)],
        ['getStatus', () => ctx.getStatus()],
        ['waitSync', () => ctx.waitSync(0)],
        ['pollFds', () => ctx.pollFds([], 0, () => undefined)],
        ['pollFdsSync', () => ctx.pollFdsSync([], 0)],
      ];
      for (const [name, call] of calls) {
        expect(call, name).to.throw(Error).with.property('code', 'ERR_ASYNCJOB_WAIT_CTX_FREED');
      }
      expect(await rejection(ctx.wait())).to.have.property('code', 'ERR_ASYNCJOB_WAIT_CTX_FREED');
    });

    it('is what Symbol.dispose calls, so `using` frees the context', () => {
      const calls: unknown[] = [];
      let inner: WaitCtx | undefined;
      {
        using scoped = new WaitCtx();
        inner = scoped;
        scoped.setWaitFd('k', 3, 'data', (c, key, fd, data) => calls.push(c === scoped, key, fd, data));
      }
      expect(calls).to.deep.equal([true, 'k', 3, 'data']);
      expect(inner.freed).to.equal(true);
      expect(WaitCtx.prototype[Symbol.dispose]).to.be.a('function');
    });
  });

  describe('argument validation', () => {
    it('rejects bad fds with TypeError or RangeError', () => {
      expectCode(() => ctx.setWaitFd('k', '3' as unknown as number), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => ctx.setWaitFd('k', undefined as unknown as number), 'ERR_INVALID_ARG_TYPE', TypeError);
      for (const fd of [-1, 1.5, 2 ** 31, Infinity, NaN]) {
        expectCode(() => ctx.setWaitFd('k', fd), 'ERR_OUT_OF_RANGE', RangeError);
      }
      expect(ctx.getAllFds()).to.deep.equal([]);
    });

    it('rejects a cleanup or callback that is not a function', () => {
      expectCode(() => ctx.setWaitFd('k', 3, null, 'x' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => ctx.setWaitFd('k', 3, null, null as never), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => ctx.setCallback({} as never), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => ctx.setCallback(undefined as never), 'ERR_INVALID_ARG_TYPE', TypeError);
      expect(ctx.getAllFds()).to.deep.equal([]);
      expect(ctx.getCallback()).to.equal(null);
    });

    it('rejects a status that is not a 32-bit integer', () => {
      expectCode(() => ctx.setStatus('1' as unknown as number), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => ctx.setStatus(1.5), 'ERR_OUT_OF_RANGE', RangeError);
      expectCode(() => ctx.setStatus(2 ** 31), 'ERR_OUT_OF_RANGE', RangeError);
      expect(ctx.getStatus()).to.equal(0);
    });

    it('rejects bad wait options and timeouts', async () => {
      expect(await rejection(ctx.wait(null as never))).to.be.instanceOf(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
      expect(await rejection(ctx.wait({ timeout: -1 }))).to.be.instanceOf(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
      expect(await rejection(ctx.wait({ timeout: '1' as never }))).to.be.instanceOf(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
      expect(await rejection(ctx.wait({ signal: {} as never }))).to.be.instanceOf(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
      expectCode(() => ctx.waitSync(-2), 'ERR_OUT_OF_RANGE', RangeError);
      expectCode(() => ctx.waitSync(0.5), 'ERR_OUT_OF_RANGE', RangeError);
      expectCode(() => ctx.pollFds('3' as never, 0, () => undefined), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => ctx.pollFds([-3], 0, () => undefined), 'ERR_OUT_OF_RANGE', RangeError);
      expectCode(() => ctx.pollFds([], 0, 'done' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => ctx.pollFdsSync([3.5], 0), 'ERR_OUT_OF_RANGE', RangeError);
    });

    it('is re-checked natively: bad values reaching the binding throw, never crash', () => {
      expectCode(() => native.setWaitFd.call(ctx, 'k', '3'), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => native.setWaitFd.call(ctx, 'k', -1), 'ERR_OUT_OF_RANGE', RangeError);
      expectCode(() => native.setWaitFd.call(ctx, 'k', 2 ** 31), 'ERR_OUT_OF_RANGE', RangeError);
      expectCode(() => native.setWaitFd.call(ctx, 'k', 3, null, 42), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => native.setCallback.call(ctx, 'cb'), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => native.setStatus.call(ctx, 2 ** 40), 'ERR_OUT_OF_RANGE', RangeError);
      expectCode(() => native.pollFds.call(ctx, [3], 0, null), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => native.pollFds.call(ctx, ['3'], 0, () => undefined), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => native.pollFdsSync.call(ctx, {}, 0), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => native.pollFdsSync.call(ctx, [3], -5), 'ERR_OUT_OF_RANGE', RangeError);
      expect(() => native.getFd.call({}, 'k')).to.throw(Error);
      expect(ctx.getAllFds()).to.deep.equal([]);
    });
  });

  it('wait() resolves with [] on the next turn of the event loop when no fds are set, whatever the timeout', async function () {
    const started = Date.now();
    let resolved = false;
    const waiting = ctx.wait().then((fds) => {
      resolved = true;
      return fds;
    });
    for (let i = 0; i < 100; i++) await Promise.resolve();
    expect(resolved, 'not in a microtask').to.equal(false);
    expect(await waiting).to.deep.equal([]);
    expect(await ctx.wait({ timeout: budget(10000) })).to.deep.equal([]);
    expect(Date.now() - started).to.be.below(budget(1000));
    expect(ctx.waitSync()).to.deep.equal([]);
  });

  it('wait() with no fds drives the documented loop for a job that waits for a timer', async function () {
    let fired = false;
    setTimeout(() => {
      fired = true;
    }, 20);
    let r = startJob(null, ctx, () => {
      while (!fired) pauseJob();
      return 'timer fired';
    });
    let iterations = 0;
    const started = Date.now();
    // A wait that never yields to the event loop starves the timer: give up after 2 s.
    while (r.status === ASYNC_PAUSE && Date.now() - started < 2000) {
      await ctx.wait();
      iterations++;
      r = startJob(r.job, null, null);
    }
    if (r.status === ASYNC_PAUSE) cancelJob(r.job!);
    expect(r.ret, `after ${iterations} iterations`).to.equal('timer fired');
    expect(iterations, 'about one per turn of the event loop for 20 ms').to.be.below(10000);
  });

  it('a wait with no fds is pending like any other: free() before the next turn rejects it', async function () {
    const fresh = new WaitCtx();
    const waiting = fresh.wait();
    fresh.free();
    const error = await waiting.then(() => null, (e: unknown) => e);
    expect(error).to.have.property('code', 'ERR_ASYNCJOB_WAIT_CTX_FREED');
  });

  // Zero-delay waits in a loop, started from the previous wait's callback: each must let the
  // loop's other timers run. (With a zero-delay libuv timer, libuv before 1.47 ran the next one
  // in the same timer phase, so a 20 ms timer never fired.)
  for (const [name, waitOnce] of [
    ['wait({ timeout: 0 }) on an fd that stays unreadable', (c: WaitCtx) => c.wait({ timeout: 0 })],
    ['pollFds([], -1) with no fds', (c: WaitCtx) => new Promise<unknown>((resolve) => c.pollFds([], -1, resolve))],
  ] as const) {
    it(`${name}, in a loop, lets a timer fire`, async function () {
      const [readFd, writeFd] = pipe();
      const fresh = new WaitCtx();
      fresh.setWaitFd('never', readFd, null, () => {
        fs.closeSync(readFd);
        fs.closeSync(writeFd);
      });
      let fired = false;
      setTimeout(() => {
        fired = true;
      }, 20);
      let iterations = 0;
      const started = Date.now();
      while (!fired && Date.now() - started < 2000) {
        await waitOnce(fresh);
        iterations++;
      }
      fresh.free();
      expect(fired, `after ${iterations} iterations`).to.equal(true);
      expect(iterations).to.be.below(10000);
    });
  }

  it('survives many contexts that are dropped without free() (garbage collection)', function () {
    // Cleanups and callbacks that refer back to their context must not keep it alive, and the
    // finalizer must release everything without calling into JavaScript.
    //
    // The FinalizationRegistry counts deaths through a task V8 posts to the event loop, which may
    // come several loop turns after gc(): on Windows, every context with a callback owns a
    // threadsafe function whose release at finalization queues one completion on the loop's
    // IOCP, and libuv takes at most 128 completions a turn (src/win/core.c, uv__poll), so the
    // 1000 released per round below put the cleanup task about 8 turns back (on Linux, one
    // eventfd wakes them all in one turn). So the child waits, turn by turn, for all of them.
    const child = `
      const { WaitCtx } = require(process.argv[1]);
      let cleanups = 0, collected = 0;
      const registry = new FinalizationRegistry(() => collected++);
      function churn(n) {
        for (let i = 0; i < n; i++) {
          const ctx = new WaitCtx();
          ctx.setWaitFd(ctx, 1000 + i, ctx, () => cleanups++);
          ctx.setWaitFd({ i }, 2000 + i, { ctx }, (c) => { cleanups++; c.getStatus(); });
          ctx.clearFd(ctx);
          if (i % 2 === 0) ctx.setCallback(() => ctx, ctx);
          ctx.setStatus(i);
          registry.register(ctx, i);
        }
      }
      (async () => {
        for (let round = 0; round < 5; round++) {
          churn(2000);
          globalThis.gc();
          await new Promise((resolve) => setImmediate(resolve));
        }
        globalThis.gc();
        const deadline = Date.now() + 10000;
        while (collected < 10000 && Date.now() < deadline) {
          await new Promise((resolve) => setImmediate(resolve));
        }
        const ctx = new WaitCtx();
        let freedCleanup = 0;
        ctx.setWaitFd('k', 3, null, () => freedCleanup++);
        ctx.free();
        console.log(JSON.stringify({ cleanups, collected, freedCleanup }));
      })();
    `;
    const result = runChild(child, ['--expose-gc']);
    expect(result.status, `stderr: ${result.stderr}`).to.equal(0);
    const report = JSON.parse(result.stdout);
    expect(report.cleanups, 'cleanups run by garbage collection').to.equal(0);
    expect(report.collected, 'contexts collected').to.equal(10000);
    expect(report.freedCleanup).to.equal(1);
  });
});

describe('WaitCtx with real fds (pipe())', () => {
  let ctx: WaitCtx;
  let open: number[] = [];
  beforeEach(() => {
    ctx = new WaitCtx();
  });
  afterEach(() => {
    ctx.free();
    for (const fd of open) fs.closeSync(fd);
    open = [];
  });
  function openPipe(): [number, number] {
    const ends = pipe();
    open.push(...ends);
    return ends;
  }
  function closeNow(fd: number): void {
    fs.closeSync(fd);
    open = open.filter((other) => other !== fd);
  }

  it('runs cleanups that close real fds on free()', () => {
    const [readFd, writeFd] = pipe();
    ctx.setWaitFd('pipe', readFd, writeFd, (_c, _key, fd, other) => {
      fs.closeSync(fd);
      fs.closeSync(other as number);
    });
    ctx.free();
    expectCode(() => fs.fstatSync(readFd), 'EBADF');
    expectCode(() => fs.fstatSync(writeFd), 'EBADF');
  });

  it('wait() resolves with the fd once a byte arrives, not before', async () => {
    const [readFd, writeFd] = openPipe();
    ctx.setWaitFd('k', readFd);
    let written = false;
    setTimeout(() => {
      written = true;
      fs.writeSync(writeFd, 'x');
    }, 30);
    const readable = await ctx.wait();
    expect(written).to.equal(true);
    expect(readable).to.deep.equal([readFd]);
  });

  it('wait() reports every fd readable at that moment', async () => {
    const [readA, writeA] = openPipe();
    const [readB] = openPipe();
    const [readC, writeC] = openPipe();
    ctx.setWaitFd('a', readA);
    ctx.setWaitFd('b', readB);
    ctx.setWaitFd('c', readC);
    ctx.setWaitFd('c again', readC);
    fs.writeSync(writeA, 'x');
    fs.writeSync(writeC, 'x');
    const readable = await ctx.wait();
    expect(readable.slice().sort((x, y) => x - y)).to.deep.equal([readA, readC].sort((x, y) => x - y));
  });

  it('wait() counts end of file as readable', async () => {
    const [readFd, writeFd] = openPipe();
    ctx.setWaitFd('k', readFd);
    setTimeout(() => closeNow(writeFd), 10);
    expect(await ctx.wait({ timeout: budget(5000) })).to.deep.equal([readFd]);
  });

  it('wait() resolves with [] when the timeout passes first', async () => {
    const [readFd] = openPipe();
    ctx.setWaitFd('k', readFd);
    const started = Date.now();
    expect(await ctx.wait({ timeout: 50 })).to.deep.equal([]);
    expect(Date.now() - started).to.be.at.least(45);
  });

  it('wait() with timeout 0 reports what is readable already', async () => {
    const [readFd, writeFd] = openPipe();
    const [idleFd] = openPipe();
    ctx.setWaitFd('idle', idleFd);
    expect(await ctx.wait({ timeout: 0 })).to.deep.equal([]);
    ctx.setWaitFd('k', readFd);
    fs.writeSync(writeFd, 'x');
    expect(await ctx.wait({ timeout: 0 })).to.deep.equal([readFd]);
  });

  it('wait() rejects with an AbortError when the signal is already aborted', async () => {
    const [readFd] = openPipe();
    ctx.setWaitFd('k', readFd);
    const reason = new Error('not needed');
    const error = await rejection(ctx.wait({ signal: AbortSignal.abort(reason) }));
    expect(error).to.be.instanceOf(Error);
    expect(error).to.include({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(error.cause).to.equal(reason);
  });

  it('wait() rejects with an AbortError on a later abort and stops watching the fds', async () => {
    const [readFd, writeFd] = openPipe();
    ctx.setWaitFd('k', readFd);
    const openFds = () => (process.platform === 'linux' ? fs.readdirSync('/proc/self/fd').length : 0);
    const before = openFds();
    const controller = new AbortController();
    setTimeout(() => controller.abort('enough'), 20);
    const error = await rejection(ctx.wait({ signal: controller.signal }));
    expect(error).to.include({ name: 'AbortError', code: 'ABORT_ERR', cause: 'enough' });
    await new Promise((resolve) => setTimeout(resolve, 10)); // libuv's close callbacks
    // The aborted wait closed its watch and its duplicate of the fd (counted on Linux) ...
    expect(openFds()).to.equal(before);
    // ... and the fd can be waited on again.
    setTimeout(() => fs.writeSync(writeFd, 'x'), 10);
    expect(await ctx.wait({ timeout: budget(5000) })).to.deep.equal([readFd]);
  });

  it('wait() rejects with ERR_ASYNCJOB_BAD_FD for an fd that is not open', async () => {
    const [readFd] = openPipe();
    closeNow(readFd);
    ctx.setWaitFd('closed', readFd);
    const error = await rejection(ctx.wait());
    expect(error).to.have.property('code', 'ERR_ASYNCJOB_BAD_FD');
    expect(error).to.have.property('fd', readFd);
    expect(error.message).to.contain(`fd ${readFd}`).and.to.contain('EBADF');
  });

  // POSIX: a low RLIMIT_NOFILE in a shell; Windows has no such limit to lower.
  (process.platform === 'win32' ? it.skip : it)('out of fds (EMFILE): wait() and runJob() reject with a SystemError, not ERR_ASYNCJOB_BAD_FD', () => {
    // In a child whose fd table is full (a low RLIMIT_NOFILE, filled up): watching a healthy fd
    // needs a duplicate of it, which fails with EMFILE.
    const child = `
      const fs = require('node:fs');
      const { WaitCtx, pipe, runJob, pauseJob, getCurrentJob, getWaitCtx } = require(process.argv[1]);
      const [readFd, writeFd] = pipe();
      const ctx = new WaitCtx();
      ctx.setWaitFd('k', readFd);
      const fillers = [];
      try {
        for (;;) fillers.push(fs.openSync('/dev/null', 'r'));
      } catch (error) {
        if (error.code !== 'EMFILE') throw error;
      }
      const shape = (e) => ({ name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, message: e.message });
      (async () => {
        const out = { fillers: fillers.length };
        await ctx.wait().then(() => { out.wait = 'resolved'; }, (e) => { out.wait = shape(e); });
        out.cleanups = 0;
        await runJob(() => {
          getWaitCtx(getCurrentJob()).setWaitFd('k', readFd, null, () => out.cleanups++);
          pauseJob();
          out.resumed = true;
        }).then(() => { out.run = 'resolved'; }, (e) => { out.run = shape(e); });
        fillers.forEach((fd) => fs.closeSync(fd));
        fs.writeSync(writeFd, 'x');
        out.afterwards = await ctx.wait();
        out.readFd = readFd;
        console.log(JSON.stringify(out));
      })();
    `;
    const result = spawnSync('/bin/sh', ['-c', 'ulimit -n 64 && exec "$0" -e "$1" "$2"', process.execPath, child, require.resolve('asyncjob')], {
      encoding: 'utf8',
      timeout: budget(30000),
    });
    expect(result.status, `stderr: ${result.stderr}`).to.equal(0);
    const out = JSON.parse(result.stdout);
    expect(out.fillers).to.be.greaterThan(0);
    const emfile = { name: 'Error', code: 'EMFILE', errno: -os.constants.errno.EMFILE, syscall: 'fcntl' };
    expect(out.wait).to.deep.include(emfile);
    expect(out.wait.message).to.contain('EMFILE');
    expect(out.run, 'runJob rejects with it').to.deep.include(emfile);
    expect(out.resumed, 'the job is cancelled, not resumed').to.equal(undefined);
    expect(out.cleanups, 'its WaitCtx is freed').to.equal(1);
    expect(out.afterwards, 'the fd itself was fine').to.deep.equal([out.readFd]);
  });

  it('wait() rejects with ERR_ASYNCJOB_WAIT_CTX_FREED when the context is freed meanwhile', async () => {
    const [readFd] = openPipe();
    ctx.setWaitFd('k', readFd);
    const waiting = ctx.wait();
    setTimeout(() => ctx.free(), 10);
    expect(await rejection(waiting)).to.have.property('code', 'ERR_ASYNCJOB_WAIT_CTX_FREED');
  });

  it('pollFds() returns a cancel function after which done is never called', async () => {
    const [readFd, writeFd] = openPipe();
    let calls = 0;
    const cancel = ctx.pollFds([readFd], -1, () => calls++);
    cancel();
    cancel(); // twice is fine
    fs.writeSync(writeFd, 'x');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(calls).to.equal(0);
  });

  it('waitSync() returns the readable fds, or [] when the timeout passes', () => {
    const [readFd, writeFd] = openPipe();
    ctx.setWaitFd('k', readFd);
    expect(ctx.waitSync(0)).to.deep.equal([]);
    const started = Date.now();
    expect(ctx.waitSync(40)).to.deep.equal([]);
    expect(Date.now() - started).to.be.at.least(35);
    fs.writeSync(writeFd, 'x');
    expect(ctx.waitSync()).to.deep.equal([readFd]);
    closeNow(writeFd);
    fs.readSync(readFd, Buffer.alloc(1));
    expect(ctx.waitSync(1000), 'end of file').to.deep.equal([readFd]);
  });

  it('waitSync() throws ERR_ASYNCJOB_BAD_FD for an fd that is not open', () => {
    const [readFd] = openPipe();
    closeNow(readFd);
    ctx.setWaitFd('closed', readFd);
    expect(() => ctx.waitSync(0)).to.throw(Error).with.property('code', 'ERR_ASYNCJOB_BAD_FD');
  });

  it('keeps the process alive while a wait is pending', () => {
    const child = `
      const fs = require('node:fs');
      const { WaitCtx, pipe } = require(process.argv[1]);
      const ctx = new WaitCtx();
      const [readFd, writeFd] = pipe();
      ctx.setWaitFd('k', readFd);
      ctx.setCallback(() => 1); // its queue must not keep the process alive: never freed here
      ctx.wait().then((fds) => console.log(JSON.stringify(fds)));
      setTimeout(() => fs.writeSync(writeFd, 'x'), 50).unref(); // only the wait keeps us alive
    `;
    const result = runChild(child);
    expect(result.status, `stderr: ${result.stderr}`).to.equal(0);
    expect(JSON.parse(result.stdout)).to.have.lengthOf(1);
  });

  it('lets a worker with a pending wait be terminated cleanly', function () {
    const child = `
      const { Worker } = require('node:worker_threads');
      const worker = new Worker(\`
        const { parentPort } = require('node:worker_threads');
        const { WaitCtx, pipe } = require(\${JSON.stringify(process.argv[1])});
        const forever = new WaitCtx();
        forever.setWaitFd('k', pipe()[0], null, () => {});
        forever.setCallback(() => 1);
        forever.wait();
        const long = new WaitCtx();
        long.setWaitFd('k', pipe()[0]);
        long.wait({ timeout: 100000 });
        parentPort.postMessage('waiting');
      \`, { eval: true });
      worker.once('message', () => worker.terminate());
      worker.once('exit', (code) => console.log('worker exit', code));
    `;
    const result = runChild(child);
    expect(result.status, `stderr: ${result.stderr}`).to.equal(0);
    expect(result.stdout.trim()).to.equal('worker exit 1');
  });
});

onWindows('WaitCtx on Windows (fds are sockets)', () => {
  it('wait() and waitSync() refuse an fd that is no socket: ERR_ASYNCJOB_BAD_FD, ENOTSOCK', async () => {
    const file = fs.openSync(process.execPath, 'r');
    const ctx = new WaitCtx();
    try {
      ctx.setWaitFd('file', file);
      const error = await rejection(ctx.wait());
      expect(error).to.have.property('code', 'ERR_ASYNCJOB_BAD_FD');
      expect(error).to.have.property('fd', file);
      expect(error.message).to.contain('ENOTSOCK');
      expectCode(() => ctx.waitSync(0), 'ERR_ASYNCJOB_BAD_FD');
    } finally {
      ctx.free();
      fs.closeSync(file);
    }
  });

  it('a wait is woken by a write from a worker thread (one fd table per process)', async () => {
    const [readFd, writeFd] = pipe();
    const ctx = new WaitCtx();
    ctx.setWaitFd('k', readFd, null, () => { fs.closeSync(readFd); fs.closeSync(writeFd); });
    const worker = new Worker(`
      const fs = require('node:fs');
      const { workerData } = require('node:worker_threads');
      setTimeout(() => fs.writeSync(workerData, 'from a thread'), 50);
    `, { eval: true, workerData: writeFd });
    // Listened for at once: the worker may have exited by the time the wait has been checked.
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    try {
      expect(await ctx.wait({ timeout: 10000 })).to.deep.equal([readFd]);
      const buffer = Buffer.alloc(32);
      expect(buffer.toString('utf8', 0, fs.readSync(readFd, buffer))).to.equal('from a thread');
    } finally {
      await exited;
      ctx.free();
    }
  });

  it('a finished wait keeps no duplicate of the write end: closing it is end of file', async () => {
    const [readFd, writeFd] = pipe();
    const ctx = new WaitCtx();
    ctx.setWaitFd('w', writeFd);
    try {
      expect(await ctx.wait({ timeout: 0 })).to.deep.equal([]);  // watched writeFd, then closed it
      ctx.clearFd('w');
      fs.closeSync(writeFd);
      ctx.setWaitFd('r', readFd);
      expect(await ctx.wait({ timeout: 5000 })).to.deep.equal([readFd]);
      expect(fs.readSync(readFd, Buffer.alloc(8))).to.equal(0);
    } finally {
      ctx.free();
      fs.closeSync(readFd);
    }
  });
});

describe('WaitCtx against hostile prototypes', () => {
  it('a throwing Array.prototype setter cannot leave the core holding a freed entry', () => {
    const ctx = new WaitCtx();
    let cleaned = 0;
    Object.defineProperty(Array.prototype, '1', {
      configurable: true,
      set() {
        throw new Error('hostile setter');
      },
    });
    try {
      ctx.setWaitFd('k', 5, 'data', () => cleaned++);
    } finally {
      delete (Array.prototype as unknown as Record<string, unknown>)['1'];
    }
    expect(ctx.getFd('k')).to.deep.equal({ fd: 5, customData: 'data' });
    ctx.free();
    expect(cleaned).to.equal(1);
  });
});

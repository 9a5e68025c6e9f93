import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  ASYNC_ERR,
  ASYNC_FINISH,
  ASYNC_NO_JOBS,
  ASYNC_PAUSE,
  AsyncJob,
  blockPause,
  cancelJob,
  getCurrentJob,
  getWaitCtx,
  initThread,
  nativeApi,
  NativeJobFunction,
  pauseJob,
  pipe,
  runJob,
  startJob,
  unblockPause,
  WaitCtx,
} from 'asyncjob';
import { QUIET_EXIT_ENV, expectExitWarning } from './exit-warning';
import { budget } from './time-scale';
import { expectCode } from './throws';

// Native jobs from JavaScript, through test/native-client: a client addon built with
// asyncjob_client.h only (npm run build:test-client), as other addons are.
interface Client {
  /** A job that pauses n times and returns n. */
  pauser(n: number): NativeJobFunction;
  /** A job that pauses while asyncjob_pause_job() returns 1, then returns how many did. */
  pauseForever(): NativeJobFunction;
  /** A job that sets fd in its WaitCtx (a native key), pauses, clears it (pauses again if
   * asked), returns 0; a negative number where its WaitCtx said no (-2: it has none). */
  setFdJob(fd: number, pauseAfterClear?: boolean): NativeJobFunction;
  /** A job that calls its WaitCtx callback, sets ASYNC_STATUS_EAGAIN, pauses, returns 7. */
  wakeThenPause(): NativeJobFunction;
  /** A job that keeps its core asyncjob_job* for resumeCaptured(), pauses once, returns 42. */
  captureJob(): NativeJobFunction;
  /** asyncjob_start_job() on the captured job from the calling thread: its status. */
  resumeCaptured(): number;
  /** A job that calls fn through N-API from its fiber: it must crash the process. */
  callsJs(fn: () => unknown): NativeJobFunction;
  /** asyncjob_pause_job() from a plain native function, and what it returned. */
  pauseFromNative(): number;
  currentJobIsNull(): boolean;
  jobsInUse(): number;
  initFrom(value: unknown): true;
  wrongTagObject(): object;
  wrongTagExternal(): object;
  untaggedExternal(): object;
}

const packagePath = require.resolve('asyncjob');
const clientPath = path.resolve(__dirname, '..', '..', 'test', 'native-client', 'index.js');
const client: Client = require(clientPath);

async function expectRejection(promise: Promise<unknown>, code: string, type: Function): Promise<void> {
  let caught: unknown = null;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).to.be.instanceOf(type);
  expect(caught).to.have.property('code', code);
}

function runChild(script: string): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, ['-e', script, packagePath, clientPath], { encoding: 'utf8', timeout: budget(30000) });
  return { status: child.status, signal: child.signal, stdout: child.stdout, stderr: child.stderr };
}

// The preamble of child processes and workers: asyncjob and the client by path.
const CHILD_PREAMBLE = `
  const asyncjob = require(process.argv[1]);
  const client = require(process.argv[2]);
`;

function runWorker(body: string): { worker: Worker; messages: unknown[]; exit: Promise<number> } {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const asyncjob = require(workerData.packagePath);
     const client = require(workerData.clientPath);
     ${body}`,
    { eval: true, workerData: { packagePath, clientPath }, env: QUIET_EXIT_ENV },
  );
  const messages: unknown[] = [];
  worker.on('message', (m) => messages.push(m));
  const exit = new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
  return { worker, messages, exit };
}

describe('native jobs from JavaScript (a client addon built with asyncjob_client.h)', () => {
  afterEach(() => {
    // a fresh default pool for the next test; false would mean a test left a job in use
    expect(initThread(0, 0)).to.equal(true);
  });

  describe('startJob and runJob with a NativeJobFunction', () => {
    it('pauses with an AsyncJob handle, resumes, and finishes with the int it returned', () => {
      const fn = client.pauser(2);
      expect(fn).to.be.instanceOf(NativeJobFunction);
      let r = startJob(null, null, fn);
      expect(r.status).to.equal(ASYNC_PAUSE);
      expect(r.job).to.be.instanceOf(AsyncJob);
      expect(r.ret).to.equal(undefined);
      const handle = r.job;
      expect(getCurrentJob()).to.equal(null);
      expect(client.currentJobIsNull()).to.equal(true);
      expect(client.jobsInUse()).to.equal(1);

      r = startJob(handle, null, null);
      expect(r.status).to.equal(ASYNC_PAUSE);
      expect(r.job).to.equal(handle); // the same handle on every pause
      r = startJob(handle, null, null);
      expect(r).to.deep.include({ status: ASYNC_FINISH, job: null, ret: 2 });
      expect(r.error).to.equal(undefined);
      expect(client.jobsInUse()).to.equal(0);
      expectCode(() => startJob(handle, null, null), 'ERR_ASYNCJOB_JOB_FINISHED');
    });

    it('a job that does not pause finishes at once; its int may be negative', () => {
      expect(startJob(null, null, client.pauser(0))).to.deep.include({ status: ASYNC_FINISH, job: null, ret: 0 });
      // setFdJob without a WaitCtx: asyncjob_get_wait_ctx() gives NULL and it returns -2
      expect(startJob(null, null, client.setFdJob(0))).to.deep.include({ status: ASYNC_FINISH, ret: -2 });
    });

    it('each start copies the argument bytes: one function runs as several jobs at once', () => {
      const fn = client.pauser(3);
      const a = startJob(null, null, fn);
      const b = startJob(null, null, fn);
      const c = startJob(null, null, client.pauser(1));
      expect([a.status, b.status, c.status]).to.deep.equal([ASYNC_PAUSE, ASYNC_PAUSE, ASYNC_PAUSE]);
      expect(a.job).to.not.equal(b.job);
      expect(startJob(c.job, null, null).ret).to.equal(1);
      let ra = a;
      let rb = b;
      for (let i = 0; i < 3; i++) {
        rb = startJob(rb.job, null, null);
        ra = startJob(ra.job, null, null);
      }
      expect([ra.ret, rb.ret]).to.deep.equal([3, 3]);
      const d = startJob(null, null, fn); // and again, a fourth job
      expect(d.status).to.equal(ASYNC_PAUSE);
      expect(initThread(0, 0)).to.equal(false); // in use: the pool is kept
      expect(client.jobsInUse()).to.equal(1);
      cancelJob(d.job!);
    });

    it('on resume, ctx and func are ignored, and getWaitCtx() gives the WaitCtx it started with', () => {
      const ctx = new WaitCtx();
      const other = new WaitCtx();
      let r = startJob(null, ctx, client.pauser(1));
      expect(getWaitCtx(r.job!)).to.equal(ctx);
      r = startJob(r.job, other, client.pauser(100));
      expect(r).to.deep.include({ status: ASYNC_FINISH, ret: 1 });
      ctx.free();
      other.free();
    });

    it('is paused 1,000,000 times and finished from JavaScript in a few seconds', function () {
      this.timeout(budget(60000));
      const n = 1_000_000;
      const started = process.hrtime.bigint();
      let r = startJob(null, null, client.pauser(n));
      let resumes = 0;
      while (r.status === ASYNC_PAUSE) {
        r = startJob(r.job, null, null);
        resumes++;
      }
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      expect(r).to.deep.include({ status: ASYNC_FINISH, ret: n });
      expect(resumes).to.equal(n);
      expect(ms, `${n} round trips took ${ms.toFixed(0)} ms`).to.be.below(budget(5000));
    });

    it('runJob() resolves with the int; several run side by side', async () => {
      expect(await runJob(client.pauser(3))).to.equal(3);
      expect(await runJob(client.pauser(0))).to.equal(0);
      const all = await Promise.all(Array.from({ length: 10 }, (_, i) => runJob(client.pauser(i))));
      expect(all).to.deep.equal(Array.from({ length: 10 }, (_, i) => i));
    });
  });

  describe('native code pausing a JavaScript job', () => {
    it('asyncjob_pause_job() called from JavaScript inside a JS job pauses that job', () => {
      const trace: string[] = [];
      let inside: AsyncJob | null = null;
      let r = startJob(null, null, () => {
        inside = getCurrentJob();
        trace.push(`in a job: ${!client.currentJobIsNull()}`);
        const first = client.pauseFromNative();
        trace.push('resumed');
        pauseJob(); // JavaScript's own pause still works after
        trace.push('resumed again');
        return first + client.pauseFromNative();
      });
      expect(r.status).to.equal(ASYNC_PAUSE);
      expect(r.job).to.equal(inside);
      expect(trace).to.deep.equal(['in a job: true']);
      expect(client.currentJobIsNull()).to.equal(true);
      r = startJob(r.job, null, null);
      expect(r.status).to.equal(ASYNC_PAUSE);
      expect(trace).to.deep.equal(['in a job: true', 'resumed']);
      r = startJob(r.job, null, null);
      expect(r.status).to.equal(ASYNC_PAUSE);
      r = startJob(r.job, null, null);
      expect(r).to.deep.include({ status: ASYNC_FINISH, job: null, ret: 2 });
      expect(trace).to.deep.equal(['in a job: true', 'resumed', 'resumed again']);
    });

    it('outside a job, or with pauses blocked, it returns 1 at once', () => {
      expect(client.pauseFromNative()).to.equal(1);
      const r = startJob(null, null, () => {
        blockPause();
        const v = client.pauseFromNative();
        unblockPause();
        return v;
      });
      expect(r).to.deep.include({ status: ASYNC_FINISH, ret: 1 });
    });

    it('runJob() resumes a JS job paused from native code', async () => {
      expect(await runJob(() => client.pauseFromNative() + client.pauseFromNative())).to.equal(2);
    });
  });

  // On Windows the fds are pipe()'s sockets, as node.exe C runtime fds: what a native engine
  // hands over there (docs/api.md, Limitations).
  describe('wait fds set from native code (pipe())', () => {
    let fds: number[] = [];
    afterEach(() => {
      for (const fd of fds) fs.closeSync(fd);
      fds = [];
    });

    it('JavaScript sees them in the WaitCtx the native job started with', () => {
      const [readFd, writeFd] = pipe();
      fds = [readFd, writeFd];
      const ctx = new WaitCtx();
      let r = startJob(null, ctx, client.setFdJob(readFd, true));
      expect(r.status).to.equal(ASYNC_PAUSE);
      expect(getWaitCtx(r.job!)).to.equal(ctx);
      expect(ctx.getAllFds()).to.deep.equal([readFd]);
      expect(ctx.getChangedFds()).to.deep.equal({ added: [readFd], deleted: [] });
      expect(ctx.getFd({})).to.equal(null); // its key is a native address, not a JS value

      r = startJob(r.job, null, null); // it clears the fd and pauses again
      expect(r.status).to.equal(ASYNC_PAUSE);
      expect(ctx.getAllFds()).to.deep.equal([]);
      expect(ctx.getChangedFds()).to.deep.equal({ added: [], deleted: [readFd] });

      r = startJob(r.job, null, null);
      expect(r).to.deep.include({ status: ASYNC_FINISH, ret: 0 });
      expect(ctx.getChangedFds()).to.deep.equal({ added: [], deleted: [] });
      ctx.free();
    });

    it('an fd added and cleared between two resumes appears in neither list', () => {
      const [readFd, writeFd] = pipe();
      fds = [readFd, writeFd];
      const ctx = new WaitCtx();
      const r = startJob(null, ctx, client.setFdJob(readFd, false));
      ctx.setWaitFd('js key', writeFd); // JavaScript and native code share the WaitCtx
      expect(ctx.getAllFds()).to.have.members([readFd, writeFd]);
      expect(startJob(r.job, null, null)).to.deep.include({ status: ASYNC_FINISH, ret: 0 });
      expect(ctx.getAllFds()).to.deep.equal([writeFd]);
      ctx.free();
    });

    it('ctx.wait() and runJob() wake a native job through the fd it set', async () => {
      const [readFd, writeFd] = pipe();
      fds = [readFd, writeFd];
      const ctx = new WaitCtx();
      const r = startJob(null, ctx, client.setFdJob(readFd));
      const waiting = ctx.wait();
      setTimeout(() => fs.writeSync(writeFd, 'x'), 10);
      expect(await waiting).to.deep.equal([readFd]);
      expect(startJob(r.job, null, null)).to.deep.include({ status: ASYNC_FINISH, ret: 0 });
      ctx.free();
      fs.readSync(readFd, Buffer.alloc(1));

      let resolved = false;
      const run = runJob(client.setFdJob(readFd)).then((v) => {
        resolved = true;
        return v;
      });
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(resolved, 'runJob() waits for the fd').to.equal(false);
      fs.writeSync(writeFd, 'y');
      expect(await run).to.equal(0);
    });
  });

  describe('type tags', () => {
    const fakes = (): [string, unknown][] => [
      ['a plain object', {}],
      ['an object with NativeJobFunction.prototype', Object.create(NativeJobFunction.prototype)],
      ['an object with another type tag', client.wrongTagObject()],
      ['an external with another type tag', client.wrongTagExternal()],
      ['an external without a type tag', client.untaggedExternal()],
      ["asyncjob's own nativeApi external", nativeApi],
      ['an AsyncJob handle', finishedHandle()],
    ];

    function finishedHandle(): AsyncJob {
      const r = startJob(null, null, client.pauser(1));
      startJob(r.job, null, null);
      return r.job!;
    }

    it('startJob() throws TypeError ERR_INVALID_ARG_TYPE for a func without the NativeJobFunction tag', () => {
      for (const [what, value] of fakes()) {
        expect(() => startJob(null, null, value as NativeJobFunction), what)
          .to.throw(TypeError)
          .with.property('code', 'ERR_INVALID_ARG_TYPE');
      }
    });

    it('runJob() rejects with TypeError ERR_INVALID_ARG_TYPE for them', async () => {
      for (const [, value] of fakes()) {
        await expectRejection(runJob(value as NativeJobFunction), 'ERR_INVALID_ARG_TYPE', TypeError);
      }
    });

    it('a function dressed as a NativeJobFunction is run as the JavaScript function it is', () => {
      const f = () => 'ran as JavaScript';
      Object.setPrototypeOf(f, NativeJobFunction.prototype);
      expect(startJob(null, null, f as unknown as NativeJobFunction)).to.deep.include({ status: ASYNC_FINISH, ret: 'ran as JavaScript' });
    });

    it('a NativeJobFunction is no job handle or WaitCtx, and fakes of those are refused too', () => {
      const fn = client.pauser(1);
      expectCode(() => startJob(fn as unknown as AsyncJob, null, null), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => startJob(null, fn as unknown as WaitCtx, fn), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => startJob(Object.create(AsyncJob.prototype), null, null), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => startJob(client.wrongTagObject() as AsyncJob, null, null), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => startJob(null, client.wrongTagExternal() as WaitCtx, fn), 'ERR_INVALID_ARG_TYPE', TypeError);
    });

    it('new NativeJobFunction() throws ERR_ILLEGAL_CONSTRUCTOR, with or without a made-up token', () => {
      const Ctor = NativeJobFunction as unknown as new (...args: unknown[]) => unknown;
      expectCode(() => new Ctor(), 'ERR_ILLEGAL_CONSTRUCTOR', TypeError);
      expectCode(() => new Ctor(client.untaggedExternal()), 'ERR_ILLEGAL_CONSTRUCTOR', TypeError);
      expectCode(() => new Ctor(nativeApi), 'ERR_ILLEGAL_CONSTRUCTOR', TypeError);
    });

    it("the client shim takes the C API table only from asyncjob's tagged nativeApi", () => {
      for (const value of [undefined, {}, client.wrongTagObject(), client.wrongTagExternal(), client.untaggedExternal()]) {
        expectCode(() => client.initFrom(value), 'ERR_ASYNCJOB_NOT_LOADED', TypeError);
      }
      expect(client.initFrom(nativeApi)).to.equal(true);
      expect(startJob(null, null, client.pauser(0)).ret).to.equal(0); // the table still works
    });

    it('a client loaded before asyncjob throws ERR_ASYNCJOB_NOT_LOADED from its module init', () => {
      const binary = path.join(path.dirname(clientPath), 'build', 'Release', 'client.node');
      const r = runChild(`
        try {
          require(${JSON.stringify(binary)});
          console.log('loaded');
        } catch (error) {
          console.log(error.name, error.code);
        }`);
      expect(r.stderr).to.equal('');
      expect(r.stdout.trim()).to.equal('TypeError ERR_ASYNCJOB_NOT_LOADED');
    });
  });

  describe('threads, cancellation and teardown', function () {
    this.timeout(budget(60000));

    it('a native job started on this thread is refused (ASYNCJOB_ERR) when another thread resumes it', async () => {
      const r = startJob(null, null, client.captureJob());
      expect(r.status).to.equal(ASYNC_PAUSE);
      const { messages, exit } = runWorker(`
        parentPort.postMessage({ status: client.resumeCaptured(), noJob: client.currentJobIsNull() });
      `);
      expect(await exit).to.equal(0);
      expect(messages).to.deep.equal([{ status: ASYNC_ERR, noJob: true }]);
      // untouched by the attempt: this thread resumes it to its end
      expect(startJob(r.job, null, null)).to.deep.include({ status: ASYNC_FINISH, ret: 42 });
    });

    it('cancelJob() on a paused native job: its handle goes stale and its pool slot is free', () => {
      expect(initThread(1, 0)).to.equal(true);
      const r = startJob(null, null, client.pauseForever());
      expect(r.status).to.equal(ASYNC_PAUSE);
      expect(startJob(null, null, client.pauser(1)).status).to.equal(ASYNC_NO_JOBS);
      cancelJob(r.job!);
      expect(client.jobsInUse()).to.equal(0);
      expectCode(() => startJob(r.job, null, null), 'ERR_ASYNCJOB_JOB_FINISHED');
      expectCode(() => cancelJob(r.job!), 'ERR_ASYNCJOB_JOB_FINISHED');
      expectCode(() => getWaitCtx(r.job!), 'ERR_ASYNCJOB_JOB_FINISHED');
      const next = startJob(null, null, client.pauser(1));
      expect(next.status).to.equal(ASYNC_PAUSE);
      expect(startJob(next.job, null, null)).to.deep.include({ status: ASYNC_FINISH, ret: 1 });
    });

    it('cancelJob() on a JS job paused in native code ends it and frees its slot', () => {
      expect(initThread(1, 0)).to.equal(true);
      const r = startJob(null, null, () => client.pauseFromNative());
      expect(r.status).to.equal(ASYNC_PAUSE);
      cancelJob(r.job!);
      expect(client.jobsInUse()).to.equal(0);
      expectCode(() => startJob(r.job, null, null), 'ERR_ASYNCJOB_JOB_FINISHED');
      expect(startJob(null, null, client.pauser(0)).status).to.equal(ASYNC_FINISH);
    });

    const PAUSE_SOME = `
      const held = [];
      for (let i = 0; i < 3; i++) held.push(asyncjob.startJob(null, null, client.pauseForever()).job);
      held.push(asyncjob.startJob(null, null, client.pauser(5)).job);
      const ctx = new asyncjob.WaitCtx();
      held.push(asyncjob.startJob(null, ctx, client.setFdJob(0)).job);
      held.push(asyncjob.startJob(null, null, () => { asyncjob.pauseJob(); }).job);
    `;

    it('a child process with native jobs paused exits 0', () => {
      const r = runChild(`${CHILD_PREAMBLE} ${PAUSE_SOME}
        process.on('exit', () => console.log('exiting with', held.filter((j) => j !== null).length, 'paused'));`);
      expectExitWarning(r.stderr, 6);
      expect([r.status, r.signal]).to.deep.equal([0, null]);
      expect(r.stdout.trim()).to.equal('exiting with 6 paused');
    });

    it('a child process with a JS job paused in native code exits 0', () => {
      const r = runChild(`${CHILD_PREAMBLE}
        const job = asyncjob.startJob(null, null, () => client.pauseFromNative()).job;
        process.on('exit', () => console.log('exiting with', job === null ? 0 : 1, 'paused'));`);
      expectExitWarning(r.stderr, 1);
      expect([r.status, r.signal]).to.deep.equal([0, null]);
      expect(r.stdout.trim()).to.equal('exiting with 1 paused');
    });

    it('a worker with native jobs paused exits 0, and one terminated exits 1', async () => {
      const ended = runWorker(`${PAUSE_SOME} parentPort.postMessage(client.jobsInUse());`);
      expect(await ended.exit).to.equal(0);
      expect(ended.messages).to.deep.equal([6]);

      const terminated = runWorker(`${PAUSE_SOME} parentPort.postMessage(client.jobsInUse()); setInterval(() => {}, 1000);`);
      await new Promise((resolve) => terminated.worker.once('message', resolve));
      expect(await terminated.worker.terminate()).to.equal(1);
      expect(terminated.messages).to.deep.equal([6]);
    });

    it('native code on a fiber calling into JavaScript crashes its process loudly (V8: JavaScript execution disallowed)', () => {
      const r = runChild(`${CHILD_PREAMBLE}
        console.log('starting');
        const result = asyncjob.startJob(null, null, client.callsJs(() => console.log('JavaScript ran on a fiber')));
        console.log('survived with', JSON.stringify(result));`);
      if (process.platform === 'win32') {
        // No signals: the exit status is the crash's exception code, STATUS_BREAKPOINT (V8's
        // fatal error) or STATUS_STACK_BUFFER_OVERRUN (abort()'s fast fail).
        expect(r.signal).to.equal(null);
        expect(r.status).to.be.oneOf([0x80000003, 0xc0000409]);
      } else {
        expect(r.status).to.equal(null);
        expect(r.signal).to.be.oneOf(['SIGABRT', 'SIGTRAP']);
      }
      expect(r.stderr).to.match(/(Dis)?[Aa]llowJavascriptExecution/);
      expect(r.stdout.trim()).to.equal('starting');
      // and this process is fine
      expect(startJob(null, null, client.pauser(0)).status).to.equal(ASYNC_FINISH);
    });
  });

  // Found in review; each of these crashed, hung or misbehaved before its fix.
  describe('regressions', () => {
    afterEach(() => {
      initThread(0, 0);
    });

    it('a native job that calls its WaitCtx callback before pausing is queued, not run on its fiber', async () => {
      expect(await runJob(client.wakeThenPause())).to.equal(7);
    });

    it('a native function can be made inside a JS job (on a host thread)', () => {
      const r = startJob(null, null, () => {
        const inner = startJob(null, null, client.pauser(2));
        let s = inner;
        while (s.status === ASYNC_PAUSE) s = startJob(s.job, null, null);
        return s.ret;
      });
      expect(r).to.deep.include({ status: ASYNC_FINISH, ret: 2 });
    });

    it("an idle host thread that a paused native job calls home is kept, and not counted against maxSize", () => {
      expect(initThread(2, 0)).to.equal(true);
      let inner: AsyncJob | null = null;
      // A native job started inside a JS job lives on that JS job's host thread ...
      const outer = startJob(null, null, () => {
        const s = startJob(null, null, client.pauser(2));
        inner = s.job;
        return s.status;
      });
      expect(outer).to.deep.include({ status: ASYNC_FINISH, ret: ASYNC_PAUSE });
      expect(client.jobsInUse()).to.equal(1);
      // ... so that idle host thread cannot make room, yet maxSize counts jobs in use: 1 of 2.
      const other = startJob(null, null, client.pauser(1));
      expect(other.status, 'a second job fits a pool of 2 with 1 in use').to.equal(ASYNC_PAUSE);
      expect(client.jobsInUse()).to.equal(2);
      expect(startJob(null, null, client.pauser(1)).status, 'a third does not').to.equal(ASYNC_NO_JOBS);
      expect(startJob(null, null, () => 1).status, 'nor a JS job').to.equal(ASYNC_NO_JOBS);
      // The paused native job still resumes on its host thread.
      let s = startJob(inner, null, null);
      while (s.status === ASYNC_PAUSE) s = startJob(s.job, null, null);
      expect(s).to.deep.include({ status: ASYNC_FINISH, ret: 2 });
      expect(startJob(other.job, null, null)).to.deep.include({ status: ASYNC_FINISH, ret: 1 });
      expect(client.jobsInUse()).to.equal(0);
      // Both slots are free again, whichever kind comes.
      const a = startJob(null, null, () => pauseJob());
      const b = startJob(null, null, client.pauser(1));
      expect([a.status, b.status]).to.deep.equal([ASYNC_PAUSE, ASYNC_PAUSE]);
      expect(startJob(a.job, null, null).status).to.equal(ASYNC_FINISH);
      expect(startJob(b.job, null, null).status).to.equal(ASYNC_FINISH);
    });
  });
});

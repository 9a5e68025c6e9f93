import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inspect } from 'node:util';
import {
  ASYNC_FINISH,
  ASYNC_PAUSE,
  ASYNC_STATUS_EAGAIN,
  type AsyncJob,
  type NativeJobFunction,
  WaitCtx,
  cancelJob,
  getCurrentJob,
  pauseJob,
  pipe,
  startJob,
} from 'asyncjob';

// util.inspect shows a job's state and kind, and a WaitCtx's fds, status, callback and freed.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const client = require(path.resolve(__dirname, '..', '..', 'test', 'native-client')) as {
  pauser(n: number): NativeJobFunction;
  setFdJob(fd: number, pauseAfterClear?: number): NativeJobFunction;
};

function paused<R>(r: ReturnType<typeof startJob<[], R>>): AsyncJob {
  if (r.status !== ASYNC_PAUSE) expect.fail(`status ${r.status}, not ASYNC_PAUSE`);
  return r.job;
}

describe('util.inspect', () => {
  it("shows a JavaScript job's state: running inside it, paused, finished", () => {
    let inside = '';
    const job = paused(
      startJob(null, null, () => {
        inside = inspect(getCurrentJob());
        pauseJob();
        return 1;
      }),
    );
    expect(inside).to.equal("AsyncJob { state: 'running', kind: 'javascript' }");
    expect(inspect(job)).to.equal("AsyncJob { state: 'paused', kind: 'javascript' }");
    expect(startJob(job, null, null).status).to.equal(ASYNC_FINISH);
    expect(inspect(job)).to.equal("AsyncJob { state: 'finished', kind: 'javascript' }");
    expect(inspect([job], { depth: -1 })).to.equal('[Array]');
    expect(inspect({ job }, { depth: 0 })).to.equal('{ job: [AsyncJob] }');
    expect(inspect({ job }, { depth: 1 })).to.equal("{ job: AsyncJob { state: 'finished', kind: 'javascript' } }");
  });

  it("shows a native job's kind, paused and finished (also after cancelJob)", () => {
    const job = paused(startJob(null, null, client.pauser(1)));
    expect(inspect(job)).to.equal("AsyncJob { state: 'paused', kind: 'native' }");
    expect(startJob(job, null, null).status).to.equal(ASYNC_FINISH);
    expect(inspect(job)).to.equal("AsyncJob { state: 'finished', kind: 'native' }");
    const cancelled = paused(startJob(null, null, client.pauser(1)));
    cancelJob(cancelled);
    expect(inspect(cancelled)).to.equal("AsyncJob { state: 'finished', kind: 'native' }");
  });

  it("shows a WaitCtx's fds by key, its status by name, whether a callback is set, and freed", () => {
    const ctx = new WaitCtx();
    expect(inspect(ctx, { breakLength: Infinity })).to.equal(
      "WaitCtx { fds: Map(0) {}, status: 'ASYNC_STATUS_UNSUPPORTED', callback: false, freed: false }",
    );
    const [readFd, writeFd] = pipe();
    try {
      ctx.setWaitFd('engine', readFd);
      ctx.setWaitFd(7, writeFd);
      ctx.setCallback(() => 1);
      ctx.setStatus(ASYNC_STATUS_EAGAIN);
      expect(inspect(ctx, { breakLength: Infinity })).to.equal(
        `WaitCtx { fds: Map(2) { 'engine' => ${readFd}, 7 => ${writeFd} }, status: 'ASYNC_STATUS_EAGAIN', callback: true, freed: false }`,
      );
      // A key set again shows its newest fd; the older entry is among otherFds.
      ctx.setWaitFd('engine', writeFd);
      ctx.setStatus(42);
      expect(inspect(ctx, { breakLength: Infinity })).to.equal(
        `WaitCtx { fds: Map(2) { 'engine' => ${writeFd}, 7 => ${writeFd} }, otherFds: [ ${readFd} ], status: 42, callback: true, freed: false }`,
      );
      ctx.free();
      expect(inspect(ctx)).to.equal('WaitCtx { freed: true }');
    } finally {
      fs.closeSync(readFd);
      fs.closeSync(writeFd);
    }
  });

  it('shows the fds native code set on the WaitCtx as otherFds', () => {
    const ctx = new WaitCtx();
    const [readFd, writeFd] = pipe();
    try {
      const job = paused(startJob(null, ctx, client.setFdJob(readFd)));
      expect(inspect(ctx, { breakLength: Infinity })).to.equal(
        `WaitCtx { fds: Map(0) {}, otherFds: [ ${readFd} ], status: 'ASYNC_STATUS_UNSUPPORTED', callback: false, freed: false }`,
      );
      expect(startJob(job, null, null).status).to.equal(ASYNC_FINISH);
      expect(inspect(ctx, { breakLength: Infinity })).to.match(/^WaitCtx \{ fds: Map\(0\) \{\}, status/);
      ctx.free();
    } finally {
      fs.closeSync(readFd);
      fs.closeSync(writeFd);
    }
  });

  it('leaves objects that only inherit from the classes alone, and adds no own property', () => {
    const ctx = new WaitCtx();
    expect(Object.keys(ctx)).to.deep.equal([]);
    expect(inspect(Object.create(WaitCtx.prototype))).to.equal('[WaitCtx: not a wait context]');
    const job = paused(startJob(null, null, () => pauseJob()));
    expect(inspect(Object.create(Object.getPrototypeOf(job)))).to.equal('[AsyncJob: not a job handle]');
    cancelJob(job);
    ctx.free();
  });
});

import { expect } from 'chai';
import { AsyncLocalStorage, AsyncResource, createHook, executionAsyncId } from 'node:async_hooks';
import { ASYNC_FINISH, ASYNC_PAUSE, AsyncJob, cancelJob, getCurrentJob, pauseJob, startJob } from 'asyncjob';

// ARCHITECTURE.md pitfall 3: async context is per Environment, not per stack.
describe('async context across pauses', () => {
  const als = new AsyncLocalStorage<string>();

  it('a job sees the context it was started in on every resume', () => {
    const seen: Array<string | undefined> = [];
    const r = als.run('started-here', () =>
      startJob(null, null, () => {
        seen.push(als.getStore());
        pauseJob();
        seen.push(als.getStore());
        pauseJob();
        seen.push(als.getStore());
        return 'done';
      }),
    );
    expect(r.status).to.equal(ASYNC_PAUSE);
    let job = r.job;
    als.run('resumer-1', () => {
      job = startJob(job, null, null).job;
    });
    const last = als.run('resumer-2', () => startJob(job, null, null));
    expect(last.status).to.equal(ASYNC_FINISH);
    expect(seen).to.deep.equal(['started-here', 'started-here', 'started-here']);
  });

  it("leaves the caller's context untouched, even when the job changes its own", () => {
    const inJob: Array<string | undefined> = [];
    const r = als.run('caller', () => {
      const started = startJob(null, null, () => {
        als.enterWith('job-entered');
        pauseJob();
        inJob.push(als.getStore());
        return als.run('job-run', () => {
          pauseJob();
          inJob.push(als.getStore());
          return 'ok';
        });
      });
      expect(als.getStore(), 'caller after the first pause').to.equal('caller');
      return started;
    });
    const second = als.run('resumer', () => {
      const res = startJob(r.job, null, null);
      expect(als.getStore(), 'resumer after the second pause').to.equal('resumer');
      return res;
    });
    expect(second.status).to.equal(ASYNC_PAUSE);
    expect(startJob(second.job, null, null).ret).to.equal('ok');
    expect(inJob).to.deep.equal(['job-entered', 'job-run']);
    expect(als.getStore()).to.equal(undefined);
  });

  it('refuses to pause inside a nested async scope, with a coded error, and the process lives on', () => {
    const resource = new AsyncResource('nested');
    let code: string | undefined;
    const r = startJob(null, null, () => {
      const outer = executionAsyncId();
      resource.runInAsyncScope(() => {
        try {
          pauseJob();
        } catch (e) {
          code = (e as { code?: string }).code;
        }
      });
      expect(executionAsyncId()).to.equal(outer);
      pauseJob(); // outside the nested scope: allowed
      return 'survived';
    });
    expect(code).to.equal('ERR_ASYNCJOB_PAUSE_IN_ASYNC_SCOPE');
    expect(r.status).to.equal(ASYNC_PAUSE);
    expect(startJob(r.job, null, null).ret).to.equal('survived');
  });

  it('timers and promises started in a job run later on the main thread, in the job context', async () => {
    const events: string[] = [];
    let timerStore: string | undefined;
    let promiseStore: string | undefined;
    const timerFired = new Promise<void>((resolve) => {
      const r = als.run('job-ctx', () =>
        startJob(null, null, () => {
          setTimeout(() => {
            timerStore = als.getStore();
            events.push('timer');
            resolve();
          }, 1);
          void Promise.resolve().then(() => {
            promiseStore = als.getStore();
            events.push('promise');
          });
          events.push('job');
          pauseJob();
          return getCurrentJob() instanceof AsyncJob;
        }),
      );
      events.push('caller');
      expect(startJob(r.job, null, null).ret).to.equal(true);
    });
    await timerFired;
    expect(events).to.deep.equal(['job', 'caller', 'promise', 'timer']);
    expect([timerStore, promiseStore]).to.deep.equal(['job-ctx', 'job-ctx']);
  });
});

describe('async_hooks see each job as one resource', () => {
  it('destroyed once when it ends, however many calls on it are refused before and after', async () => {
    const destroys = new Map<number, number>();
    const hook = createHook({
      init(id, type) {
        if (type === 'asyncjob.Job') destroys.set(id, 0);
      },
      destroy(id) {
        if (destroys.has(id)) destroys.set(id, destroys.get(id)! + 1);
      },
    }).enable();
    try {
      const refused = (fn: () => unknown) => expect(fn).to.throw(Error);
      let r = startJob(null, null, () => {
        refused(() => startJob(getCurrentJob(), null, null)); // resuming itself: JOB_RUNNING
        refused(() => cancelJob(getCurrentJob()!)); // cancelling itself: JOB_RUNNING
        pauseJob();
        return 'done';
      });
      const job = r.job!;
      r = startJob(job, null, null);
      expect(r.status).to.equal(ASYNC_FINISH);
      refused(() => startJob(job, null, null)); // JOB_FINISHED
      refused(() => cancelJob(job)); // JOB_FINISHED
      const cancelled = startJob(null, null, () => pauseJob());
      cancelJob(cancelled.job!);
      refused(() => cancelJob(cancelled.job!));
      await new Promise((resolve) => setImmediate(resolve)); // destroy hooks run asynchronously
      expect([...destroys.values()]).to.deep.equal([1, 1]);
    } finally {
      hook.disable();
    }
  });
});

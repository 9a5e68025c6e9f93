import { expect } from 'chai';
import { AsyncLocalStorage, AsyncResource, executionAsyncId } from 'node:async_hooks';
import { ASYNC_FINISH, ASYNC_PAUSE, AsyncJob, getCurrentJob, pauseJob, startJob } from 'asyncjob';

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

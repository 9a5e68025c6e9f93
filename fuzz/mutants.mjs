// Deliberately broken variants of the API, for `npm run fuzz -- --self-test`: each wraps the
// real API the way a plausible bug would break it, and the fuzzer must flag every one of them
// within a bounded number of seeds (while the unmutated API passes).

const NONE = Symbol('none');

/** name -> (api: { main, ossl }, als) => api' */
export const MUTANTS = {
  // startJob reports a full pool as a failure.
  'no-jobs-as-err': ({ main, ossl }) => ({
    main: { ...main, startJob: (...a) => { const r = main.startJob(...a); return r.status === 1 ? { status: 0, job: null, ret: undefined, error: new Error('mutant') } : r; } },
    ossl,
  }),

  // free() forgets the cleanup of every second fd set on a context.
  'drop-cleanup': ({ main, ossl }) => ({
    main: { ...main, WaitCtx: class extends main.WaitCtx {
      setWaitFd(key, fd, data, cleanup) {
        this.mutantCount = (this.mutantCount ?? 0) + 1;
        return super.setWaitFd(key, fd, data, this.mutantCount % 2 === 0 ? undefined : cleanup);
      }
    } },
    ossl,
  }),

  // A job's second and later pauses hand out a different handle object (that still works).
  'other-handle': ({ main, ossl }) => {
    const real = new WeakMap();
    const seen = new WeakSet();
    const unwrap = (job) => real.get(job) ?? job;
    return {
      main: {
        ...main,
        startJob: (job, ...rest) => {
          const r = main.startJob(unwrap(job), ...rest);
          if (r.status !== 2) return r;
          if (!seen.has(r.job)) {
            seen.add(r.job);
            return r;
          }
          const fake = Object.create(main.AsyncJob.prototype);
          real.set(fake, r.job);
          return { ...r, job: fake };
        },
        cancelJob: (job, ...rest) => main.cancelJob(unwrap(job), ...rest),
        getWaitCtx: (job) => main.getWaitCtx(unwrap(job)),
      },
      ossl,
    };
  },

  // A resumed job runs in its resumer's async context instead of its own.
  'swap-context': ({ main, ossl }, als) => {
    let resumer = NONE;
    return {
      main: {
        ...main,
        startJob: (job, ...rest) => {
          if (job !== null) resumer = als.getStore();
          return main.startJob(job, ...rest);
        },
        pauseJob: () => {
          const r = main.pauseJob();
          if (resumer !== NONE) als.enterWith(resumer);
          resumer = NONE;
          return r;
        },
      },
      ossl,
    };
  },

  // ERR_ASYNCJOB_JOB_RUNNING errors lose their code.
  'drop-code': ({ main, ossl }) => {
    const strip = (fn) => (...a) => {
      try {
        return fn(...a);
      } catch (e) {
        if (e?.code === 'ERR_ASYNCJOB_JOB_RUNNING') delete e.code;
        throw e;
      }
    };
    return { main: { ...main, startJob: strip(main.startJob), cancelJob: strip(main.cancelJob) }, ossl };
  },

  // jobAwait loses the value it waited for.
  'jobawait-value-lost': ({ main, ossl }) => ({
    main: { ...main, jobAwait: (v) => void main.jobAwait(v) },
    ossl,
  }),

  // runJob ignores its options: the signal aborts nothing.
  'signal-ignored': ({ main, ossl }) => ({
    main: { ...main, runJob: (...a) => (a[0] !== null && typeof a[0] === 'object' && typeof a[0].signal === 'object' ? main.runJob(...a.slice(1)) : main.runJob(...a)) },
    ossl,
  }),

  // cancelJob drops the reason it is given: the job unwinds with the default AbortError.
  'cancel-reason-dropped': ({ main, ossl }) => ({
    main: { ...main, cancelJob: (job) => main.cancelJob(job) },
    ossl,
  }),

  // cancelJob swallows what the job threw while unwinding and returns nothing.
  'cancel-outcome-lost': ({ main, ossl }) => ({
    main: {
      ...main,
      cancelJob: (...a) => {
        try {
          main.cancelJob(...a);
        } catch {
          // lost
        }
      },
    },
    ossl,
  }),

  // The pool allows one job more than maxSize.
  'pool-off-by-one': ({ main, ossl }) => ({
    main: { ...main, initThread: (max, init) => main.initThread(typeof max === 'number' && max > 0 ? max + 1 : max, init) },
    ossl,
  }),

  // getAllFds lists the oldest entry first.
  'fds-oldest-first': ({ main, ossl }) => ({
    main: { ...main, WaitCtx: class extends main.WaitCtx {
      getAllFds() {
        return super.getAllFds().reverse();
      }
    } },
    ossl,
  }),

  // cleanupThread swallows ERR_ASYNCJOB_JOBS_IN_USE.
  'cleanup-thread-silent': ({ main, ossl }) => ({
    main: { ...main, cleanupThread: () => { try { main.cleanupThread(); } catch (e) { if (e.code !== 'ERR_ASYNCJOB_JOBS_IN_USE') throw e; } } },
    ossl,
  }),

  // blockPause does nothing.
  'block-noop': ({ main, ossl }) => ({ main: { ...main, blockPause: () => {} }, ossl }),

  // Keys compare by SameValue instead of SameValueZero (-0 is not +0).
  'key-minus-zero': ({ main, ossl }) => {
    const k = (key) => (Object.is(key, -0) ? 'minus zero' : key);
    return {
      main: { ...main, WaitCtx: class extends main.WaitCtx {
        setWaitFd(key, ...rest) { return super.setWaitFd(k(key), ...rest); }
        getFd(key) { return super.getFd(k(key)); }
        clearFd(key) { return super.clearFd(k(key)); }
      } },
      ossl,
    };
  },

  // runJob resolves a number one too high.
  'runjob-off-by-one': ({ main, ossl }) => ({
    main: { ...main, runJob: (f, ...a) => main.runJob(f, ...a).then((v) => (typeof v === 'number' ? v + 1 : v)) },
    ossl,
  }),

  // ASYNC_start_job does not write ret on ASYNC_FINISH.
  'ossl-ret-unset': ({ main, ossl }) => ({
    main,
    ossl: { ...ossl, ASYNC_start_job: (job, ctx, ret, ...rest) => ossl.ASYNC_start_job(job, ctx, { value: undefined }, ...rest) },
  }),

  // getWaitCtx of the current job says it has none.
  'waitctx-null-inside': ({ main, ossl }) => ({
    main: { ...main, getWaitCtx: (job) => (job === main.getCurrentJob() ? null : main.getWaitCtx(job)) },
    ossl,
  }),

  // getChangedFds reports every fd as added, never any deleted.
  'changed-fds-all': ({ main, ossl }) => ({
    main: { ...main, WaitCtx: class extends main.WaitCtx {
      getChangedFds() {
        super.getChangedFds();
        return { added: this.getAllFds(), deleted: [] };
      }
    } },
    ossl,
  }),

  // pauseJob() inside a vm run with a timeout does nothing instead of refusing.
  'vm-pause-allowed': ({ main, ossl }) => ({
    main: {
      ...main,
      pauseJob: () => {
        try {
          return main.pauseJob();
        } catch (e) {
          if (e?.code === 'ERR_ASYNCJOB_PAUSE_IN_VM_TIMEOUT') return true;
          throw e;
        }
      },
    },
    ossl,
  }),

  // setStatus(ASYNC_STATUS_EAGAIN) stores ASYNC_STATUS_OK.
  'status-eagain-lost': ({ main, ossl }) => ({
    main: { ...main, WaitCtx: class extends main.WaitCtx {
      setStatus(s) {
        return super.setStatus(s === 3 ? 2 : s);
      }
    } },
    ossl,
  }),

  // pauseJob() outside a job warns every time under NODE_DEBUG=asyncjob, not once per thread.
  'outside-warning-repeats': ({ main, ossl }) => ({
    main: {
      ...main,
      pauseJob: () => {
        if (main.getCurrentJob() === null) process.emitWarning('mutant', { code: 'ASYNCJOB_PAUSE_OUTSIDE_JOB' });
        return main.pauseJob();
      },
    },
    ossl,
  }),
};

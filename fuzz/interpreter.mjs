// Runs a fuzzed program (actions.mjs) on the real API and on the model (model.mjs) side by
// side, and throws a Mismatch at the first difference: a value, an error's class or code, an
// identity (job handles, WaitCtx objects, thrown values), the async context, the number of jobs
// in use (asyncjob_jobs_in_use() through the test client), the cleanups free() runs.
//
// Control flow is real: "start" calls the real startJob with a job function that runs the
// following actions itself (jobLoop), so nesting, pauses and resumes happen as they would in a
// program. The model follows along; each context checks it is the one the model says runs.
import * as fs from 'node:fs';
import { AsyncResource } from 'node:async_hooks';
import { debuglog } from 'node:util';
import * as vm from 'node:vm';

import {
  ASYNC_FINISH, ASYNC_PAUSE, ASYNC_STATUS_EAGAIN, ASYNC_STATUS_OK, MAX_FD, Model, error, sameValueZero, value,
} from './model.mjs';
import { KEY_COUNT, RET_COUNT } from './actions.mjs';
import { knownDefectForTags } from './known-defects.mjs';

// A vm run with a watchdog (its timeout) around a pause: see do_pause.
const VM_PAUSE = new vm.Script('globalThis.__asyncjobFuzzInVm()');

/** A difference between the real API and the model. `info` is what the report prints. */
export class Mismatch extends Error {
  constructor(info) {
    super(`${info.what}: expected ${info.expected}, actual ${info.actual}`);
    this.info = info;
  }
}

const RET_UNSET = Symbol('ret not written');
// § Warnings: "With the debug switch on, NODE_DEBUG=asyncjob, the first such call [pauseJob()
// outside any job] on a thread also emits a warning ... ASYNCJOB_PAUSE_OUTSIDE_JOB". Counted per
// thread (this module loads once per thread): pauses outside a job, and the warnings seen.
// fuzz/cli.mjs runs the fuzzer with the switch on.
const DEBUG_SWITCH = debuglog('asyncjob').enabled;
const outsideJob = { pauses: 0, warnings: 0 };
process.on('warning', (w) => {
  if (w.code === 'ASYNCJOB_PAUSE_OUTSIDE_JOB') outsideJob.warnings++;
});
const MAX_JOBS = 40;
const MAX_CTXS = 16;
const MAX_PIPES = 10;

/** A readable rendering of any value, for reports. */
export function show(v, depth = 0) {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'symbol') return v.toString();
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return `function ${v.name || '<anonymous>'}`;
  if (v instanceof Error) return `${v.constructor.name}(${v.code ?? ''}${v.fd !== undefined ? ` fd ${v.fd}` : ''}: ${v.message})`;
  if (v.__fuzzName) return v.__fuzzName;
  if (depth > 2) return '{…}';
  if (Array.isArray(v)) return `[${v.map((x) => show(x, depth + 1)).join(', ')}]`;
  const proto = Object.getPrototypeOf(v);
  const name = proto === Object.prototype || proto === null ? '' : `${proto.constructor?.name ?? '?'} `;
  return `${name}{${Object.keys(v).map((k) => `${k}: ${show(v[k], depth + 1)}`).join(', ')}}`;
}

function showOutcome(o) {
  if (o === null) return '(the job is still running)';
  if ('value' in o) return `returns ${show(o.value)}`;
  if ('error' in o) return `throws ${o.error.cls.name} ${o.error.code}${o.error.fd !== undefined ? ` (fd ${o.error.fd})` : ''}`;
  if ('thrown' in o) return `throws ${show(o.thrown)} (that very object)`;
  return `throws ${show(o.threw)}`;
}

/** Whether `actual` is `expected`: arrays and plain objects by content, everything else by Object.is. */
function same(expected, actual) {
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => same(e, actual[i]));
  }
  if (expected !== null && typeof expected === 'object' && Object.getPrototypeOf(expected) === Object.prototype) {
    if (actual === null || typeof actual !== 'object') return false;
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    return [...keys].every((k) => same(expected[k], actual[k]));
  }
  return Object.is(expected, actual);
}

function matches(expected, actual) {
  if (expected === null) return false;
  if ('value' in expected) return 'value' in actual && same(expected.value, actual.value);
  if ('thrown' in expected) return 'threw' in actual && actual.threw === expected.thrown;
  const e = expected.error;
  return 'threw' in actual && actual.threw instanceof e.cls && actual.threw?.code === e.code && (e.fd === undefined || actual.threw.fd === e.fd);
}

export class Run {
  /**
   * env: { api: { main, ossl }, client, als, settleTimeout, gc }: `main` is asyncjob (or a
   * mutant of it), `client` the test client addon, `als` the AsyncLocalStorage to check.
   */
  constructor(actions, env) {
    this.actions = actions;
    this.env = env;
    this.api = env.api.main;
    this.ossl = env.api.ossl;
    this.client = env.client;
    this.als = env.als;
    this.m = new Model();
    this.pc = 0;
    this.step = -1;
    this.tags = [];
    this.tokens = 0;
    this.runs = [];
    this.waits = [];
    this.cleanupLog = [];
    this.emergency = false;
    this.knownHits = [];
    // Keys (§ class WaitCtx, rules): index pairs (0,1) NaN/NaN and (2,3) -0/+0 must find each other.
    const objectKey = { __fuzzName: 'objectKey' };
    this.keys = [NaN, Number.NaN * 2, -0, 0, objectKey, { __fuzzName: 'otherObjectKey' }, 'k', undefined, null, Symbol.for('fuzz key')];
    if (this.keys.length !== KEY_COUNT) throw new Error('KEY_COUNT');
  }

  /** Runs the whole program. Returns { mismatch, polluted }. */
  async go() {
    const top = { __fuzzName: 'top-level context' };
    this.topToken = top;
    if (this.client.jobsInUse() !== 0 || this.api.getCurrentJob() !== null) return { mismatch: null, polluted: true, knownHits: [] };
    let mismatch = null;
    try {
      await this.als.run(top, async () => {
        await this.topLoop();
        await this.finish();
      });
    } catch (e) {
      mismatch = e instanceof Mismatch
        ? e.info
        : { step: this.step, action: this.actions[this.step], what: 'the fuzzer itself threw', expected: 'nothing', actual: e?.stack ?? show(e), tags: this.tags };
    }
    let polluted = false;
    if (mismatch !== null) polluted = !(await this.emergencyCleanup());
    return { mismatch, polluted, knownHits: this.knownHits };
  }

  fail(what, expected, actual, extraTags = []) {
    const tags = [...this.tags, ...extraTags];
    // Known defect 7 miscounts the pool: what counts jobs may differ after its situation.
    if (this.m.nativePausedAfterJsParentFinished && /startJob|jobs in use|runJob|initThread|cleanupThread/.test(what)) tags.push('native-paused-after-js-parent-finished');
    throw new Mismatch({ step: this.step, action: this.actions[this.step], what, expected, actual, tags });
  }

  check(what, expected, actual) {
    if (!matches(expected, actual)) this.fail(what, showOutcome(expected), showOutcome(actual));
  }

  /**
   * A difference that leaves the model and the real state in step: when an open known defect
   * (tag) explains it, it is recorded and the program goes on; otherwise it is a mismatch.
   */
  failSoft(tag, what, expected, actual) {
    const defect = knownDefectForTags([tag]);
    if (defect === undefined) this.fail(what, expected, actual, [tag]);
    this.knownHits.push({ defect: defect.id, step: this.step, action: this.actions[this.step], what, expected, actual });
  }

  call(fn) {
    try {
      return { value: fn() };
    } catch (e) {
      if (e instanceof Mismatch) throw e;
      return { threw: e };
    }
  }

  expectedStore(cur) {
    return cur === null ? this.topToken : cur.token;
  }

  checkStore(expected, where) {
    const actual = this.als.getStore();
    if (actual !== expected) this.fail(`async context (AsyncLocalStorage) ${where}`, show(expected), show(actual));
  }

  checkInUse() {
    const actual = this.client.jobsInUse();
    if (actual !== this.m.inUse()) this.fail('jobs in use (asyncjob_jobs_in_use)', String(this.m.inUse()), String(actual));
  }

  // ---- control flow ----

  async topLoop() {
    while (this.pc < this.actions.length) {
      if (this.actions[this.pc].t === 'settle') {
        this.step = this.pc++;
        this.tags = [];
        await this.settle();
      } else {
        this.exec(null);
      }
    }
  }

  /** The body of every fuzzer JS job: runs actions until one ends the job. */
  jobLoop(job) {
    while (this.pc < this.actions.length) {
      const end = this.exec(job);
      if (end !== undefined) return end.value;
    }
    const ret = { __fuzzName: `end of program in job ${job.id}` };
    this.m.finish(job, ret);
    return ret;
  }

  /** Runs the next action in context `cur` (a model job, or null for the JavaScript thread). */
  exec(cur) {
    const i = this.pc++;
    const a = this.actions[i];
    this.step = i;
    this.tags = [];
    if (this.m.current !== cur) {
      this.fail('the context an action runs in', name(this.m.current), name(cur));
    }
    const end = this[`do_${a.t}`](a, cur);
    if (end !== undefined) return end;
    this.step = i;
    this.checkStore(this.expectedStore(cur), `in ${name(cur)} after ${a.t}`);
    this.checkInUse();
    return undefined;
  }

  jobFunction(job, arg) {
    return (...args) => {
      const handle = this.api.getCurrentJob();
      if (!(handle instanceof this.api.AsyncJob)) this.fail('getCurrentJob() inside a job', 'an AsyncJob', show(handle));
      handle.__fuzzName ??= `AsyncJob(job ${job.id})`;
      job.handle = handle;
      // § startJob: "args: passed to func as they are (no copy)".
      if (args.length !== 2 || args[0] !== job.id || args[1] !== arg) this.fail('the job function\'s arguments', `[${job.id}, ${show(arg)}]`, show(args));
      // § Concepts, "Async context": "Each job runs in the async context it was started in".
      this.checkStore(job.token, `inside job ${job.id} at its start`);
      return this.jobLoop(job);
    };
  }

  /** startJob through the main API or ASYNC_start_job; the outcome in startJob's shape. */
  startJob(via, handle, ctx, func, args) {
    if (via === 'api') return this.call(() => this.api.startJob(handle, ctx, func, ...args));
    const jobRef = { value: handle };
    const retRef = { value: RET_UNSET };
    const outcome = this.call(() => this.ossl.ASYNC_start_job(jobRef, ctx, retRef, func, ...args));
    // § asyncjob/openssl: "If the job throws, the exception propagates and job, ret are left as they were".
    if ('threw' in outcome) {
      if (jobRef.value !== handle || retRef.value !== RET_UNSET) this.fail('ASYNC_start_job references after a throw', 'untouched', show([jobRef.value, retRef.value]));
      return outcome;
    }
    const status = outcome.value;
    return { value: { status, job: jobRef.value, ret: status === ASYNC_FINISH || retRef.value !== RET_UNSET ? retRef.value : undefined } };
  }

  /** Compares what startJob did with what the model expects of `call`. */
  checkStart(step, call, actual, job) {
    this.step = step;
    const expected = call.expected;
    // A native job's handle is first seen on its first pause.
    if (job !== null && job.handle === null && expected?.value?.status === ASYNC_PAUSE && actual.value?.job instanceof this.api.AsyncJob) {
      job.handle = actual.value.job;
      job.handle.__fuzzName ??= `AsyncJob(job ${job.id})`;
      expected.value.job = job.handle;
    }
    this.check('startJob', expected, actual);
  }

  // ---- actions: jobs ----

  do_start(a, cur) {
    if (this.m.jobs.length >= MAX_JOBS) return;
    const ctx = a.ctx === null ? null : this.pick(this.m.ctxs, a.ctx) ?? null;
    const step = this.step;
    let spec = { kind: 'js' };
    let func;
    if (a.native !== null) {
      spec = a.native.kind === 'setFd' ? { kind: 'setFd', fd: this.pipeFd(a.native.pipe), again: a.native.again } : { ...a.native };
      func = spec.kind === 'pauser' ? this.client.pauser(spec.n) : spec.kind === 'forever' ? this.client.pauseForever() : this.client.setFdJob(spec.fd, spec.again);
    }
    const token = { __fuzzName: `async context ${this.tokens++}` };
    const arg = { __fuzzName: 'job argument' };
    const { call, job } = this.m.start(ctx, spec);
    if (job !== null) job.token = token;
    if (a.native === null) func = job !== null ? this.jobFunction(job, arg) : () => this.fail('a job ran', 'none started', 'a job function ran');
    const actual = this.als.run(token, () => {
      const outcome = this.startJob(a.via, null, ctx === null ? null : ctx.obj, func, [job?.id, arg]);
      this.step = step;
      this.checkStore(token, 'of the caller after startJob returned');
      return outcome;
    });
    this.checkStart(step, call, actual, job);
  }

  do_resume(a, cur) {
    const job = this.pickJob(a.job);
    if (job === undefined) return;
    const step = this.step;
    const call = this.m.resume(job);
    const resume = () => this.startJob(a.via, job.handle, null, null, []);
    let actual;
    if (a.als) {
      // The resumer's context is its own: the job must not see it, nor leak its own into it.
      const token = { __fuzzName: `resumer's async context ${this.tokens++}` };
      actual = this.als.run(token, () => {
        const outcome = resume();
        this.step = step;
        this.checkStore(token, 'of the resumer after startJob returned');
        return outcome;
      });
    } else {
      actual = resume();
    }
    this.checkStart(step, call, actual, job);
  }

  do_pause(a, cur) {
    if (a.via === 'vm' || a.via === 'vmNative') {
      // § Debuggers, termination and vm timeouts: "while a job runs inside one [a vm run with a
      // timeout], its pauses are blocked ...: pauseJob() throws ERR_ASYNCJOB_PAUSE_IN_VM_TIMEOUT,
      // and native code's asyncjob_pause_job() returns 1 at once." Outside a job: pauseJob's own rule.
      const js = a.via === 'vm';
      if (js && cur === null) outsideJob.pauses++;
      const expected = js ? (cur !== null ? error(Error, 'ERR_ASYNCJOB_PAUSE_IN_VM_TIMEOUT') : value(true)) : value(1);
      globalThis.__asyncjobFuzzInVm = js ? () => this.api.pauseJob() : () => this.client.pauseFromNative();
      this.check(`pause (${a.via}) inside a vm run with a timeout`, expected, this.call(() => VM_PAUSE.runInThisContext({ timeout: 600000 })));
      return;
    }
    if (a.via === 'scope') {
      // § pauseJob: "Throws ERR_ASYNCJOB_PAUSE_IN_ASYNC_SCOPE when called inside a nested async scope".
      if (cur === null) outsideJob.pauses++;
      const expected = cur !== null && cur.blocked === 0 ? error(Error, 'ERR_ASYNCJOB_PAUSE_IN_ASYNC_SCOPE') : value(true);
      this.check('pauseJob() in AsyncResource.runInAsyncScope', expected, this.call(() => new AsyncResource('fuzz').runInAsyncScope(() => this.api.pauseJob())));
      return;
    }
    const pauses = this.m.pause(cur);
    if (cur === null && a.via !== 'native') outsideJob.pauses++; // pauseJob() or ASYNC_pause_job()
    const step = this.step;
    // Not through call(): in a job that cancelJob() resumed, the pause throws the reason and the
    // job unwinds (§ cancelJob).
    let result;
    try {
      result = a.via === 'js' ? this.api.pauseJob() : a.via === 'native' ? this.client.pauseFromNative() : this.ossl.ASYNC_pause_job();
    } catch (thrown) {
      this.checkCancelReason(cur, thrown, `pause (${a.via})`);
      throw thrown;
    }
    if (cur?.cancelling && a.via === 'native') {
      // § cancelJob: "Native code pausing inside it sees asyncjob_pause_job() return 0"; the
      // job's next JavaScript pause throws the reason, and it unwinds.
      this.step = step;
      if (result !== 0) this.fail('a native pause in a cancelled job', show(0), show(result));
      try {
        this.api.pauseJob();
      } catch (thrown) {
        this.checkCancelReason(cur, thrown, 'pauseJob() after a native pause returned 0');
        throw thrown;
      }
      this.fail('pauseJob() in a cancelled job', 'throws the reason', 'returned');
    }
    this.step = step;
    this.tags = [];
    // § pauseJob: "pauseJob() returns true when the job is resumed" (and when it does nothing).
    const want = a.via === 'js' ? true : 1;
    if (result !== want) this.fail(`pause (${a.via}) result`, show(want), show(result));
    if (pauses) {
      if (this.m.current !== cur) this.fail('the job the model resumed', name(this.m.current), name(cur));
      this.checkStore(cur.token, `inside job ${cur.id} after a resume`);
      const handle = this.api.getCurrentJob();
      if (handle !== cur.handle) this.fail('getCurrentJob() after a resume', show(cur.handle), show(handle));
    }
  }

  do_ret(a, cur) {
    if (cur === null) return;
    const rets = [{ __fuzzName: `return value of job ${cur.id}` }, undefined, -0, NaN, 'str', null];
    if (rets.length !== RET_COUNT) throw new Error('RET_COUNT');
    const ret = rets[a.v];
    this.m.finish(cur, ret);
    return { value: ret };
  }

  do_throw(a, cur) {
    if (cur === null) return;
    const thrown = new Error(`job ${cur.id} throws`);
    thrown.__fuzzName = `the error job ${cur.id} threw`;
    this.m.throwFrom(cur, thrown);
    throw thrown;
  }

  do_cancel(a) {
    const job = this.pickJob(a.job);
    if (job === undefined) return;
    this.cancel(job, 'cancelJob');
  }

  /**
   * cancelJob on a job the model knows (§ cancelJob): a JavaScript job unwinds (its pending pause
   * throws the reason, and it ends by throwing it: cancelJob returns undefined); a native one is
   * freed. Every other cancel uses the default reason, an AbortError.
   */
  cancel(job, what) {
    const expected = this.m.cancel(job);
    const reason = this.step % 2 === 0 ? { __fuzzName: `cancel reason of job ${job.id}` } : undefined;
    if ('value' in expected) job.cancelling = { reason };
    const actual = this.call(() => (reason === undefined ? this.api.cancelJob(job.handle) : this.api.cancelJob(job.handle, reason)));
    this.check(what, expected, actual);
  }

  /** In a job being cancelled, a pause throws the reason (the default: an AbortError). */
  checkCancelReason(cur, thrown, what) {
    if (!cur?.cancelling) return;
    const { reason } = cur.cancelling;
    const ok = reason !== undefined ? thrown === reason : thrown instanceof this.api.AbortError && thrown.code === 'ABORT_ERR';
    if (!ok) this.fail(`${what} in a cancelled job`, reason !== undefined ? show(reason) : 'an AbortError', show(thrown));
  }

  do_current(a, cur) {
    const expected = cur === null ? null : cur.handle;
    this.check('getCurrentJob()', value(expected), this.call(() => this.api.getCurrentJob()));
    this.check('ASYNC_get_current_job()', value(expected), this.call(() => this.ossl.ASYNC_get_current_job()));
    if (cur !== null) this.check('getWaitCtx(getCurrentJob())', this.m.getWaitCtx(cur), this.call(() => this.api.getWaitCtx(cur.handle)));
  }

  do_getWaitCtx(a) {
    const job = this.pickJob(a.job);
    if (job === undefined) return;
    this.check('getWaitCtx', this.m.getWaitCtx(job), this.call(() => this.api.getWaitCtx(job.handle)));
  }

  do_block() {
    this.m.blockPause();
    this.check('blockPause()', value(undefined), this.call(() => this.api.blockPause()));
  }

  do_unblock() {
    this.m.unblockPause();
    this.check('unblockPause()', value(undefined), this.call(() => this.api.unblockPause()));
  }

  do_initThread(a) {
    const { max, init, bad } = a.args;
    const args = {
      null: [max, init > max && max > 0 ? max : init],
      maxType: [String(max), 0],
      initNegative: [max, -1],
      maxFraction: [1.5, 0],
      initAboveMax: [max + 1, max + 2],
      maxAboveBound: [1e9 + 1, 0],
      initAboveBound: [0, 1e6 + 1],
    }[String(bad)];
    if (bad === 'maxAboveBound' || bad === 'initAboveBound') this.tags.push('init-thread-above-bound');
    this.check(`initThread(${args.map(show).join(', ')})`, this.m.initThread(...args), this.call(() => this.api.initThread(...args)));
  }

  do_cleanupThread() {
    this.check('cleanupThread()', this.m.cleanupThread(), this.call(() => this.api.cleanupThread()));
  }

  do_foreign(a) {
    const api = this.api;
    const fake = Object.create(api.AsyncJob.prototype);
    const never = () => this.fail('a job ran', 'none started', 'a job function ran');
    const typeError = error(TypeError, 'ERR_INVALID_ARG_TYPE');
    const cases = [
      ['startJob({}, …)', () => api.startJob({}, null, null), typeError],
      ['startJob(null, {} as ctx, …)', () => api.startJob(null, {}, never), typeError],
      ['startJob(null, null, 42)', () => api.startJob(null, null, 42), typeError],
      ['startJob with a wrongly tagged object', () => api.startJob(null, null, this.client.wrongTagObject()), typeError],
      ['startJob with an untagged external', () => api.startJob(null, null, this.client.untaggedExternal()), typeError],
      ['cancelJob({})', () => api.cancelJob({}), typeError],
      ['getWaitCtx(null)', () => api.getWaitCtx(null), typeError],
      ['getWaitCtx(Object.create(AsyncJob.prototype))', () => api.getWaitCtx(fake), typeError],
      ['startJob(Object.create(AsyncJob.prototype), …)', () => api.startJob(fake, null, null), typeError],
      ['new AsyncJob()', () => new api.AsyncJob(), error(TypeError, 'ERR_ILLEGAL_CONSTRUCTOR')],
      ['cancelJob(Object.create(AsyncJob.prototype))', () => api.cancelJob(fake), typeError],
      ['ASYNC_start_job(null, …)', () => this.ossl.ASYNC_start_job(null, null, { value: 0 }, never), typeError],
    ];
    const [what, fn, expected] = cases[a.what % cases.length];
    this.check(what, expected, this.call(fn));
  }

  // ---- actions: wait contexts ----

  do_ctxNew() {
    if (this.m.ctxs.length >= MAX_CTXS) return;
    const obj = this.call(() => new this.api.WaitCtx());
    if (!('value' in obj) || !(obj.value instanceof this.api.WaitCtx)) this.fail('new WaitCtx()', 'a WaitCtx', showOutcome(obj));
    const ctx = this.m.newCtx(obj.value);
    obj.value.__fuzzName = `WaitCtx ${ctx.id}`;
    // § new WaitCtx(): "no fds, no callback, status ASYNC_STATUS_UNSUPPORTED (0)".
    this.check('a new WaitCtx\'s fds, callback, status', value([[], null, 0]), this.call(() => [obj.value.getAllFds(), obj.value.getCallback(), obj.value.getStatus()]));
  }

  /** Runs a WaitCtx method; § class WaitCtx, rules: after free() every method throws FREED. */
  ctxMethod(what, ctx, expect, fn) {
    const expected = this.m.freedError(ctx) ?? expect();
    this.check(`${what} on WaitCtx ${ctx.id}`, expected, this.call(fn));
  }

  do_ctxFree(a) {
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined) return;
    const wasFreed = ctx.freed;
    const { outcome, cleanups } = this.m.free(ctx);
    // § ctx.free(): "ends pending waits with ERR_ASYNCJOB_WAIT_CTX_FREED" (also when a cleanup throws).
    if (!wasFreed && ctx.freed) for (const w of this.waits) if (w.ctx === ctx && w.expectFreed === false) w.expectFreed = true;
    this.cleanupLog = [];
    this.check(`free() of WaitCtx ${ctx.id}`, outcome, this.call(() => ctx.obj.free()));
    const log = this.cleanupLog;
    const sameCall = (e, c) => c.ctx === e.ctx && sameValueZero(c.key, e.key) && c.fd === e.fd && c.data === e.data && c.probe === (e.plan.kind === 'probe' ? 'freed' : undefined);
    if (log.length !== cleanups.length || !cleanups.every((e, i) => sameCall(e, log[i]))) {
      const render = (list) => show(list.map((c) => ({ key: c.key, fd: c.fd, data: c.data, ...(c.probe !== undefined ? { probe: c.probe } : {}) })));
      this.fail(`cleanups run by free() of WaitCtx ${ctx.id} (newest first)`, render(cleanups.map((e) => ({ ...e, probe: e.plan.kind === 'probe' ? 'freed' : undefined }))), render(log));
    }
    this.check(`WaitCtx ${ctx.id}.freed after free()`, value(ctx.freed), this.call(() => ctx.obj.freed));
  }

  onCleanup(plan, ctx, key, fd, data) {
    if (this.emergency) return;
    if (this.env.slowCleanups) spin(1); // worker mode: time for a termination to land in cleanups
    const record = { ctx, key, fd, data, probe: undefined };
    if (plan.kind === 'probe') {
      // § ctx.free(): "While cleanups run the context already counts as freed (ctx.freed is
      // true and the other methods throw)".
      let code = null;
      try {
        ctx.getAllFds();
      } catch (e) {
        code = e.code;
      }
      record.probe = ctx.freed === true && code === 'ERR_ASYNCJOB_WAIT_CTX_FREED' ? 'freed' : `freed ${ctx.freed}, getAllFds ${code ?? 'did not throw'}`;
    }
    this.cleanupLog.push(record);
    if (plan.close) {
      fs.closeSync(plan.pipe.r);
      fs.closeSync(plan.pipe.w);
    }
    if (plan.kind === 'throw') throw plan.error;
  }

  do_setWaitFd(a) {
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined) return;
    const key = this.keys[a.key];
    // Only one bad argument at a time: the order of the checks is not documented.
    let fd = typeof a.fd === 'object' ? this.pipeFd(a.fd.pipe, a.fd.end) : { notOpen: MAX_FD, string: '3', negative: -1, fraction: 1.5 }[a.fd];
    let cleanupKind = a.cleanup;
    if (ctx.freed || (typeof fd !== 'number' || fd < 0 || !Number.isInteger(fd))) cleanupKind = cleanupKind === 'notFunction' ? 'none' : cleanupKind;
    if (ctx.freed) fd = MAX_FD;
    const data = { __fuzzName: `customData ${this.tokens++}` };
    let plan;
    let cleanup;
    if (cleanupKind === 'notFunction') cleanup = 42;
    else if (cleanupKind !== 'none') {
      plan = { kind: cleanupKind, error: cleanupKind === 'throw' ? Object.assign(new Error('a cleanup throws'), { __fuzzName: `cleanup error ${this.tokens++}` }) : undefined };
      cleanup = (c, k, f, d) => this.onCleanup(plan, c, k, f, d);
    }
    const expected = this.m.setWaitFd(ctx, key, fd, data, plan, cleanupKind !== 'notFunction');
    this.check(`setWaitFd(${show(key)}, ${show(fd)}, …, ${cleanupKind}) on WaitCtx ${ctx.id}`, expected, this.call(() => ctx.obj.setWaitFd(key, fd, data, cleanup)));
    if (plan !== undefined) plan.pipe = this.m.pipeOf(fd);
  }

  do_getFd(a) {
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined) return;
    const key = this.keys[a.key];
    this.ctxMethod(`getFd(${show(key)})`, ctx, () => this.m.getFd(ctx, key), () => ctx.obj.getFd(key));
  }

  do_getAllFds(a) {
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined) return;
    this.ctxMethod('getAllFds()', ctx, () => this.m.getAllFds(ctx), () => ctx.obj.getAllFds());
  }

  do_getChangedFds(a) {
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined || (ctx.changesUnknown && !ctx.freed)) return;
    this.ctxMethod('getChangedFds()', ctx, () => this.m.getChangedFds(ctx), () => ctx.obj.getChangedFds());
  }

  do_clearFd(a) {
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined) return;
    const key = this.keys[a.key];
    this.ctxMethod(`clearFd(${show(key)})`, ctx, () => this.m.clearFd(ctx, key), () => ctx.obj.clearFd(key));
  }

  do_setCallback(a) {
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined) return;
    const kind = ctx.freed && a.cb === 'notFunction' ? 'fn' : a.cb;
    const callback = kind === 'fn' ? Object.assign((arg) => arg, { __fuzzName: `callback ${this.tokens++}` }) : kind === 'null' ? null : 'not a function';
    const arg = { __fuzzName: `callback arg ${this.tokens++}` };
    const expect = () => (kind === 'notFunction' ? error(TypeError, 'ERR_INVALID_ARG_TYPE') : this.m.setCallback(ctx, callback, arg));
    this.ctxMethod(`setCallback(${kind})`, ctx, expect, () => ctx.obj.setCallback(callback, arg));
  }

  do_getCallback(a) {
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined) return;
    this.ctxMethod('getCallback()', ctx, () => this.m.getCallback(ctx), () => ctx.obj.getCallback());
  }

  do_setStatus(a) {
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined) return;
    const status = ctx.freed ? 2 : a.v;
    this.ctxMethod(`setStatus(${show(status)})`, ctx, () => this.m.setStatus(ctx, status), () => ctx.obj.setStatus(status));
    // § ctx.setStatus / getStatus: "any 32-bit integer is kept".
    this.ctxMethod('getStatus() after setStatus()', ctx, () => value(ctx.status), () => ctx.obj.getStatus());
  }

  do_getStatus(a) {
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined) return;
    this.ctxMethod('getStatus()', ctx, () => value(ctx.status), () => ctx.obj.getStatus());
  }

  do_waitSync(a) {
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined) return;
    const sorted = () => [...new Set(ctx.obj.waitSync(0))].sort((x, y) => x - y);
    this.ctxMethod('waitSync(0) (readable fds, sorted)', ctx, () => this.m.waitSync(ctx), sorted);
  }

  do_wait(a) {
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined) return;
    const fds = ctx.freed ? [] : ctx.entries.filter((e) => !e.deleted).map((e) => e.fd);
    if (fds.some((fd) => this.m.pipeOf(fd)?.r !== fd)) return; // write ends and closed fds: see waitSync
    // Never a wait that nothing will end.
    const timeout = a.timeout === undefined && this.m.readable(fds).length === 0 ? 5 : a.timeout;
    const w = { step: this.step, action: this.actions[this.step], ctx, fds, expectFreed: ctx.freed ? true : false, outcome: null, immediateRan: false, resolvedAfterImmediate: null };
    setImmediate(() => { w.immediateRan = true; });
    const pipes = fds.map((fd) => this.m.pipeOf(fd));
    for (const p of pipes) p.busy = (p.busy ?? 0) + 1;
    w.release = () => { for (const p of pipes) p.busy--; };
    const promise = this.call(() => ctx.obj.wait(timeout === undefined ? undefined : { timeout }));
    if ('threw' in promise) this.fail('ctx.wait() throws', 'a promise', show(promise.threw));
    w.promise = promise.value.then(
      (v) => { w.outcome = { value: [...new Set(v)].sort((x, y) => x - y) }; w.resolvedAfterImmediate = w.immediateRan; },
      (e) => { w.outcome = { threw: e }; },
    );
    this.waits.push(w);
  }

  do_freed(a) {
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined) return;
    this.check(`WaitCtx ${ctx.id}.freed`, value(ctx.freed), this.call(() => ctx.obj.freed));
  }

  do_freedForeign() {
    let proto = this.api.WaitCtx.prototype;
    let getter;
    while (proto !== null && getter === undefined) {
      getter = Object.getOwnPropertyDescriptor(proto, 'freed')?.get;
      proto = Object.getPrototypeOf(proto);
    }
    // § Errors: ERR_INVALID_ARG_TYPE for "a ctx that is not a WaitCtx" (fixed semantics of defect 10).
    const expected = error(TypeError, 'ERR_INVALID_ARG_TYPE');
    const actual = this.call(() => getter.call({}));
    if (!matches(expected, actual)) this.failSoft('freed-getter-foreign-receiver', 'the freed getter on a foreign object', showOutcome(expected), showOutcome(actual));
  }

  do_pipe() {
    if (this.m.pipes.length >= MAX_PIPES) return;
    const r = this.call(() => this.api.pipe());
    if (!('value' in r) || !Array.isArray(r.value) || r.value.length !== 2 || !r.value.every(Number.isInteger)) this.fail('pipe()', '[readFd, writeFd]', showOutcome(r));
    const [rd, wr] = r.value;
    this.m.pipes.push({ r: rd, w: wr, open: true, bytes: 0, busy: 0 });
  }

  do_write(a) {
    const pipe = this.pick(this.m.pipes.filter((p) => p.open), a.pipe);
    if (pipe === undefined || pipe.bytes > 100) return;
    fs.writeSync(pipe.w, 'x');
    pipe.bytes++;
  }

  do_drain(a) {
    const pipe = this.pick(this.m.pipes.filter((p) => p.open && p.bytes > 0 && !p.busy), a.pipe);
    if (pipe === undefined) return;
    const n = fs.readSync(pipe.r, Buffer.alloc(4096));
    if (n !== pipe.bytes) this.fail('bytes read from a pipe', String(pipe.bytes), String(n));
    pipe.bytes = 0;
  }

  // ---- actions: runJob and the event loop (§ runJob) ----

  do_runJob(a, cur) {
    if (this.m.jobs.length >= MAX_JOBS) return;
    const api = this.api;
    const token = { __fuzzName: `runJob's async context ${this.tokens++}` };
    const ret = { __fuzzName: `runJob ${this.runs.length} result` };
    const run = { index: this.runs.length, step: this.step, action: a, script: a.script, token, problems: [], outcome: null, cleanupRan: false, cancelled: false, handle: null, release: () => {} };
    // The job's own checks, made whenever it runs (resumes happen on the event loop).
    const entered = () => {
      run.handle ??= api.getCurrentJob();
      if (this.als.getStore() !== token) run.problems.push(`async context inside the runJob job: ${show(this.als.getStore())}`);
    };
    const pause = () => {
      api.pauseJob();
      entered();
    };
    let func;
    let expected;
    let pausesAtFirst = true;
    switch (a.script) {
      case 'return':
        pausesAtFirst = false;
        func = () => { entered(); return ret; };
        expected = value(ret);
        break;
      case 'immediate':
        func = () => { entered(); for (let i = 0; i <= a.n; i++) pause(); return ret; };
        expected = value(ret);
        break;
      case 'throw': {
        const thrown = Object.assign(new Error('runJob job throws'), { __fuzzName: `runJob ${run.index} error` });
        func = () => { entered(); pause(); throw thrown; };
        expected = { thrown };
        break;
      }
      case 'fd':
        func = () => {
          entered();
          const [r, w] = api.pipe();
          const ctx = api.getWaitCtx(api.getCurrentJob());
          ctx.setWaitFd('reply', r, null, () => { run.cleanupRan = true; fs.closeSync(r); fs.closeSync(w); });
          // Not once the cleanup closed the pipe: cancelJob() frees the run's WaitCtx.
          setTimeout(() => run.cleanupRan || fs.writeSync(w, 'x'), 1);
          pause();
          fs.readSync(r, Buffer.alloc(8));
          return ret;
        };
        expected = value(ret);
        run.expectCleanup = true;
        break;
      case 'callback':
      case 'earlyCallback':
        func = () => {
          entered();
          const ctx = api.getWaitCtx(api.getCurrentJob());
          const wake = ctx.getCallback();
          ctx.setStatus(ASYNC_STATUS_EAGAIN);
          if (a.script === 'earlyCallback') wake.callback(wake.arg); // "A callback call that comes before the pause is not lost."
          else setTimeout(() => wake.callback(wake.arg), 1);
          pause();
          return ctx.getStatus(); // "Before each resume the status is set back to ASYNC_STATUS_OK."
        };
        expected = value(ASYNC_STATUS_OK);
        break;
      case 'nativePauser':
        func = this.client.pauser(a.n);
        pausesAtFirst = a.n > 0;
        expected = value(a.n);
        break;
      case 'nativeWake':
        func = this.client.wakeThenPause();
        expected = value(7);
        break;
      case 'nativeSetFd': {
        const pipe = this.pick(this.m.pipes.filter((p) => p.open), a.n);
        if (pipe === undefined) return;
        fs.writeSync(pipe.w, 'x'); // readable at once: the job is resumed, clears its fd, returns 0
        pipe.bytes++;
        pipe.busy++;
        run.release = () => { pipe.busy--; };
        func = this.client.setFdJob(pipe.r);
        expected = value(0);
        break;
      }
      case 'badFunc':
        func = 42;
        expected = error(TypeError, 'ERR_INVALID_ARG_TYPE');
        break;
      case 'cancelMe':
      case 'abortMe':
        func = () => { entered(); api.getWaitCtx(api.getCurrentJob()).setStatus(ASYNC_STATUS_EAGAIN); pause(); return ret; };
        expected = null; // it ends only by cancelJob or its signal: see cancelRun, abortRun
        if (a.script === 'abortMe') run.controller = new AbortController();
        break;
      case 'await':
        // § jobAwait: "returns its value"; under runJob "nothing more is needed".
        func = () => {
          entered();
          const v = api.jobAwait(new Promise((resolve) => setTimeout(resolve, 1, ret)));
          entered();
          return v;
        };
        expected = value(ret);
        break;
      case 'awaitRejected': {
        // § jobAwait: "or throws its rejection reason".
        const thrown = Object.assign(new Error('awaited rejection'), { __fuzzName: `runJob ${run.index} rejection` });
        func = () => { entered(); api.jobAwait(Promise.reject(thrown)); return ret; };
        expected = { thrown };
        break;
      }
      default:
        throw new Error(`unknown runJob script ${a.script}`);
    }
    if (a.script !== 'badFunc') {
      const started = this.m.startRun(pausesAtFirst, typeof func !== 'function');
      if (started.expected !== undefined) expected = started.expected; // § runJob: ERR_ASYNCJOB_NO_JOBS "when the pool is full"
      run.job = started.job;
    }
    run.expected = expected;
    const promise = this.als.run(token, () => this.call(() => (run.controller ? api.runJob({ signal: run.controller.signal }, func) : api.runJob(func))));
    // § runJob: "runJob itself never throws."
    if ('threw' in promise) this.fail('runJob() throws', 'a promise', show(promise.threw));
    run.promise = promise.value.then((v) => { run.outcome = { value: v }; }, (e) => { run.outcome = { threw: e }; });
    this.runs.push(run);
  }

  do_cancelRun(a) {
    const run = this.pick(this.runs.filter((r) => r.job && r.handle), a.run);
    if (run === undefined) return;
    this.cancelRun(run);
  }

  cancelRun(run) {
    this.tags.push('cancelled-run-job');
    const expected = this.m.cancel(run.job);
    this.check(`cancelJob on the job of runJob ${run.index}`, expected, this.call(() => this.api.cancelJob(run.handle)));
    if ('value' in expected && run.outcome === null) {
      // § cancelJob: the run rejects with the reason (the default: an AbortError) after the job
      // has unwound, and the WaitCtx is freed (its cleanups run).
      run.cancelled = true;
      run.expected = error(this.api.AbortError, 'ABORT_ERR');
    }
  }

  /** § runJob, "Aborting": the job unwinds, and the run rejects with the signal's reason. */
  abortRun(run) {
    this.tags.push('aborted-run-job');
    const expected = this.m.cancel(run.job);
    const reason = { __fuzzName: `abort reason of runJob ${run.index}` };
    const actual = this.call(() => run.controller.abort(reason));
    this.check(`abort() of the signal of runJob ${run.index}`, value(undefined), actual);
    if ('value' in expected && run.outcome === null) {
      run.cancelled = true;
      run.expected = { thrown: reason };
    }
  }

  /** Lets the event loop run until every runJob and wait() has settled, and checks them. */
  async settle() {
    for (const run of this.runs) if (run.script === 'cancelMe' && run.job?.state === 'paused' && run.handle) this.cancelRun(run);
    for (const run of this.runs) if (run.script === 'abortMe' && run.job?.state === 'paused' && run.handle) this.abortRun(run);
    const pending = [...this.runs.filter((r) => !r.checked), ...this.waits.filter((w) => !w.checked)];
    if (pending.length === 0) return;
    let timer;
    await Promise.race([
      Promise.all(pending.map((p) => p.promise)),
      new Promise((resolve) => { timer = setTimeout(resolve, this.env.settleTimeout); }),
    ]);
    clearTimeout(timer);
    for (const run of this.runs.filter((r) => !r.checked)) {
      run.checked = true;
      this.step = run.step;
      this.tags = [];
      if (run.cancelled && (run.outcome === null || !matches(run.expected, run.outcome) || (run.expectCleanup && !run.cleanupRan))) {
        // The job has ended either way: the model and the thread stay in step.
        const actual = run.outcome === null ? `still pending after ${this.env.settleTimeout} ms` : `${showOutcome(run.outcome)}${run.expectCleanup && !run.cleanupRan ? ', cleanup not run' : ''}`;
        this.failSoft('cancelled-run-job', `runJob ${run.index} (${run.script}) after cancelJob of its job`, `${showOutcome(run.expected)}${run.expectCleanup ? ', cleanup run' : ''}`, actual);
        run.release();
        continue;
      }
      if (run.outcome === null) this.fail(`runJob ${run.index} (${run.script}) settles`, showOutcome(run.expected), `still pending after ${this.env.settleTimeout} ms`);
      if (run.problems.length > 0) this.fail(`inside the job of runJob ${run.index} (${run.script})`, 'no problem', run.problems.join('; '));
      this.check(`runJob ${run.index} (${run.script})`, run.expected, run.outcome);
      // § runJob: "When the job ends the WaitCtx is freed (its cleanups run)".
      if (run.expectCleanup && !run.cleanupRan && run.job !== null) this.fail(`the WaitCtx cleanup of runJob ${run.index}`, 'ran', 'did not run');
      if (run.job) this.m.settleRun(run.job);
      run.release();
    }
    for (const w of this.waits.filter((x) => !x.checked)) {
      w.checked = true;
      w.release();
      this.step = w.step;
      this.tags = [];
      let expected;
      if (w.expectFreed) expected = error(Error, 'ERR_ASYNCJOB_WAIT_CTX_FREED');
      else expected = value(this.m.readable(w.fds));
      if (w.outcome === null) this.fail(`WaitCtx ${w.ctx.id}.wait() settles`, showOutcome(expected), 'still pending');
      if (w.fds.length === 0 && !matches(expected, w.outcome)) {
        // A wait without fds is pending until the next turn of the event loop (defect 12's
        // fix), so a free() before that turn ends it with ERR_ASYNCJOB_WAIT_CTX_FREED.
        this.failSoft('wait-without-fds', `WaitCtx ${w.ctx.id}.wait() without fds`, showOutcome(expected), showOutcome(w.outcome));
        continue;
      }
      this.check(`WaitCtx ${w.ctx.id}.wait() (readable fds, sorted)`, expected, w.outcome);
      // § ctx.wait(): "Resolves with [] at once when no fds are set" — after a real turn of the
      // event loop (fixed semantics of defect 12).
      if (w.fds.length === 0 && !w.expectFreed && w.resolvedAfterImmediate !== true) this.failSoft('wait-without-fds', `WaitCtx ${w.ctx.id}.wait() without fds resolves after an event-loop turn`, 'after setImmediate', 'before it');
    }
    this.tags = [];
    this.checkInUse();
  }

  // ---- actions: asyncjob/openssl ----

  do_ossl(a, cur) {
    const o = this.ossl;
    if (a.op === 'capable') return this.check('ASYNC_is_capable()', value(1), this.call(() => o.ASYNC_is_capable()));
    if (a.op === 'freeNull') return this.check('ASYNC_WAIT_CTX_free(null)', value(undefined), this.call(() => o.ASYNC_WAIT_CTX_free(null)));
    if (a.op === 'current') return this.check('ASYNC_get_current_job()', value(cur === null ? null : cur.handle), this.call(() => o.ASYNC_get_current_job()));
    const ctx = this.pick(this.m.ctxs, a.ctx);
    if (ctx === undefined) return;
    const key = this.keys[a.key];
    const ofModel = (outcome, f) => ('value' in outcome ? value(f(outcome.value)) : outcome);
    switch (a.op) {
      case 'getAllFds': {
        const fds = [-1, -1, -1, -1, -1, -1, -1, -1];
        const num = { value: -1 };
        this.ctxMethod('ASYNC_WAIT_CTX_get_all_fds (returns, fds, numfds)', ctx, () => ofModel(this.m.getAllFds(ctx), (l) => [1, l, l.length]), () => [o.ASYNC_WAIT_CTX_get_all_fds(ctx.obj, fds, num), fds, num.value]);
        return;
      }
      case 'countFds': {
        const num = { value: -1 };
        this.ctxMethod('ASYNC_WAIT_CTX_get_all_fds(ctx, null, numfds)', ctx, () => ofModel(this.m.getAllFds(ctx), (l) => [1, l.length]), () => [o.ASYNC_WAIT_CTX_get_all_fds(ctx.obj, null, num), num.value]);
        return;
      }
      case 'getFd': {
        const fd = { value: 'untouched' };
        const data = { value: 'untouched' };
        this.ctxMethod(`ASYNC_WAIT_CTX_get_fd(${show(key)}) (returns, fd, custom_data)`, ctx,
          () => ofModel(this.m.getFd(ctx, key), (e) => (e === null ? [0, 'untouched', 'untouched'] : [1, e.fd, e.customData])),
          () => [o.ASYNC_WAIT_CTX_get_fd(ctx.obj, key, fd, data), fd.value, data.value]);
        return;
      }
      case 'clearFd':
        this.ctxMethod(`ASYNC_WAIT_CTX_clear_fd(${show(key)})`, ctx, () => ofModel(this.m.clearFd(ctx, key), (b) => (b ? 1 : 0)), () => o.ASYNC_WAIT_CTX_clear_fd(ctx.obj, key));
        return;
      case 'status':
        this.ctxMethod('ASYNC_WAIT_CTX_get_status', ctx, () => value(ctx.status), () => o.ASYNC_WAIT_CTX_get_status(ctx.obj));
        return;
      default:
        throw new Error(`unknown ossl op ${a.op}`);
    }
  }

  /** ASYNC_start_job whose `job` reference throws when written (known defect 9's situation). */
  do_osslJobRefThrows(a, cur) {
    if (this.m.jobs.length >= MAX_JOBS || a.gate !== 0) return;
    this.tags.push('ossl-job-ref-setter-throws');
    const step = this.step;
    const refError = Object.assign(new Error('job.value setter throws'), { __fuzzName: 'the job reference\'s setter error' });
    const jobRef = { get value() { return null; }, set value(v) { if (v !== null) throw refError; } };
    const { call, job } = this.m.start(null, { kind: 'scripted' });
    const token = this.expectedStore(cur);
    if (job !== null) job.token = token;
    const func = () => {
      job.handle = this.api.getCurrentJob();
      this.m.pause(job);
      this.api.pauseJob();
      return 'resumed';
    };
    const actual = this.call(() => this.ossl.ASYNC_start_job(jobRef, null, { value: 0 }, func));
    this.step = step;
    let expected = call.expected;
    if (job !== null) {
      // Fixed semantics of defect 9: the paused job is cancelled and the setter's error rethrown.
      this.m.cancel(job);
      expected = { thrown: refError };
    } else {
      expected = value(1); // ASYNC_NO_JOBS; job.value is written null, which the setter accepts
    }
    this.check('ASYNC_start_job with a job reference whose setter throws', expected, actual);
  }

  // ---- the garbage collector ----

  do_gc() {
    this.env.gc?.();
  }

  do_garbage() {
    const junk = [];
    for (let i = 0; i < 2000; i++) junk.push({ i, s: `garbage ${i}`, a: [i, i + 1] });
    return junk.length === 2000 ? undefined : undefined;
  }

  do_spin(a) {
    spin(a.ms);
  }

  do_settle() {} // inside a job: nothing (the event loop does not run while a job runs)

  // ---- helpers ----

  pick(list, i) {
    return list.length === 0 ? undefined : list[i % list.length];
  }

  /** Jobs the fuzzer can name by handle (not runJob's, which runJob resumes itself). */
  pickJob(i) {
    return this.pick(this.m.jobs.filter((j) => j.handle !== null && j.kind !== 'run'), i);
  }

  pipeFd(i, end = 'r') {
    const pipe = this.pick(this.m.pipes.filter((p) => p.open), i);
    return pipe === undefined ? MAX_FD : pipe[end];
  }

  // ---- the end of a program ----

  /** At the end of a program: settle everything, then cancel, free and clean up, checking each. */
  async finish() {
    this.step = this.actions.length - 1;
    await this.settle();
    this.tags = [];
    for (const job of this.m.jobs) {
      if (job.state === 'paused' && job.handle !== null && job.kind !== 'run') {
        this.cancel(job, `cancelJob of job ${job.id} at the end`);
      }
    }
    for (const ctx of this.m.ctxs) if (!ctx.freed) this.do_ctxFree({ ctx: ctx.id });
    // process.emitWarning() emits on a later tick.
    await new Promise((resolve) => setImmediate(resolve));
    const warnings = DEBUG_SWITCH && outsideJob.pauses > 0 ? 1 : 0;
    if (outsideJob.warnings !== warnings) {
      this.fail('ASYNCJOB_PAUSE_OUTSIDE_JOB warnings on this thread', `${warnings} (${outsideJob.pauses} pauses outside a job, NODE_DEBUG=asyncjob ${DEBUG_SWITCH ? 'on' : 'off'})`, String(outsideJob.warnings));
    }
    this.check('cleanupThread() at the end', this.m.cleanupThread(), this.call(() => this.api.cleanupThread()));
    this.checkInUse();
    this.closePipes();
  }

  closePipes() {
    for (const p of this.m.pipes) {
      if (!p.open) continue;
      p.open = false;
      for (const fd of [p.r, p.w]) try { fs.closeSync(fd); } catch { /* closed already */ }
    }
  }

  /** After a mismatch: end what can be ended. Returns whether the thread is clean again. */
  async emergencyCleanup() {
    this.emergency = true;
    for (const job of this.m.jobs) if (job.handle !== null) try { this.api.cancelJob(job.handle); } catch { /* finished */ }
    for (const run of this.runs) if (run.handle) try { this.api.cancelJob(run.handle); } catch { /* finished */ }
    for (const ctx of this.m.ctxs) try { ctx.obj.free(); } catch { /* in use or a cleanup threw */ }
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const ctx of this.m.ctxs) try { ctx.obj.free(); } catch { /* still in use */ }
    this.closePipes();
    try { this.api.cleanupThread(); } catch { /* jobs in use */ }
    return this.client.jobsInUse() === 0 && this.api.getCurrentJob() === null;
  }
}

function spin(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

function name(job) {
  return job === null ? 'the JavaScript thread' : `job ${job.id}`;
}

import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ASYNC_FINISH, ASYNC_PAUSE, pauseJob, startJob } from 'asyncjob';
import { QUIET_EXIT_ENV, expectExitWarning } from './exit-warning';
import { budget } from './time-scale';

// ARCHITECTURE.md pitfall 4: teardown with jobs still paused, and termination landing on a job
// thread. Each case runs in a child process or a worker, so a crash cannot hide.
const packagePath = require.resolve('asyncjob');
const clientPath = path.resolve(__dirname, '..', '..', 'test', 'native-client', 'index.js');

function runChild(script: string, args: string[] = []): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, [...args, '-e', script, packagePath], { encoding: 'utf8', timeout: budget(30000) });
  return { status: child.status, signal: child.signal, stdout: child.stdout, stderr: child.stderr };
}

const PAUSE_FIVE = `
  const { startJob, pauseJob } = require(process.argv[1]);
  const held = [];
  for (let i = 0; i < 5; i++) {
    held.push(startJob(null, null, () => { const big = new Array(1000).fill(i); pauseJob(); return big.length; }).job);
  }
`;

function workerScript(body: string): string {
  return `
    const { parentPort, workerData } = require('node:worker_threads');
    const { startJob, pauseJob, runJob } = require(workerData);
    ${body}
  `;
}

function exitOf(worker: Worker): Promise<number> {
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
}

// Every host thread a job ran on ends with its environment. On Windows a thread's end runs
// thread-exit code that once hung for ever (node.exe under Wine, mingw build: a thread_local's
// destructor read storage the runtime had freed and waited on the isolate's lock), and the
// process with it: these exits must come, with their codes, within the time limit.
describe('process exit once JS jobs have run', function () {
  this.timeout(budget(60000));
  const RUN_JOBS = `
    const { startJob, pauseJob, ASYNC_PAUSE } = require(process.argv[1]);
    for (let i = 0; i < 3; i++) {
      let r = startJob(null, null, () => { pauseJob(); pauseJob(); return i; });
      while (r.status === ASYNC_PAUSE) r = startJob(r.job, null, null);
    }
  `;

  for (const [how, ending] of [
    ['ends by itself', 'process.exitCode = 3;'],
    ['calls process.exit()', 'process.exit(3);'],
  ]) {
    it(`a process that ran JS jobs and ${how} exits with its code`, () => {
      const started = Date.now();
      const r = spawnSync(process.execPath, ['-e', `${RUN_JOBS} ${ending}`, packagePath], { encoding: 'utf8', timeout: budget(20000) });
      expect(r.signal, `killed after ${Date.now() - started} ms: it did not exit`).to.equal(null);
      expect(r.stderr).to.equal('');
      expect(r.status).to.equal(3);
    });
  }
});

describe('teardown with jobs paused', function () {
  this.timeout(budget(60000));

  it('the process ends normally with jobs paused', () => {
    const r = runChild(`${PAUSE_FIVE} process.on('exit', () => console.log('exiting with', held.length, 'paused'));`);
    expectExitWarning(r.stderr, 5);
    expect(r.signal).to.equal(null);
    expect(r.status).to.equal(0);
    expect(r.stdout.trim()).to.equal('exiting with 5 paused');
  });

  it('process.exit() inside a job exits with its code', () => {
    const r = runChild(`${PAUSE_FIVE} startJob(null, null, () => { console.log('exiting from a job'); process.exit(7); });`);
    expect(r.signal).to.equal(null);
    expect(r.status).to.equal(7);
    expect(r.stdout.trim()).to.equal('exiting from a job');
  });

  it('SIGTERM with jobs paused ends the process through its handler', async function () {
    // Windows has no signals: child.kill() ends the child at once and no handler runs.
    if (process.platform === 'win32') this.skip();
    const child = spawn(process.execPath, ['-e', `${PAUSE_FIVE}
      process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); });
      setInterval(() => {}, 1000);
      console.log('ready');`, packagePath]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) child.kill('SIGTERM');
    });
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    expect([code, signal]).to.deep.equal([0, null]);
    expect(out).to.include('got SIGTERM');
  });

  it('jobs run in worker threads, and a worker exits cleanly with jobs paused', async () => {
    const worker = new Worker(workerScript(`
      let r = startJob(null, null, (a, b) => { pauseJob(); return a * b; }, 6, 7);
      r = startJob(r.job, null, null);
      const kept = startJob(null, null, () => { pauseJob(); });
      runJob(() => { pauseJob(); return 'from runJob'; }).then((v) => parentPort.postMessage({ ret: r.ret, kept: kept.status, v }));
    `), { eval: true, workerData: packagePath, env: QUIET_EXIT_ENV });
    const message = await new Promise((resolve) => worker.once('message', resolve));
    expect(message).to.deep.equal({ ret: 42, kept: ASYNC_PAUSE, v: 'from runJob' });
    expect(await exitOf(worker)).to.equal(0);
  });

  it('worker.terminate() with jobs paused', async () => {
    const worker = new Worker(workerScript(`
      for (let i = 0; i < 5; i++) startJob(null, null, () => { pauseJob(); });
      parentPort.postMessage('paused');
      setInterval(() => {}, 1000);
    `), { eval: true, workerData: packagePath, env: QUIET_EXIT_ENV });
    await new Promise((resolve) => worker.once('message', resolve));
    expect(await worker.terminate()).to.equal(1);
  });

  it('worker.terminate() while a job spins, and termination reaches the worker thread', async () => {
    const worker = new Worker(workerScript(`
      parentPort.postMessage('spinning');
      startJob(null, null, () => { for (;;) {} });
      parentPort.postMessage('the worker went on after termination');
    `), { eval: true, workerData: packagePath, env: QUIET_EXIT_ENV });
    const messages: unknown[] = [];
    worker.on('message', (m) => messages.push(m));
    await new Promise((resolve) => worker.once('message', resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await worker.terminate()).to.equal(1);
    expect(messages).to.deep.equal(['spinning']);
  });

  it('process.exit() inside a job in a worker ends the worker with that code', async () => {
    const worker = new Worker(workerScript(`
      startJob(null, null, () => { pauseJob(); });
      startJob(null, null, () => { process.exit(5); });
      parentPort.postMessage('the worker went on after process.exit()');
    `), { eval: true, workerData: packagePath, env: QUIET_EXIT_ENV });
    const messages: unknown[] = [];
    worker.on('message', (m) => messages.push(m));
    expect(await exitOf(worker)).to.equal(5);
    expect(messages).to.deep.equal([]);
  });

  it('worker.terminate() while runJob() keeps resuming a job from a readable fd, twenty times', async function () {
    for (let i = 0; i < 20; i++) {
      const worker = new Worker(workerScript(`
        const fs = require('node:fs');
        const { pipe, getCurrentJob, getWaitCtx } = require(workerData);
        const [r, w] = pipe();
        fs.writeSync(w, 'x'); // r stays readable: every pause is resumed through the fd
        const loop = () => runJob(() => {
          getWaitCtx(getCurrentJob()).setWaitFd('k', r);
          for (let i = 0; i < 1000; i++) pauseJob();
        }).then(loop);
        loop();
        setTimeout(() => parentPort.postMessage('running'), 5);
      `), { eval: true, workerData: packagePath, env: QUIET_EXIT_ENV });
      await new Promise((resolve) => worker.once('message', resolve));
      expect(await worker.terminate()).to.equal(1);
    }
  });

  // A termination request goes to whichever thread holds the isolate. One that reaches a host
  // thread after its JavaScript has run (here: during native code that ends the job, or that
  // pauses it) used to be dropped at the hand-off back; the worker then ran on for ever, every
  // later startJob() quietly returning { status: undefined }.
  for (const [name, job] of [
    ['finishes', 'startJob(null, null, client.sleepMs, 300);'],
    ['pauses', 'startJob(null, null, () => { client.sleepMs(300); client.pauseFromNative(); });'],
  ]) {
    it(`worker.terminate() that reaches a job as it ${name} in native code still ends the worker`, async () => {
      const worker = new Worker(
        `
        const { parentPort, workerData } = require('node:worker_threads');
        const { startJob } = require(workerData.packagePath);
        const client = require(workerData.clientPath);
        parentPort.postMessage('in the job');
        ${job} // worker.terminate() arrives during the sleep
        for (let n = 1; ; n++) {
          startJob(null, null, () => n);
          if (n === 1000) parentPort.postMessage('went on after termination');
        }
      `,
        { eval: true, workerData: { packagePath, clientPath }, env: QUIET_EXIT_ENV },
      );
      const messages: unknown[] = [];
      worker.on('message', (m) => messages.push(m));
      await new Promise((resolve) => worker.once('message', resolve));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const outcome = await Promise.race([worker.terminate(), new Promise((resolve) => setTimeout(resolve, 5000, 'still running'))]);
      if (outcome === 'still running') await worker.terminate(); // cannot end it; at least stop waiting
      expect(outcome).to.equal(1);
      expect(messages).to.deep.equal(['in the job']);
    });
  }

  // worker.terminate() makes the environment stop at any moment, from another thread, and
  // Node-API then fails calls that worked an instant before. asyncjob_native_function_new (called
  // from a client addon's C code, where no C++ exception may go) used to let node-addon-api's
  // throw out: "terminate called after throwing an instance of 'Napi::Error'", the process gone.
  it('worker.terminate() while the worker makes native job functions, a hundred times', async function () {
    // A hundred workers: 35-45 s in node.exe under Wine on a loaded machine, past 60 s once.
    this.timeout(budget(process.platform === 'win32' ? 180000 : 60000));
    for (let i = 0; i < 100; i++) {
      const worker = new Worker(
        `
        const { parentPort, workerData } = require('node:worker_threads');
        require(workerData.packagePath);
        const client = require(workerData.clientPath);
        parentPort.postMessage('making');
        for (;;) client.pauser(1);
      `,
        { eval: true, workerData: { packagePath, clientPath }, env: QUIET_EXIT_ENV },
      );
      await new Promise((resolve) => worker.once('message', resolve));
      await new Promise((resolve) => setTimeout(resolve, (i % 5) + Math.random()));
      expect(await worker.terminate()).to.equal(1);
    }
  });

  it('this thread keeps working after all that', () => {
    const r = startJob(null, null, () => {
      pauseJob();
      return 'fine';
    });
    expect(r.status).to.equal(ASYNC_PAUSE);
    expect(startJob(r.job, null, null)).to.deep.include({ status: ASYNC_FINISH, ret: 'fine' });
  });
});

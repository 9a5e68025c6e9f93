import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { EXIT_WARNING, exitWarnings } from './exit-warning';
import { budget } from './time-scale';

// docs/api.md, Warnings: one line on stderr when a thread ends with jobs paused, and a one-time
// process warning for pauseJob() outside a job under NODE_DEBUG=asyncjob. Each case is a child
// process, whose whole stderr is the evidence.
const packagePath = require.resolve('asyncjob');
const fibersPath = require.resolve('asyncjob/fibers');
const clientPath = path.resolve(__dirname, '..', '..', 'test', 'native-client', 'index.js');

type Run = { status: number | null; signal: string | null; stdout: string; stderr: string };

function runChild(script: string, env: Record<string, string> = {}): Run {
  const child = spawnSync(process.execPath, ['-e', script, packagePath, fibersPath, clientPath], {
    encoding: 'utf8',
    timeout: budget(30000),
    env: { ...withoutSwitches(process.env), ...env },
  });
  return { status: child.status, signal: child.signal, stdout: child.stdout, stderr: child.stderr };
}

// The switches under test, as this test's own environment may have them set.
function withoutSwitches(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { ASYNCJOB_NO_EXIT_WARNING: _off, NODE_DEBUG: _debug, ...rest } = env;
  return rest;
}

const PRELUDE = `
  const { startJob, pauseJob, cancelJob, runJob, jobAwait } = require(process.argv[1]);
  const pauseOnce = () => { try { pauseJob(); } finally { console.log('a finally block ran'); } };
`;

describe('warning: jobs still paused when the process or a worker ends', function () {
  this.timeout(budget(60000));

  it('the process ends by itself with 2 jobs paused: one line that says 2, exit code unchanged', () => {
    const r = runChild(`${PRELUDE} startJob(null, null, pauseOnce); startJob(null, null, pauseOnce); process.exitCode = 3;`);
    expect(r.signal).to.equal(null);
    expect(r.status).to.equal(3);
    expect(exitWarnings(r.stderr)).to.deep.equal([{ who: 'the process', count: 2 }]);
    expect(r.stderr).to.include('They were cancelled');
    expect(r.stdout).to.equal(''); // the warning is true: no finally block ran
  });

  it('process.exit() with 1 job paused (no teardown runs there): one line in the singular', () => {
    const r = runChild(`${PRELUDE} startJob(null, null, pauseOnce); process.exit(5);`);
    expect(r.status).to.equal(5);
    expect(exitWarnings(r.stderr)).to.deep.equal([{ who: 'the process', count: 1 }]);
    expect(r.stderr).to.include('It was cancelled');
  });

  it('process.exit() inside a job counts the other paused jobs, not the one running', () => {
    const r = runChild(`${PRELUDE} startJob(null, null, pauseOnce); startJob(null, null, () => process.exit(7));`);
    expect(r.status).to.equal(7);
    expect(exitWarnings(r.stderr)).to.deep.equal([{ who: 'the process', count: 1 }]);
  });

  it('an uncaught exception with jobs paused: Node reports it, then the warning', () => {
    const r = runChild(`${PRELUDE} startJob(null, null, pauseOnce); setTimeout(() => { throw new Error('boom'); }, 1);`);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include('Error: boom');
    const last = r.stderr.trim().split('\n').pop()!;
    expect(last).to.match(EXIT_WARNING);
    expect(last).to.include('with 1 job still paused');
  });

  it('counts runJob jobs waiting and native jobs, not Fibers left yielded (node-fibers allows that)', () => {
    const r = runChild(`${PRELUDE}
      const Fiber = require(process.argv[2]);
      runJob(() => jobAwait(new Promise(() => {})));          // waits for ever
      Fiber(() => Fiber.yield()).run();                         // left yielded
      startJob(null, null, require(process.argv[3]).pauser(1)); // native, paused
      setTimeout(() => process.exit(0), 20);`);
    expect(r.status).to.equal(0);
    expect(exitWarnings(r.stderr)).to.deep.equal([{ who: 'the process', count: 2 }]);
    const fibersOnly = runChild(`
      const Fiber = require(process.argv[2]);
      const generator = Fiber(() => { for (let i = 0; ; i++) Fiber.yield(i); });
      console.log(generator.run(), generator.run());`);
    expect(fibersOnly.status).to.equal(0);
    expect(fibersOnly.stdout).to.equal('0 1\n');
    expect(fibersOnly.stderr).to.equal('');
  });

  it('says nothing when every job finished, or an exit listener cancelled the last one', () => {
    const finished = runChild(`${PRELUDE}
      const r = startJob(null, null, pauseOnce); startJob(r.job, null, null);
      runJob(() => { pauseJob(); return 1; }).then((v) => console.log('runJob', v));`);
    expect(finished.status).to.equal(0);
    expect(finished.stderr).to.equal('');
    expect(finished.stdout).to.equal('a finally block ran\nrunJob 1\n');
    const cancelled = runChild(`${PRELUDE}
      const r = startJob(null, null, pauseOnce);
      process.on('exit', () => cancelJob(r.job));`);
    expect(cancelled.status).to.equal(0);
    expect(cancelled.stderr).to.equal('');
    expect(cancelled.stdout).to.equal('a finally block ran\n');
  });

  for (const [how, ending, code] of [
    ['ends by itself', '', 0],
    ['calls process.exit(4)', 'process.exit(4);', 4],
    ['is terminated', "parentPort.postMessage('paused'); setInterval(() => {}, 1000);", 1],
  ] as const) {
    it(`a worker that ${how} with 3 jobs paused: one line that names the worker`, () => {
      const r = runChild(`
        const { Worker } = require('node:worker_threads');
        const worker = new Worker(\`
          const { parentPort, workerData } = require('node:worker_threads');
          const { startJob, pauseJob } = require(workerData);
          for (let i = 0; i < 3; i++) startJob(null, null, () => { pauseJob(); });
          ${ending}
        \`, { eval: true, workerData: process.argv[1] });
        const id = worker.threadId; // -1 once it has exited
        worker.on('message', () => worker.terminate());
        worker.on('exit', (c) => console.log('worker', id, 'exit', c));`);
      expect(r.status).to.equal(0);
      const id = /^worker (\d+) exit (\d+)$/.exec(r.stdout.trim());
      expect(id, r.stdout).to.not.equal(null);
      expect(Number(id![2])).to.equal(code);
      expect(exitWarnings(r.stderr)).to.deep.equal([{ who: `worker ${id![1]}`, count: 3 }]);
    });
  }

  it('ASYNCJOB_NO_EXIT_WARNING=1 turns it off: in the environment, in process.env at run time, in a worker\'s env', () => {
    const paused = `${PRELUDE} startJob(null, null, pauseOnce);`;
    const fromEnvironment = runChild(paused, { ASYNCJOB_NO_EXIT_WARNING: '1' });
    expect(fromEnvironment.status).to.equal(0);
    expect(fromEnvironment.stderr).to.equal('');
    const atRunTime = runChild(`${paused} process.env.ASYNCJOB_NO_EXIT_WARNING = 'yes'; process.exit(0);`);
    expect(atRunTime.stderr).to.equal('');
    const zeroKeepsIt = runChild(paused, { ASYNCJOB_NO_EXIT_WARNING: '0' });
    expect(exitWarnings(zeroKeepsIt.stderr)).to.deep.equal([{ who: 'the process', count: 1 }]);
    const worker = runChild(`
      const { Worker } = require('node:worker_threads');
      new Worker(\`
        const { startJob, pauseJob } = require(require('node:worker_threads').workerData);
        startJob(null, null, () => { pauseJob(); });
      \`, { eval: true, workerData: process.argv[1], env: { ...process.env, ASYNCJOB_NO_EXIT_WARNING: '1' } })
        .on('exit', (c) => console.log('worker exit', c));`);
    expect(worker.stdout).to.equal('worker exit 0\n');
    expect(worker.stderr).to.equal('');
  });
});

describe('warning: pauseJob() outside any job, under NODE_DEBUG=asyncjob', function () {
  this.timeout(budget(60000));
  const CALLS = `
    const { pauseJob } = require(process.argv[1]);
    const { ASYNC_pause_job } = require(process.argv[1].replace(/index\\.js$/, 'openssl.js'));
    const seen = [];
    process.on('warning', (w) => seen.push({ name: w.name, code: w.code }));
    const returned = [pauseJob(), ASYNC_pause_job(), pauseJob()];
    setImmediate(() => console.log(JSON.stringify({ returned, seen })));`;

  it('off by default: pauseJob() returns true and nothing is said', () => {
    const r = runChild(CALLS);
    expect(r.stderr).to.equal('');
    expect(JSON.parse(r.stdout)).to.deep.equal({ returned: [true, 1, true], seen: [] });
  });

  it('on: one warning with a code for the first call, the calls still return success', () => {
    const r = runChild(CALLS, { NODE_DEBUG: 'net,asyncjob' });
    expect(JSON.parse(r.stdout)).to.deep.equal({
      returned: [true, 1, true],
      seen: [{ name: 'Warning', code: 'ASYNCJOB_PAUSE_OUTSIDE_JOB' }],
    });
    expect(r.stderr).to.include('[ASYNCJOB_PAUSE_OUTSIDE_JOB] Warning: pauseJob() was called outside any job');
  });

  it('on: pauses inside jobs say nothing', () => {
    const r = runChild(`
      const { startJob, pauseJob } = require(process.argv[1]);
      process.on('warning', (w) => console.log('warning', w.code));
      const r = startJob(null, null, () => { pauseJob(); return 1; });
      console.log(startJob(r.job, null, null).ret);`, { NODE_DEBUG: 'asyncjob' });
    expect(r.stdout).to.equal('1\n');
    expect(r.stderr).to.equal('');
  });
});

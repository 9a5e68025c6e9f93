import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { budget } from './time-scale';

// A debugger attached the way Chrome DevTools and VS Code attach (the inspector protocol, here
// from a worker through inspector.Session.connectToMainThread()) while the main thread runs
// jobs. A child process, as a failure here is a crash: with any breakpoint set, resuming a paused
// job used to die in V8's Debug::RestoreDebug.
const packagePath = require.resolve('asyncjob');
const child = path.join(__dirname, '..', '..', 'test', 'fixtures', 'inspector-child.js');

interface Entry {
  event: string;
  status?: number;
  ret?: unknown;
  line?: number;
  fn?: string;
  reason?: string;
  y?: number;
  phase?: string;
}

describe('a debugger attached to jobs', function () {
  this.timeout(budget(60000));
  let transcript: Entry[];
  let lines: string[];
  const lineOf = (marker: string) => lines.findIndex((text) => text.includes(`// ${marker}`) && !text.includes('line('));

  before(function () {
    // KNOWN ISSUE on Windows (node.exe 22 under Wine, issue 9): in a third to a half of the runs
    // the Debugger.pause that spin() asks for is not even dispatched while the job spins (a JS
    // job, on a host thread that holds the isolate): the worker gets pauseNow and posts the
    // request within 50 ms, but its answer comes only when spin() gives up, 10 s later (30 s
    // with a 30 s spin: stuck, not slow), and the pause lands on the main thread after the job.
    // So Node's interrupt that runs the inspector's dispatch (Environment::RequestInterrupt)
    // never fires on the host thread in those runs. (The other symptom, ERR_INSPECTOR_CLOSED,
    // was that request's rejection when the session closed with it unanswered.) Every run, on
    // Linux too, first pauses at spin()'s first line (reason 'other') before the request is
    // sent; on Linux the request then always pauses the loop. Tried, did not help (2 of 8 runs
    // still failed): an empty Isolate::RequestInterrupt on every thread that takes the isolate,
    // against a V8 interrupt flag stranded in another thread's archived state at a Locker
    // hand-off (V8 keeps interrupt flags per thread). Re-enable when fixed.
    if (process.platform === 'win32') this.skip();
    const result = spawnSync(process.execPath, [child, packagePath], { encoding: 'utf8', timeout: budget(50000) });
    expect(result.stderr, 'stderr').to.equal('');
    expect([result.status, result.signal], 'exit').to.deep.equal([0, null]);
    transcript = JSON.parse(result.stdout);
    lines = require('node:fs').readFileSync(child, 'utf8').split('\n');
  });

  it('runs every job to its end with breakpoints set, hit or never hit', () => {
    expect(transcript.filter((e) => e.event === 'main')).to.deep.equal([
      { event: 'main', status: 2 },
      { event: 'main', status: 3, ret: 42 },
      { event: 'main', status: 3, ret: 'inner' },
      { event: 'main', status: 3, ret: true },
    ]);
    expect(transcript.some((e) => e.line === lineOf('NEVER_HIT'))).to.equal(false);
  });

  it('stops at a breakpoint in a job, and steps over pauseJob() to the line after the resume', () => {
    // (The pause reason of a step is 'step' from Node 22 on, 'other' before.)
    const inJob = transcript.filter((e) => e.event === 'paused' && e.fn === 'job').map(({ line, y, phase }) => ({ line, y, phase }));
    expect(inJob).to.deep.equal([
      { line: lineOf('BREAK_IN_JOB'), y: undefined, phase: 'first run' },
      { line: lineOf('BREAK_IN_JOB') + 1, y: 21, phase: 'first run' },
      // The step over pauseJob() completes only once the job is resumed: the main thread ran
      // (and set phase) in between.
      { line: lineOf('AFTER_PAUSE'), y: 21, phase: 'resumed' },
    ]);
  });

  it('stops at a breakpoint in a job nested in a job', () => {
    expect(transcript.filter((e) => e.event === 'paused' && e.phase === 'nested').map((e) => e.line)).to.deep.equal([
      lineOf('IN_NESTED'),
    ]);
  });

  it('pauses a running job on Debugger.pause', () => {
    const paused = transcript.filter((e) => e.event === 'paused' && e.phase === 'spinning');
    expect(paused.length).to.be.greaterThan(0);
    for (const e of paused) expect(e.fn).to.equal('spin');
  });
});

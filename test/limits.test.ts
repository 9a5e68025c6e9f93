import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initThread, jobLimits } from 'asyncjob';
import { budget } from './time-scale';

// The process-wide job limits (docs/api.md, Limits). Exhaustion runs in child processes that
// lower their own RLIMIT_AS (with prlimit) before their first job, so that the limits are small
// and a crash cannot hide.
const packagePath = require.resolve('asyncjob');
const clientPath = path.resolve(__dirname, '..', '..', 'test', 'native-client', 'index.js');
const hasPrlimit = process.platform === 'linux' && spawnSync('prlimit', ['--version']).status === 0;
const onLinuxWithPrlimit = hasPrlimit ? describe : describe.skip;

// Address space this process has (VmSize) beyond the mappings its own /proc/self/maps lists:
// natively none (they agree to a page). Under qemu-user, the emulator's own memory (hundreds of
// MiB, growing with every thread it runs: translated code, per-thread state, its malloc arenas),
// which the guest cannot see but an RLIMIT_AS lowered with prlimit counts too.
function unseenAddressSpace(): number {
  const vmSize = Number(/VmSize:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
  let mapped = 0;
  for (const [, start, end] of fs.readFileSync('/proc/self/maps', 'utf8').matchAll(/^([0-9a-f]+)-([0-9a-f]+)/gm)) {
    mapped += parseInt(end!, 16) - parseInt(start!, 16);
  }
  return vmSize - mapped;
}

// For the cases whose limit leaves too little room for an emulator sharing the address space:
// there the emulator's own allocations fail first (qemu aborts or the guest faults), which says
// nothing about asyncjob. Skipped, and said so, where such a share exists.
function needsTheAddressSpaceToItself(test: Mocha.Context): void {
  const unseen = unseenAddressSpace();
  if (unseen > 16 * 2 ** 20) {
    console.log(`      skipped: ${(unseen / 2 ** 20).toFixed(0)} MiB of this process's address space are not its own mappings (an emulator's)`);
    test.skip();
  }
}

// The child: its address space limited to what it uses now plus `roomMiB`. Under such a limit
// glibc's malloc arenas (64 MiB of address space for each thread that allocates, Node's own
// threads included) can starve a process with no job at all: `arenas` caps them
// (MALLOC_ARENA_MAX), or leaves them as they are (the limits then count job threads' arenas).
function runLimited(roomMiB: number, arenas: number | null, body: string): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const script = `
    const fs = require('node:fs');
    const { execFileSync } = require('node:child_process');
    const a = require(process.argv[1]);
    const client = require(process.argv[2]);
    const vmSize = () => Number(/VmSize:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    const limitRoom = (mib) => execFileSync('prlimit', ['--pid', String(process.pid), '--as=' + (vmSize() + mib * 2 ** 20)]);
    limitRoom(${roomMiB});
    const fill = (start) => {
      const held = [];
      for (;;) {
        const r = start();
        if (r.status !== a.ASYNC_PAUSE) return { held, last: r };
        held.push(r.job);
      }
    };
    // What a program does after it stopped starting jobs: it allocates, and collects.
    const goOn = () => {
      const junk = [];
      for (let i = 0; i < 200; i++) junk.push(new Array(10000).fill(i));
      return junk.length + Buffer.alloc(32 * 2 ** 20, 1).length;
    };
    ${body}
  `;
  const env = { ...process.env };
  if (arenas !== null) env.MALLOC_ARENA_MAX = String(arenas);
  const child = spawnSync(process.execPath, ['-e', script, packagePath, clientPath], { encoding: 'utf8', timeout: budget(30000), env });
  return { status: child.status, signal: child.signal, stdout: child.stdout, stderr: child.stderr };
}

function resultOf(child: ReturnType<typeof runLimited>): Record<string, unknown> {
  expect(child.signal, child.stderr).to.equal(null);
  expect(child.status, child.stderr).to.equal(0);
  return JSON.parse(child.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

// Pauses JS jobs until startJob refuses one, then shows that the program goes on.
const FILL_WITH_PAUSED_JS_JOBS = `
  const { held, last } = fill(() => a.startJob(null, null, () => { a.pauseJob(); }));
  const allocated = goOn();
  for (const job of held) a.cancelJob(job);
  console.log(JSON.stringify({ started: held.length, status: last.status, limit: a.jobLimits().jsJobs, allocated }));
`;

describe('job limits', function () {
  this.timeout(budget(60000));

  it('jobLimits() reports a finite limit for each kind, fewer JS jobs than native ones', function () {
    if (process.platform === 'win32') this.skip(); // none to report there: see the next test
    const limits = jobLimits();
    expect(Object.isFrozen(limits)).to.equal(true);
    expect(limits.jsJobs).to.be.a('number').within(1, Number.MAX_SAFE_INTEGER);
    expect(limits.nativeJobs).to.be.a('number').within(limits.jsJobs, Number.MAX_SAFE_INTEGER);
  });

  (process.platform === 'win32' ? it : it.skip)('jobLimits() is Infinity for each kind on Windows, where none of the system limits they come from exists', () => {
    expect(jobLimits()).to.deep.equal({ jsJobs: Infinity, nativeJobs: Infinity });
  });

  it('initThread() with more jobs than the process can hold returns false at once, creating nothing', function () {
    // Windows has no process-wide limit to exceed: initThread(0, 1e6) would start 1e6 threads.
    if (process.platform === 'win32') this.skip();
    const started = Date.now();
    expect(initThread(0, Math.min(jobLimits().jsJobs + 1, 1e6))).to.equal(false);
    expect(initThread(0, 1e6)).to.equal(false);
    expect(Date.now() - started).to.be.below(budget(1000));
    expect(initThread(0, 0)).to.equal(true);
  });

  onLinuxWithPrlimit('under a low address-space limit (child processes)', () => {
    it('native jobs stop with ASYNC_NO_JOBS at jobLimits().nativeJobs, and the program goes on', () => {
      const result = resultOf(runLimited(256, 1, `
        const { held, last } = fill(() => a.startJob(null, null, client.pauser(1)));
        const allocated = goOn();
        for (const job of held) a.cancelJob(job);
        console.log(JSON.stringify({ started: held.length, status: last.status, limit: a.jobLimits().nativeJobs, allocated }));
      `));
      expect(result.status).to.equal(1); // ASYNC_NO_JOBS
      expect(result.started).to.equal(result.limit);
      expect(result.limit).to.be.within(100, 1000);
      expect(result.allocated).to.be.above(0);
    });

    it('JS jobs stop with ASYNC_NO_JOBS at jobLimits().jsJobs, and the program goes on', () => {
      const result = resultOf(runLimited(256, 1, FILL_WITH_PAUSED_JS_JOBS));
      expect(result.status).to.equal(1); // ASYNC_NO_JOBS
      expect(result.started).to.equal(result.limit);
      expect(result.limit).to.be.within(10, 20); // 128 MiB at 8.5 MiB each
      expect(result.allocated).to.be.above(0);
    });

    it("with glibc's default arenas, each new job thread's arena counts too", function () {
      needsTheAddressSpaceToItself(this);
      const result = resultOf(runLimited(1024, null, FILL_WITH_PAUSED_JS_JOBS));
      expect(result.status).to.equal(1); // ASYNC_NO_JOBS
      expect(result.started).to.equal(result.limit);
      expect(result.limit).to.be.within(1, 8); // 512 MiB at 8.5 MiB and a 64 MiB arena each
      expect(result.allocated).to.be.above(0);
    });

    it('a host thread that cannot be created is ASYNC_ERR with ERR_ASYNCJOB_START_FAILED saying why', function () {
      needsTheAddressSpaceToItself(this);
      // The limits are derived at the first job; lowered after it, the OS refuses first.
      const result = resultOf(runLimited(256, 1, `
        a.jobLimits();
        limitRoom(4);
        const r = a.startJob(null, null, () => 1);
        console.log(JSON.stringify({ status: r.status, code: r.error && r.error.code, message: r.error && r.error.message }));
      `));
      expect(result.status).to.equal(0); // ASYNC_ERR
      expect(result.code).to.equal('ERR_ASYNCJOB_START_FAILED');
      expect(result.message).to.match(/^Could not start a job: could not create a thread with a 8192 KiB stack: .+ \(errno \d+\)$/);
    });
  });
});

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ASYNC_FINISH, ASYNC_PAUSE, pauseJob, startJob } from 'asyncjob';
import { budget } from './time-scale';

// The pitfalls of ARCHITECTURE.md that the other suites do not already pin down (2: deep
// recursion in jobs.test.ts; 3: async-context.test.ts; 4: teardown.test.ts; 6: cancelJob in
// jobs.test.ts).
const packagePath = require.resolve('asyncjob');

describe('ARCHITECTURE.md pitfalls', function () {
  this.timeout(budget(60000));

  it('1. code compiled by every tier runs in jobs across hand-offs', () => {
    // The prototype crashed in baseline compilation when a host thread skipped Isolate::Enter()
    // after relocking: make functions tier up inside jobs, between pauses, on several host
    // threads. (Here, dropping both the Exit() and the Enter() around hand-offs did not make
    // this fail; it guards the tiering paths, not that ordering.)
    const hot = (n: number): number => {
      let s = 0;
      for (let i = 0; i < n; i++) s = (s + i * 7) % 1000003;
      return s;
    };
    const expected = hot(20000);
    const jobs = Array.from({ length: 8 }, () =>
      startJob(null, null, () => {
        let ok = true;
        for (let round = 0; round < 200; round++) {
          ok = ok && hot(20000) === expected;
          if (round % 10 === 0) pauseJob();
        }
        return ok;
      }),
    );
    let pending = jobs.filter((r) => r.status === ASYNC_PAUSE).map((r) => r.job);
    const results: unknown[] = [];
    while (pending.length > 0) {
      const next = [];
      for (const job of pending) {
        const r = startJob(job, null, null);
        if (r.status === ASYNC_PAUSE) next.push(r.job);
        else {
          expect(r.status).to.equal(ASYNC_FINISH);
          results.push(r.ret);
        }
      }
      pending = next;
    }
    expect(results).to.deep.equal(new Array(8).fill(true));
  });

  it('1b. the same under a child with eager tiering flags', () => {
    const script = `
      const { startJob, pauseJob } = require(process.argv[1]);
      const f = (x) => x * 2 + 1;
      let r = startJob(null, null, () => { let s = 0; for (let i = 0; i < 50000; i++) { s += f(i); if (i % 5000 === 0) pauseJob(); } return s; });
      while (r.status === 2) r = startJob(r.job, null, null);
      console.log(r.ret);
    `;
    const flags = ['--always-sparkplug', '--no-lazy-feedback-allocation'];
    const child = spawnSync(process.execPath, [...flags, '-e', script, packagePath], { encoding: 'utf8', timeout: budget(30000) });
    expect(child.signal, child.stderr).to.equal(null);
    expect(child.status, child.stderr).to.equal(0);
    let s = 0;
    for (let i = 0; i < 50000; i++) s += i * 2 + 1;
    expect(child.stdout.trim()).to.equal(String(s));
  });

  it('5. the CPU profiler runs while jobs run (samples on job threads are dropped, nothing breaks)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asyncjob-prof-'));
    try {
      const script = `
        const { startJob, pauseJob } = require(process.argv[1]);
        let total = 0;
        for (let k = 0; k < 20; k++) {
          let r = startJob(null, null, () => { let s = 0; for (let i = 0; i < 200000; i++) { s += i; if (i % 50000 === 0) pauseJob(); } return s; });
          while (r.status === 2) r = startJob(r.job, null, null);
          total += r.ret;
        }
        console.log(total);
      `;
      const child = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, '-e', script, packagePath], { encoding: 'utf8', timeout: budget(30000) });
      expect(child.signal, child.stderr).to.equal(null);
      expect(child.status, child.stderr).to.equal(0);
      expect(Number(child.stdout.trim())).to.equal(20 * ((199999 * 200000) / 2));
      const profiles = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
      expect(profiles).to.have.length(1);
      expect(JSON.parse(fs.readFileSync(path.join(dir, profiles[0]), 'utf8'))).to.have.property('nodes');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

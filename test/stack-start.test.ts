import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { budget } from './time-scale';

// V8 scans the stack of the thread that runs a GC for pointers to C++ (cppgc) objects, from
// that thread's stack pointer up to the stack start V8 holds for it. Every hand-off between
// threads must leave V8 with the stack start of the thread that runs next: once a host thread
// had entered the isolate, Node 20 kept the host thread's start for the main thread, so the
// main thread's stack was never scanned again (objects only it referred to were freed while in
// use), and where stacks lie the other way round (qemu) the scan ran off the stack and crashed.
// test/gc-probe asks the GC directly: an object only the stack refers to must survive, an
// unreferenced one must be collected. A child process, so that a crash cannot hide.
const packagePath = require.resolve('asyncjob');
const root = path.join(__dirname, '..', '..');
const child = path.join(root, 'test', 'fixtures', 'stack-start-child.js');
const probe = path.join(root, 'test', 'gc-probe');

describe('the stack V8 scans after a hand-off', function () {
  this.timeout(budget(60000));

  it('is the running thread\'s own, at every point of a sequence of JS jobs, on the main thread and in a worker', function () {
    // test/gc-probe uses V8's C++ heap API (cppgc), which the mingw-w64 build's bridge to
    // node.exe's MSVC-named V8 exports (native/mingw/, npm run test:js:windows) does not map.
    // GitHub Actions' Windows jobs build it with MSVC and run this test.
    if (process.platform === 'win32' && process.env.ASYNCJOB_PREBUILD !== undefined) this.skip();
    const result = spawnSync(process.execPath, ['--expose-gc', child, packagePath, probe], {
      encoding: 'utf8',
      timeout: budget(50000),
    });
    expect(result.stderr, 'stderr').to.equal('');
    expect([result.status, result.signal], 'exit').to.deep.equal([0, null]);
    const seen: Record<string, [boolean, boolean]> = JSON.parse(result.stdout);
    const points = [
      'before any job',
      'in a job',
      'one job paused',
      'in a job, resumed',
      'in a nested job',
      'in a job, its nested job paused',
      'in a nested job, resumed',
      'in a job, its nested job finished',
      'after a nested job',
      'in a second job',
      'two jobs paused',
      'in a job, resumed after another job ran',
      'all jobs finished',
    ];
    const expected: Record<string, [boolean, boolean]> = {};
    for (const thread of ['main', 'worker']) {
      // [held only by the stack: survives, unreferenced: collected]
      for (const point of points) expected[`${thread}: ${point}`] = [true, false];
    }
    expect(seen).to.deep.equal(expected);
  });
});

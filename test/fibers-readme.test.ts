import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { budget } from './time-scale';

// node-fibers' README examples, quoted unchanged in test/fixtures/fibers-readme/, run with
// require('fibers') and require('fibers/future') mapped to asyncjob/fibers and
// asyncjob/fibers/future (test/fixtures/fibers-shim on NODE_PATH), and print what the README
// says they print. Dates, timings and the stack trace's position are normalised here only.

const root = path.join(__dirname, '..', '..');
const examples = path.join(root, 'test', 'fixtures', 'fibers-readme');
const shim = path.join(root, 'test', 'fixtures', 'fibers-shim');

function runExample(name: string, cwd = examples): string {
  const result = spawnSync(process.execPath, [path.join(examples, name)], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NODE_PATH: shim },
    timeout: budget(30000),
  });
  expect(result.stderr, `${name} stderr`).to.equal('');
  expect(result.status, `${name} exit status`).to.equal(0);
  return result.stdout;
}

describe("node-fibers' README examples on asyncjob/fibers", function () {
  this.timeout(budget(60000));

  it('sleep.js: the fiber sleeps a second while main goes on', () => {
    const out = runExample('sleep.js');
    const match = /^wait\.\.\. (.+)\nback in main\nok\.\.\. (.+)\n$/.exec(out);
    expect(match, out).to.not.equal(null);
    const [waited, resumed] = [Date.parse(match![1]), Date.parse(match![2])];
    expect(Number.isNaN(waited) || Number.isNaN(resumed), out).to.equal(false);
    // Dates print whole seconds: one second apart, two with the rounding (more under emulation).
    expect(resumed - waited).to.be.within(1000, 1000 + budget(1000));
  });

  it('generator.js: the incremental generator prints 1 to 10', () => {
    expect(runExample('generator.js')).to.equal('1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n');
  });

  it('fibonacci.js: Fibonacci numbers up to 1597', () => {
    const expected = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597];
    expect(runExample('fibonacci.js')).to.equal(expected.map((n) => `${n}\n`).join(''));
  });

  it('error.js: the exception travels out of the fiber, its stack pointing at the throw', () => {
    const out = runExample('error.js').split('\n');
    expect(out.slice(0, 5)).to.deep.equal([
      'async work here...',
      'still working...',
      'just a little bit more...',
      'safely caught that error!',
      'Error: oh crap!',
    ]);
    const source = fs.readFileSync(path.join(examples, 'error.js'), 'utf8').split('\n');
    const line = source.findIndex((l) => l.includes("throw new Error('oh crap!')"));
    const column = source[line].indexOf('new Error') + 1; // V8 points at the construction
    expect(out[5]).to.match(new RegExp(`^ +at .*error\\.js:${line + 1}:${column}\\)?$`));
    expect(out[out.length - 2]).to.equal('done!');
  });

  it('ls.js: Future.wrap(fs) lists a directory and stats every file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asyncjob-ls-'));
    try {
      fs.writeFileSync(path.join(dir, 'README.md'), 'x'.repeat(8664));
      fs.writeFileSync(path.join(dir, 'LICENSE'), 'y'.repeat(1054));
      fs.mkdirSync(path.join(dir, 'src'));
      const names = fs.readdirSync(dir);
      const expected = [`Found ${names.length} files`, ...names.map((n) => `${n}: ${fs.statSync(path.join(dir, n)).size}`)];
      expect(runExample('ls.js', dir)).to.equal(`${expected.join('\n')}\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('future-sleep.js (the second sleep.js): a .future() function and resolve()', () => {
    const out = runExample('future-sleep.js');
    const match = /^Set timer for 2000ms, waited (\d+)ms\n$/.exec(out);
    expect(match, out).to.not.equal(null);
    expect(Number(match![1])).to.be.within(1999, 2000 + budget(1000));
  });
});

describe('examples/fibers-example.ts (npm run example:fibers)', function () {
  this.timeout(budget(30000));

  it('renders the page of examples/fibers-example.expected', () => {
    const program = path.join(root, 'build', 'examples', 'fibers-example.js');
    const result = spawnSync(process.execPath, [program], { encoding: 'utf8', timeout: budget(20000) });
    expect(result.stderr).to.equal('');
    expect(result.status).to.equal(0);
    expect(result.stdout).to.equal(fs.readFileSync(path.join(root, 'examples', 'fibers-example.expected'), 'utf8'));
  });
});

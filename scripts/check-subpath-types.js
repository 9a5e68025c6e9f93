'use strict';
// Every subpath in package.json's `exports` must resolve, with its types, for a TypeScript
// consumer under each moduleResolution users build with: node10 ("node", through
// `typesVersions`), node16 and nodenext (CommonJS and ES module files, through `exports`) and
// bundler. checkSubpathTypes(projectDir) writes one consumer project per compiler and mode into
// projectDir, which must hold the package in node_modules/asyncjob, imports every subpath there,
// runs tsc (strict, the package's .d.ts checked too) and returns what failed. TypeScript 7 has
// dropped node10, so TypeScript 5 (devDependency typescript5) checks that one.
// Used by test/package-types.test.ts and scripts/test-package.js.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

const COMPILERS = {
  ts5: path.join(root, 'node_modules', 'typescript5', 'bin', 'tsc'),
  ts7: path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
};

// [compiler, moduleResolution, module, consumer file extensions]. TypeScript 5 for node10 only:
// the other modes resolve the same in both, and a TypeScript 5 run costs twice as much.
const MODES = [
  ['ts5', 'node10', 'commonjs', ['.ts']],
  ['ts7', 'node16', 'node16', ['.cts', '.mts']],
  ['ts7', 'nodenext', 'nodenext', ['.cts', '.mts']],
  ['ts7', 'bundler', 'esnext', ['.ts']],
];

// 'asyncjob', 'asyncjob/openssl', … from the installed package's exports: the subpaths that are
// modules, not './package.json' (exported as a plain file for tools that read it).
function subpathsOf(packageDir) {
  const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
  const exportsField = manifest.exports;
  if (exportsField === null || typeof exportsField !== 'object') throw new Error(`${manifest.name} has no exports map`);
  return Object.keys(exportsField)
    .filter((key) => !key.endsWith('.json'))
    .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.replace(/^\.\//, '')}`));
}

// CommonJS files import with `import m = require()`, which also takes a module that is `export =`
// a class or function (as asyncjob/fibers/future is, like fibers/future) without esModuleInterop;
// ES module files with `import * as`.
function consumerSource(specifiers, commonJs) {
  const lines = specifiers.map((specifier, i) =>
    commonJs ? `import m${i} = require('${specifier}');` : `import * as m${i} from '${specifier}';`,
  );
  lines.push(`export const modules: object[] = [${specifiers.map((_, i) => `m${i}`).join(', ')}];`);
  return `${lines.join('\n')}\n`;
}

/**
 * Returns the subpaths checked and [{ compiler, moduleResolution, output }] for every mode (of
 * `modes`, the moduleResolution values to run; all by default) whose tsc run failed.
 */
function checkSubpathTypes(projectDir, modes = MODES.map((mode) => mode[1])) {
  const packageDir = path.join(projectDir, 'node_modules', 'asyncjob');
  const subpaths = subpathsOf(packageDir);
  const failures = [];
  for (const [compiler, moduleResolution, module, extensions] of MODES.filter((mode) => modes.includes(mode[1]))) {
    const dir = path.join(projectDir, `types-${compiler}-${moduleResolution}`);
    fs.mkdirSync(dir, { recursive: true });
    const files = extensions.map((extension) => `consumer${extension}`);
    for (const file of files) {
      const commonJs = file.endsWith('.cts') || (file.endsWith('.ts') && module === 'commonjs');
      fs.writeFileSync(path.join(dir, file), consumerSource(subpaths, commonJs));
    }
    const tsconfig = {
      compilerOptions: {
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        target: 'ES2022',
        module,
        moduleResolution,
        // @types/node from this repository: the consumer project has none of its own.
        typeRoots: [path.join(root, 'node_modules', '@types')],
        types: ['node'],
      },
      files,
    };
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    try {
      execFileSync(process.execPath, [COMPILERS[compiler], '-p', dir], { encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      failures.push({ compiler, moduleResolution, output: `${error.stdout ?? ''}${error.stderr ?? ''}`.trim() || String(error) });
    }
  }
  return { subpaths, failures };
}

module.exports = { checkSubpathTypes, MODES };

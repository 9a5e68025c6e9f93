'use strict';
// npm's prepack and postpack hooks (npm pack, npm publish): the package.json packed into the
// tarball keeps only the scripts that mean something in an installed package. The others name
// files that are not shipped (scripts/, test/, fuzz/, bench/), and `prepare` (which builds lib/
// in a clone: npm ci, a git dependency) would be listed by npm among the install scripts an
// installer is warned about, though npm never runs it for a packed package.
//   node scripts/pack-manifest.js strip    (prepack: package.json saved, then trimmed)
//   node scripts/pack-manifest.js restore  (postpack: the saved package.json put back)
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const manifestPath = path.join(root, 'package.json');
const savedPath = path.join(root, '.package.json.prepack');
// install: node-gyp-build, the prebuild or the source build. prepack/postpack: npm reads the
// manifest again after prepack, and without postpack the full package.json would not come back.
const KEPT = ['install', 'prepack', 'postpack'];

function strip() {
  if (fs.existsSync(savedPath)) {
    throw new Error(`${savedPath} exists: an earlier npm pack stopped before postpack. Put it back first: node scripts/pack-manifest.js restore`);
  }
  const text = fs.readFileSync(manifestPath, 'utf8');
  fs.writeFileSync(savedPath, text);
  const manifest = JSON.parse(text);
  manifest.scripts = Object.fromEntries(KEPT.filter((name) => name in manifest.scripts).map((name) => [name, manifest.scripts[name]]));
  fs.writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
}

function restore() {
  if (fs.existsSync(savedPath)) fs.renameSync(savedPath, manifestPath);
}

if (require.main === module) {
  const mode = process.argv[2];
  if (mode === 'strip') strip();
  else if (mode === 'restore') restore();
  else throw new Error(`usage: node scripts/pack-manifest.js strip|restore (got ${mode})`);
}

module.exports = { KEPT };

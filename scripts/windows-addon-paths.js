'use strict';
// Preloaded (node --require, through NODE_OPTIONS, so into every child process and worker too)
// by scripts/test-js-windows.sh into the node.exe that runs the mocha suite: a require() of
// <repository>/<dir>/build/Release/<name>.node (the test client and the async-engine example
// load theirs so) resolves to the mingw-w64 build of it in the tree ASYNCJOB_PREBUILD names
// (scripts/windows-addon.sh makes it; node-gyp-build reads the same variable for asyncjob
// itself). The Linux build/ stays where it is, built or not, and no loader needs to know.
const Module = require('node:module');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const tree = process.env.ASYNCJOB_PREBUILD;
const inside = (dir, file) => {
  const relative = path.relative(dir, file);
  return !relative.startsWith('..') && !path.isAbsolute(relative);
};
if (tree) {
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, ...rest) {
    if (request.endsWith('.node')) {
      const from = parent && parent.filename ? path.dirname(parent.filename) : process.cwd();
      const file = path.resolve(from, request);
      const relative = path.relative(root, file);
      if (inside(root, file) && !inside(tree, file) &&
          /(^|[\\/])build[\\/]Release[\\/][^\\/]+\.node$/.test(relative)) {
        return path.join(tree, relative);
      }
    }
    return resolve.call(this, request, parent, ...rest);
  };
}

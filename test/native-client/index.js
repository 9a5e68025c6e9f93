'use strict';
// The test client addon: asyncjob first (it publishes the C API table the client's module init
// fetches), then the client itself. ASYNCJOB_PREBUILD, when set, names a tree that stands in for
// the repository root for compiled addons (node-gyp-build reads it for asyncjob itself;
// scripts/windows-addon.sh makes one for Windows node.exe).
require('asyncjob');
const root = process.env.ASYNCJOB_PREBUILD;
module.exports = root
  ? require(require('node:path').resolve(root, 'test', 'native-client', 'build', 'Release', 'client.node'))
  : require('./build/Release/client.node');

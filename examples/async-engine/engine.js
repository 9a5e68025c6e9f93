'use strict';
// The async-engine addon's loader. asyncjob must be loaded first: it publishes the C API table
// that the addon's module init fetches (asyncjob_client_init); without it, loading the addon
// throws ERR_ASYNCJOB_NOT_LOADED. (ASYNCJOB_PREBUILD: see test/native-client/index.js.)
require('asyncjob');
const root = process.env.ASYNCJOB_PREBUILD;
module.exports = root
  ? require(require('node:path').resolve(root, 'examples', 'async-engine', 'build', 'Release', 'async_engine.node'))
  : require('./build/Release/async_engine.node');

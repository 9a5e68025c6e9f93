'use strict';
// The async-engine addon's loader. asyncjob must be loaded first: it publishes the C API table
// that the addon's module init fetches (asyncjob_client_init); without it, loading the addon
// throws ERR_ASYNCJOB_NOT_LOADED.
require('asyncjob');
module.exports = require('./build/Release/async_engine.node');

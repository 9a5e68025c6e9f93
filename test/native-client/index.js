'use strict';
// The test client addon: asyncjob first (it publishes the C API table the client's module init
// fetches), then the client itself.
require('asyncjob');
module.exports = require('./build/Release/client.node');

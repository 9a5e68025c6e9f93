'use strict';
module.exports = require('./build/Release/gc_probe.node');

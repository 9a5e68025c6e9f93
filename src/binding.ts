import * as path from 'node:path';
import type { Binding } from '../types/binding';

// Compiled to lib/binding.js, which sits one level under the package root: that root holds
// build/Release/ (a source build) and prebuilds/ (prebuilt binaries), where node-gyp-build looks.
const packageRoot = path.resolve(__dirname, '..');

const loadBinding: (root: string) => unknown = require('node-gyp-build');

export const binding = loadBinding(packageRoot) as Binding;

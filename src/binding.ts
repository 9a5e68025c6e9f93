import * as path from 'node:path';
import type { Binding } from '../types/binding';

// Compiled to lib/binding.js, which sits one level under the package root: that root holds
// build/Release/ (a source build) and prebuilds/ (prebuilt binaries), where node-gyp-build looks.
const packageRoot = path.resolve(__dirname, '..');

const loadBinding: (root: string) => unknown = require('node-gyp-build');

// The Linux prebuilds need a minimum glibc (README: Install). On an older one the dynamic
// loader refuses the binary with "version `GLIBC_2.34' not found"; say what to do instead.
function load(): Binding {
  try {
    return loadBinding(packageRoot) as Binding;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const glibc = /version [`']GLIBC_([0-9.]+)' not found/.exec(message);
    if (glibc === null) throw err;
    const error = new Error(
      `asyncjob's prebuilt binary needs glibc ${glibc[1]} or later, and this system's C library is older. ` +
        'Build the addon from source instead: npm rebuild asyncjob --build-from-source ' +
        `(needs a C++ compiler, make and Python). The loader said: ${message}`,
      { cause: err },
    );
    (error as Error & { code: string }).code = 'ERR_ASYNCJOB_BINARY_INCOMPATIBLE';
    throw error;
  }
}

export const binding = load();

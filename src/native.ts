// asyncjob/native: what a native client addon's build needs, without loading asyncjob's binary.
import * as path from 'node:path';

/**
 * The directory holding `asyncjob.h` and `asyncjob_client.h`, for a client addon's
 * `binding.gyp` (the way node-addon-api exposes its own).
 * @example
 * // binding.gyp
 * "include_dirs": ["<!(node -p \"require('asyncjob/native').include_dir\")"]
 */
export const include_dir: string = path.join(__dirname, '..', 'native', 'include');

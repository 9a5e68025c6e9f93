// npm run lint:package [-- dir]: publint on the package (this one, or dir) as npm would pack it. publint's own CLI fails on
// errors only (on warnings with --strict); this fails on any message, suggestions included.
// publint packs with lifecycle scripts off, so lib/ must be built first (npm ci builds it).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const root = process.argv[2] || join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const { messages } = await publint({ pkgDir: root, pack: 'npm', level: 'suggestion' });
for (const message of messages) {
  console.log(`publint ${message.type}: ${formatMessage(message, pkg, { color: false })}`);
}
console.log(`publint: ${messages.length} message(s) for ${pkg.name}@${pkg.version}`);
process.exitCode = messages.length === 0 ? 0 : 1;

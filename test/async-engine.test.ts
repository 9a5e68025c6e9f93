import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { budget } from './time-scale';

// `npm run example:engine`: examples/async-engine, a client addon built with asyncjob_client.h
// only (npm run build:engine, part of test:js; this file builds nothing), run as a child process.
// Its native job hashes 8 MiB with SHA-256 on a worker thread and is woken through a wait fd or
// through the WaitCtx callback: each way must give node:crypto's digest.
const exampleDir = path.resolve(__dirname, '..', '..', 'examples', 'async-engine');
const addonPath = path.join(exampleDir, 'build', 'Release', 'async_engine.node');

function expectedDigest(): string {
  const pattern = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  return createHash('sha256').update(Buffer.alloc(8 * 1024 * 1024, pattern)).digest('hex');
}

describe('examples/async-engine (npm run example:engine)', function () {
  this.timeout(budget(60_000));
  let lines: string[] = [];

  before(function () {
    if (!fs.existsSync(addonPath)) {
      throw new Error(`${addonPath} is missing: run npm run build:engine (npm run test:js does)`);
    }
    const child = spawnSync(process.execPath, [path.join(exampleDir, 'index.js')], {
      cwd: path.resolve(__dirname, '..', '..'),
      encoding: 'utf8',
      timeout: budget(50_000),
    });
    expect(child.error, String(child.error)).to.equal(undefined);
    expect(child.status, `exit status; stderr:\n${child.stderr}`).to.equal(0);
    expect(child.stderr).to.equal('');
    lines = child.stdout.trimEnd().split('\n');
  });

  it("ends with `sha256 <digest> pauses <n>`, the digest node:crypto gives for the same 8 MiB", function () {
    const last = lines[lines.length - 1];
    const match = /^sha256 ([0-9a-f]{64}) pauses (\d+)$/.exec(last);
    expect(match, `last line: ${JSON.stringify(last)}`).to.not.equal(null);
    expect(match![1]).to.equal(expectedDigest());
    // Three runs; the worker signals after each of its 8 chunks, so each run pauses at least once.
    expect(Number(match![2])).to.be.at.least(3);
  });

  for (const label of ['fd, runJob', 'callback, runJob', 'fd, startJob + ctx.wait()']) {
    it(`gives the same digest in the run "${label}", after at least one pause`, function () {
      const line = lines.find((l) => l.startsWith(`${label}: `));
      expect(line, `a line for "${label}" in:\n${lines.join('\n')}`).to.not.equal(undefined);
      const match = /: sha256 ([0-9a-f]{64}) pauses (\d+)$/.exec(line!);
      expect(match, line).to.not.equal(null);
      expect(match![1]).to.equal(expectedDigest());
      expect(Number(match![2])).to.be.within(1, 8);
    });
  }
});

describe('docs/native.md', function () {
  it('quotes the async-engine example as its files are', function () {
    const root = path.resolve(__dirname, '..', '..');
    const doc = fs.readFileSync(path.join(root, 'docs', 'native.md'), 'utf8');
    const quotes = [...doc.matchAll(/<!-- quote: (\S+) -->\n```\w*\n([\s\S]*?)\n```\n/g)];
    expect(quotes.length).to.be.at.least(5);
    for (const [, file, text] of quotes) {
      const source = fs.readFileSync(path.join(root, file), 'utf8');
      expect(source.includes(text), `docs/native.md quotes ${file} as it no longer is:\n${text}`).to.equal(true);
    }
  });
});

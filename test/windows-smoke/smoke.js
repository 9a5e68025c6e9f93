// Runs under Wine as `node.exe smoke.js <addon.node> <result file>`. node.exe's stdout to a
// pipe fails there (EBADF), so every result goes to the file, one line per check:
//   PASS <name> <details>   or   FAIL <name> <details>
// followed by a final `DONE` line; scripts/windows-smoke.sh reads and counts them.
'use strict';
const fs = require('fs');

const [addonPath, outPath] = process.argv.slice(2);
const lines = [];
const flush = () => fs.writeFileSync(outPath, lines.join('\n') + '\n');

function check(name, fn) {
  let ok = false;
  let details;
  try {
    const r = fn();
    ok = r.ok;
    details = JSON.stringify(r.got);
  } catch (e) {
    details = 'threw ' + (e && e.stack ? e.stack.split('\n')[0] : String(e));
  }
  lines.push(`${ok ? 'PASS' : 'FAIL'} ${name} ${details}`);
  flush();
}

lines.push(`INFO node ${process.version} ${process.platform}-${process.arch} napi ${process.versions.napi}`);
flush();

let addon;
try {
  addon = require(addonPath);
} catch (e) {
  lines.push(`FAIL load ${String(e && e.message).split('\n')[0]}`);
  flush();
  process.exit(1);
}

check('capable', () => {
  const got = { isCapable: addon.isCapable(), fiberBackend: addon.fiberBackend() };
  return { ok: got.isCapable === true && got.fiberBackend === 'windows-fibers', got };
});

check('runNativeJobs', () => {
  const got = [0, 1, 5, 1000].map((n) => ({ n, ...addon.runNativeJobs(n) }));
  const ok = got.every(
    (r) =>
      r.status === 3 /* ASYNCJOB_FINISH */ &&
      r.ret === (r.n * (r.n + 1)) / 2 &&
      r.pauses === r.n &&
      r.fdsSeen === r.n &&
      r.jobsInUse === 0,
  );
  return { ok, got };
});

check('waitCtxRoundTrip', () => {
  const got = addon.waitCtxRoundTrip();
  return { ok: got.ok === true, got };
});

lines.push('DONE');
flush();

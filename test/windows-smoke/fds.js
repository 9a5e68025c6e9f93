// Runs under Wine as `node.exe fds.js <fds.node> <result file>`: the addon's pipe() and fd polls
// (test/windows-smoke/fds.cc) on real sockets in node.exe, with Node's own fs reading, writing
// and closing the fds, as the README's runJob example does. Result lines as smoke.js writes them.
'use strict';
const fs = require('fs');
const { Worker } = require('worker_threads');

const [addonPath, outPath] = process.argv.slice(2);
const lines = [];
const flush = () => fs.writeFileSync(outPath, lines.join('\n') + '\n');

async function check(name, fn) {
  let ok = false;
  let details;
  try {
    const r = await fn();
    ok = r.ok;
    details = JSON.stringify(r.got);
  } catch (e) {
    details = 'threw ' + (e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : String(e));
  }
  lines.push(`${ok ? 'PASS' : 'FAIL'} ${name} ${details}`);
  flush();
}

// pollFds as a promise: [error, readable, milliseconds taken].
function poll(addon, fds, timeoutMs) {
  const start = Date.now();
  return new Promise((resolve) => {
    addon.pollFds(fds, timeoutMs, (error, readable) => resolve([error, readable, Date.now() - start]));
  });
}

function readAll(fd) {
  const buf = Buffer.alloc(64);
  return buf.toString('utf8', 0, fs.readSync(fd, buf));
}

async function main() {
  const addon = require(addonPath);

  await check('pipeWithFs', () => {
    const [r, w] = addon.pipe();
    const before = addon.pollFdsSync([r], 0);
    fs.writeSync(w, 'ok');
    const after = addon.pollFdsSync([r], 1000);
    const got = { r, w, before, after, read: readAll(r), drained: addon.pollFdsSync([r], 0) };
    fs.closeSync(r);
    fs.closeSync(w);
    const ok = Number.isInteger(r) && Number.isInteger(w) && r !== w && before.length === 0 &&
      after.length === 1 && after[0] === r && got.read === 'ok' && got.drained.length === 0;
    return { ok, got };
  });

  await check('wokenByTimerWrite', async () => {
    const [r, w] = addon.pipe();
    setTimeout(() => fs.writeSync(w, 'x'), 100);
    const [error, readable, ms] = await poll(addon, [r], -1);
    const got = { error: error && error.message, readable, ms, read: readAll(r) };
    fs.closeSync(r);
    fs.closeSync(w);
    return { ok: !error && readable.length === 1 && readable[0] === r && ms >= 50 && got.read === 'x', got };
  });

  await check('wokenByWorkerThreadWrite', async () => {
    const [r, w] = addon.pipe();
    const worker = new Worker(
      `const fs = require('fs'); const { workerData } = require('worker_threads');
       setTimeout(() => fs.writeSync(workerData, 'from a thread'), 100);`,
      { eval: true, workerData: w });
    const [error, readable] = await poll(addon, [r], 10000);
    await new Promise((resolve) => worker.on('exit', resolve));
    const got = { error: error && error.message, readable, read: readAll(r) };
    fs.closeSync(r);
    fs.closeSync(w);
    return { ok: !error && readable[0] === r && got.read === 'from a thread', got };
  });

  await check('endOfFileWhenWriteEndCloses', async () => {
    const [r, w] = addon.pipe();
    setTimeout(() => fs.closeSync(w), 50);
    const [error, readable] = await poll(addon, [r], 10000);
    const got = { error: error && error.message, readable, read: fs.readSync(r, Buffer.alloc(8)) };
    fs.closeSync(r);
    return { ok: !error && readable[0] === r && got.read === 0, got };
  });

  await check('timeoutWithNothingWritten', async () => {
    const [r, w] = addon.pipe();
    const [error, readable, ms] = await poll(addon, [r, r], 100);
    fs.closeSync(r);
    fs.closeSync(w);
    // The timeout counts from the call, not from the loop's cached time (uv_update_time).
    return { ok: !error && readable.length === 0 && ms >= 95, got: { readable, ms } };
  });

  await check('twoPollsOnOneFd', async () => {
    const [r, w] = addon.pipe();
    setTimeout(() => fs.writeSync(w, 'x'), 50);
    const both = await Promise.all([poll(addon, [r], 10000), poll(addon, [r], 10000)]);
    fs.closeSync(r);
    fs.closeSync(w);
    const got = both.map(([error, readable]) => ({ error: error && error.message, readable }));
    return { ok: got.every((g) => !g.error && g.readable[0] === r), got };
  });

  await check('badFds', async () => {
    const file = fs.openSync(process.execPath, 'r');
    const [closedR, closedW] = addon.pipe();
    fs.closeSync(closedR);
    fs.closeSync(closedW);
    const [fileError] = await poll(addon, [file], -1);
    const [closedError] = await poll(addon, [closedR], -1);
    let syncError;
    try {
      addon.pollFdsSync([file], 0);
    } catch (e) {
      syncError = e;
    }
    fs.closeSync(file);
    const got = [fileError, closedError, syncError].map((e) => e && { code: e.code, fd: e.fd, message: e.message });
    const ok = got.every((e) => e && e.code === 'ERR_ASYNCJOB_BAD_FD') && got[0].fd === file &&
      /ENOTSOCK/.test(got[0].message) && got[1].fd === closedR && /EBADF/.test(got[1].message);
    return { ok, got };
  });

  await check('cancelledPollNeverCalls', async () => {
    const [r, w] = addon.pipe();
    let called = false;
    const cancel = addon.pollFds([r], -1, () => { called = true; });
    cancel();
    fs.writeSync(w, 'x');
    await new Promise((resolve) => setTimeout(resolve, 100));
    fs.closeSync(r);
    fs.closeSync(w);
    return { ok: !called, got: { called } };
  });

  // Each poll watches a duplicate socket of its own: were one left open, the write end would
  // stay connected after fs.closeSync and the read end would never see end of file.
  await check('pollsLeaveNoDuplicateOpen', async () => {
    const [r, w] = addon.pipe();
    const timedOut = await poll(addon, [w], 0);     // finished by its timeout
    addon.pollFds([w], -1, () => {})();              // cancelled at once
    const [bad] = await poll(addon, [w, 1e6], -1);   // failed on a bad fd after watching w
    await new Promise((resolve) => setTimeout(resolve, 50));  // the watches' closes are done
    fs.closeSync(w);
    const [error, readable] = await poll(addon, [r], 5000);
    const got = { timedOut: timedOut[1], bad: bad && bad.code, error: error && error.message, readable,
      read: readable.length ? fs.readSync(r, Buffer.alloc(8)) : null };
    fs.closeSync(r);
    return { ok: !error && readable[0] === r && got.read === 0 && got.bad === 'ERR_ASYNCJOB_BAD_FD', got };
  });

  lines.push('DONE');
  flush();
}

lines.push(`INFO node ${process.version} ${process.platform}-${process.arch}`);
flush();
main().catch((e) => {
  lines.push(`FAIL main ${String(e && e.stack)}`);
  flush();
  process.exitCode = 1;
});

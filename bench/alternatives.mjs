// Alternatives benchmark (npm run bench:alternatives): what it costs to call an asynchronous
// function from synchronous-looking code and get its result, with asyncjob and with what people
// use instead, where that can run here:
//
//   - asyncjob: a job that waits with jobAwait() (the job pauses; the event loop runs on);
//   - a worker plus Atomics.wait, as synckit does it (written here, synckit is not a
//     dependency): the main thread posts the call to a worker over a MessagePort and sleeps in
//     Atomics.wait() until the worker has awaited the function, posted the result and called
//     Atomics.notify(); receiveMessageOnPort() then takes the result;
//   - plain async/await.
//
// The asynchronous function is the same trivial one everywhere (async (x) => x + 1), so the
// figures are the cost of the mechanism itself. Also measured: a worker's start (new Worker up
// to its first answer) and the RSS it adds; the RSS and threads a job adds while it waits in
// jobAwait(); the heap an async function suspended in `await` holds.
// Not measured: node-fibers (does not work on Node 16 or later) and deasync (a third-party
// native addon, not installed here); the table describes them from their documentation.
//
// One process; the per-call measurements alternate within every round (rotating the order), and
// the table shows medians over the rounds, as bench/js.mjs does.
//
//   ASYNCJOB_ALT_ROUNDS   rounds (default 11)
//   ASYNCJOB_ALT_MS       target milliseconds per measurement (default 60)
//   ASYNCJOB_ALT_STARTS   worker starts measured (default 5)
//   ASYNCJOB_ALT_WORKERS  workers alive at once for the RSS figure (default 4)
//   ASYNCJOB_ALT_JOBS     jobs waiting at once for the RSS figure (default 200)
//   ASYNCJOB_ALT_AWAITS   suspended async functions for the heap figure (default 10000)
// `--json` prints, at the end, one JSON object with every figure.
import * as os from 'node:os';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { LINUX, formatTime, listTasks, median, readStatusKiB, settings, sleep } from './common.mjs';
import { ASYNC_FINISH, ASYNC_PAUSE, WaitCtx, cleanupThread, initThread, jobAwait, pauseJob, runJob, startJob } from 'asyncjob';

const env = settings('ASYNCJOB_ALT_');
const ROUNDS = env('ROUNDS', 11);
const TARGET_MS = env('MS', 60);
const STARTS = env('STARTS', 5);
const WORKERS = env('WORKERS', 4);
const JOBS = env('JOBS', 200);
const AWAITS = env('AWAITS', 10000);
const JSON_OUT = process.argv.includes('--json');
const BUDGET_MS = 20000; // the rounds stop early (and the output says so) past this

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc'); // a full collection before heap and RSS snapshots
v8.setFlagsFromString('--no-expose-gc');

const now = () => process.hrtime.bigint();
function fail(message) {
  throw new Error(`bench: ${message}`);
}
const rssKiB = () => (LINUX ? readStatusKiB('VmRSS') : process.memoryUsage().rss / 1024);
const threadCount = () => (LINUX ? listTasks().length : NaN);

// the asynchronous function every tool calls
const addOne = async (x) => x + 1;

// ------------------------------------------------------------------ async/await

async function awaitCalls(n) {
  let s = 0;
  const t0 = now();
  for (let i = 0; i < n; i++) s += await addOne(i);
  const t1 = now();
  if (s !== (n * (n + 1)) / 2) fail('await: wrong sum');
  return Number(t1 - t0) / n;
}

// ------------------------------------------------------------------ asyncjob

// Synchronous code that calls the async function n times; each jobAwait() pauses the job until
// the promise has settled. One runJob() around all n calls.
function syncLoop(n) {
  let s = 0;
  for (let i = 0; i < n; i++) s += jobAwait(addOne(i));
  return s;
}
async function jobAwaitCalls(n) {
  const t0 = now();
  const s = await runJob(syncLoop, n);
  const t1 = now();
  if (s !== (n * (n + 1)) / 2) fail('jobAwait: wrong sum');
  return Number(t1 - t0) / n;
}

// The same loop under a hand-written driver whose WaitCtx callback resumes the job at once, in
// the promise reaction that calls it (asyncjob/fibers resumes its fibers this way); runJob()
// resumes on the next turn of the event loop (setImmediate) instead.
function driverCalls(n) {
  return new Promise((resolve, reject) => {
    const ctx = new WaitCtx();
    let r;
    let t0;
    const done = () => {
      const t1 = now();
      ctx.free();
      if (r.status !== ASYNC_FINISH || r.ret !== (n * (n + 1)) / 2) reject(new Error('bench: driver: wrong end'));
      else resolve(Number(t1 - t0) / n);
    };
    ctx.setCallback(() => {
      r = startJob(r.job, null, null);
      if (r.status !== ASYNC_PAUSE) done();
      return 1;
    });
    t0 = now();
    r = startJob(null, ctx, syncLoop, n);
    if (r.status !== ASYNC_PAUSE) done();
  });
}

// The same call when every call enters synchronous code anew: one runJob() per call (a pooled
// job start, one jobAwait, the job's end).
const syncOnce = (x) => jobAwait(addOne(x));
async function runJobCalls(n) {
  let s = 0;
  const t0 = now();
  for (let i = 0; i < n; i++) s += await runJob(syncOnce, i);
  const t1 = now();
  if (s !== (n * (n + 1)) / 2) fail('runJob: wrong sum');
  return Number(t1 - t0) / n;
}

// For reference, the bare pause+resume round trip of bench/js.mjs (startJob(job) + pauseJob()):
// it shows which of its two speeds this machine's hand-offs between threads ran at.
function pauseResume(n) {
  let r = startJob(null, null, (k) => {
    for (let i = 0; i < k; i++) pauseJob();
    return k;
  }, n);
  if (r.status !== ASYNC_PAUSE) fail('job did not pause');
  const t0 = now();
  for (let i = 0; i < n; i++) r = startJob(r.job, null, null);
  const t1 = now();
  if (r.status !== ASYNC_FINISH || r.ret !== n) fail('job did not finish after n resumes');
  return Number(t1 - t0) / n;
}

// ------------------------------------------------------------------ worker + Atomics.wait

// The worker: a bare CommonJS script that awaits the function for each request, posts the
// result on its port, then wakes the main thread. A request carries its own sequence number in
// the shared word, so a stale wake-up cannot be taken for the current one.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { port, shared } = workerData;
const flag = new Int32Array(shared);
const addOne = async (x) => x + 1;
port.on('message', async ({ seq, arg }) => {
  let reply;
  try {
    reply = { seq, ok: true, value: await addOne(arg) };
  } catch (error) {
    reply = { seq, ok: false, value: error };
  }
  port.postMessage(reply);
  Atomics.store(flag, 0, seq);
  Atomics.notify(flag, 0);
});
`;

function startSyncWorker() {
  const shared = new SharedArrayBuffer(4);
  const flag = new Int32Array(shared);
  const { port1: mine, port2: theirs } = new MessageChannel();
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { port: theirs, shared },
    transferList: [theirs],
  });
  worker.on('error', (e) => {
    console.error(e);
    process.exitCode = 1;
  });
  let seq = 0;
  // the synchronous call: blocks this thread (and its event loop) until the worker answers
  function call(arg) {
    seq = (seq + 1) | 0 || 1;
    mine.postMessage({ seq, arg });
    for (;;) {
      const seen = Atomics.load(flag, 0);
      if (seen === seq) break;
      if (Atomics.wait(flag, 0, seen, 10000) === 'timed-out') fail('worker did not answer in 10 s');
    }
    const m = receiveMessageOnPort(mine);
    if (!m || m.message.seq !== seq) fail('worker reply missing');
    if (!m.message.ok) throw m.message.value;
    return m.message.value;
  }
  return { worker, call, close: () => (mine.close(), worker.terminate()) };
}

let syncWorker = null;
function workerCalls(n) {
  let s = 0;
  const t0 = now();
  for (let i = 0; i < n; i++) s += syncWorker.call(i);
  const t1 = now();
  if (s !== (n * (n + 1)) / 2) fail('worker: wrong sum');
  return Number(t1 - t0) / n;
}

// new Worker() up to its first answer, one worker at a time
async function workerStarts(k) {
  const ms = [];
  for (let i = 0; i < k; i++) {
    const t0 = now();
    const w = startSyncWorker();
    if (w.call(1) !== 2) fail('worker start: wrong answer');
    ms.push(Number(now() - t0) / 1e6);
    await w.close();
  }
  return ms;
}

// ------------------------------------------------------------------ memory

// RSS that w idle workers add (each has answered one call, so it is fully started)
async function workerMemory(w) {
  gc();
  await sleep(50);
  const before = rssKiB();
  const threads0 = threadCount();
  const ws = [];
  for (let i = 0; i < w; i++) {
    const x = startSyncWorker();
    x.call(1);
    ws.push(x);
  }
  await sleep(100);
  gc();
  const after = rssKiB();
  const threads1 = threadCount();
  for (const x of ws) await x.close();
  return { workers: w, rssKiBPer: (after - before) / w, threadsPer: (threads1 - threads0) / w };
}

// RSS and threads that j jobs add while each waits in jobAwait() for a promise not yet settled
async function jobMemory(j) {
  cleanupThread();
  await sleep(200); // let ended host threads go
  gc();
  const before = rssKiB();
  const threads0 = threadCount();
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const runs = [];
  for (let i = 0; i < j; i++) runs.push(runJob(() => jobAwait(gate)));
  await sleep(50);
  gc();
  const after = rssKiB();
  const threads1 = threadCount();
  release(0);
  await Promise.all(runs);
  cleanupThread();
  return { jobs: j, rssKiBPer: (after - before) / j, threadsPer: (threads1 - threads0) / j };
}

// heap that a async functions hold while each is suspended in `await` on a pending promise
async function awaitMemory(a) {
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  async function waiter(i) {
    const base = await gate;
    return base + i;
  }
  gc();
  const before = process.memoryUsage().heapUsed;
  const pending = [];
  for (let i = 0; i < a; i++) pending.push(waiter(i));
  gc();
  const after = process.memoryUsage().heapUsed;
  release(0);
  await Promise.all(pending);
  return { calls: a, bytesPer: (after - before) / a };
}

// ------------------------------------------------------------------ main

const benches = [
  { key: 'jobAwait', label: 'asyncjob: jobAwait() in a running job (runJob + jobAwait)', run: jobAwaitCalls },
  { key: 'driver', label: 'asyncjob: jobAwait(), resumed in the promise reaction (startJob driver)', run: driverCalls },
  { key: 'runJob', label: 'asyncjob: one runJob() per call (pooled start, jobAwait, end)', run: runJobCalls },
  { key: 'worker', label: 'worker + Atomics.wait (synckit\'s way), warm worker', run: workerCalls },
  { key: 'await', label: 'async/await (await addOne(i))', run: awaitCalls },
  { key: 'rt', label: 'for reference: JS job pause+resume, no promise (bench:js)', run: pauseResume },
];

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

async function main() {
  const started = Date.now();
  if (!initThread(0, 1)) fail('initThread(0, 1) failed');
  syncWorker = startSyncWorker();
  if (syncWorker.call(41) !== 42) fail('worker: wrong answer');

  // warm-up and calibration, as bench/js.mjs: iterations for about TARGET_MS per measurement
  for (const b of benches) {
    let per = await b.run(100);
    const warm = [];
    for (let i = 0; i < 3; i++) {
      const n = Math.max(100, Math.round((TARGET_MS * 1e6) / 5 / per));
      per = await b.run(n);
      warm.push(per);
    }
    b.n = Math.max(100, Math.round((TARGET_MS * 1e6) / median(warm)));
    b.samples = [];
  }
  let rounds = 0;
  for (let round = 0; round < ROUNDS && Date.now() - started < BUDGET_MS / 2; round++, rounds++) {
    for (let i = 0; i < benches.length; i++) {
      const b = benches[(i + round) % benches.length];
      b.samples.push(await b.run(b.n));
    }
  }
  await syncWorker.close();
  syncWorker = null;

  const starts = await workerStarts(STARTS);
  const wMem = await workerMemory(WORKERS);
  const jMem = await jobMemory(JOBS);
  const aMem = await awaitMemory(AWAITS);

  const med = Object.fromEntries(benches.map((b) => [b.key, median(b.samples)]));
  const cpus = os.cpus();
  console.log(`asyncjob alternatives benchmark — ${new Date().toISOString()}`);
  console.log(
    `Node ${process.version} (V8 ${process.versions.v8}), ${process.platform} ${process.arch}, ` +
      `${cpus.length} CPU${cpus.length === 1 ? '' : 's'} (${cpus[0]?.model?.trim() ?? 'unknown'}); ` +
      `load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`,
  );
  const cut = rounds < ROUNDS ? ` (of ${ROUNDS}: stopped at the time budget)` : '';
  console.log(
    `calling one trivial async function (async (x) => x + 1) from synchronous-looking code; ` +
      `median of ${rounds} alternating rounds${cut}\n`,
  );
  table(
    ['per call', 'median', 'min', 'max', 'vs await', 'iterations'],
    benches.map((b) => [
      b.label,
      formatTime(med[b.key]),
      formatTime(Math.min(...b.samples)),
      formatTime(Math.max(...b.samples)),
      `${(med[b.key] / med.await).toFixed(med[b.key] / med.await >= 100 ? 0 : 1)}x`,
      String(b.n),
    ]),
  );

  console.log('');
  const kib = (x) => `${x.toFixed(1)} KiB`;
  table(
    ['one-off cost', 'figure', 'how'],
    [
      [
        'worker start (new Worker to first answer)',
        `${median(starts).toFixed(1)} ms`,
        `median of ${starts.length}: ${starts.map((x) => x.toFixed(1)).join(', ')} ms`,
      ],
      [
        'RSS per idle worker',
        LINUX ? `${(wMem.rssKiBPer / 1024).toFixed(2)} MiB` : 'n/a',
        `VmRSS delta over ${wMem.workers} workers, ${wMem.threadsPer.toFixed(1)} threads each`,
      ],
      [
        'RSS per job waiting in jobAwait()',
        LINUX ? kib(jMem.rssKiBPer) : 'n/a',
        `VmRSS delta over ${jMem.jobs} jobs (cold starts), ${jMem.threadsPer.toFixed(2)} threads each`,
      ],
      [
        'heap per async function suspended in await',
        `${aMem.bytesPer.toFixed(0)} B`,
        `heapUsed delta over ${aMem.calls} calls, after a full GC`,
      ],
    ],
  );

  console.log(`
What each can do (the figures above are for the three measured here):
  asyncjob jobAwait   pauses anywhere in synchronous code running inside a job; same isolate,
                      globals and closures; the event loop runs while the job waits; the
                      outermost caller starts the job (runJob) and gets a promise
  worker + Atomics    callable from any synchronous code, no job or fiber needed; the function
                      runs in another isolate (arguments and results are structured-cloned,
                      no shared closures); the calling thread and its event loop are blocked
                      for the whole call; one worker serves one call at a time
  async/await         the fastest; every caller up the stack must be async
Not measured here: node-fibers (Node 15 and older only: it does not work on Node 16 or later)
and deasync (a native addon that runs the event loop nested inside the synchronous call; not a
dependency of this package).`);
  console.log(`\n(run took ${((Date.now() - started) / 1000).toFixed(1)} s)`);

  if (JSON_OUT) {
    console.log(
      JSON.stringify({
        date: new Date().toISOString(),
        node: process.version,
        loadavg: os.loadavg(),
        rounds,
        perCallNs: Object.fromEntries(
          benches.map((b) => [b.key, { median: med[b.key], min: Math.min(...b.samples), max: Math.max(...b.samples), iterations: b.n }]),
        ),
        workerStartMs: starts,
        workerMemory: wMem,
        jobMemory: jMem,
        awaitMemory: aMem,
      }),
    );
  }
}

await main();

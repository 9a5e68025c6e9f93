// JavaScript-side benchmark (npm run bench:js): what a JS job's pause+resume and start->finish
// cost, and a Fiber of asyncjob/fibers, next to a generator's yield and an await, the language's
// own ways to suspend.
// One process; the measurements alternate within every round, so that drift (CPU
// frequency, other load) spreads over all of them; the table shows medians over the rounds.
//
//   ASYNCJOB_BENCH_ROUNDS  rounds (default 15)
//   ASYNCJOB_BENCH_MS      target milliseconds per measurement (default 100)
// Rounds stop early (and the table says so) if the run nears 25 s.
import * as os from 'node:os';
import { median, formatTime } from './common.mjs';
import { awaitRoundTrip } from './await-loop.mjs';
import { ASYNC_FINISH, ASYNC_PAUSE, initThread, pauseJob, startJob } from 'asyncjob';
import Fiber from 'asyncjob/fibers';

const ROUNDS = Number(process.env.ASYNCJOB_BENCH_ROUNDS ?? 15);
const TARGET_MS = Number(process.env.ASYNCJOB_BENCH_MS ?? 100);
const BUDGET_MS = 25000;
const TARGET_US = 10; // ARCHITECTURE.md: a JS job pause+resume round trip should cost <= 10 us

const now = () => process.hrtime.bigint();
const nsPerOp = (t0, t1, n) => Number(t1 - t0) / n;

function fail(message) {
  throw new Error(`bench: ${message}`);
}

// n resumes of one job that pauses n times: each is a startJob(job) that runs until the job's
// next pauseJob() (the last one runs it to its end).
function jobPauseResume(n) {
  let r = startJob(null, null, (k) => {
    for (let i = 0; i < k; i++) pauseJob();
    return k;
  }, n);
  if (r.status !== ASYNC_PAUSE) fail(`job did not pause (status ${r.status})`);
  const t0 = now();
  for (let i = 0; i < n; i++) r = startJob(r.job, null, null);
  const t1 = now();
  if (r.status !== ASYNC_FINISH || r.ret !== n) fail('job did not finish after n resumes');
  return nsPerOp(t0, t1, n);
}

// n jobs that return at once, each a startJob(null, …) from start to ASYNC_FINISH; the pool
// reuses one host thread.
const returnAtOnce = (x) => x;
function jobStartFinish(n) {
  let sum = 0;
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const r = startJob(null, null, returnAtOnce, 1);
    sum += r.ret;
  }
  const t1 = now();
  if (sum !== n) fail('start->finish jobs returned wrong values');
  return nsPerOp(t0, t1, n);
}

// n run() calls of one fiber (asyncjob/fibers) that yields n times: each resumes it up to its
// next Fiber.yield(), whose value run() returns (the last one runs it to its end).
function fiberRunYield(n) {
  const fiber = Fiber((k) => {
    for (let i = 1; i <= k; i++) Fiber.yield(i);
    return k;
  });
  if (fiber.run(n) !== 1) fail('fiber did not yield');
  let last = 0;
  const t0 = now();
  for (let i = 0; i < n; i++) last = fiber.run();
  const t1 = now();
  if (last !== n || fiber.started) fail('fiber did not finish after n runs');
  return nsPerOp(t0, t1, n);
}

// node-fibers' own figure for the same round trip, on Node 14 (its last supported Node),
// switching stacks in C++ on one thread. Quoted for comparison, never measured here.
const NODE_FIBERS_REFERENCE = '1.8–2.9 µs, measured with its C++ switch';

// n next() calls, each resuming the generator up to its next yield.
function* counter() {
  let i = 0;
  for (;;) yield i++;
}
function generatorYield(n) {
  const it = counter();
  let last = 0;
  const t0 = now();
  for (let i = 0; i < n; i++) last = it.next().value;
  const t1 = now();
  if (last !== n - 1) fail('generator lost a value');
  return nsPerOp(t0, t1, n);
}

// n `await Promise.resolve()` in one async function: each suspends and resumes it.
const awaitResolve = awaitRoundTrip;

const benches = [
  { key: 'job', label: 'JS job pause+resume (startJob(job) + pauseJob())', run: jobPauseResume },
  { key: 'fiber', label: 'Fiber run()+Fiber.yield() round trip (asyncjob/fibers)', run: fiberRunYield },
  { key: 'start', label: 'JS job start->finish (pooled, returns at once)', run: jobStartFinish },
  { key: 'gen', label: 'generator yield round trip (next() + yield)', run: generatorYield },
  { key: 'await', label: 'await Promise.resolve() round trip', run: awaitResolve },
];

async function main() {
  const started = Date.now();
  // a pool with one host thread ready, no limit
  if (!initThread(0, 1)) fail('initThread(0, 1) failed');

  // Warm-up and calibration: iterations so that one measurement takes about TARGET_MS, from
  // the median of warm-up measurements (a job's round trip is bimodal: it depends on whether
  // the two threads meet while spinning or through an OS wake-up).
  for (const b of benches) {
    let per = await b.run(100);
    const warm = [];
    for (let i = 0; i < 5; i++) {
      const n = Math.max(100, Math.round((TARGET_MS * 1e6) / 5 / per));
      per = await b.run(n); // a fifth of the target while warming up
      warm.push(per);
    }
    b.n = Math.max(100, Math.round((TARGET_MS * 1e6) / median(warm)));
    b.samples = [];
  }

  let rounds = 0;
  for (let round = 0; round < ROUNDS && Date.now() - started < BUDGET_MS; round++, rounds++) {
    // rotate the order every round as well, so no measurement always follows the same one
    for (let i = 0; i < benches.length; i++) {
      const b = benches[(i + round) % benches.length];
      b.samples.push(await b.run(b.n));
    }
  }

  const gen = median(benches.find((b) => b.key === 'gen').samples);
  const cpus = os.cpus();
  console.log(`asyncjob JS benchmark — ${new Date().toISOString()}`);
  console.log(
    `Node ${process.version} (V8 ${process.versions.v8}), ${process.platform} ${process.arch}, ` +
      `${cpus.length} CPU${cpus.length === 1 ? '' : 's'} (${cpus[0]?.model?.trim() ?? 'unknown'})`,
  );
  const cut = rounds < ROUNDS ? ` (of ${ROUNDS}: stopped at the time budget)` : '';
  console.log(`median of ${rounds} alternating rounds${cut}; min and max over the rounds; iterations per round\n`);

  const rows = benches.map((b) => [
    b.label,
    formatTime(median(b.samples)),
    formatTime(Math.min(...b.samples)),
    formatTime(Math.max(...b.samples)),
    `${(median(b.samples) / gen).toFixed(median(b.samples) / gen >= 100 ? 0 : 1)}x`,
    String(b.n),
  ]);
  const header = ['operation', 'median', 'min', 'max', 'vs generator', 'iterations'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));

  const fiber = median(benches.find((b) => b.key === 'fiber').samples);
  console.log(
    `\nFiber run+yield round trip: asyncjob/fibers ${formatTime(fiber)} (median above); ` +
      `node-fibers on its last supported Node (14): ${NODE_FIBERS_REFERENCE} ` +
      '(a reference figure quoted from node-fibers, not measured here)',
  );

  const job = median(benches.find((b) => b.key === 'job').samples);
  console.log(
    `\ntarget: JS job pause+resume <= ${TARGET_US} us: ${job <= TARGET_US * 1000 ? 'met' : 'NOT met'} ` +
      `(median ${formatTime(job)})`,
  );
  console.log(`(run took ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

await main();

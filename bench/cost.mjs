// Cost benchmark (npm run bench:cost): what JavaScript jobs cost a busy server, in one run,
// every figure next to its target (issue 11) and next to async/await where there is an
// equivalent.
//
//   1. server scenario, timer wakes: N concurrent runJob jobs, each waiting M times through
//      jobAwait for a 5 ms timer, against an async function awaiting the same timers: CPU time
//      per wait (process.cpuUsage(), every thread of the process, host threads included), wall
//      time, p50/p99 wake-to-resume latency (from the timer callback to the code after the wait)
//   2. server scenario, fd wakes: the same, each job waiting on a pipe() read end set in its
//      WaitCtx, a 5 ms timer writing one byte; async/await reads through a net.Socket on the pipe
//   3. pause+resume round trip (startJob(job) + pauseJob()), on idle cores and with one core kept
//      busy by another process; await Promise.resolve() for reference
//   4. cold start (a new host thread must be made) and pooled start->finish
//   5. memory per paused JS job: RSS, memory maps, threads (Linux /proc)
//   6. CPU used by J paused jobs while the event loop idles 10 s (Linux: per thread too)
//
// Sizes (environment):
//   ASYNCJOB_COST_N        concurrent jobs in 1 and 2 (default 100)
//   ASYNCJOB_COST_M        waits per job in 1 and 2 (default 20)
//   ASYNCJOB_COST_ROUNDS   rounds per kind in 1 and 2, alternating (default 5)
//   ASYNCJOB_COST_RT_ROUNDS rounds of the round trip in 3, per condition (default 7)
//   ASYNCJOB_COST_RT_MS    target milliseconds per round-trip measurement (default 50)
//   ASYNCJOB_COST_K        cold starts in 4 (default 200)
//   ASYNCJOB_COST_SPACED_K cold starts 5 ms apart in 4 (default 50)
//   ASYNCJOB_COST_JOBS     paused jobs in 5 and 6 (default 1000)
//   ASYNCJOB_COST_IDLE_MS  idle time with the paused jobs in 6 (default 10000)
//   ASYNCJOB_COST_BASE_MS  idle baseline without jobs in 6 (default 2000)
//   ASYNCJOB_COST_TIMEOUT_S the run fails (exit 1) if it takes longer, e.g. a job that is never
//                          resumed (default 300)
// `--json` prints, at the end, one JSON object with every figure.
// Exit status: 0 whether targets are met or not; 1 if the measurement itself failed.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { spawn } from 'node:child_process';
import { PerformanceObserver } from 'node:perf_hooks';
import { LINUX, listTasks, median, readStatusKiB, settings, sleep } from './common.mjs';
import { awaitRoundTrip } from './await-loop.mjs';
import {
  ASYNC_FINISH,
  ASYNC_PAUSE,
  cancelJob,
  cleanupThread,
  getCurrentJob,
  getWaitCtx,
  initThread,
  jobAwait,
  jobLimits,
  pauseJob,
  pipe,
  runJob,
  startJob,
} from 'asyncjob';

const env = settings('ASYNCJOB_COST_');
const N = env('N', 100);
const M = env('M', 20);
const ROUNDS = env('ROUNDS', 5);
const RT_ROUNDS = env('RT_ROUNDS', 7);
const RT_MS = env('RT_MS', 50);
const K = env('K', 200);
const SPACED_K = env('SPACED_K', 50);
const JOBS = env('JOBS', 1000);
const IDLE_MS = env('IDLE_MS', 10000);
const BASE_MS = env('BASE_MS', 2000);
const TIMEOUT_S = env('TIMEOUT_S', 300);
const JSON_OUT = process.argv.includes('--json');
const TIMER_MS = 5;

// targets (issue 11)
const T = {
  cpuRatio: 4, // CPU per wait, asyncjob / async-await
  rtIdleNs: 2500,
  rtBusyNs: 7500,
  coldNs: 50000,
  pooledNs: 5000,
  rssPerJobKiB: 16,
  mapsPerJob: 2,
  idleCpuMsPerS: 1,
};

const now = () => process.hrtime.bigint();
const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

class BenchFailure extends Error {}
function fail(message) {
  throw new BenchFailure(`bench:cost: ${message}`);
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function fmtNs(ns) {
  if (!Number.isFinite(ns)) return 'n/a';
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1000) return `${(ns / 1000).toFixed(2)} µs`;
  return `${ns.toFixed(ns >= 100 ? 0 : 1)} ns`;
}
const fmtNum = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

const results = {}; // for --json
const summary = []; // [figure, target, measured, status]
function judge(figure, targetText, measuredText, met) {
  summary.push([figure, targetText, measuredText, met === null ? 'info' : met ? 'met' : 'NOT met']);
}

// ---------------------------------------------------------------- Linux /proc readers

function countMaps() {
  if (!LINUX) return NaN;
  const text = fs.readFileSync('/proc/self/maps', 'utf8');
  return text.split('\n').filter((l) => l.length > 0).length;
}
// per thread: CPU time (ns) and how many times the thread ran. From /proc/self/task/*/schedstat
// (time on CPU in ns, timeslices run) where it exists; otherwise from .../stat (utime+stime, in
// clock ticks, too coarse for short phases) and .../status (context switches).
let haveSchedstat = null;
// The JavaScript thread is read last (mainLast) before a measured window and first after it, so that
// its figure leaves out the reading of the other threads' files.
function threadStats(mainLast = false) {
  const stats = new Map();
  const main = String(process.pid);
  const tids = listTasks().filter((t) => t !== main);
  if (mainLast) tids.push(main);
  else tids.unshift(main);
  for (const tid of tids) {
    try {
      if (haveSchedstat !== false) {
        try {
          const f = fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/);
          haveSchedstat = true;
          stats.set(tid, { cpuNs: Number(f[0]), runs: Number(f[2]) });
          continue;
        } catch (e) {
          if (haveSchedstat === true) throw e; // the thread ended meanwhile
          haveSchedstat = false;
        }
      }
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // after "pid (comm) ": field 3 (state) is f[0]; utime is field 14, stime field 15
      const ticks = Number(f[11]) + Number(f[12]);
      const status = fs.readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
      const v = Number(status.match(/^voluntary_ctxt_switches:\s+(\d+)/m)?.[1] ?? NaN);
      const nv = Number(status.match(/^nonvoluntary_ctxt_switches:\s+(\d+)/m)?.[1] ?? NaN);
      stats.set(tid, { cpuNs: (ticks * 1e9) / CLK_TCK, runs: v + nv });
    } catch {
      // the thread ended meanwhile
    }
  }
  return stats;
}
const threadStatsSource = () =>
  haveSchedstat ? '/proc/self/task/*/schedstat' : '/proc/self/task/*/stat (10 ms ticks) and .../status';
const CLK_TCK = 100; // Linux USER_HZ, what /proc reports times in

// ---------------------------------------------------------------- 1 and 2: server scenario

// A wake TIMER_MS from now: `fired` resolves then, and `at` is when the timer callback ran, which
// the latency is measured from (to the code after the wait).
function timerWake() {
  const wake = { at: 0n, fired: null };
  wake.fired = new Promise((resolve) =>
    setTimeout(() => {
      wake.at = now();
      resolve();
    }, TIMER_MS),
  );
  return wake;
}

// A byte written to `writeFd` TIMER_MS from now; `at` is when it was written.
function byteWake(writeFd, byte) {
  const wake = { at: 0n };
  setTimeout(() => {
    wake.at = now();
    fs.writeSync(writeFd, byte);
  }, TIMER_MS);
  return wake;
}

// asyncjob, timer wakes: a job waits m times through jobAwait for a 5 ms timer
function jobTimerWaits(m, lat) {
  for (let i = 0; i < m; i++) {
    const wake = timerWake();
    jobAwait(wake.fired);
    lat.push(Number(now() - wake.at));
  }
  return m;
}
// async/await, timer wakes
async function asyncTimerWaits(m, lat) {
  for (let i = 0; i < m; i++) {
    const wake = timerWake();
    await wake.fired;
    lat.push(Number(now() - wake.at));
  }
  return m;
}

// asyncjob, fd wakes: the job's read end is a wait fd of its WaitCtx; runJob resumes the job when
// it is readable; a 5 ms timer writes one byte
function jobFdWaits(m, lat, spurious) {
  const [readFd, writeFd] = pipe();
  const ctx = getWaitCtx(getCurrentJob());
  ctx.setWaitFd('pipe', readFd, null, () => {
    fs.closeSync(readFd);
    fs.closeSync(writeFd);
  });
  const one = Buffer.from('x');
  const buf = Buffer.alloc(16);
  for (let i = 0; i < m; i++) {
    const wake = byteWake(writeFd, one);
    for (;;) {
      pauseJob();
      try {
        const n = fs.readSync(readFd, buf);
        if (n !== 1) fail(`fd job read ${n} bytes, not 1`);
        break;
      } catch (e) {
        if (e.code !== 'EAGAIN') throw e;
        spurious.count++; // resumed before the byte came: wait again
      }
    }
    lat.push(Number(now() - wake.at));
  }
  return m;
}
// async/await, fd wakes: what a user would write, a net.Socket on the read end, awaiting 'data'
async function asyncFdWaits(m, lat) {
  const [readFd, writeFd] = pipe();
  const sock = new net.Socket({ fd: readFd, readable: true, writable: false });
  const one = Buffer.from('x');
  try {
    for (let i = 0; i < m; i++) {
      const got = new Promise((resolve, reject) => {
        sock.once('data', resolve);
        sock.once('error', reject);
      });
      const wake = byteWake(writeFd, one);
      const data = await got;
      sock.removeAllListeners('error');
      if (data.length !== 1) fail(`socket read ${data.length} bytes, not 1`);
      lat.push(Number(now() - wake.at));
    }
  } finally {
    sock.destroy(); // closes readFd
    fs.closeSync(writeFd);
  }
  return m;
}

// one phase: n concurrent runs of m waits each
async function serverPhase(kind, wake, n, m) {
  const lat = [];
  const spurious = { count: 0 };
  const runs = [];
  // Linux: per-thread CPU read around (outside) the measured window, to show how much of the
  // process CPU was on threads other than the JavaScript thread
  const th0 = LINUX && kind === 'job' ? threadStats(true) : null;
  const cpu0 = cpuUs();
  const t0 = now();
  for (let j = 0; j < n; j++) {
    if (kind === 'job') runs.push(runJob(wake === 'timer' ? jobTimerWaits : jobFdWaits, m, lat, spurious));
    else runs.push(wake === 'timer' ? asyncTimerWaits(m, lat) : asyncFdWaits(m, lat));
  }
  const rets = await Promise.all(runs);
  const t1 = now();
  const cpu1 = cpuUs();
  let threads = null;
  if (th0) {
    const th1 = threadStats();
    let main = 0;
    let others = 0;
    for (const [tid, s1] of th1) {
      const d = s1.cpuNs - (th0.get(tid)?.cpuNs ?? 0);
      if (tid === String(process.pid)) main += d;
      else others += d;
    }
    threads = { mainMs: main / 1e6, otherMs: others / 1e6, cpuUsageMs: (cpu1 - cpu0) / 1000 };
  }
  if (rets.some((r) => r !== m)) fail(`${kind} ${wake} phase: a run returned a wrong value`);
  if (lat.length !== n * m) fail(`${kind} ${wake} phase: ${lat.length} latencies, not ${n * m}`);
  lat.sort((a, b) => a - b);
  return {
    cpuPerWaitNs: ((cpu1 - cpu0) * 1000) / (n * m),
    wallMs: Number(t1 - t0) / 1e6,
    p50Ns: percentile(lat, 50),
    p99Ns: percentile(lat, 99),
    spurious: spurious.count,
    threads,
  };
}

async function serverScenario(wake) {
  // warm-up: one phase of each kind, not counted, so that N host threads exist in the pool and
  // the code is compiled (with a small warm-up phase the first counted round of either kind
  // cost 2-10x the later ones)
  await serverPhase('job', wake, N, M);
  await serverPhase('async', wake, N, M);
  const samples = { job: [], async: [] };
  for (let r = 0; r < ROUNDS; r++) {
    // ABAB..., the first kind alternating too
    const order = r % 2 === 0 ? ['job', 'async'] : ['async', 'job'];
    for (const kind of order) samples[kind].push(await serverPhase(kind, wake, N, M));
  }
  const med = (kind, key) => median(samples[kind].map((s) => s[key]));
  const out = {};
  for (const kind of ['job', 'async']) {
    out[kind] = {
      cpuPerWaitNs: med(kind, 'cpuPerWaitNs'),
      wallMs: med(kind, 'wallMs'),
      p50Ns: med(kind, 'p50Ns'),
      p99Ns: med(kind, 'p99Ns'),
      spurious: samples[kind].reduce((a, s) => a + s.spurious, 0),
      rounds: samples[kind].map((s) => ({ ...s })),
    };
  }
  out.cpuRatio = out.job.cpuPerWaitNs / out.async.cpuPerWaitNs;
  return out;
}

function printServer(title, res, asyncLabel) {
  console.log(`\n${title}`);
  table(
    ['', 'CPU per wait', 'wall per phase', 'p50 wake->resume', 'p99 wake->resume'],
    [
      ['asyncjob runJob', fmtNs(res.job.cpuPerWaitNs), fmtNs(res.job.wallMs * 1e6), fmtNs(res.job.p50Ns), fmtNs(res.job.p99Ns)],
      [asyncLabel, fmtNs(res.async.cpuPerWaitNs), fmtNs(res.async.wallMs * 1e6), fmtNs(res.async.p50Ns), fmtNs(res.async.p99Ns)],
    ],
  );
  const cpuPerRound = (kind) => res[kind].rounds.map((s) => fmtNs(s.cpuPerWaitNs)).join(', ');
  console.log(`CPU per wait by round: asyncjob ${cpuPerRound('job')}; async/await ${cpuPerRound('async')}`);
  const th = res.job.rounds.map((s) => s.threads).filter(Boolean);
  if (th.length) {
    const sum = (k) => th.reduce((a, t) => a + t[k], 0);
    console.log(
      `asyncjob phases, CPU per thread (${threadStatsSource()}), all rounds: JS thread ${fmtNum(sum('mainMs'), 0)} ms, ` +
        `other threads (host threads, libuv, V8) ${fmtNum(sum('otherMs'), 0)} ms, sum ${fmtNum(sum('mainMs') + sum('otherMs'), 0)} ms; ` +
        `process.cpuUsage() counted ${fmtNum(sum('cpuUsageMs'), 0)} ms`,
    );
  }
  if (res.job.spurious) console.log(`(asyncjob: ${res.job.spurious} resumes before the byte had come, over all rounds)`);
  console.log(
    `CPU per wait, asyncjob / async/await: ${fmtNum(res.cpuRatio, 1)}x ` +
      `(target <= ${T.cpuRatio}x: ${res.cpuRatio <= T.cpuRatio ? 'met' : 'NOT met'})`,
  );
}

// ---------------------------------------------------------------- 3: round trip

// A measurement stops after MEASURE_CAP_NS even if it has not done its n resumes (the figure is
// then over the resumes done), so that a hand-off that degrades to milliseconds (seen with a busy
// core) cannot make the run take minutes.
const MEASURE_CAP_NS = 2e9;
function jobPauseResume(n) {
  let r = startJob(null, null, (k) => {
    for (let i = 0; i < k; i++) pauseJob();
    return k;
  }, n);
  if (r.status !== ASYNC_PAUSE) fail(`round trip: job did not pause (status ${r.status})`);
  const t0 = now();
  let i = 0;
  let t1 = t0;
  for (; i < n; i++) {
    r = startJob(r.job, null, null);
    if ((i & 255) === 255) {
      t1 = now();
      if (Number(t1 - t0) > MEASURE_CAP_NS) {
        i++;
        break;
      }
    }
  }
  if (i === n) t1 = now();
  if (i < n) {
    if (r.status !== ASYNC_PAUSE) fail('round trip: job ended early');
    cancelJob(r.job);
  } else if (r.status !== ASYNC_FINISH || r.ret !== n) {
    fail('round trip: job did not finish after n resumes');
  }
  return Number(t1 - t0) / i;
}
const awaitResolve = awaitRoundTrip;

// iterations so that one measurement takes about RT_MS
async function calibrate(run) {
  let per = await run(200);
  const warm = [];
  for (let i = 0; i < 3; i++) {
    per = await run(Math.max(200, Math.round((RT_MS * 1e6) / 3 / per)));
    warm.push(per);
  }
  return Math.max(200, Math.round((RT_MS * 1e6) / median(warm)));
}

// RT_ROUNDS alternating rounds; after budgetMs no new round starts (the table says so)
async function roundRounds(benches, budgetMs = 15000) {
  for (const b of benches) b.samples = [];
  const t0 = Date.now();
  for (let r = 0; r < RT_ROUNDS && (r === 0 || Date.now() - t0 < budgetMs); r++) {
    for (let i = 0; i < benches.length; i++) {
      const b = benches[(i + r) % benches.length];
      b.samples.push(await b.run(b.n));
    }
  }
  return benches.map((b) => ({
    median: median(b.samples),
    min: Math.min(...b.samples),
    max: Math.max(...b.samples),
    rounds: b.samples.length,
  }));
}

let spinner = null;
function killSpinner() {
  if (spinner && spinner.exitCode === null && spinner.signalCode === null) {
    try {
      spinner.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
}
process.on('exit', killSpinner);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killSpinner();
    process.exit(1);
  });
}

function procTicks(pid) {
  if (!LINUX) return NaN;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

async function roundTrip() {
  const load1 = os.loadavg()[0];
  const job = { run: jobPauseResume };
  const aw = { run: awaitResolve };
  job.n = await calibrate(job.run);
  aw.n = await calibrate(aw.run);
  const [idleJob, idleAwait] = await roundRounds([job, aw]);

  // one core kept busy by another process
  spinner = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
  const spinnerExit = new Promise((r) => spinner.once('exit', r));
  let busyJob;
  let spinnerCheck = null;
  try {
    await sleep(300);
    if (spinner.exitCode !== null || spinner.signalCode !== null) fail('the busy-core process ended early');
    const t0 = now();
    const ticks0 = procTicks(spinner.pid);
    [busyJob] = await roundRounds([job]);
    spinnerCheck = { ms: Number(now() - t0) / 1e6, cpuMs: ((procTicks(spinner.pid) - ticks0) * 1000) / CLK_TCK };
  } finally {
    killSpinner();
    await spinnerExit;
    spinner = null;
  }
  return { iterations: job.n, idle: idleJob, busy: busyJob, await: idleAwait, awaitIterations: aw.n, spinner: spinnerCheck, loadBefore: load1 };
}

// ---------------------------------------------------------------- 4: starts

function pauser() {
  for (;;) pauseJob(); // ends by throwing the cancellation reason
}

function describeStartFailure(r, i) {
  const lim = jobLimits();
  let text = `start ${i + 1} failed: status ${r.status}`;
  if (r.error) text += ` (${r.error.message})`;
  text += `; jobLimits() = ${JSON.stringify({ jsJobs: lim.jsJobs, nativeJobs: lim.nativeJobs })}`;
  if (LINUX) {
    try {
      const limits = fs.readFileSync('/proc/self/limits', 'utf8').split('\n');
      text += `; ${limits.filter((l) => /processes|open files|address space/i.test(l)).map((l) => l.replace(/\s+/g, ' ').trim()).join('; ')}`;
      text += `; vm.max_map_count ${fs.readFileSync('/proc/sys/vm/max_map_count', 'utf8').trim()}, maps in use ${countMaps()}`;
    } catch {
      // not readable
    }
  }
  return text;
}

function cancelAll(jobs) {
  for (const job of jobs) cancelJob(job);
  jobs.length = 0;
}

// k cold starts: each a startJob() that needs a new host thread, back to back (a burst), or with
// the event loop idling `gapMs` before each (a server whose pool grows now and then), so that no
// start waits behind another's thread.
async function coldStarts(k, gapMs = 0) {
  cleanupThread(); // no jobs in use here: every idle host thread ends
  const jobs = [];
  const times = [];
  try {
    for (let i = 0; i < k; i++) {
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
      const t0 = now();
      const r = startJob(null, null, pauser);
      const t1 = now();
      if (r.status !== ASYNC_PAUSE) fail(`cold start: ${describeStartFailure(r, i)}`);
      jobs.push(r.job);
      times.push(Number(t1 - t0));
    }
  } finally {
    cancelAll(jobs);
    cleanupThread();
  }
  times.sort((a, b) => a - b);
  return { median: median(times), p99: percentile(times, 99), max: times[times.length - 1], k, gapMs };
}

const returnAtOnce = (x) => x;
function jobStartFinish(n) {
  let sum = 0;
  const t0 = now();
  for (let i = 0; i < n; i++) sum += startJob(null, null, returnAtOnce, 1).ret;
  const t1 = now();
  if (sum !== n) fail('start->finish jobs returned wrong values');
  return Number(t1 - t0) / n;
}
async function pooledStarts() {
  if (!initThread(0, 1)) fail('initThread(0, 1) failed'); // one idle pooled host thread
  const b = { run: jobStartFinish };
  b.n = await calibrate(b.run);
  const [res] = await roundRounds([b]);
  cleanupThread();
  return { ...res, iterations: b.n };
}

// ---------------------------------------------------------------- 5 and 6: paused jobs

function snapshot() {
  return { rssKiB: readStatusKiB('VmRSS'), maps: countMaps(), threads: LINUX ? listTasks().length : NaN };
}

// CPU of the process over ms of idling, and the garbage collections meanwhile
async function idleCpu(ms) {
  const gcs = [];
  const obs = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
  obs.observe({ entryTypes: ['gc'] });
  const c0 = cpuUs();
  const t0 = now();
  await sleep(ms);
  const t1 = now();
  const c1 = cpuUs();
  await sleep(0); // let the observer deliver the last entries
  obs.disconnect();
  return {
    cpuMs: (c1 - c0) / 1000,
    wallMs: Number(t1 - t0) / 1e6,
    gcs: gcs.length,
    gcMs: gcs.reduce((a, e) => a + e.duration, 0),
  };
}

async function pausedJobs(j) {
  cleanupThread();
  // let the ended host threads go and the earlier sections' garbage settle, then the baseline:
  // the process idling without jobs
  await sleep(1000);
  const base = await idleCpu(BASE_MS);
  const limit = jobLimits().jsJobs;
  const before = snapshot();
  const tasksBefore = new Set(listTasks());
  const jobs = [];
  let startFailure = null;
  let want = j;
  if (limit < want) {
    startFailure = `jobLimits().jsJobs is ${limit}: starting ${limit} jobs, not ${j}`;
    want = limit;
  }
  try {
    for (let i = 0; i < want; i++) {
      const r = startJob(null, null, pauser);
      if (r.status !== ASYNC_PAUSE) {
        startFailure = describeStartFailure(r, i);
        break;
      }
      jobs.push(r.job);
    }
    const started = jobs.length;
    if (started === 0) fail(`no paused job could be started: ${startFailure}`);
    const after = snapshot();
    const mem = {
      jobs: started,
      rssKiBPerJob: (after.rssKiB - before.rssKiB) / started,
      mapsPerJob: (after.maps - before.maps) / started,
      threadsPerJob: (after.threads - before.threads) / started,
      before,
      after,
      startFailure,
    };

    // 6: the event loop idles with the paused jobs
    const th0 = threadStats(true);
    const idle = await idleCpu(IDLE_MS);
    const th1 = threadStats();
    let hostNs = 0;
    let otherNs = 0;
    let mainNs = 0;
    let hostThreads = 0;
    let hostThreadsRan = 0;
    let hostRuns = 0;
    for (const [tid, s1] of th1) {
      const s0 = th0.get(tid);
      if (!s0) continue;
      const dt = s1.cpuNs - s0.cpuNs;
      const ds = s1.runs - s0.runs;
      if (tasksBefore.has(tid)) {
        otherNs += dt;
        if (tid === String(process.pid)) mainNs += dt;
      } else {
        hostThreads++;
        hostNs += dt;
        hostRuns += ds;
        if (ds > 0 || dt > 0) hostThreadsRan++;
      }
    }
    const baseScaled = (base.cpuMs * idle.wallMs) / base.wallMs;
    const idleRes = {
      jobs: started,
      seconds: idle.wallMs / 1000,
      cpuMs: idle.cpuMs,
      cpuMsPerS: idle.cpuMs / (idle.wallMs / 1000),
      gcs: idle.gcs,
      gcMs: idle.gcMs,
      baselineGcs: base.gcs,
      baselineGcMs: base.gcMs,
      baselineCpuMs: base.cpuMs,
      baselineSeconds: base.wallMs / 1000,
      baselineScaledCpuMs: baseScaled,
      excessCpuMsPerS: (idle.cpuMs - baseScaled) / (idle.wallMs / 1000),
      perThread: LINUX
        ? {
            hostThreads,
            hostThreadsThatRan: hostThreadsRan,
            hostThreadRuns: hostRuns,
            hostThreadCpuMs: hostNs / 1e6,
            otherThreadsCpuMs: otherNs / 1e6,
            jsThreadCpuMs: mainNs / 1e6,
          }
        : null,
    };
    return { mem, idle: idleRes };
  } finally {
    cancelAll(jobs);
    cleanupThread();
  }
}

// ---------------------------------------------------------------- main

async function main() {
  const started = Date.now();
  const cpus = os.cpus();
  const load = os.loadavg();
  console.log(`asyncjob cost benchmark — ${new Date().toISOString()}`);
  console.log(
    `Node ${process.version} (V8 ${process.versions.v8}), ${process.platform} ${process.arch}, ` +
      `${cpus.length} CPU${cpus.length === 1 ? '' : 's'} (${cpus[0]?.model?.trim() ?? 'unknown'})`,
  );
  console.log(`load average at start: ${load.map((l) => l.toFixed(2)).join(' ')} (1, 5, 15 min)`);
  console.log(
    `sizes: N=${N} jobs x M=${M} waits (${ROUNDS} rounds per kind), round trip ${RT_ROUNDS} rounds of ~${RT_MS} ms, ` +
      `K=${K} cold starts, J=${JOBS} paused jobs idling ${IDLE_MS / 1000} s (baseline ${BASE_MS / 1000} s)`,
  );
  console.log(
    'CPU times are process.cpuUsage() (user+system) over a phase: every thread of the process, host threads included.',
  );
  results.meta = { date: new Date().toISOString(), node: process.version, v8: process.versions.v8, platform: process.platform, arch: process.arch, cpus: cpus.length, cpuModel: cpus[0]?.model?.trim(), loadavg: load, sizes: { N, M, ROUNDS, RT_ROUNDS, RT_MS, K, JOBS, IDLE_MS, BASE_MS } };

  // 1
  const timer = await serverScenario('timer');
  results.serverTimer = timer;
  printServer(
    `1. Server scenario, timer wakes: ${N} concurrent jobs x ${M} waits for a ${TIMER_MS} ms timer ` +
      `(runJob + jobAwait vs an async function's await); CPU per wait = process CPU / ${N * M}; ` +
      `latency from the timer callback to the code after the wait; medians of ${ROUNDS} alternating rounds`,
    timer,
    'async/await',
  );
  judge('CPU per wait, timer wakes, asyncjob / async/await', `<= ${T.cpuRatio}x`, `${fmtNum(timer.cpuRatio, 1)}x (${fmtNs(timer.job.cpuPerWaitNs)} / ${fmtNs(timer.async.cpuPerWaitNs)})`, timer.cpuRatio <= T.cpuRatio);

  // 2
  const fd = await serverScenario('fd');
  results.serverFd = fd;
  printServer(
    `2. Server scenario, fd wakes: ${N} concurrent jobs x ${M} waits on a pipe() read end, a ${TIMER_MS} ms timer ` +
      'writing one byte (runJob with the read end as WaitCtx fd, then fs.readSync, vs an async function ' +
      "awaiting a net.Socket's 'data'); latency from the write to the code after the read",
    fd,
    "async/await (net.Socket 'data')",
  );
  judge('CPU per wait, fd wakes, asyncjob / async/await', `<= ${T.cpuRatio}x`, `${fmtNum(fd.cpuRatio, 1)}x (${fmtNs(fd.job.cpuPerWaitNs)} / ${fmtNs(fd.async.cpuPerWaitNs)})`, fd.cpuRatio <= T.cpuRatio);

  // 3
  const rt = await roundTrip();
  results.roundTrip = rt;
  console.log(
    `\n3. Round trip: one job, startJob(job) + pauseJob() in a loop (${rt.iterations} per measurement, cut at ${MEASURE_CAP_NS / 1e9} s), ` +
      `median of ${RT_ROUNDS} rounds; idle cores, then one core kept busy by another process (node -e "for(;;){}")`,
  );
  table(
    ['', 'median', 'min', 'max', 'target'],
    [
      ['JS job pause+resume, idle cores', fmtNs(rt.idle.median), fmtNs(rt.idle.min), fmtNs(rt.idle.max), `<= ${fmtNs(T.rtIdleNs)}`],
      ['JS job pause+resume, one core busy', fmtNs(rt.busy.median), fmtNs(rt.busy.min), fmtNs(rt.busy.max), `<= ${fmtNs(T.rtBusyNs)}`],
      ['await Promise.resolve() (reference)', fmtNs(rt.await.median), fmtNs(rt.await.min), fmtNs(rt.await.max), '—'],
    ],
  );
  console.log(
    `(1-min load average before the idle rounds: ${rt.loadBefore.toFixed(2)}; the busy process used ` +
      `${rt.spinner && Number.isFinite(rt.spinner.cpuMs) ? `${fmtNum(rt.spinner.cpuMs, 0)} ms CPU over the ${fmtNum(rt.spinner.ms, 0)} ms of the busy rounds` : 'n/a'})`,
  );
  for (const [what, r] of [['idle', rt.idle], ['busy', rt.busy]]) {
    if (r.rounds < RT_ROUNDS) console.log(`(${what}: ${r.rounds} of ${RT_ROUNDS} rounds: stopped at the time budget)`);
  }
  judge('pause+resume median, idle cores', `<= ${fmtNs(T.rtIdleNs)}`, fmtNs(rt.idle.median), rt.idle.median <= T.rtIdleNs);
  judge('pause+resume median, one core busy', `<= ${fmtNs(T.rtBusyNs)}`, fmtNs(rt.busy.median), rt.busy.median <= T.rtBusyNs);

  // 4
  const cold = await coldStarts(K);
  const spaced = await coldStarts(SPACED_K, 5);
  const pooled = await pooledStarts();
  results.starts = { cold, spaced, pooled };
  console.log(
    `\n4. Starts: cold = startJob(null, …) of a job that pauses, with no idle host thread in the pool ` +
      `(after cleanupThread(); ${K} in a row, each timed); spaced cold = the same, ${SPACED_K} starts ` +
      `5 ms apart (the event loop idling in between); pooled = startJob(null, null, x => x, 1) ` +
      `with an idle pooled host thread (${pooled.iterations} per measurement, median of ${RT_ROUNDS} rounds)`,
  );
  table(
    ['', 'median', 'p99', 'max', 'target'],
    [
      ['cold start (new host thread), per start', fmtNs(cold.median), fmtNs(cold.p99), fmtNs(cold.max), `<= ${fmtNs(T.coldNs)}`],
      ['cold start, spaced 5 ms apart', fmtNs(spaced.median), fmtNs(spaced.p99), fmtNs(spaced.max), `<= ${fmtNs(T.coldNs)}`],
      ['pooled start->finish', fmtNs(pooled.median), '—', fmtNs(pooled.max), `<= ${fmtNs(T.pooledNs)}`],
    ],
  );
  judge('cold start median (new host thread)', `<= ${fmtNs(T.coldNs)}`, `${fmtNs(cold.median)} (p99 ${fmtNs(cold.p99)})`, cold.median <= T.coldNs);
  judge('cold start median, spaced 5 ms apart', `<= ${fmtNs(T.coldNs)}`, `${fmtNs(spaced.median)} (p99 ${fmtNs(spaced.p99)})`, spaced.median <= T.coldNs);
  judge('pooled start->finish median', `<= ${fmtNs(T.pooledNs)}`, fmtNs(pooled.median), pooled.median <= T.pooledNs);

  // 5 and 6
  const paused = await pausedJobs(JOBS);
  results.pausedJobs = paused;
  const { mem, idle } = paused;
  console.log(
    `\n5. Memory per paused JS job: ${mem.jobs} jobs paused in a loop, after cleanupThread(); ` +
      'deltas of VmRSS, /proc/self/maps lines and /proc/self/task entries, divided by the jobs',
  );
  if (mem.startFailure) console.log(`note: ${mem.startFailure}`);
  table(
    ['', 'before', 'after', 'per job', 'target'],
    [
      ['RSS (VmRSS)', `${fmtNum(mem.before.rssKiB, 0)} KiB`, `${fmtNum(mem.after.rssKiB, 0)} KiB`, `${fmtNum(mem.rssKiBPerJob, 1)} KiB`, `<= ${T.rssPerJobKiB} KiB`],
      ['memory maps', fmtNum(mem.before.maps, 0), fmtNum(mem.after.maps, 0), fmtNum(mem.mapsPerJob, 2), `<= ${T.mapsPerJob}`],
      ['threads', fmtNum(mem.before.threads, 0), fmtNum(mem.after.threads, 0), fmtNum(mem.threadsPerJob, 2), '1 (expected)'],
    ],
  );
  judge('RSS per paused JS job', `<= ${T.rssPerJobKiB} KiB`, LINUX ? `${fmtNum(mem.rssKiBPerJob, 1)} KiB` : 'n/a', LINUX ? mem.rssKiBPerJob <= T.rssPerJobKiB : null);
  judge('memory maps per paused JS job', `<= ${T.mapsPerJob}`, fmtNum(mem.mapsPerJob, 2), LINUX ? mem.mapsPerJob <= T.mapsPerJob : null);
  judge('threads per paused JS job', '1 (expected)', fmtNum(mem.threadsPerJob, 2), null);

  console.log(
    `\n6. Idle paused jobs: process CPU (process.cpuUsage()) while the event loop idles ` +
      `${fmtNum(idle.seconds, 1)} s with ${idle.jobs} paused jobs, against a baseline of ` +
      `${fmtNum(idle.baselineSeconds, 1)} s without jobs scaled to the same time`,
  );
  table(
    ['', 'CPU', 'CPU per s'],
    [
      [`with ${idle.jobs} paused jobs`, `${fmtNum(idle.cpuMs, 1)} ms`, `${fmtNum(idle.cpuMsPerS, 2)} ms`],
      ['baseline without jobs (scaled)', `${fmtNum(idle.baselineScaledCpuMs, 1)} ms`, `${fmtNum(idle.baselineScaledCpuMs / idle.seconds, 2)} ms`],
      ['excess of the paused jobs', `${fmtNum(idle.cpuMs - idle.baselineScaledCpuMs, 1)} ms`, `${fmtNum(idle.excessCpuMsPerS, 2)} ms`],
    ],
  );
  console.log(
    `garbage collections: ${idle.gcs} (${fmtNum(idle.gcMs, 1)} ms) while idling with the jobs, ` +
      `${idle.baselineGcs} (${fmtNum(idle.baselineGcMs, 1)} ms) in the baseline`,
  );
  if (idle.perThread) {
    const p = idle.perThread;
    console.log(
      `per thread (${threadStatsSource()}): the ${p.hostThreads} host threads used ${fmtNum(p.hostThreadCpuMs, 3)} ms CPU ` +
        `and were scheduled ${p.hostThreadRuns} times (${p.hostThreadsThatRan} of them ran at all); ` +
        `the process's other threads used ${fmtNum(p.otherThreadsCpuMs, 1)} ms ` +
        `(the JS thread ${fmtNum(p.jsThreadCpuMs, 1)} ms, libuv and V8 threads ${fmtNum(p.otherThreadsCpuMs - p.jsThreadCpuMs, 1)} ms)`,
    );
  } else {
    console.log('per-thread CPU: n/a (not Linux)');
  }
  judge('CPU of idle paused jobs, per s (excess over baseline)', `<= ${T.idleCpuMsPerS} ms/s`, `${fmtNum(idle.excessCpuMsPerS, 2)} ms/s (${fmtNum(idle.cpuMsPerS, 2)} ms/s in all)`, idle.excessCpuMsPerS <= T.idleCpuMsPerS);
  if (idle.perThread) {
    const p = idle.perThread;
    const perS = p.hostThreadCpuMs / idle.seconds;
    judge('CPU of the idle paused jobs\' host threads, per s', `<= ${T.idleCpuMsPerS} ms/s`, `${fmtNum(perS, 3)} ms/s (${p.hostThreadRuns} runs)`, perS <= T.idleCpuMsPerS);
  }

  // summary
  console.log('\nSummary (issue 11 targets)');
  table(['figure', 'target', 'measured', ''], summary);
  const missed = summary.filter((r) => r[3] === 'NOT met').length;
  console.log(missed ? `\n${missed} target${missed === 1 ? '' : 's'} NOT met.` : '\nEvery target met.');
  const secs = (Date.now() - started) / 1000;
  console.log(`(run took ${secs.toFixed(1)} s)`);
  results.summary = summary.map(([figure, target, measured, status]) => ({ figure, target, measured, status }));
  results.runSeconds = secs;
  if (JSON_OUT) console.log(JSON.stringify(results));
}

// a job that is never resumed would keep the run waiting for ever (its pending runJob keeps the
// loop alive): fail instead
const watchdog = setTimeout(() => {
  killSpinner();
  console.error(`bench:cost: the run did not end within ${TIMEOUT_S} s (a job not resumed?): the measurement failed`);
  process.exit(1);
}, TIMEOUT_S * 1000);
watchdog.unref();

try {
  await main();
} catch (e) {
  killSpinner();
  console.error(e instanceof BenchFailure ? e.message : e);
  console.error('bench:cost: the measurement failed');
  process.exitCode = 1;
}

// Runs a chunk of seeds in this process (cli.mjs starts one child process per chunk, so that a
// crash or a hang costs one chunk and names its seed). Prints one JSON line per event:
//   { type: 'begin', seed }            before each seed (the seed a crash happened in)
//   { type: 'result', seed, status, … } after it: status 'pass', 'known', 'new' or 'polluted'
// Usage: node fuzz/chunk.mjs --mode normal|gc|worker --start S --count N --steps K
//        [--mutant NAME] [--path P] [--shrink]
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';

import { program } from './actions.mjs';
import { Run } from './interpreter.mjs';
import { knownDefectForTags } from './known-defects.mjs';
import { MUTANTS } from './mutants.mjs';

const require = createRequire(import.meta.url);
const main = require('asyncjob');
const ossl = require('asyncjob/openssl');
const client = require('../test/native-client/index.js');

export function parseArgs(argv) {
  const opts = { mode: 'normal', start: 0, count: 1, steps: 80, mutant: null, path: undefined, shrink: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = () => argv[++i];
    if (flag === '--mode') opts.mode = next();
    else if (flag === '--start') opts.start = Number(next());
    else if (flag === '--count') opts.count = Number(next());
    else if (flag === '--steps') opts.steps = Number(next());
    else if (flag === '--mutant') opts.mutant = next();
    else if (flag === '--path') opts.path = next();
    else if (flag === '--shrink') opts.shrink = true;
    else throw new Error(`chunk.mjs: unknown option ${flag}`);
  }
  return opts;
}

function makeEnv(opts) {
  const als = new AsyncLocalStorage();
  let api = { main, ossl };
  if (opts.mutant !== null) {
    if (!(opts.mutant in MUTANTS)) throw new Error(`unknown mutant ${opts.mutant}`);
    api = MUTANTS[opts.mutant](api, als);
  }
  return { api, client, als, gc: globalThis.gc, settleTimeout: opts.mode === 'gc' ? 10000 : 3000 };
}

class Failure extends Error {
  constructor(info) {
    super(info.what);
    this.info = info;
  }
}

/**
 * Runs the program of one seed (fast-check generates it from the seed; `path` replays a shrunk
 * one). Returns the result line.
 */
export async function runSeed(seed, opts, env = makeEnv(opts)) {
  let first = null; // the result of the program the seed generated (run 0)
  let polluted = false;
  const property = fc.asyncProperty(program(opts.mode, opts.steps), async (actions) => {
    const result = await new Run(actions, env).go();
    polluted ||= result.polluted;
    const known = result.mismatch === null ? undefined : knownDefectForTags(result.mismatch.tags);
    first ??= { ...result, known, length: actions.length };
    // Known defects pass: they are reported, not shrunk (and do not hide other seeds).
    if (result.mismatch !== null && known === undefined) throw new Failure(result.mismatch);
    return true;
  });
  const details = await fc.check(property, {
    seed,
    numRuns: 1,
    path: opts.path,
    endOnFailure: !opts.shrink,
    interruptAfterTimeLimit: opts.shrink ? 60000 : undefined,
    markInterruptAsFailure: false,
  });
  const base = { type: 'result', seed, mode: opts.mode, mutant: opts.mutant, steps: opts.steps, polluted };
  if (details.failed) {
    const info = details.errorInstance instanceof Failure ? details.errorInstance.info : { what: 'fuzzer error', expected: '', actual: String(details.errorInstance?.stack ?? details.error), tags: [] };
    return {
      ...base,
      status: 'new',
      mismatch: { ...info, action: info.action },
      original: first?.mismatch ?? null,
      path: details.counterexamplePath,
      shrinks: details.numShrinks,
      program: details.counterexample?.[0],
    };
  }
  const known = [...(first?.knownHits ?? [])];
  if (first?.mismatch && first.known) known.push({ defect: first.known.id, ...first.mismatch });
  if (known.length > 0) return { ...base, status: 'known', defect: known[0].defect, known, length: first.length };
  return { ...base, status: polluted ? 'polluted' : 'pass' };
}

// ---- worker mode: a worker runs programs until the parent terminates it at a random moment ----

async function workerMain() {
  const opts = workerData;
  const env = { ...makeEnv(opts), slowCleanups: true };
  parentPort.postMessage({ type: 'ready' });
  for (let k = 0; ; k++) {
    const seed = opts.seed + k * 1_000_003;
    const result = await runSeed(seed, { ...opts, mode: 'normal' }, env);
    parentPort.postMessage(result.status === 'pass' ? { type: 'progress' } : result);
    if (result.polluted) return;
  }
}

/** One seed of worker mode: returns its result line. */
async function runWorkerSeed(seed, opts) {
  // Terminated a random delay after the worker is ready to run programs.
  const [delay] = fc.sample(fc.nat(300), { seed, numRuns: 1 });
  // The pipes' fds are opened by the addon and closed with fs.closeSync: not Node's to track.
  const worker = new Worker(new URL(import.meta.url), { workerData: { ...opts, seed, mutant: opts.mutant }, trackUnmanagedFds: false });
  let onReady;
  const ready = new Promise((resolve) => { onReady = resolve; });
  const problems = [];
  let terminating = false;
  let exitError = null;
  let programs = 0;
  worker.on('message', (m) => {
    if (m.type === 'ready') return onReady();
    programs++;
    if (m.type === 'progress' || m.status === 'polluted') return;
    problems.push(terminating ? { ...m, status: 'known', defect: 3, note: 'result after terminate() was called', mismatch: { ...m.mismatch, tags: [...(m.mismatch?.tags ?? []), 'after-terminate'] } } : m);
  });
  worker.on('error', (e) => { exitError = e; onReady(); });
  worker.on('exit', () => onReady());
  await ready;
  await new Promise((resolve) => setTimeout(resolve, delay));
  terminating = true;
  let timer;
  const settled = await Promise.race([
    worker.terminate().then(() => true),
    new Promise((resolve) => { timer = setTimeout(() => resolve(false), 5000); }),
  ]);
  clearTimeout(timer);
  const base = { type: 'result', seed, mode: 'worker', mutant: opts.mutant, steps: opts.steps, delay, programs };
  if (!settled) {
    const known = knownDefectForTags(['terminate-timeout']);
    const mismatch = { what: 'worker.terminate() settles', expected: 'within 5000 ms', actual: 'still pending', tags: ['terminate-timeout'] };
    return { ...base, status: known ? 'known' : 'new', defect: known?.id, mismatch, fatal: true };
  }
  if (exitError !== null) {
    return { ...base, status: 'new', mismatch: { what: 'the worker', expected: 'no uncaught error', actual: String(exitError?.stack ?? exitError), tags: [] } };
  }
  // The process keeps working: a job pauses and finishes on this thread.
  let r = main.startJob(null, null, () => { main.pauseJob(); return 'alive'; });
  r = main.startJob(r.job, null, null);
  if (r.ret !== 'alive') {
    return { ...base, status: 'new', mismatch: { what: 'a job on the main thread after terminate()', expected: "ret 'alive'", actual: JSON.stringify(r), tags: [] } };
  }
  const problem = problems.find((p) => p.status === 'new') ?? problems[0];
  // A finding inside the worker names the program's own seed, which replays in normal mode too.
  return problem === undefined ? { ...base, status: 'pass' } : { ...base, ...problem, type: 'result', seed, mode: 'worker', delay, programSeed: problem.seed };
}

async function chunkMain() {
  const opts = parseArgs(process.argv.slice(2));
  const env = opts.mode === 'worker' ? null : makeEnv(opts);
  for (let seed = opts.start; seed < opts.start + opts.count; seed++) {
    console.log(JSON.stringify({ type: 'begin', seed }));
    const result = opts.mode === 'worker' ? await runWorkerSeed(seed, opts) : await runSeed(seed, opts, env);
    console.log(JSON.stringify(result, replacer));
    if (result.polluted || result.fatal) break; // this process's state is not trustworthy any more
  }
  process.exit(0);
}

/** JSON for reports: symbols, -0, NaN, undefined and bigints survive as text. */
export function replacer(key, v) {
  if (typeof v === 'symbol') return v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (Object.is(v, -0)) return '-0';
  if (v === undefined) return 'undefined';
  if (typeof v === 'bigint') return `${v}n`;
  return v;
}

if (!isMainThread) await workerMain();
else if (process.argv[1] === new URL(import.meta.url).pathname) await chunkMain();


import { expect } from 'chai';
import { execFileSync, spawn } from 'node:child_process';
import * as vm from 'node:vm';
import { budget } from './time-scale';

// ARCHITECTURE.md: a paused JS job's frames must stay GC roots and be updated when the GC moves
// what they point to; optimized frames on a paused job's stack must lazily deoptimize. Each
// case runs in a child process (a crash cannot hide) under V8's GC stress flags; the parent
// checks the exit, the absence of a signal and the exact checksums.

const packagePath = require.resolve('asyncjob');
const JOBS = 40;

// Per run: rounds of work per job, objects the main thread allocates after every resume
// (churn), garbage each job allocates before every pause, a main-thread gc() every gcEvery
// resumes. This V8's --stress-scavenge=10 forces a full GC every few tens of KB allocated, so
// that run does less work to stay within the time budget.
interface ChildConfig {
  jobs: number;
  rounds: number;
  churn: number;
  garbage: number;
  gcEvery: number;
  deopt: boolean;
}
const COMPACTION: ChildConfig = { jobs: JOBS, rounds: 10, churn: 1000, garbage: 200, gcEvery: 6, deopt: true };
const SCAVENGE: ChildConfig = { jobs: JOBS, rounds: 5, churn: 200, garbage: 50, gcEvery: 6, deopt: true };

// What each job runs: builds data of many kinds, pauses, validates all of it after every
// resume (deep checks against values recomputed from scratch), and returns a checksum. The
// parent runs the same source without jobs, pauses or GC stress for the expected checksums.
// Plain JavaScript (no template literals), evaluated both here and in the child.
const WORK_SRC = String.raw`function work(id, rounds, pause, gcHook, garbagePerPause) {
  'use strict';
  const mix = (a, b, c) => {
    let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35) ^ Math.imul(c + 0x27d4eb2f, 0x165667b1);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    return h >>> 0;
  };
  const fnv = (h, s) => {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
    return h;
  };
  const fnvNum = (h, n) => Math.imul(h ^ (n >>> 0), 16777619) >>> 0;
  let round = 0;
  let validations = 0;
  const fail = (what) => { throw new Error('job ' + id + ' round ' + round + ': ' + what); };
  const check = (ok, what) => { if (!ok) fail(what); };
  const PER_ROUND = 6;
  const LIST_STRINGS = ['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9'];

  const symbolKey = Symbol('job-' + id);
  const bigBase = 'abcdefghij'.repeat(5000 + id); // 50K+ chars: slices point into it
  const huge = 'H'.repeat(400000) + '<' + id + '>'; // large-object space
  const objects = [];
  const closures = [];
  const strings = [];
  const small = [];
  const floats = [];
  const keys = [];
  const consParts = [];
  let cons = '';
  const map = new Map();
  const set = new Set();
  const weak = new WeakMap();

  function makeObject(r, k) {
    const o = {
      id: id, r: r, k: k,
      name: 'obj-' + id + '-' + r + '-' + k,
      dbl: (r * 31 + k) / 8,
      list: [],
      nested: { depth: 1, inner: { v: mix(id, r, k) } },
    };
    for (let j = 0; j < 10; j++) o.list.push(j % 2 ? j * k : 'e' + j);
    o.self = o;
    if (k % 3 === 0) { o.extra = k; delete o.extra; o['dyn' + k] = r; } // dictionary mode
    if (k % 4 === 1) o.holey = [1, , 3, , 5.5];
    o[symbolKey] = r * 100 + k;
    return o;
  }
  function checkObject(o, r, k) {
    check(o.id === id && o.r === r && o.k === k, 'object ids');
    check(o.name === 'obj-' + id + '-' + r + '-' + k, 'object name');
    check(o.dbl === (r * 31 + k) / 8, 'object double');
    check(o.self === o, 'object self');
    check(o.nested.depth === 1 && o.nested.inner.v === mix(id, r, k), 'nested');
    check(o.list.length === 10, 'list length');
    for (let j = 0; j < 10; j++) check(o.list[j] === (j % 2 ? j * k : LIST_STRINGS[j]), 'list item');
    if (k % 3 === 0) check(o['dyn' + k] === r && !('extra' in o), 'dictionary props');
    if (k % 4 === 1) check(o.holey.length === 5 && !(1 in o.holey) && o.holey[4] === 5.5, 'holey array');
    check(o[symbolKey] === r * 100 + k, 'symbol key');
  }
  function makeClosure(r, k) {
    let calls = 0;
    const captured = { tag: 'c' + mix(r, k, id), arr: [r, k] };
    return {
      r: r, k: k, expectedCalls: 0,
      fn: function (x) { calls++; return x * (captured.arr[0] + 1) + captured.arr[1] + captured.tag.length; },
      calls: () => calls,
    };
  }
  function largeString(r) {
    // a cons of a repeat, a number and a slice of bigBase
    return 'X'.repeat(20000 + mix(id, r, 0) % 1000) + '|' + r + '|' + bigBase.slice(r * 7, r * 7 + 3000);
  }
  // its length and hash recomputed without building it again (no allocation)
  function largeLength(r) {
    return 20000 + mix(id, r, 0) % 1000 + 2 + String(r).length + 3000;
  }
  function largeHash(r) {
    let h = 2166136261;
    for (let j = 20000 + mix(id, r, 0) % 1000; j > 0; j--) h = Math.imul(h ^ 88, 16777619) >>> 0;
    h = fnv(h, '|' + r + '|');
    for (let j = r * 7; j < r * 7 + 3000; j++) h = Math.imul(h ^ (97 + j % 10), 16777619) >>> 0;
    return h;
  }
  function twoByte(r) {
    let s = '';
    for (let j = 0; j < 40; j++) s += String.fromCharCode(0x4e00 + (mix(id, r, j) % 500));
    return s + '\u{1F422}' + r;
  }
  function addRound(r) {
    for (let k = 0; k < PER_ROUND; k++) {
      objects.push(makeObject(r, k));
      closures.push(makeClosure(r, k));
    }
    strings.push({ r: r, short: 'str-' + id + '-' + r, large: largeString(r), wide: twoByte(r) });
    const u8 = new Uint8Array(16); // small: on-heap backing store
    for (let j = 0; j < 16; j++) u8[j] = (j * 7 + r + id) & 255;
    small.push(u8);
    const f64 = new Float64Array(512);
    for (let j = 0; j < 512; j++) f64[j] = Math.sqrt(j + r) * (id + 1);
    floats.push(f64);
    const part = '[' + id + ':' + r + ':' + (mix(id, r, 7) % 1000) + ']';
    consParts.push(part);
    cons += part;
    const key = { keyRound: r };
    keys.push(key);
    map.set(key, { r: r, arr: [r, r + 1] });
    map.set('key-' + id + '-' + r, r * r);
    set.add(key);
    set.add('set-' + r);
    weak.set(key, r + 0.5);
  }
  function validate(upTo) {
    check(huge.length === 400002 + String(id).length, 'huge length');
    for (let j = 0; j < 64; j++) check(huge.charCodeAt(j * 6247) === 72, 'huge sample');
    check(huge.endsWith('<' + id + '>'), 'huge end');
    check(bigBase.length === 10 * (5000 + id), 'bigBase length');
    check(objects.length === (upTo + 1) * PER_ROUND, 'objects count');
    for (let i = 0; i < objects.length; i++) checkObject(objects[i], Math.floor(i / PER_ROUND), i % PER_ROUND);
    for (const c of closures) {
      check(c.fn(2) === 2 * (c.r + 1) + c.k + ('c' + mix(c.r, c.k, id)).length, 'closure result');
      c.expectedCalls++;
      check(c.calls() === c.expectedCalls, 'closure state');
    }
    for (const s of strings) {
      check(s.short === 'str-' + id + '-' + s.r, 'short string');
      check(s.large.length === largeLength(s.r) && fnv(2166136261, s.large) === largeHash(s.r), 'large string');
      check(s.wide.length === 40 + 2 + String(s.r).length, 'two-byte string length');
      for (let j = 0; j < 40; j++) check(s.wide.charCodeAt(j) === 0x4e00 + (mix(id, s.r, j) % 500), 'two-byte string');
      check(s.wide.codePointAt(40) === 0x1F422 && Number(s.wide.slice(42)) === s.r, 'two-byte string tail');
    }
    small.forEach((u8, r) => {
      for (let j = 0; j < 16; j++) check(u8[j] === ((j * 7 + r + id) & 255), 'small typed array');
    });
    floats.forEach((f64, r) => {
      for (let j = 0; j < 512; j++) check(f64[j] === Math.sqrt(j + r) * (id + 1), 'float array');
    });
    check(cons === consParts.join(''), 'cons string');
    let expectedCons = '';
    for (let r = 0; r <= upTo; r++) expectedCons += '[' + id + ':' + r + ':' + (mix(id, r, 7) % 1000) + ']';
    check(cons === expectedCons, 'cons string content');
    check(map.size === 2 * (upTo + 1) && set.size === 2 * (upTo + 1), 'map/set size');
    keys.forEach((key, r) => {
      const v = map.get(key);
      check(v !== undefined && v.r === r && v.arr[1] === r + 1 && key.keyRound === r, 'map object key');
      check(map.get('key-' + id + '-' + r) === r * r, 'map string key');
      check(set.has(key) && set.has('set-' + r), 'set');
      check(weak.get(key) === r + 0.5, 'weak map');
    });
    let r = 0;
    for (const [key, value] of map) { // insertion order
      if (r % 2 === 0) check(key === keys[r / 2] && value.r === r / 2, 'map order');
      else check(key === 'key-' + id + '-' + (r - 1) / 2, 'map order (string)');
      r++;
    }
    validations++;
  }
  function checksum() {
    let h = 2166136261;
    for (const o of objects) h = fnvNum(fnv(h, o.name), o.nested.inner.v + o[symbolKey]);
    for (const c of closures) h = fnvNum(h, c.fn(3) + c.calls());
    for (const s of strings) h = fnv(fnv(fnv(h, s.short), s.large), s.wide);
    for (const u8 of small) for (const b of u8) h = fnvNum(h, b);
    for (const f64 of floats) { let sum = 0; for (const x of f64) sum += x; h = fnvNum(h, Math.round(sum * 1000)); }
    h = fnv(h, cons);
    h = fnv(h, huge);
    for (const [key, value] of map) h = typeof key === 'string' ? fnvNum(fnv(h, key), value) : fnvNum(h, value.arr[0] * 7 + value.arr[1]);
    return h;
  }

  for (round = 0; round < rounds; round++) {
    addRound(round);
    const pauses = 1 + ((id + round) % 2);
    for (let p = 0; p < pauses; p++) {
      const garbage = [];
      for (let j = 0; j < garbagePerPause; j++) garbage.push({ j: j, s: 'g' + j + '-' + round });
      if (mix(id, round, p) % 12 === 0) gcHook();
      pause();
      check(garbage.length === garbagePerPause && garbage[garbagePerPause - 1].s === 'g' + (garbagePerPause - 1) + '-' + round, 'garbage kept across the pause');
      validate(round);
    }
  }
  return { checksum: checksum(), validations: validations };
}`;

// The child: JOBS jobs paused at once, resumed in a shuffled order while the main thread churns
// the heap and calls gc(); then the lazy-deoptimisation cases. Prints one JSON line.
const CHILD_SRC = String.raw`
const { startJob, pauseJob, ASYNC_PAUSE, ASYNC_FINISH } = require(process.argv[1]);
const cfg = JSON.parse(process.argv[2]);
const work = (${WORK_SRC});
const started = Date.now();
let mainGcs = 0;
let jobGcs = 0;
const gcInJob = () => { jobGcs++; globalThis.gc(); };

// Main-thread churn: short-lived garbage plus a ring of retained objects (old-space pressure and
// fragmentation, so that compaction moves things).
const ring = new Array(64);
let churns = 0;
function churn() {
  const n = churns++;
  const junk = [];
  for (let i = 0; i < cfg.churn; i++) junk.push({ i: i, s: 'junk-' + i + '-' + n, a: [i, n] });
  ring[n % 64] = { junk: junk.filter((_, i) => i % 16 === 0), text: 'R'.repeat(1000 + (n % 300)) + n, typed: new Float64Array(128 + (n % 64)) };
}

const jobs = new Map();
const results = {};
for (let id = 0; id < cfg.jobs; id++) {
  const r = startJob(null, null, work, id, cfg.rounds, pauseJob, gcInJob, cfg.garbage);
  if (r.status !== ASYNC_PAUSE) throw new Error('job ' + id + ' did not pause: ' + r.status);
  jobs.set(id, r.job);
  churn();
}
const maxPaused = jobs.size;
let seed = 12345;
const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed; };
let resumes = 0;
while (jobs.size > 0) {
  const order = [...jobs.keys()];
  for (let i = order.length - 1; i > 0; i--) { const j = rand() % (i + 1); [order[i], order[j]] = [order[j], order[i]]; }
  for (const id of order) {
    const r = startJob(jobs.get(id), null, null);
    resumes++;
    if (r.status === ASYNC_FINISH) { results[id] = r.ret; jobs.delete(id); }
    else if (r.status !== ASYNC_PAUSE) throw new Error('job ' + id + ': status ' + r.status);
    churn();
    if (resumes % cfg.gcEvery === 0) { globalThis.gc(); mainGcs++; }
  }
}

// Lazy deoptimisation: a function optimized inside the job is on the paused job's stack (it
// called maybePause); the main thread breaks what it inlined, then resumes the job.
const deopt = [];
if (cfg.deopt) {
  const OPTIMIZED = 1 << 4;
  const TOPMOST_FRAME_TURBOFANNED = 1 << 12;
  function maybePause(flag, record) {
    if (!flag) return;
    record.before = %GetOptimizationStatus(record.fn);
    pauseJob();
  }
  %NeverOptimizeFunction(maybePause);
  const scenarios = [
    ['prototype value', (s) => { s.proto.scale = 5; }, 160],
    ['prototype accessor', (s) => { Object.defineProperty(s.proto, 'scale', { get() { return 7; } }); }, 220],
    ['global function', (s) => { globalThis[s.helperName] = (v) => v * 100; }, 6000],
    ['receiver prototype', (s) => { Object.setPrototypeOf(s.p, { scale: 11 }); }, 340],
    ['field representation', (s) => { s.p.x = 1.5; }, 40],
    ['dictionary mode', (s) => { delete s.p.x; s.p.x = 4; }, 90],
    ['%DeoptimizeFunction', (s) => { %DeoptimizeFunction(s.fn); }, 70],
    ['nothing (control)', (s) => {}, 70],
  ];
  const paused = [];
  scenarios.forEach(([name, breakIt, after], i) => {
    const helperName = 'helper_' + i;
    globalThis[helperName] = (v) => v + 1;
    // a fresh function (own SharedFunctionInfo and feedback) per scenario
    const fn = (0, eval)('(function compute_' + i + '(p, n, flag, record) {' +
      ' let s = 0;' +
      ' for (let k = 0; k < n; k++) s += ' + helperName + '(p.x * p.scale);' +
      ' maybePause(flag, record);' +
      ' for (let k = 0; k < n; k++) s += ' + helperName + '(p.x * p.scale);' +
      ' return s; })');
    const record = { name: name, fn: fn, helperName: helperName, expected: 70 + after };
    const r = startJob(null, null, () => {
      class Point { constructor(x) { this.x = x; } }
      Point.prototype.scale = 2;
      const p = new Point(3);
      record.p = p;
      record.proto = Point.prototype;
      %PrepareFunctionForOptimization(fn);
      fn(p, 10, false, record);
      fn(p, 10, false, record);
      %OptimizeFunctionOnNextCall(fn);
      const warm = fn(p, 10, false, record);
      record.warm = %GetOptimizationStatus(fn);
      const got = fn(p, 10, true, record);
      return [warm, got];
    });
    if (r.status !== ASYNC_PAUSE) throw new Error(name + ': did not pause');
    paused.push([record, breakIt, r.job]);
  });
  churn();
  globalThis.gc(); mainGcs++;
  for (const [record, breakIt] of paused) {
    breakIt(record);
    record.whilePaused = %GetOptimizationStatus(record.fn);
  }
  churn();
  globalThis.gc(); mainGcs++;
  for (const [record, , job] of paused) {
    const r = startJob(job, null, null);
    if (r.status !== ASYNC_FINISH) throw new Error(record.name + ': status ' + r.status);
    deopt.push({
      name: record.name,
      warm: r.ret[0],
      got: r.ret[1],
      expected: record.expected,
      optimizedOnStackBeforePause: (record.before & OPTIMIZED) !== 0 && (record.before & TOPMOST_FRAME_TURBOFANNED) !== 0,
      deoptimizedWhilePaused: (record.whilePaused & OPTIMIZED) === 0,
    });
  }
}

console.log(JSON.stringify({ results, resumes, maxPaused, mainGcs, jobGcs, deopt, ms: Date.now() - started }));
`;

interface Summary {
  results: Record<string, JobResult>;
  resumes: number;
  maxPaused: number;
  mainGcs: number;
  jobGcs: number;
  deopt: Array<{
    name: string;
    warm: number;
    got: number;
    expected: number;
    optimizedOnStackBeforePause: boolean;
    deoptimizedWhilePaused: boolean;
  }>;
  ms: number;
}

interface JobResult {
  checksum: number;
  validations: number;
}

interface ChildRun {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function runChild(flags: string[], cfg: ChildConfig): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, '-e', CHILD_SRC, packagePath, JSON.stringify(cfg)]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), budget(90000));
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

type Work = (id: number, rounds: number, pause: () => void, gcHook: () => void, garbage: number) => JobResult;

// What every job must return: the same work run here without jobs, pauses or GC stress.
function expectedResults(work: Work, rounds: number): Record<string, JobResult> {
  const expected: Record<string, JobResult> = {};
  for (let id = 0; id < JOBS; id++) expected[id] = work(id, rounds, () => {}, () => {}, 1);
  return expected;
}

function hasV8Flag(flag: string): boolean {
  return execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' }).includes(flag);
}

describe('GC stress with JS jobs paused (child processes)', function () {
  this.timeout(budget(120000));
  const baseFlags = ['--expose-gc', '--allow-natives-syntax'];
  const runs: { compaction?: Promise<ChildRun>; scavenge?: Promise<ChildRun> } = {};
  const work = vm.runInThisContext(`(${WORK_SRC})`) as Work;
  let expected: { compaction: Record<string, JobResult>; scavenge: Record<string, JobResult> };

  before(() => {
    // both children run at once (two cores) while the expected values are computed here
    runs.compaction = runChild([...baseFlags, '--stress-compaction'], COMPACTION);
    if (hasV8Flag('--stress-scavenge')) runs.scavenge = runChild([...baseFlags, '--stress-scavenge=10'], SCAVENGE);
    expected = { compaction: expectedResults(work, COMPACTION.rounds), scavenge: expectedResults(work, SCAVENGE.rounds) };
  });

  after(async () => {
    await Promise.allSettled(Object.values(runs));
  });

  function checkRun(run: ChildRun, cfg: ChildConfig, expectedResults: Record<string, JobResult>): Summary {
    expect(run.signal, run.stderr).to.equal(null);
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stderr).to.equal('');
    const summary = JSON.parse(run.stdout.trim()) as Summary;
    expect(summary.maxPaused).to.equal(JOBS);
    expect(summary.results, 'checksums and validation counts').to.deep.equal(expectedResults);
    const pauses = Object.values(expectedResults).reduce((n, r) => n + r.validations, 0);
    expect(summary.resumes).to.equal(pauses);
    expect(summary.mainGcs).to.equal(Math.floor(pauses / cfg.gcEvery) + 2 * Number(cfg.deopt));
    expect(summary.jobGcs).to.be.greaterThan(5);
    return summary;
  }

  function checkDeopt(summary: Summary): void {
    expect(summary.deopt).to.have.lengthOf(8);
    for (const d of summary.deopt) {
      expect(d.warm, `${d.name}: before the pause`).to.equal(140);
      expect(d.got, `${d.name}: computed after the resume`).to.equal(d.expected);
      expect(d.optimizedOnStackBeforePause, `${d.name}: an optimized frame on the paused stack`).to.equal(true);
    }
    const byName = Object.fromEntries(summary.deopt.map((d) => [d.name, d]));
    for (const name of ['prototype value', 'prototype accessor', 'global function', '%DeoptimizeFunction']) {
      expect(byName[name].deoptimizedWhilePaused, `${name}: the main thread's change deoptimized it`).to.equal(true);
    }
    expect(byName['nothing (control)'].deoptimizedWhilePaused).to.equal(false);
  }

  it('the expected results are what the work computes (sanity)', () => {
    for (const [cfg, results] of [[COMPACTION, expected.compaction], [SCAVENGE, expected.scavenge]] as const) {
      expect(Object.keys(results)).to.have.lengthOf(JOBS);
      for (let id = 0; id < JOBS; id++) {
        let pauses = 0; // one validation after every pause
        for (let r = 0; r < cfg.rounds; r++) pauses += 1 + ((id + r) % 2);
        expect(results[id].validations).to.equal(pauses);
      }
      expect(new Set(Object.values(results).map((e) => e.checksum)).size, 'distinct per job').to.equal(JOBS);
    }
    // the garbage a job makes does not enter its checksum
    expect(work(3, 2, () => {}, () => {}, 7)).to.deep.equal(work(3, 2, () => {}, () => {}, 1));
  });

  it(`--stress-compaction: ${JOBS} jobs paused at once keep their data; lazy deoptimisation on a paused stack`, async () => {
    checkDeopt(checkRun(await runs.compaction!, COMPACTION, expected.compaction));
  });

  it('--stress-scavenge=10 (when this V8 has it): the same', async function () {
    if (runs.scavenge === undefined) this.skip();
    checkDeopt(checkRun(await runs.scavenge!, SCAVENGE, expected.scavenge));
  });
});

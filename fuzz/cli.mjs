// npm run fuzz -- [options]: the model-based fuzzer of asyncjob (see fuzz/README.md).
//
// Runs chunks of seeds in child processes (fuzz/chunk.mjs) with a watchdog, so that a crash or
// a hang costs one chunk and is narrowed to its seed; shrinks new mismatches with fast-check and
// prints a replay command for each finding.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

import { knownDefectForCrash, KNOWN_DEFECTS } from './known-defects.mjs';
import { MUTANTS } from './mutants.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const chunkScript = path.join(here, 'chunk.mjs');

const USAGE = `npm run fuzz -- [options]
  --seeds N          seeds to run per mode (default 100)
  --start S          first seed (default 0)
  --mode M           normal | gc | worker | all (default normal)
  --steps K          most actions per program (default 120; gc 60)
  --chunk C          seeds per child process (default 20)
  --jobs P           child processes at once (default 1)
  --time-limit T     stop starting chunks after T seconds
  --replay S[:PATH]  run seed S (and the shrunk case at PATH) once, and print it in full
  --mutant NAME      run against a deliberately broken API (see fuzz/mutants.mjs)
  --self-test        check that every mutant is flagged and the real API passes
  --ci               the bounded campaign of .ci/run (all modes, then --self-test)
Known open defects: ${KNOWN_DEFECTS.map((d) => d.id).filter((id, i, a) => a.indexOf(id) === i).join(', ')} (fuzz/known-defects.mjs)`;

function parse(argv) {
  const o = { seeds: 100, start: 0, mode: 'normal', steps: undefined, chunk: 20, jobs: 1, timeLimit: Infinity, replay: null, mutant: null, selfTest: false, ci: false, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    const next = () => argv[++i];
    if (f === '--seeds') o.seeds = Number(next());
    else if (f === '--start') o.start = Number(next());
    else if (f === '--mode') o.mode = next();
    else if (f === '--steps') o.steps = Number(next());
    else if (f === '--chunk') o.chunk = Number(next());
    else if (f === '--jobs') o.jobs = Number(next());
    else if (f === '--time-limit') o.timeLimit = Number(next());
    else if (f === '--replay') o.replay = next();
    else if (f === '--mutant') o.mutant = next();
    else if (f === '--self-test') o.selfTest = true;
    else if (f === '--ci') o.ci = true;
    else if (f === '--help' || f === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      console.error(`unknown option ${f}\n${USAGE}`);
      process.exit(2);
    }
  }
  if (!['normal', 'gc', 'worker', 'all'].includes(o.mode)) throw new Error(`--mode ${o.mode}?`);
  if (o.mutant !== null && !(o.mutant in MUTANTS)) throw new Error(`--mutant ${o.mutant}? one of ${Object.keys(MUTANTS).join(', ')}`);
  return o;
}

const GC_FLAGS = ['--stress-compaction', '--max-semi-space-size=1', '--expose-gc'];
// A seed that prints nothing for this long hangs.
const SEED_TIMEOUT = { normal: 30000, worker: 30000, gc: 180000 };

function stepsFor(mode, steps) {
  return steps ?? (mode === 'gc' ? 60 : 120);
}

/** The command that replays a finding. */
function replayCommand(r) {
  // A finding inside a worker names its program's seed, which replays in normal mode too.
  const seed = r.programSeed ?? r.seed;
  const mode = r.programSeed !== undefined ? 'normal' : r.mode;
  const parts = ['npm run fuzz --', `--mode ${mode}`, `--replay ${seed}${r.path ? `:${r.path}` : ''}`, `--steps ${r.steps}`];
  if (r.mutant) parts.push(`--mutant ${r.mutant}`);
  return parts.join(' ');
}

/**
 * Runs seeds [start, start+count) of `mode` in one child process. Resolves with the result
 * lines, and { crash } for the seed the child died or hung in.
 */
function runChild(mode, start, count, steps, { mutant = null, path: casePath, shrink = false } = {}) {
  const args = [...(mode === 'gc' ? GC_FLAGS : []), chunkScript, '--mode', mode, '--start', String(start), '--count', String(count), '--steps', String(steps)];
  if (mutant) args.push('--mutant', mutant);
  if (casePath) args.push('--path', casePath);
  if (shrink) args.push('--shrink');
  return new Promise((resolve) => {
    // The debug switch on: the model checks the warning of pauseJob() outside a job (§ Warnings).
    const env = { ...process.env, NODE_DEBUG: [process.env.NODE_DEBUG, 'asyncjob'].filter(Boolean).join(',') };
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    const results = [];
    let current = null;
    let stdout = '';
    let stderr = '';
    let hung = false;
    let watchdog;
    const pet = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, SEED_TIMEOUT[mode] * (shrink ? 4 : 1));
    };
    pet();
    child.stdout.on('data', (d) => {
      stdout += d;
      let nl;
      while ((nl = stdout.indexOf('\n')) >= 0) {
        const line = stdout.slice(0, nl);
        stdout = stdout.slice(nl + 1);
        pet();
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          continue; // a job's console output
        }
        if (msg.type === 'begin') current = msg.seed;
        else if (msg.type === 'result') {
          results.push(msg);
          current = null;
        }
      }
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.length > 200000) stderr = stderr.slice(-100000);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      let crash = null;
      if (current !== null || hung || code !== 0) {
        crash = { seed: current ?? start + results.length, mode, steps, mutant, hung, code, signal, stderr: stderr.slice(-4000) };
      }
      resolve({ results, crash, next: results.length > 0 ? results[results.length - 1].seed + 1 : start });
    });
  });
}

function log(...a) {
  console.log(...a);
}

/** One mode's campaign. Returns the findings. */
async function campaign(o, mode, deadline) {
  const steps = stepsFor(mode, o.steps);
  const end = o.start + o.seeds;
  const findings = { pass: 0, known: new Map(), fresh: [], crashes: [], ran: 0 };
  let next = o.start;
  const t0 = Date.now();
  const worker = async () => {
    while (next < end && Date.now() < deadline) {
      const start = next;
      const count = Math.min(o.chunk, end - start);
      next += count;
      let from = start;
      while (from < start + count) {
        const { results, crash } = await runChild(mode, from, start + count - from, steps, { mutant: o.mutant });
        for (const r of results) await record(findings, r, o);
        from = results.length > 0 ? results[results.length - 1].seed + 1 : from;
        if (crash !== null) {
          await recordCrash(findings, crash);
          from = crash.seed + 1;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, worker));
  findings.seconds = (Date.now() - t0) / 1000;
  return findings;
}

async function record(findings, r, o) {
  findings.ran++;
  if (r.status === 'pass' || r.status === 'polluted') findings.pass++;
  else if (r.status === 'known') {
    for (const k of r.known ?? [r]) {
      const list = findings.known.get(k.defect) ?? [];
      if (list.some((x) => x.seed === r.seed)) continue;
      list.push({ seed: r.seed, mode: r.mode, steps: r.steps, mutant: r.mutant, what: k.what ?? k.mismatch?.what });
      findings.known.set(k.defect, list);
    }
  } else if (r.status === 'new') {
    // Shrink it in a fresh process: the shortest program that still fails, and its path.
    let shrunk = r;
    if (r.mode !== 'worker' && !o.noShrink) {
      const { results } = await runChild(r.mode, r.seed, 1, r.steps, { mutant: r.mutant, shrink: true });
      if (results[0]?.status === 'new') shrunk = results[0];
    }
    findings.fresh.push(shrunk);
    if (!o.quiet) printNew(shrunk);
  }
}

async function recordCrash(findings, crash) {
  // Narrow: the same seed alone in a fresh process.
  const again = await runChild(crash.mode, crash.seed, 1, crash.steps, { mutant: crash.mutant });
  crash.reproduces = again.crash !== null;
  const output = `${crash.stderr}\n${again.crash?.stderr ?? ''}`;
  crash.known = knownDefectForCrash(output)?.id;
  findings.crashes.push(crash);
  log(`\n${crash.hung ? 'HANG' : 'CRASH'} in seed ${crash.seed} (${crash.mode}): ${crash.signal ?? `exit ${crash.code}`}${crash.known ? ` — known defect ${crash.known}` : ''}; ${crash.reproduces ? 'reproduces alone' : 'does not reproduce alone'}`);
  log(`  replay: ${replayCommand(crash)}`);
  log(`  stderr (end): ${crash.stderr.trim().split('\n').slice(-8).join('\n    ')}`);
}

function printNew(r) {
  const m = r.mismatch;
  log(`\nMISMATCH in seed ${r.seed} (${r.mode}${r.mutant ? `, mutant ${r.mutant}` : ''}) at step ${m.step}: ${m.what}`);
  log(`  action:   ${JSON.stringify(m.action)}`);
  log(`  expected: ${m.expected}`);
  log(`  actual:   ${m.actual}`);
  if (r.program) {
    log(`  shrunk program (${r.program.length} actions, ${r.shrinks} shrinks):`);
    r.program.forEach((a, i) => log(`    ${String(i).padStart(3)} ${JSON.stringify(a)}`));
  }
  log(`  replay:   ${replayCommand(r)}`);
}

function summary(mode, f) {
  const known = [...f.known.entries()].map(([id, l]) => `defect ${id}: ${l.length} (seeds ${l.slice(0, 8).map((x) => x.seed).join(', ')}${l.length > 8 ? ', …' : ''})`);
  const knownCrashes = f.crashes.filter((c) => c.known).length;
  log(`\n[${mode}] ${f.ran} seeds in ${f.seconds.toFixed(0)} s: ${f.pass} pass, ${f.fresh.length} new mismatches, ${f.crashes.length} crashes/hangs` +
    (knownCrashes > 0 ? ` (${knownCrashes} of known defects)` : ''));
  if (known.length > 0) log(`  known open defects hit: ${known.join('; ')}`);
  for (const r of f.fresh) log(`  NEW: seed ${r.seed}: ${r.mismatch.what} — ${replayCommand(r)}`);
  for (const c of f.crashes) log(`  ${c.hung ? 'HANG' : 'CRASH'}: seed ${c.seed}${c.known ? ` (known defect ${c.known})` : ' (NEW)'} — ${replayCommand(c)}`);
  return f.fresh.length === 0 && f.crashes.every((c) => c.known);
}

async function replay(o) {
  const [seedText, casePath] = o.replay.split(':');
  const mode = o.mode === 'all' ? 'normal' : o.mode;
  const steps = stepsFor(mode, o.steps);
  const { results, crash } = await runChild(mode, Number(seedText), 1, steps, { mutant: o.mutant, path: casePath });
  const r = results[0];
  if (crash) {
    log(`${crash.hung ? 'HANG' : 'CRASH'}: ${crash.signal ?? `exit ${crash.code}`}\n${crash.stderr}`);
    return false;
  }
  if (r.status === 'new') printNew(r);
  else if (r.status === 'known') log(`seed ${r.seed}: known open defect(s) ${[...new Set(r.known.map((k) => k.defect))].join(', ')}:\n${JSON.stringify(r.known, null, 2)}`);
  else log(`seed ${r.seed}: ${r.status}`);
  return r.status !== 'new';
}

/** Every mutant must be flagged within `budget` seeds; the real API must pass `budget` seeds. */
async function selfTest(o) {
  const budget = o.seeds;
  const steps = stepsFor('normal', o.steps);
  const rows = [];
  const quiet = { ...o, quiet: true, noShrink: true };
  const names = Object.keys(MUTANTS);
  let next = 0;
  const runOne = async () => {
    while (next < names.length) {
      const name = names[next++];
      let caught = null;
      let seed = o.start;
      while (caught === null && seed < o.start + budget) {
        const { results, crash } = await runChild('normal', seed, Math.min(o.chunk, o.start + budget - seed), steps, { mutant: name });
        caught = results.find((r) => r.status === 'new') ?? null;
        if (caught === null && crash !== null) caught = { seed: crash.seed, mismatch: { what: `crash: ${crash.signal ?? crash.code}` } };
        seed = results.length > 0 ? results[results.length - 1].seed + 1 : seed + 1;
        if (crash !== null) seed = crash.seed + 1;
      }
      rows.push({ name, caught });
      log(`  mutant ${name.padEnd(22)} ${caught ? `caught at seed ${caught.seed}: ${caught.mismatch.what}` : `NOT CAUGHT in ${budget} seeds`}`);
    }
  };
  log(`self-test: ${names.length} mutants, at most ${budget} seeds each (${steps} steps)`);
  await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, runOne));
  const f = await campaign({ ...quiet, mutant: null, seeds: budget }, 'normal', Infinity);
  const realPasses = f.fresh.length === 0 && f.crashes.every((c) => c.known);
  log(`  unmutated API: ${f.ran} seeds, ${f.fresh.length} new mismatches, ${f.crashes.length} crashes/hangs -> ${realPasses ? 'passes' : 'FAILS'}`);
  const allCaught = rows.every((r) => r.caught !== null);
  log(`self-test ${allCaught && realPasses ? 'passed' : 'FAILED'}: ${rows.filter((r) => r.caught).length}/${rows.length} mutants caught`);
  return allCaught && realPasses;
}

async function mainCli() {
  const o = parse(process.argv.slice(2));
  const deadline = Date.now() + o.timeLimit * 1000;
  let ok = true;
  if (o.replay !== null) ok = await replay(o);
  else if (o.selfTest) ok = await selfTest({ ...o, seeds: o.seeds === 100 ? 60 : o.seeds });
  else if (o.ci) {
    // The bounded campaign of .ci/run: a few minutes, every mode, then the self-test. (Here,
    // with nothing else running: ~60 s, ~30 s and ~60 s; --time-limit cuts it short on a slow
    // machine.)
    const plan = [['normal', 3000], ['gc', 600], ['worker', 200]];
    for (const [mode, seeds] of plan) ok = summary(mode, await campaign({ ...o, seeds }, mode, deadline)) && ok;
    ok = (await selfTest({ ...o, seeds: 40, jobs: 2 })) && ok;
  } else {
    const modes = o.mode === 'all' ? ['normal', 'gc', 'worker'] : [o.mode];
    for (const mode of modes) ok = summary(mode, await campaign(o, mode, deadline)) && ok;
  }
  process.exit(ok ? 0 : 1);
}

await mainCli();

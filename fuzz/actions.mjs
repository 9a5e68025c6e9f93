// The actions a fuzzed program is made of, as fast-check arbitraries. A program is a flat list
// of actions; whichever context is running (the JavaScript thread or one of the fuzzer's JS
// jobs) takes the next one, so "start" enters a new job and the actions after it run inside
// it, "pause"/"ret"/"throw" hand control back, "resume" continues a job where it paused. Jobs,
// contexts and pipes are referred to by small indices taken modulo what exists when the
// action runs, so that any sub-list of a program is a program too (shrinking deletes actions).
import fc from 'fast-check';

import { isOpen } from './known-defects.mjs';

const ref = fc.nat(31);

const native = fc.oneof(
  fc.record({ kind: fc.constant('pauser'), n: fc.nat(3) }),
  fc.record({ kind: fc.constant('forever') }),
  fc.record({ kind: fc.constant('setFd'), pipe: ref, again: fc.boolean() }),
);

// Keys: SameValueZero pairs (NaN/NaN, -0/+0), objects by identity, and other primitives.
export const KEY_COUNT = 10;
// Values a job returns: identity-checked objects and the primitives that tell equalities apart.
export const RET_COUNT = 6;

const initThread = fc.oneof(
  { weight: 6, arbitrary: fc.record({ max: fc.nat(4), init: fc.nat(2), bad: fc.constant(null) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      max: fc.nat(4),
      init: fc.nat(2),
      bad: fc.constantFrom(
        'maxType', 'initNegative', 'maxFraction', 'initAboveMax', 'maxAboveBound',
        // With defect 8 open this would start 10^6 host threads.
        ...(isOpen(8) ? [] : ['initAboveBound']),
      ),
    }),
  },
);

const runScript = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom('return', 'immediate', 'throw', 'fd', 'callback', 'earlyCallback', 'nativePauser', 'nativeWake', 'nativeSetFd', 'badFunc') },
  { weight: 1, arbitrary: fc.constantFrom('cancelMe', 'abortMe') },
  { weight: 2, arbitrary: fc.constantFrom('await', 'awaitRejected') },
);

/** The arbitrary of one action; `mode` 'gc' adds explicit garbage collections. */
export function action(mode) {
  const gcWeight = mode === 'gc' ? 6 : 1;
  const a = (t, weight, fields = {}) => ({ weight, arbitrary: fc.record({ t: fc.constant(t), ...fields }) });
  return fc.oneof(
    // jobs
    a('start', 10, { via: fc.constantFrom('api', 'api', 'ossl'), native: fc.option(native, { freq: 3 }), ctx: fc.option(ref, { freq: 2 }), als: fc.boolean() }),
    a('resume', 10, { job: ref, via: fc.constantFrom('api', 'api', 'ossl'), als: fc.boolean() }),
    a('pause', 12, { via: fc.constantFrom('js', 'js', 'js', 'native', 'ossl', 'scope', 'vm', 'vmNative') }),
    a('ret', 4, { v: fc.nat(RET_COUNT - 1) }),
    a('throw', 2),
    a('cancel', 3, { job: ref }),
    a('current', 2),
    a('getWaitCtx', 2, { job: ref }),
    a('block', 2),
    a('unblock', 2),
    a('initThread', 2, { args: initThread }),
    a('cleanupThread', 2),
    a('foreign', 2, { what: fc.nat(11) }),
    // wait contexts
    a('ctxNew', 5),
    a('ctxFree', 4, { ctx: ref }),
    a('setWaitFd', 8, {
      ctx: ref,
      key: fc.nat(KEY_COUNT - 1),
      fd: fc.oneof({ weight: 8, arbitrary: fc.record({ pipe: ref, end: fc.constantFrom('r', 'r', 'r', 'w') }) }, { weight: 1, arbitrary: fc.constantFrom('notOpen', 'string', 'negative', 'fraction') }),
      cleanup: fc.constantFrom('close', 'close', 'record', 'probe', 'throw', 'none', 'notFunction'),
    }),
    a('getFd', 3, { ctx: ref, key: fc.nat(KEY_COUNT - 1) }),
    a('getAllFds', 3, { ctx: ref }),
    a('getChangedFds', 3, { ctx: ref }),
    a('clearFd', 3, { ctx: ref, key: fc.nat(KEY_COUNT - 1) }),
    a('setCallback', 2, { ctx: ref, cb: fc.constantFrom('fn', 'null', 'notFunction') }),
    a('getCallback', 2, { ctx: ref }),
    a('setStatus', 2, { ctx: ref, v: fc.constantFrom(0, 1, 2, 3, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 1.5, '3') }),
    a('getStatus', 1, { ctx: ref }),
    a('waitSync', 2, { ctx: ref }),
    a('wait', 2, { ctx: ref, timeout: fc.constantFrom(undefined, 0, 5) }),
    a('freed', 1, { ctx: ref }),
    a('freedForeign', 1),
    a('pipe', 4),
    a('write', 3, { pipe: ref }),
    a('drain', 1, { pipe: ref }),
    // runJob and the event loop
    a('runJob', 4, { script: runScript, n: fc.nat(2) }),
    a('cancelRun', 1, { run: ref }),
    a('settle', 3),
    // asyncjob/openssl beyond start/resume/pause
    a('ossl', 3, { op: fc.constantFrom('getAllFds', 'countFds', 'getFd', 'clearFd', 'current', 'capable', 'freeNull', 'status'), ctx: ref, key: fc.nat(KEY_COUNT - 1) }),
    // known defect 9's situation: rarer, as each hit ends its program
    a('osslJobRefThrows', 1, { gate: fc.nat(2) }),
    // time spent running inside a job, where a worker's termination can land
    a('spin', 2, { ms: fc.integer({ min: 1, max: 3 }) }),
    // the garbage collector
    a('gc', gcWeight),
    a('garbage', gcWeight),
  );
}

/** A program: up to `steps` actions. */
export function program(mode, steps) {
  return fc.array(action(mode), { minLength: 1, maxLength: steps, size: 'max' });
}

// The two signals asyncjob gives about first mistakes that OpenSSL's semantics let pass
// silently (docs/api.md, Warnings): jobs still paused when a thread ends, and pauseJob() outside
// any job while the debug switch (NODE_DEBUG=asyncjob) is on.
import { debuglog } from 'node:util';
import { isMainThread, threadId } from 'node:worker_threads';

import { binding } from './binding';

// Who ends: the process, or this worker.
const ending = isMainThread ? 'the process' : `worker ${threadId}`;

/** The exit warning's text for n jobs (n is '%n' for the native side's template). */
function exitWarningText(n: number | '%n'): string {
  const one = n === 1;
  return (
    `(asyncjob) Warning: ${ending} ended with ${n} job${one ? '' : 's'} still paused. ` +
    `${one ? 'It was' : 'They were'} cancelled without finishing (${one ? 'its' : 'their'} catch ` +
    'and finally blocks did not run to the end). Finish paused jobs or cancelJob() them before ' +
    'exiting; ASYNCJOB_NO_EXIT_WARNING=1 turns this warning off.'
  );
}

function exitWarningWanted(): boolean {
  const off = process.env.ASYNCJOB_NO_EXIT_WARNING;
  return off === undefined || off === '' || off === '0';
}

// The native side says it, once, after the last JavaScript of this thread has run (so that a
// job an 'exit' listener cancels is not counted): at the thread's teardown, or at exit() for a
// process.exit(), which runs none. The switch is read when asyncjob loads and again at the
// 'exit' event, so that setting process.env.ASYNCJOB_NO_EXIT_WARNING at run time works too.
function armExitWarning(): void {
  if (exitWarningWanted()) binding.setExitWarning(exitWarningText(1), exitWarningText('%n'));
  else binding.setExitWarning();
}
armExitWarning();
process.on('exit', armExitWarning);

const debugging = debuglog('asyncjob').enabled;
let warnedPauseOutsideJob = false;

/** pauseJob() found no current job: it returns without pausing (OpenSSL's semantics). */
export function pausedOutsideJob(): void {
  if (!debugging || warnedPauseOutsideJob) return;
  warnedPauseOutsideJob = true;
  process.emitWarning(
    'pauseJob() was called outside any job: it returned true without pausing, as ' +
      'ASYNC_pause_job() does. Call it from code that a job runs (startJob, runJob).',
    { code: 'ASYNCJOB_PAUSE_OUTSIDE_JOB', detail: 'Shown once per thread because NODE_DEBUG includes asyncjob.' },
  );
}

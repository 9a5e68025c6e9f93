// The EXAMPLES program of OpenSSL's ASYNC_start_job(3), ported line for line with
// asyncjob/openssl. Where C blocks in select(), main awaits the WaitCtx on the event loop.
// Run it with `npm run example`; it prints the man page's expected output.
import * as fs from 'node:fs';
import { pipe } from 'asyncjob';
import {
  ASYNC_ERR,
  ASYNC_FINISH,
  ASYNC_NO_JOBS,
  ASYNC_PAUSE,
  type ASYNC_JOB,
  type ASYNC_WAIT_CTX,
  ASYNC_get_current_job,
  ASYNC_get_wait_ctx,
  ASYNC_pause_job,
  ASYNC_start_job,
  ASYNC_WAIT_CTX_free,
  ASYNC_WAIT_CTX_get_all_fds,
  ASYNC_WAIT_CTX_new,
  ASYNC_WAIT_CTX_set_wait_fd,
  type OSSL_ASYNC_FD,
  type Ref,
} from 'asyncjob/openssl';

const unique = {};

function cleanup(ctx: ASYNC_WAIT_CTX, key: unknown, r: OSSL_ASYNC_FD, vw: unknown): void {
  const w = vw as Ref<OSSL_ASYNC_FD>;
  fs.closeSync(r);
  fs.closeSync(w.value);
}

function jobfunc(arg: string): number {
  let currjob: ASYNC_JOB | null;
  let msg: string;
  let pipefds: [OSSL_ASYNC_FD, OSSL_ASYNC_FD] = [0, 0];
  let wptr: Ref<OSSL_ASYNC_FD>;
  const buf = Buffer.from('X');

  currjob = ASYNC_get_current_job();
  if (currjob !== null) {
    console.log('Executing within a job');
  } else {
    console.log('Not executing within a job - should not happen');
    return 0;
  }

  msg = arg;
  console.log(`Passed in message is: ${msg}`);

  pipefds = pipe(); // throws, rather than returning non-zero, when it fails
  wptr = { value: pipefds[1] };
  ASYNC_WAIT_CTX_set_wait_fd(ASYNC_get_wait_ctx(currjob)!, unique, pipefds[0], wptr, cleanup);

  /*
   * Normally some external event would cause this to happen at some
   * later point - but we do it here for demo purposes, i.e.
   * immediately signalling that the job is ready to be woken up after
   * we return to main via ASYNC_pause_job().
   */
  fs.writeSync(pipefds[1], buf, 0, 1);

  /* Return control back to main */
  ASYNC_pause_job();

  /* Clear the wake signal */
  fs.readSync(pipefds[0], buf, 0, 1, null);

  console.log('Resumed the job after a pause');

  return 1;
}

async function main(): Promise<number> {
  const job: Ref<ASYNC_JOB | null> = { value: null };
  let ctx: ASYNC_WAIT_CTX | null = null;
  const ret: Ref<number> = { value: 0 };
  const waitfd: OSSL_ASYNC_FD[] = [];
  const numfds: Ref<number> = { value: 0 };
  const msg = 'Hello world!';

  console.log('Starting...');

  ctx = ASYNC_WAIT_CTX_new();
  if (ctx === null) {
    console.log('Failed to create ASYNC_WAIT_CTX');
    process.abort();
  }

  end: for (;;) {
    switch (ASYNC_start_job(job, ctx, ret, jobfunc, msg)) {
      case ASYNC_ERR:
      case ASYNC_NO_JOBS:
        console.log('An error occurred');
        break end;
      case ASYNC_PAUSE:
        console.log('Job was paused');
        break;
      case ASYNC_FINISH:
        console.log(`Job finished with return value ${ret.value}`);
        break end;
    }

    /* Wait for the job to be woken */
    console.log('Waiting for the job to be woken up');

    if (!ASYNC_WAIT_CTX_get_all_fds(ctx, null, numfds) || numfds.value !== 1) {
      console.log('Unexpected number of fds');
      process.abort();
    }
    ASYNC_WAIT_CTX_get_all_fds(ctx, waitfd, numfds);
    // select(waitfd + 1, &waitfdset, NULL, NULL, NULL), without blocking the event loop: ctx's
    // only fd is waitfd[0].
    await ctx.wait();
  }

  ASYNC_WAIT_CTX_free(ctx);
  console.log('Finishing');

  return 0;
}

main().then((code) => {
  process.exitCode = code;
});

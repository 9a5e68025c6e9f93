'use strict';
// npm run example:engine — drives the async-engine addon (engine.cc) from JavaScript: SHA-256 of
// 8 MiB (the bytes 0, 1, ..., 255 repeated), hashed by a native job whose worker thread wakes it
// after every 1 MiB, in both wake modes. The last line is `sha256 <hex digest> pauses <n>`, n
// being the pauses of all three runs together.
const { ASYNC_FINISH, ASYNC_PAUSE, WaitCtx, cancelJob, runJob, startJob } = require('asyncjob');
const engine = require('./engine'); // loads asyncjob first, then the addon

const SIZE = 8 * 1024 * 1024;
const pattern = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const data = Buffer.alloc(SIZE, pattern); // 0, 1, ..., 255, 0, 1, ...

// runJob() drives the job: it resumes it when its wait fd is readable (mode 'fd') or when the
// WaitCtx callback is called (mode 'callback', the job having set ASYNC_STATUS_EAGAIN).
async function withRunJob(mode) {
  const request = engine.hashJob(data, mode);
  const ret = await runJob(request.fn); // the job function's int
  if (ret !== 1) request.digest(); // throws why
  return request;
}

// The same by hand, as OpenSSL's applications do: startJob() until it finishes, waiting on the
// WaitCtx's fds in between (ctx.wait() watches fds only, so this is mode 'fd').
async function byHand() {
  const request = engine.hashJob(data, 'fd');
  const ctx = new WaitCtx();
  let r = startJob(null, ctx, request.fn);
  try {
    while (r.status === ASYNC_PAUSE) {
      await ctx.wait(); // the engine's eventfd is readable: the worker made progress
      r = startJob(r.job, null, null);
    }
  } catch (error) {
    if (r.status === ASYNC_PAUSE) {
      request.abort(); // stop the worker, then drop the job
      cancelJob(r.job);
    }
    throw error;
  } finally {
    ctx.free(); // the job has finished (or been cancelled): its WaitCtx can go
  }
  if (r.status !== ASYNC_FINISH || r.ret !== 1) request.digest(); // throws why
  return request;
}

async function main() {
  const runs = [
    ['fd, runJob', await withRunJob('fd')],
    ['callback, runJob', await withRunJob('callback')],
    ['fd, startJob + ctx.wait()', await byHand()],
  ];
  let pauses = 0;
  for (const [label, request] of runs) {
    console.log(`${label}: sha256 ${request.digest()} pauses ${request.pauses()}`);
    pauses += request.pauses();
  }
  const digests = new Set(runs.map(([, request]) => request.digest()));
  if (digests.size !== 1) throw new Error('the runs disagree');
  console.log(`sha256 ${[...digests][0]} pauses ${pauses}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

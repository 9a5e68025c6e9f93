// The language's own suspend-and-resume, which the benchmarks print for reference: n
// `await Promise.resolve()` in one async function, each suspending and resuming it. Returns
// nanoseconds per await.
async function awaitLoop(n) {
  let i = 0;
  for (; i < n; i++) await Promise.resolve();
  return i;
}

export async function awaitRoundTrip(n) {
  const t0 = process.hrtime.bigint();
  const done = await awaitLoop(n);
  const t1 = process.hrtime.bigint();
  if (done !== n) throw new Error('bench: await loop stopped early');
  return Number(t1 - t0) / n;
}

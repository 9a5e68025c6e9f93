// Time budgets in these tests (mocha timeouts, child-process timeouts, "within N ms" checks) are
// made for native speed. Under emulation the same work takes many times longer:
// `npm run test:arm64` runs arm64 Node under qemu-user and sets ASYNCJOB_TEST_TIME_SCALE to how
// much slower it measured it to be. budget() multiplies a budget by it; what each test asserts
// stays what it is natively (1 when unset).
const raw = process.env.ASYNCJOB_TEST_TIME_SCALE;
const scale = raw === undefined || raw === '' ? 1 : Number(raw);
if (!Number.isFinite(scale) || scale < 1) {
  throw new RangeError(`ASYNCJOB_TEST_TIME_SCALE must be a number >= 1, not ${JSON.stringify(raw)}`);
}

/** `ms` scaled to this run's speed (ASYNCJOB_TEST_TIME_SCALE). */
export function budget(ms: number): number {
  return Math.round(ms * scale);
}

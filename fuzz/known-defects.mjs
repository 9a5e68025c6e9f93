// Known open defects, keyed by their number in the defect list of issue 8's review. The model
// (model.mjs) already describes the *fixed* semantics; an entry here only lets the fuzzer name
// a mismatch or crash that an open defect explains, instead of reporting it as new, and keeps
// the fuzzer from actions that an open defect makes harmful to the machine.
//
// When a fix lands on main, delete its entry: the fuzzer then checks the fixed behaviour.
//
// An entry matches a model mismatch whose `tags` include `tag` (the interpreter tags the
// situations below; the first tag that names an open defect decides), or a crash/hang whose output matches `crash`.
export const KNOWN_DEFECTS = [
  { id: 3, tag: 'after-terminate', title: 'worker.terminate() lost while the worker is inside startJob(); later startJob gives {status: undefined}' },
  { id: 3, tag: 'terminate-timeout', title: 'worker.terminate() lost while the worker is inside startJob()' },
  { id: 4, crash: /napi_define_properties/, title: 'termination during WaitCtx cleanups aborts the process' },
  { id: 7, tag: 'native-paused-after-js-parent-finished', title: 'a native job left paused by a finished JS job miscounts the pool (NO_JOBS below maxSize)' },
  // While open, initThread(0, initSize > 10^6) would create a million host threads: never generated.
  { id: 8, tag: 'init-thread-above-bound', title: 'initThread accepts maxSize > 10^9 / initSize > 10^6' },
  { id: 9, tag: 'ossl-job-ref-setter-throws', title: 'ASYNC_start_job orphans a paused job when writing job.value throws' },
  { id: 10, tag: 'freed-getter-foreign-receiver', title: 'the WaitCtx freed getter lacks a receiver check' },
  { id: 11, tag: 'cancelled-run-job', title: 'cancelJob() on a runJob() job leaves its promise pending' },
  { id: 12, tag: 'wait-without-fds', title: 'ctx.wait() with no fds resolves in a microtask, not after an event-loop turn' },
];

/** Whether defect `id` is still listed as open. */
export function isOpen(id) {
  return KNOWN_DEFECTS.some((d) => d.id === id);
}

/** The open defect that explains a mismatch with these tags, or undefined. */
export function knownDefectForTags(tags) {
  for (const tag of tags) {
    const defect = KNOWN_DEFECTS.find((d) => d.tag === tag);
    if (defect !== undefined) return defect;
  }
  return undefined;
}

/** The open defect whose crash signature appears in this output, or undefined. */
export function knownDefectForCrash(output) {
  return KNOWN_DEFECTS.find((d) => d.crash !== undefined && d.crash.test(output));
}

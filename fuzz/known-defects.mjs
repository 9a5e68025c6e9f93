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
  // Empty: defects 3, 4 and 7-12 of issue 8 are fixed on main, and the fuzzer checks their fixed
  // behaviour. Shape of an entry: { id, tag: 'interpreter-tag' } or { id, crash: /output/ }, title.
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

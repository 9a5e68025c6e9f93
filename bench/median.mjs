// What the benchmarks share: the median of a list of measurements (they report medians of
// alternating rounds), a time's format, and their positive-integer environment settings.

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A time per operation in ns, as the tables show it: '2.01 µs', '412 ns', '43.7 ns'. */
export function formatTime(ns) {
  if (ns >= 1000) return `${(ns / 1000).toFixed(2)} µs`;
  return `${ns.toFixed(ns >= 100 ? 0 : 1)} ns`;
}

/** A reader of the settings `${prefix}NAME`: a positive integer, or `def` when unset or empty. */
export function settings(prefix) {
  return (name, def) => {
    const v = process.env[`${prefix}${name}`];
    if (v === undefined || v === '') return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${prefix}${name}=${v}: not a positive integer`);
    return n;
  };
}

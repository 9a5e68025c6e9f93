// What the benchmarks share: the median of a list of measurements (they report medians of
// alternating rounds), a time's format, their positive-integer environment settings, and the
// process's own figures from /proc (Linux).
import * as fs from 'node:fs';

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

export const LINUX = process.platform === 'linux';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A `kB` field of /proc/self/status (VmRSS, VmData, …) in KiB; NaN off Linux. */
export function readStatusKiB(field) {
  if (!LINUX) return NaN;
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) : NaN;
}

/** The ids of this process's threads (/proc/self/task); none off Linux. */
export function listTasks() {
  if (!LINUX) return [];
  return fs.readdirSync('/proc/self/task');
}

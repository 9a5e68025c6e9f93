'use strict';
// npm run check:glibc: the Linux prebuilds must load on every glibc the README promises. Reads
// the symbol versions each prebuilds/linux-*/*.glibc.node needs from the C library (objdump -T,
// from binutils) and fails if any needs a newer glibc than GLIBC_FLOOR. The published Linux
// prebuilds are built on Debian 12 (see .github/workflows/ci.yml), whose glibc is 2.36; what
// they need from it is older.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const GLIBC_FLOOR = '2.34'; // README: "glibc 2.34 or later (Debian 12, Ubuntu 22.04, RHEL 9)"

const root = path.resolve(__dirname, '..');
const compare = (a, b) => {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0);
  }
  return 0;
};

const binaries = [];
const prebuilds = path.join(root, 'prebuilds');
if (fs.existsSync(prebuilds)) {
  for (const dir of fs.readdirSync(prebuilds).filter((d) => d.startsWith('linux-'))) {
    for (const file of fs.readdirSync(path.join(prebuilds, dir))) {
      if (file.endsWith('.glibc.node')) binaries.push(path.join(prebuilds, dir, file));
    }
  }
}
if (binaries.length === 0) {
  console.error('check-glibc-floor: no prebuilds/linux-*/*.glibc.node: run npm run prebuild first');
  process.exit(2);
}
let failed = false;
for (const binary of binaries) {
  const objdump = process.env.OBJDUMP || (binary.includes('linux-arm64') && process.arch !== 'arm64' ? 'aarch64-linux-gnu-objdump' : 'objdump');
  const symbols = execFileSync(objdump, ['-T', binary], { encoding: 'utf8' });
  let newest = '0';
  const tooNew = [];
  for (const line of symbols.split('\n')) {
    const m = /\(GLIBC_([0-9.]+)\)\s+(\S+)$/.exec(line.trim());
    if (!m) continue;
    if (compare(m[1], newest) > 0) newest = m[1];
    if (compare(m[1], GLIBC_FLOOR) > 0) tooNew.push(`${m[2]}@GLIBC_${m[1]}`);
  }
  const name = path.relative(root, binary);
  if (tooNew.length > 0) {
    failed = true;
    console.error(`${name}: needs glibc ${newest}, newer than the promised ${GLIBC_FLOOR}: ${tooNew.join(', ')}`);
  } else {
    console.log(`${name}: needs glibc ${newest} (floor ${GLIBC_FLOOR})`);
  }
}
process.exit(failed ? 1 : 0);

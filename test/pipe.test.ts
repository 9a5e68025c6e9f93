import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { pipe, WaitCtx } from 'asyncjob';

const posixIt = process.platform === 'win32' ? it.skip : it;
const onLinux = process.platform === 'linux' ? describe : describe.skip;
const onWindows = process.platform === 'win32' ? describe : describe.skip;

function expectErrorCode(fn: () => unknown, code: string): void {
  expect(fn).to.throw(Error).with.property('code', code);
}

describe('pipe()', () => {
  let fds: number[] = [];
  afterEach(() => {
    for (const fd of fds) fs.closeSync(fd);
    fds = [];
  });
  function openPipe(): [number, number] {
    const ends = pipe();
    fds.push(...ends);
    return ends;
  }

  it('returns two distinct non-negative integer fds', () => {
    const [readFd, writeFd] = openPipe();
    for (const fd of [readFd, writeFd]) {
      expect(Number.isInteger(fd), `fd ${fd}`).to.equal(true);
      expect(fd).to.be.at.least(0);
    }
    expect(readFd).to.not.equal(writeFd);
  });

  it('carries data from the write end to the read end', () => {
    const [readFd, writeFd] = openPipe();
    expect(fs.writeSync(writeFd, 'hello')).to.equal(5);
    const buffer = Buffer.alloc(16);
    const n = fs.readSync(readFd, buffer);
    expect(buffer.toString('utf8', 0, n)).to.equal('hello');
  });

  // Windows (sockets): under Wine a read of an empty socket through fs blocks; see docs/api.md.
  posixIt('has a non-blocking read end: reading an empty pipe throws EAGAIN', () => {
    const [readFd] = openPipe();
    expectErrorCode(() => fs.readSync(readFd, Buffer.alloc(1)), 'EAGAIN');
  });

  posixIt('has a non-blocking write end: writing to a full pipe throws EAGAIN', () => {
    const [, writeFd] = openPipe();
    const chunk = Buffer.alloc(64 * 1024);
    let written = 0;
    const fill = () => {
      // Pipes hold 64 KiB by default and at most 1 MiB unprivileged; 16 MiB cannot fit.
      while (written < 16 * 1024 * 1024) written += fs.writeSync(writeFd, chunk);
    };
    expectErrorCode(fill, 'EAGAIN');
    expect(written).to.be.greaterThan(0);
  });

  it('closing the write end is end of file at the read end', () => {
    const [readFd, writeFd] = pipe();
    fds.push(readFd);
    fs.writeSync(writeFd, 'last');
    fs.closeSync(writeFd);
    const buffer = Buffer.alloc(16);
    // A socket may deliver the bytes and the end in separate reads: read until 0.
    let text = '';
    for (let n; (n = fs.readSync(readFd, buffer)) > 0;) text += buffer.toString('utf8', 0, n);
    expect(text).to.equal('last');
  });

  it('gives new fds on each call', () => {
    const [a, b] = openPipe();
    const [c, d] = openPipe();
    expect(new Set([a, b, c, d]).size).to.equal(4);
  });
});

onLinux('pipe() on Linux', () => {
  const O_NONBLOCK = 0o4000;
  const O_CLOEXEC = 0o2000000;

  // The open-file flags Linux reports for fd (octal in /proc/self/fdinfo).
  function fdFlags(fd: number): number {
    const match = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    expect(match, `flags: line in /proc/self/fdinfo/${fd}`).to.not.equal(null);
    return parseInt(match![1], 8);
  }

  it('opens both ends with O_NONBLOCK and O_CLOEXEC', () => {
    const ends = pipe();
    try {
      for (const fd of ends) {
        const flags = fdFlags(fd);
        expect(flags & O_NONBLOCK, `fd ${fd} flags 0${flags.toString(8)}`).to.equal(O_NONBLOCK);
        expect(flags & O_CLOEXEC, `fd ${fd} flags 0${flags.toString(8)}`).to.equal(O_CLOEXEC);
      }
    } finally {
      for (const fd of ends) fs.closeSync(fd);
    }
  });

  it('throws a SystemError-shaped EMFILE error when out of fds, and works again after', () => {
    // Runs in a child with a low fd limit: pipe() until it fails, then frees fds and retries.
    const child = `
      const fs = require('node:fs');
      const { pipe } = require(process.argv[1]);
      const fds = [];
      let error = null;
      while (error === null && fds.length < 10000) {
        try { fds.push(...pipe()); } catch (e) { error = e; }
      }
      for (const fd of fds.splice(0, 4)) fs.closeSync(fd);
      const again = pipe();
      console.log(JSON.stringify({
        isError: error instanceof Error, code: error && error.code, errno: error && error.errno,
        syscall: error && error.syscall, message: error && error.message, opened: fds.length, again,
      }));
    `;
    const result = spawnSync('bash', ['-c', 'ulimit -n 32; exec "$0" -e "$1" "$2"',
      process.execPath, child, require.resolve('asyncjob')], { encoding: 'utf8' });
    expect(result.status, `child stderr: ${result.stderr}`).to.equal(0);
    const report = JSON.parse(result.stdout);
    expect(report).to.include({
      isError: true,
      code: 'EMFILE',
      errno: -os.constants.errno.EMFILE,
      syscall: 'pipe2',
    });
    expect(report.message).to.match(/^pipe2 failed: EMFILE \(.+\)$/);
    expect(report.opened).to.be.greaterThan(0);
    expect(report.again).to.have.lengthOf(2);
  });
});

onWindows('pipe() on Windows', () => {
  it('gives C runtime fds of sockets: a wait watches them, a file fd is refused', () => {
    const [readFd, writeFd] = pipe();
    const file = fs.openSync(process.execPath, 'r');
    const ctx = new WaitCtx();
    try {
      expect(ctx.pollFdsSync([readFd, writeFd], 0)).to.deep.equal([]);
      fs.writeSync(writeFd, 'x');
      expect(ctx.pollFdsSync([readFd, writeFd], 1000)).to.deep.equal([readFd]);
      expect(() => ctx.pollFdsSync([file], 0)).to.throw(Error).with.property('code', 'ERR_ASYNCJOB_BAD_FD');
    } finally {
      ctx.free();
      for (const fd of [readFd, writeFd, file]) fs.closeSync(fd);
    }
  });
});

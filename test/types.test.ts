import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ASYNC_ERR,
  ASYNC_FINISH,
  ASYNC_NO_JOBS,
  ASYNC_PAUSE,
  type AsyncJob,
  type AsyncjobErrorCode,
  type NativeJobFunction,
  type StartResult,
  cancelJob,
  pauseJob,
  startJob,
} from 'asyncjob';

// The public types: what compiles and what does not is checked by `npm run build:test` itself
// (each @ts-expect-error fails the build when its line compiles); the runtime parts check that
// the types say what the code does.
const root = path.join(__dirname, '..', '..');

describe('public types', () => {
  it('StartResult narrows on status: ret is R after ASYNC_FINISH, job an AsyncJob after ASYNC_PAUSE', () => {
    let r = startJob(null, null, (n: number) => {
      pauseJob();
      return n * 2;
    }, 21);
    // @ts-expect-error: before narrowing, job may be null
    const unnarrowedJob: AsyncJob = r.job;
    void unnarrowedJob;
    expect(r.status).to.equal(ASYNC_PAUSE);
    if (r.status === ASYNC_PAUSE) {
      const job: AsyncJob = r.job;
      r = startJob(job, null, null);
    }
    // @ts-expect-error: before narrowing, ret may be undefined
    const unnarrowedRet: number = r.ret;
    void unnarrowedRet;
    expect(r.status).to.equal(ASYNC_FINISH);
    if (r.status === ASYNC_FINISH) {
      const ret: number = r.ret;
      expect(ret).to.equal(42);
    }
  });

  it('StartResult: error is an Error after ASYNC_ERR, and every status is a literal type', () => {
    const check = (r: StartResult<string>): string => {
      switch (r.status) {
        case ASYNC_ERR:
          return r.error.message;
        case ASYNC_NO_JOBS:
          return 'no jobs';
        case ASYNC_PAUSE:
          cancelJob(r.job);
          return 'paused';
        case ASYNC_FINISH:
          return r.ret;
        default: {
          const never: never = r; // exhaustive: the four statuses are all there is
          return never;
        }
      }
    };
    expect(check(startJob(null, null, () => 'done'))).to.equal('done');
    expect(check(startJob(null, null, () => (pauseJob(), 'x')))).to.equal('paused');
    const literal: 3 = ASYNC_FINISH;
    expect(literal).to.equal(3);
  });

  it('the handle types show no member a string can name (the brands are unexported symbols)', () => {
    type Named<T> = Extract<keyof T, string | number>;
    const none: [Named<AsyncJob>, Named<NativeJobFunction>] extends [never, never] ? true : false = true;
    expect(none).to.equal(true);
    const r = startJob(null, null, () => pauseJob());
    if (r.status !== ASYNC_PAUSE) expect.fail('the job did not pause');
    // @ts-expect-error: no __brand any more
    expect(r.job.__brand).to.equal(undefined);
    expect(Object.keys(r.job)).to.deep.equal([]);
    cancelJob(r.job);
    for (const file of ['jobs.d.ts', 'index.d.ts', 'openssl.d.ts']) {
      expect(fs.readFileSync(path.join(root, 'lib', file), 'utf8')).not.to.match(/__brand/);
    }
  });
});

describe('AsyncjobErrorCode lists every code the package can throw', () => {
  const { ERROR_CODES } = require(path.join(root, 'lib', 'errors.js')) as { ERROR_CODES: readonly AsyncjobErrorCode[] };
  const asyncjobError = (require(path.join(root, 'lib', 'errors.js')) as typeof import('../lib/errors')).asyncjobError;

  // Every quoted ERR_* or ABORT_ERR in the sources of what the package throws.
  function codesInSources(): Map<string, string> {
    const found = new Map<string, string>();
    for (const dir of ['src', path.join('native', 'addon')]) {
      for (const name of fs.readdirSync(path.join(root, dir), { recursive: true }) as string[]) {
        if (!/\.(ts|cc|h)$/.test(name)) continue;
        const text = fs.readFileSync(path.join(root, dir, name), 'utf8');
        for (const match of text.matchAll(/['"`]((?:ERR_[A-Z0-9_]+)|ABORT_ERR)['"`]/g)) {
          if (!found.has(match[1])) found.set(match[1], path.join(dir, name));
        }
      }
    }
    return found;
  }

  it('has every code found in src/ and native/addon/', () => {
    const found = codesInSources();
    expect(found.size).to.be.greaterThan(15); // the grep itself works
    const missing = [...found].filter(([code]) => !ERROR_CODES.includes(code as AsyncjobErrorCode));
    expect(missing.map(([code, file]) => `${code} (${file})`)).to.deep.equal([]);
  });

  it('has no code that nothing in src/ or native/addon/ throws', () => {
    const found = codesInSources();
    expect(ERROR_CODES.filter((code) => !found.has(code))).to.deep.equal([]);
  });

  it("has Node's codes the package uses, and types asyncjobError()'s code", () => {
    for (const code of ['ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE', 'ERR_ILLEGAL_CONSTRUCTOR', 'ABORT_ERR'] as const) {
      expect(ERROR_CODES).to.include(code);
    }
    expect(new Set(ERROR_CODES).size).to.equal(ERROR_CODES.length);
    // @ts-expect-error: not a code of the union
    const made = asyncjobError('ERR_ASYNCJOB_MADE_UP', 'x');
    expect(made.code).to.equal('ERR_ASYNCJOB_MADE_UP'); // what the type check above keeps out
    const code: AsyncjobErrorCode = asyncjobError('ERR_ASYNCJOB_NO_JOBS', 'x').code;
    expect(code).to.equal('ERR_ASYNCJOB_NO_JOBS');
  });
});

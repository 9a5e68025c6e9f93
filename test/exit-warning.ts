import { expect } from 'chai';

// The line a thread that ends with jobs paused writes to stderr (docs/api.md, Warnings).
export const EXIT_WARNING = /^\(asyncjob\) Warning: (the process|worker \d+) ended with (\d+) jobs? still paused\. (It was|They were) cancelled without finishing .*ASYNCJOB_NO_EXIT_WARNING=1 turns this warning off\.$/;

/** The exit warnings in `stderr`, failing the test on any other line there. */
export function exitWarnings(stderr: string): { who: string; count: number }[] {
  return stderr
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const m = EXIT_WARNING.exec(line);
      expect(m, `stderr line that is no exit warning: ${line}\nwhole stderr:\n${stderr}`).to.not.equal(null);
      return { who: m![1], count: Number(m![2]) };
    });
}

/** Asserts that `stderr` is the process's exit warning for `count` paused jobs, and nothing else. */
export function expectExitWarning(stderr: string, count: number): void {
  expect(exitWarnings(stderr)).to.deep.equal([{ who: 'the process', count }]);
}

/** A Worker's `env` for tests that end workers with jobs paused on purpose: no exit warning in
 * the test run's output (test/warnings.test.ts checks the warning itself). */
export const QUIET_EXIT_ENV = { ...process.env, ASYNCJOB_NO_EXIT_WARNING: '1' };

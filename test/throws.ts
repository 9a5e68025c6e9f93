import { expect } from 'chai';

// What the tests use to look at thrown errors.

/** What `fn` throws; fails the test if it returns. */
export function thrown<E = any>(fn: () => unknown): E {
  try {
    fn();
  } catch (error) {
    return error as E;
  }
  return expect.fail('expected a throw');
}

/** Asserts that `fn` throws a `type` (default `Error`) whose `code` is `code`. */
export function expectCode(fn: () => unknown, code: string, type: Function = Error): void {
  expect(fn).to.throw(type as ErrorConstructor).with.property('code', code);
}

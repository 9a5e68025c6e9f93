import { expect } from 'chai';
import { fiberBackend, isCapable } from 'asyncjob';

describe('fiberBackend()', () => {
  it('returns one of the documented backends, "none" exactly when jobs cannot run', () => {
    const backend = fiberBackend();
    expect(backend).to.be.oneOf([
      'asm-x86_64',
      'asm-aarch64',
      'ucontext',
      'windows-fibers',
      'none',
    ]);
    expect(backend === 'none').to.equal(!isCapable());
  });
});

(process.platform === 'linux' ? describe : describe.skip)('isCapable() on Linux', () => {
  it('is true', () => {
    expect(isCapable()).to.equal(true);
  });
});

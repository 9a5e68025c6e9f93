import { expect } from 'chai';
import * as asyncjob from 'asyncjob';

describe('constants', () => {
  it('have the values of OpenSSL and API.md', () => {
    expect(asyncjob).to.include({
      ASYNC_ERR: 0,
      ASYNC_NO_JOBS: 1,
      ASYNC_PAUSE: 2,
      ASYNC_FINISH: 3,
      ASYNC_STATUS_UNSUPPORTED: 0,
      ASYNC_STATUS_ERR: 1,
      ASYNC_STATUS_OK: 2,
      ASYNC_STATUS_EAGAIN: 3,
    });
  });
});

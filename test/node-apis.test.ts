import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { ASYNC_FINISH, ASYNC_PAUSE, getCurrentJob, pauseJob, runJob, startJob } from 'asyncjob';
import { budget } from './time-scale';

// ARCHITECTURE.md: Node APIs work inside a job, across pauses; timers and promise continuations
// run later on the main thread. Every job here pauses between using an API and checking it.

const packagePath = require.resolve('asyncjob');

// Pauses until `ready()` is true (runJob resumes the job on every turn of the event loop).
function pauseUntil(ready: () => boolean, maxPauses = 100000): number {
  let n = 0;
  while (!ready()) {
    if (++n > maxPauses) throw new Error('pauseUntil: gave up');
    pauseJob();
  }
  return n;
}

describe('Node APIs inside jobs, across pauses', () => {
  it('fs: readFileSync of this test file, before and after a pause', async () => {
    const expected = fs.readFileSync(__filename, 'utf8');
    const r = await runJob((file: string) => {
      const before = fs.readFileSync(file, 'utf8');
      pauseJob();
      const after = fs.readFileSync(file);
      return { before, after: after.toString('utf8'), stat: fs.statSync(file).size };
    }, __filename);
    expect(r.before).to.equal(expected);
    expect(r.after).to.equal(expected);
    expect(r.stat).to.equal(Buffer.byteLength(expected));
    expect(expected).to.include('Node APIs inside jobs, across pauses');
  });

  it('fs: fs.promises.readFile started in a job resolves later, while the job is paused', async () => {
    const expected = fs.readFileSync(__filename, 'utf8');
    const r = await runJob((file: string) => {
      let content: string | undefined;
      let settledInJob: boolean | undefined;
      const promise = fs.promises.readFile(file, 'utf8').then((text) => {
        settledInJob = getCurrentJob() !== null;
        content = text;
      });
      const settledSynchronously = content !== undefined;
      const pauses = pauseUntil(() => content !== undefined);
      return { content, pauses, settledSynchronously, settledInJob, promise };
    }, __filename);
    expect(r.settledSynchronously).to.equal(false);
    expect(r.pauses).to.be.greaterThan(0);
    expect(r.content).to.equal(expected);
    expect(r.settledInJob, 'the continuation ran on the main thread').to.equal(false);
    await r.promise;
  });

  it('fs: a callback API (fs.stat) called in a job calls back on the main thread', async () => {
    const r = await runJob((file: string) => {
      let result: { size: number; inJob: boolean } | undefined;
      fs.stat(file, (error, stats) => {
        if (error) throw error;
        result = { size: stats.size, inJob: getCurrentJob() !== null };
      });
      pauseUntil(() => result !== undefined);
      return result!;
    }, __filename);
    expect(r).to.deep.equal({ size: fs.statSync(__filename).size, inJob: false });
  });

  it('Buffer: allocations, views and copies survive pauses', async () => {
    const r = await runJob(() => {
      const a = Buffer.from('hello, job');
      const b = Buffer.alloc(4096, 0xab);
      const c = Buffer.allocUnsafe(64).fill('xyz');
      const view = b.subarray(10, 20);
      pauseJob();
      view.fill(1);
      const joined = Buffer.concat([a, Buffer.from([0]), c.subarray(0, 6)]);
      pauseJob();
      return {
        a: a.toString(),
        b: b.every((byte, i) => byte === (i >= 10 && i < 20 ? 1 : 0xab)),
        joined: joined.toString('hex'),
        base64: Buffer.from(joined.toString('base64'), 'base64').equals(joined),
        utf8: Buffer.from('żółw 🐢').toString('utf8'),
      };
    });
    expect(r).to.deep.equal({
      a: 'hello, job',
      b: true,
      joined: Buffer.concat([Buffer.from('hello, job'), Buffer.from([0]), Buffer.from('xyzxyz')]).toString('hex'),
      base64: true,
      utf8: 'żółw 🐢',
    });
  });

  it('crypto: createHash(sha256) fed across pauses gives the known digest; randomBytes', async () => {
    const r = await runJob(() => {
      const hash = crypto.createHash('sha256');
      hash.update('a');
      pauseJob();
      hash.update('b');
      pauseJob();
      hash.update('c');
      const digest = hash.digest('hex');
      const hmac = crypto.createHmac('sha256', 'key').update('The quick brown fox jumps over the lazy dog').digest('hex');
      const random = crypto.randomBytes(32);
      pauseJob();
      let asyncRandom: Buffer | undefined;
      crypto.randomBytes(16, (error, buf) => {
        if (error) throw error;
        asyncRandom = buf;
      });
      pauseUntil(() => asyncRandom !== undefined);
      return { digest, hmac, random, asyncRandom: asyncRandom!, uuid: crypto.randomUUID() };
    });
    expect(r.digest).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(r.hmac).to.equal('f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8');
    expect(r.random).to.be.instanceOf(Buffer).with.lengthOf(32);
    expect(r.random.equals(Buffer.alloc(32))).to.equal(false);
    expect(r.asyncRandom).to.be.instanceOf(Buffer).with.lengthOf(16);
    expect(r.uuid).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('zlib: gzipSync before a pause, gunzipSync after it, round trip', async () => {
    const input = Buffer.from('asyncjob '.repeat(5000) + crypto.randomBytes(1000).toString('hex'));
    const r = await runJob((data: Buffer) => {
      const gz = zlib.gzipSync(data, { level: 9 });
      pauseJob();
      const back = zlib.gunzipSync(gz);
      pauseJob();
      const deflated = zlib.deflateRawSync(back);
      return { gzLength: gz.length, equal: back.equals(data), inflated: zlib.inflateRawSync(deflated).equals(data) };
    }, input);
    expect(r.equal).to.equal(true);
    expect(r.inflated).to.equal(true);
    expect(r.gzLength).to.be.lessThan(input.length);
  });

  it('console.log: a child process logging from a job, before and after pauses', () => {
    const script = `
      const { runJob, startJob, pauseJob } = require(process.argv[1]);
      const r = startJob(null, null, () => {
        console.log('from a job: %s %d', 'formatted', 42);
        pauseJob();
        console.log('after a resume', { nested: [1, 2] });
        return 'sync done';
      });
      console.log('main: paused');
      console.log('main:', startJob(r.job, null, null).ret);
      runJob(() => {
        console.log('runJob: start');
        pauseJob();
        process.stdout.write('runJob: raw write\\n');
        console.error('runJob: to stderr');
        return 7;
      }).then((v) => console.log('runJob resolved', v));
    `;
    const child = spawnSync(process.execPath, ['-e', script, packagePath], { encoding: 'utf8', timeout: budget(30000) });
    expect(child.signal).to.equal(null);
    expect(child.stderr).to.equal('runJob: to stderr\n');
    expect(child.status).to.equal(0);
    expect(child.stdout).to.equal([
      'from a job: formatted 42',
      'main: paused',
      "after a resume { nested: [ 1, 2 ] }",
      'main: sync done',
      'runJob: start',
      'runJob: raw write',
      'runJob resolved 7',
      '',
    ].join('\n'));
  });

  it('timers: setTimeout/setImmediate set in a job fire later, on the main thread', async () => {
    const fired: Array<{ what: string; inJob: boolean }> = [];
    const r = await runJob(() => {
      setTimeout((what: string) => fired.push({ what, inJob: getCurrentJob() !== null }), 5, 'timeout');
      setImmediate(() => fired.push({ what: 'immediate', inJob: getCurrentJob() !== null }));
      const interval = setInterval(() => {
        fired.push({ what: 'interval', inJob: getCurrentJob() !== null });
        if (fired.filter((f) => f.what === 'interval').length === 2) clearInterval(interval);
      }, 1);
      const firedBeforePause = fired.length;
      pauseUntil(() => fired.length >= 4);
      return firedBeforePause;
    });
    expect(r).to.equal(0);
    expect(fired.map((f) => f.what).sort()).to.deep.equal(['immediate', 'interval', 'interval', 'timeout']);
    expect(fired.every((f) => !f.inJob)).to.equal(true);
  });

  it('promises/await: an async function called in a job resolves after the job paused; microtasks run later on the main thread', async () => {
    const order: string[] = [];
    const where: Record<string, boolean> = {};
    const r = await runJob(() => {
      async function compute(n: number): Promise<number> {
        order.push('compute starts');
        await null;
        where.afterAwait = getCurrentJob() !== null;
        order.push('compute after await');
        const doubled = await Promise.resolve(n * 2);
        return doubled + 1;
      }
      const promise = compute(20);
      let value: number | undefined;
      promise.then((v) => {
        where.then = getCurrentJob() !== null;
        value = v;
      });
      queueMicrotask(() => {
        where.microtask = getCurrentJob() !== null;
        order.push('queued microtask');
      });
      process.nextTick(() => {
        where.nextTick = getCurrentJob() !== null;
        order.push('nextTick');
      });
      order.push('compute returned a promise');
      const beforePause = [...order];
      pauseJob();
      order.push('job resumed');
      pauseUntil(() => value !== undefined);
      return { beforePause, value, promise };
    });
    expect(r.beforePause).to.deep.equal(['compute starts', 'compute returned a promise']);
    expect(r.value).to.equal(41);
    expect(await r.promise).to.equal(41);
    expect(order.indexOf('compute after await')).to.be.lessThan(order.indexOf('job resumed'));
    expect(order.indexOf('queued microtask')).to.be.lessThan(order.indexOf('job resumed'));
    expect(order).to.include('nextTick');
    expect(where).to.deep.equal({ afterAwait: false, then: false, microtask: false, nextTick: false });
  });

  it('promises: a job that ends without pausing still leaves its microtasks to the main thread', async () => {
    let inJob: boolean | undefined;
    const r = startJob(null, null, () => {
      Promise.resolve().then(() => {
        inJob = getCurrentJob() !== null;
      });
      return 'ended';
    });
    expect(r).to.deep.include({ status: ASYNC_FINISH, ret: 'ended' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(inJob).to.equal(false);
  });

  it('JSON, RegExp, Map/Set, class instances across pauses', async () => {
    const r = await runJob(() => {
      const json = JSON.stringify({ a: [1, 'two', { three: 3 }], b: null, c: 'é\n' });
      const global = /(?<word>[a-z]+)-(?<num>\d+)/g;
      const text = 'alpha-1 beta-22 gamma-333';
      const first = global.exec(text)!;
      const map = new Map<unknown, number>();
      const set = new Set<unknown>();
      const keyObj = { key: true };
      for (let i = 0; i < 1000; i++) map.set(`k${i}`, i);
      map.set(keyObj, -1);
      set.add(keyObj).add('x').add(3);

      class Shape {
        static count = 0;
        #secret: number;
        constructor(readonly name: string, secret: number) {
          this.#secret = secret;
          Shape.count++;
        }
        get secret(): number {
          return this.#secret;
        }
        area(): number {
          return 0;
        }
      }
      class Square extends Shape {
        constructor(readonly side: number) {
          super('square', side * 10);
        }
        override area(): number {
          return this.side ** 2;
        }
      }
      const shapes: Shape[] = [new Square(3), new Shape('point', 1)];

      pauseJob();

      const parsed = JSON.parse(json);
      const second = global.exec(text)!; // lastIndex kept across the pause
      const third = global.exec(text)!;
      const replaced = text.replace(/\d+/g, (d) => String(Number(d) * 2));
      pauseJob();
      return {
        parsed,
        roundTrip: JSON.stringify(parsed) === json,
        matches: [first.groups!.word, second.groups!.num, third.groups!.word, global.exec(text)],
        replaced,
        mapOk: map.size === 1001 && map.get('k999') === 999 && map.get(keyObj) === -1,
        setOk: set.has(keyObj) && set.has('x') && !set.has({ key: true }) && set.size === 3,
        shapes: shapes.map((s) => [s.name, s.area(), s.secret, s instanceof Square, s instanceof Shape]),
        count: Shape.count,
      };
    });
    expect(r).to.deep.equal({
      parsed: { a: [1, 'two', { three: 3 }], b: null, c: 'é\n' },
      roundTrip: true,
      matches: ['alpha', '22', 'gamma', null],
      replaced: 'alpha-2 beta-44 gamma-666',
      mapOk: true,
      setOk: true,
      shapes: [['square', 9, 30, true, true], ['point', 0, 1, false, true]],
      count: 2,
    });
  });

  it('generators: iterated across pauses, and pausing inside a generator body', async () => {
    const r = await runJob(() => {
      function* fib(): Generator<number, void, number | undefined> {
        let [a, b] = [0, 1];
        for (;;) {
          const reset = yield a;
          if (reset !== undefined) [a, b] = [0, 1];
          else [a, b] = [b, a + b];
        }
      }
      function* pausing(n: number): Generator<string> {
        for (let i = 0; i < n; i++) {
          pauseJob(); // the generator's frame is on the paused job's stack
          yield `step ${i}`;
        }
      }
      const it = fib();
      const seen: number[] = [];
      for (let i = 0; i < 5; i++) seen.push(it.next().value as number);
      pauseJob();
      for (let i = 0; i < 5; i++) seen.push(it.next().value as number);
      seen.push(it.next(0).value as number);
      const steps = [...pausing(3)];
      return { seen, steps, done: it.return().done };
    });
    expect(r).to.deep.equal({
      seen: [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 0],
      steps: ['step 0', 'step 1', 'step 2'],
      done: true,
    });
  });

  it('errors thrown across nested calls in a job carry correct stack traces', async () => {
    function innermostThrower(depth: number): never {
      throw new TypeError(`thrown at depth ${depth}`);
    }
    function middleLayer(depth: number): number {
      pauseJob();
      return depth === 0 ? innermostThrower(depth) : middleLayer(depth - 1) + 1;
    }
    function outerLayer(): number {
      return middleLayer(3);
    }
    const caught = await runJob(() => {
      try {
        outerLayer();
      } catch (error) {
        pauseJob();
        return error as Error;
      }
      return null;
    });
    expect(caught).to.be.instanceOf(TypeError).with.property('message', 'thrown at depth 0');
    const stack = caught!.stack!;
    expect(stack).to.match(/^TypeError: thrown at depth 0\n/);
    const frames = stack.split('\n').slice(1);
    expect(frames[0]).to.match(/at innermostThrower \(.*node-apis\.test\.js:\d+:\d+\)/);
    expect(frames.filter((f) => f.includes('middleLayer'))).to.have.lengthOf(4);
    expect(stack).to.include('outerLayer');
    expect(stack.indexOf('innermostThrower')).to.be.lessThan(stack.indexOf('middleLayer'));
    expect(stack.indexOf('middleLayer')).to.be.lessThan(stack.indexOf('outerLayer'));

    // uncaught: runJob rejects with it, stack intact
    const rejected = await runJob(() => {
      outerLayer();
    }).then(
      () => null,
      (error: Error) => error,
    );
    expect(rejected).to.be.instanceOf(TypeError);
    expect(rejected!.stack).to.match(/^TypeError: thrown at depth 0\n\s+at innermostThrower /);
    expect(rejected!.stack).to.include('outerLayer');

    // Error.captureStackTrace and new Error().stack inside a paused-and-resumed frame
    const captured = await runJob(function namedJobFunction() {
      pauseJob();
      const holder: { stack?: string } = {};
      Error.captureStackTrace(holder);
      return holder.stack!;
    });
    expect(captured).to.include('namedJobFunction');
  });

  it('startJob (not runJob) with Node APIs: a pause between writing and reading a file', () => {
    const tmp = `${require('node:os').tmpdir()}/asyncjob-node-apis-${process.pid}.txt`;
    try {
      const r = startJob(null, null, (file: string) => {
        fs.writeFileSync(file, 'written in a job');
        pauseJob();
        return fs.readFileSync(file, 'utf8');
      }, tmp);
      expect(r.status).to.equal(ASYNC_PAUSE);
      expect(fs.readFileSync(tmp, 'utf8')).to.equal('written in a job');
      fs.appendFileSync(tmp, ', appended by the caller');
      expect(startJob(r.job, null, null)).to.deep.include({ status: ASYNC_FINISH, ret: 'written in a job, appended by the caller' });
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  });
});

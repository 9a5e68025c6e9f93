import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { cleanupThread, jobAwait, runJob } from 'asyncjob';

// How threads wait for each other. A JavaScript job runs on a host thread of its own; while it
// is paused, that thread waits for the job to be resumed. Waiting threads may spin briefly (an
// answer within microseconds costs less than an OS sleep and wake-up), but only a few at a
// time, however many jobs wait: with a spin per waiting thread, 100 jobs waiting for timers
// kept ~100 threads runnable and the machine saturated for minutes.

const linux = process.platform === 'linux';

// The process's threads that are runnable now ('R' in /proc/self/task/*/stat), this one left out.
function runnableThreads(): number {
  let runnable = 0;
  for (const tid of fs.readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('R')) runnable++;
    } catch {
      // the thread ended meanwhile
    }
  }
  return runnable;
}

describe('waiting threads', () => {
  afterEach(() => cleanupThread()); // every job has finished: the host threads go

  (linux ? it : it.skip)(
    'while 100 jobs wait for timers and are resumed in turn, few threads are ever runnable',
    async () => {
      const jobs = 100;
      const waits = 20;
      const samples: number[] = [];
      let running = true;
      const sample = () => {
        if (!running) return;
        samples.push(runnableThreads());
        setImmediate(sample);
      };
      setImmediate(sample);
      const results = await Promise.all(
        Array.from({ length: jobs }, (_, j) =>
          runJob(() => {
            let sum = 0;
            for (let i = 0; i < waits; i++) {
              sum += jobAwait(new Promise<number>((resolve) => setTimeout(resolve, 2 + (i % 3), 1)));
            }
            return sum + j;
          }),
        ),
      );
      running = false;
      expect(results).to.deep.equal(Array.from({ length: jobs }, (_, j) => waits + j));
      expect(samples.length).to.be.greaterThan(10);
      // When this thread samples, no job runs (control passes strictly): whatever is runnable
      // is spinning, or Node's and V8's own threads at work. The spin budget is one thread
      // fewer than the CPUs (at least one); V8's GC and compiler threads may add a few.
      const budget = Math.max(1, os.availableParallelism() - 1);
      const sorted = [...samples].sort((a, b) => a - b);
      const p90 = sorted[Math.floor(sorted.length * 0.9)];
      expect(p90, `runnable threads over ${samples.length} samples: ${sorted.join(' ')}`).to.be.at.most(budget + 2);
    },
  );

  (linux ? it : it.skip)('paused jobs sleep: none of their threads is runnable once they wait', async () => {
    const jobs = 32;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const runs = Array.from({ length: jobs }, () => runJob(() => jobAwait(gate)));
    // Give the last paused ones time to stop spinning (a spin lasts at most 50 µs).
    await new Promise((resolve) => setTimeout(resolve, 100));
    const counts = Array.from({ length: 5 }, () => runnableThreads());
    release();
    await Promise.all(runs);
    expect(Math.min(...counts), `runnable: ${counts.join(' ')}`).to.be.at.most(2);
  });
});

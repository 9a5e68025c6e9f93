// Types of the async-engine addon (engine.js).
import type { NativeJobFunction } from 'asyncjob';

/** One hash, from hashJob(). */
export interface HashRequest {
  /** The job: pass it to runJob() or startJob(). It runs once; later starts return 0. */
  readonly fn: NativeJobFunction;
  readonly mode: 'fd' | 'callback';
  /** The hex SHA-256 once the job has returned 1; null before. Throws why the job failed. */
  digest(): string | null;
  /** How many times the job has paused so far. */
  pauses(): number;
  /** Stops the worker and forgets the WaitCtx callback: call it before cancelJob() of a paused job. */
  abort(): void;
}

/**
 * A native job that hashes a copy of `data` with SHA-256 on a worker thread, pausing until the
 * worker is done; it is woken through a wait fd in its WaitCtx ('fd', the default) or through the
 * WaitCtx callback ('callback', which needs a job started by runJob()).
 */
export function hashJob(data: NodeJS.TypedArray, mode?: 'fd' | 'callback'): HashRequest;

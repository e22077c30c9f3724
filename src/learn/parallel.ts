// Data-parallel gradients across worker_threads. Under Node the wasm backend runs one thread, so
// each worker runs its own backend on a shard of the batch; the main thread averages the shard
// gradients (weighted so the sum equals the full-batch gradient) and takes the optimiser step.
// Weights travel once per step through one SharedArrayBuffer that every worker reads.
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { GPT } from '../model/transformer.ts';
import { optimiserStep, type StepResult } from './optim.ts';
import type { GradsReply, ShardLossKind, ShardPayload, WorkerData, WorkerReply } from './train-worker.ts';

/**
 * Workers to train with: TRAIN_WORKERS if set, else one per core; 1 on node-gpu, where one
 * process already keeps the device busy. `backend` is initBackend's answer.
 */
export function trainWorkerCount(backend: string, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.TRAIN_WORKERS;
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`TRAIN_WORKERS must be a positive integer, got "${raw}": unset it to use one worker per core`);
    return n;
  }
  return backend === 'node-gpu' ? 1 : os.availableParallelism();
}

/** Splits `items` into at most `n` contiguous shards of near-equal length; none is empty. */
export function splitShards<T>(items: T[], n: number): T[][] {
  const shards: T[][] = [];
  for (let i = 0, start = 0; i < n; i++) {
    const end = start + Math.floor(items.length / n) + (i < items.length % n ? 1 : 0);
    if (end > start) shards.push(items.slice(start, end));
    start = end;
  }
  return shards;
}

/** One shard of a step: what its worker's loss needs, and its share of the batch's loss. */
export interface Shard<K extends ShardLossKind> {
  payload: ShardPayload[K];
  /** Weight of this shard's mean loss in the batch's (e.g. its target tokens / the batch's); weights sum to 1. */
  weight: number;
}

/**
 * Resolved in the worker's own loader: tsx only hooks the main thread by itself, so the worker
 * registers tsx's ESM loader before importing the TypeScript entry (works under tsx and vitest).
 */
function workerSource(): string {
  const tsxDir = path.dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const api = pathToFileURL(path.join(tsxDir, 'dist/esm/api/index.mjs')).href;
  const entry = new URL('./train-worker.ts', import.meta.url).href;
  return `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
}

/** A pool of workers holding copies of one model; `step` trains the main thread's model. */
export class GradientPool {
  private closed = false;

  private constructor(
    private readonly workers: Worker[],
    private readonly vars: tf.Variable[],
    /** Every variable's values back to back, in trainableVariables order. */
    private readonly weights: Float32Array,
  ) {}

  /** Starts `size` workers, each with its own backend `backend` and a model shaped like `model`. */
  static async start(model: GPT, size: number, backend: string): Promise<GradientPool> {
    if (!Number.isInteger(size) || size < 1) throw new Error(`a gradient pool needs a positive integer of workers, got ${size}`);
    const vars = model.trainableVariables();
    const total = vars.reduce((n, v) => n + v.size, 0);
    const weights = new Float32Array(new SharedArrayBuffer(total * 4));
    const workerData: WorkerData = { backend, config: model.config, weights };
    const source = workerSource();
    const workers = Array.from({ length: size }, () => new Worker(source, { eval: true, workerData }));
    const pool = new GradientPool(workers, vars, weights);
    try {
      await Promise.all(workers.map((w) => reply(w))); // each says ready once its backend is up
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * One optimiser step on the weighted sum of the shards' losses: at most `size` shards, one per
   * worker. Returns that loss and optimiserStep's global gradient norm.
   */
  async step<K extends ShardLossKind>(optimizer: tf.Optimizer, kind: K, shards: Shard<K>[], opts: { maxGradNorm: number; weightDecay?: number; lr?: number }): Promise<StepResult> {
    if (this.closed) throw new Error('gradient pool is closed: start a new one');
    if (shards.length < 1 || shards.length > this.workers.length) throw new Error(`a step needs 1..${this.workers.length} shards, got ${shards.length}`);
    let offset = 0;
    for (const v of this.vars) {
      this.weights.set(v.dataSync() as Float32Array, offset);
      offset += v.size;
    }
    const replies = (await Promise.all(shards.map((s, i) => reply(this.workers[i]!, { kind, payload: s.payload })))) as GradsReply[];
    const sum = new Float32Array(this.weights.length);
    const present = this.vars.map(() => false);
    let loss = 0;
    replies.forEach((r, i) => {
      const w = shards[i]!.weight;
      loss += w * r.loss;
      for (let j = 0; j < sum.length; j++) sum[j]! += w * r.grads[j]!;
      r.present.forEach((p, j) => p && (present[j] = true));
    });
    const used = this.vars.filter((_, j) => present[j]);
    const grads = tf.tidy(() => {
      let at = 0;
      return this.vars.flatMap((v, j) => {
        const g = sum.subarray(at, (at += v.size));
        return present[j] ? [tf.tensor(g, v.shape)] : [];
      });
    });
    try {
      // d/dv Σ sum(v ⊙ g) = g exactly, so optimiserStep (clipping, Adam, decay) runs unchanged
      // on the averaged gradients; its loss value is this surrogate's, so report the shards'.
      const { gradNorm } = optimiserStep(optimizer, used, () => tf.addN(used.map((v, j) => tf.sum(tf.mul(v, grads[j]!)))) as tf.Scalar, opts);
      return { loss, gradNorm };
    } finally {
      tf.dispose(grads);
    }
  }

  /** Terminates every worker; idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Sends `message` (if any) and waits for the worker's next reply; a worker error or exit rejects. */
function reply(worker: Worker, message?: unknown): Promise<Exclude<WorkerReply, { type: 'error' }>> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (r: WorkerReply) => {
      cleanup();
      if (r.type === 'error') reject(new Error(`training worker failed: ${r.message}`));
      else resolve(r);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new Error(`training worker crashed: ${err.message}`));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`training worker exited (code ${code}) mid-step`));
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    if (message !== undefined) worker.postMessage(message);
  });
}

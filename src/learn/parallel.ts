// Data parallelism across worker_threads. Under Node the wasm backend runs one thread, so each
// worker runs its own backend with copies of the models: for a training step it computes the
// gradients of a shard of the batch and the main thread sums them (weighted so the sum is the
// full batch's gradient) and takes the optimiser step; for forward-only work (sampling, scoring)
// each worker takes a share of the items. A model's weights travel through one SharedArrayBuffer
// that every worker reads, only when they changed since the worker last loaded them.
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { applyGradients, optimiserStep, type StepResult } from './optim.ts';
import { LOSSES, TASKS, type GradsReply, type PoolModel, type ShardLossKind, type ShardPayload, type TaskKind, type TaskPayload, type TaskResult, type WorkerData, type WorkerModel, type WorkerReply, type WorkerRequest } from './pool-work.ts';

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

/**
 * Splits `items` into at most `n` shards of near-equal total `cost` (longest first, each to the
 * lightest shard), so no worker waits long for another; none is empty. Order within a shard follows `items`.
 */
export function balancedShards<T>(items: T[], n: number, cost: (item: T) => number): T[][] {
  const load = new Array<number>(Math.min(n, items.length)).fill(0);
  const owner = new Array<number>(items.length);
  const order = items.map((_, i) => i).sort((a, b) => cost(items[b]!) - cost(items[a]!));
  for (const i of order) {
    const lightest = load.indexOf(Math.min(...load));
    owner[i] = lightest;
    load[lightest]! += cost(items[i]!);
  }
  return load.map((_, s) => items.filter((_, i) => owner[i] === s));
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

/** A step's result: the loss, optimiserStep's gradient norm, and the loss's aux scalars, all weighted like the loss. */
export interface PoolStepResult extends StepResult {
  aux: number[];
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

interface Slot {
  model: PoolModel;
  vars: tf.Variable[];
  /** Every variable's values back to back, in trainableVariables order. */
  weights: Float32Array;
  version: number;
  /** The main thread's weights may differ from `weights`. */
  stale: boolean;
}

/**
 * Workers holding copies of named models. `step` trains a main-thread model on gradients the
 * workers compute; `run` spreads forward-only work over them. Models are found by identity, so a
 * training function given a pool just passes the model it trains. Only `step` may change a
 * model's weights while the pool runs: the workers reload a model after a step, not otherwise.
 */
export class ModelPool {
  private closed = false;
  /** Steps taken, their wall time here, and the slowest worker's time of each, summed: the gap is what the pool adds. */
  readonly timing = { steps: 0, stepMs: 0, slowestWorkerMs: 0 };

  private constructor(
    private readonly workers: Worker[],
    private readonly slots: Map<string, Slot>,
  ) {}

  /** Starts `size` workers, each with its own backend `backend` and copies of `models`. */
  static async start(models: Record<string, PoolModel>, size: number, backend: string): Promise<ModelPool> {
    if (!Number.isInteger(size) || size < 1) throw new Error(`a model pool needs a positive integer of workers, got ${size}`);
    const slots = new Map<string, Slot>();
    const shared: Record<string, WorkerModel> = {};
    for (const [name, model] of Object.entries(models)) {
      const vars = model.trainableVariables();
      const weights = new Float32Array(new SharedArrayBuffer(vars.reduce((n, v) => n + v.size, 0) * 4));
      slots.set(name, { model, vars, weights, version: 0, stale: true });
      shared[name] = { kind: 'score' in model ? 'reward' : 'policy', config: model.config, weights };
    }
    const workerData: WorkerData = { backend, models: shared };
    const source = workerSource();
    const workers = Array.from({ length: size }, () => new Worker(source, { eval: true, workerData }));
    const pool = new ModelPool(workers, slots);
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

  /** The pool's name of `model`; throws when the pool does not hold it. */
  nameOf(model: PoolModel): string {
    for (const [name, slot] of this.slots) if (slot.model === model) return name;
    throw new Error('this model pool does not hold that model: start the pool with it');
  }

  /** Publishes stale weights and returns every model's version, for a request. */
  private versions(): Record<string, number> {
    if (this.closed) throw new Error('model pool is closed: start a new one');
    const out: Record<string, number> = {};
    for (const [name, slot] of this.slots) {
      if (slot.stale) {
        let offset = 0;
        for (const v of slot.vars) {
          slot.weights.set(v.dataSync() as Float32Array, offset);
          offset += v.size;
        }
        slot.version++;
        slot.stale = false;
      }
      out[name] = slot.version;
    }
    return out;
  }

  /**
   * One optimiser step of `model` on the weighted sum of the shards' losses: at most `size`
   * shards, one per worker. Returns that loss, optimiserStep's global gradient norm and the aux.
   */
  async step<K extends ShardLossKind>(optimizer: tf.Optimizer, model: PoolModel, kind: K, shards: Shard<K>[], opts: { maxGradNorm: number; weightDecay?: number; lr?: number }): Promise<PoolStepResult> {
    if (shards.length < 1 || shards.length > this.workers.length) throw new Error(`a step needs 1..${this.workers.length} shards, got ${shards.length}`);
    const started = performance.now();
    const name = this.nameOf(model);
    const slot = this.slots.get(name)!;
    const versions = this.versions();
    const replies = (await Promise.all(shards.map((s, i) => reply(this.workers[i]!, { op: 'grads', versions, model: name, kind, payload: s.payload } satisfies WorkerRequest)))) as GradsReply[];
    const present = slot.vars.map(() => false);
    let loss = 0;
    const aux = replies[0]!.aux.map(() => 0);
    replies.forEach((r, i) => {
      const w = shards[i]!.weight;
      loss += w * r.loss;
      r.aux.forEach((a, j) => (aux[j]! += w * a));
      r.present.forEach((p, j) => p && (present[j] = true));
    });
    // The weighted sum and its norm in the backend's vectorised kernels: a JS loop over the
    // floats took ~5 ns each here (11 ms a step for the small model's two shards), and tf.norm,
    // through abs and pow, 13-22 ms on wasm where the sum of squares takes ~1.3 ms.
    const sum = tf.tidy(() => tf.addN(replies.map((r, i) => tf.mul(tf.tensor1d(r.grads), shards[i]!.weight))));
    const norm = tf.tidy(() => Math.sqrt(tf.sum(tf.square(sum)).dataSync()[0]!));
    const grads: tf.NamedTensorMap = {};
    let at = 0;
    slot.vars.forEach((v, j) => {
      if (present[j]) grads[v.name] = tf.tidy(() => tf.reshape(tf.slice(sum, at, v.size), v.shape));
      at += v.size;
    });
    sum.dispose();
    const gradNorm = applyGradients(optimizer, slot.vars, grads, opts, norm);
    slot.stale = true;
    this.timing.steps++;
    this.timing.stepMs += performance.now() - started;
    this.timing.slowestWorkerMs += Math.max(...replies.map((r) => r.ms));
    return { loss, gradNorm, aux };
  }

  /** Runs task `kind` on `models` once per payload (at most `size`), each on its own worker; results in payload order. */
  async run<K extends TaskKind>(kind: K, models: PoolModel[], payloads: TaskPayload[K][]): Promise<TaskResult[K][]> {
    if (payloads.length > this.workers.length) throw new Error(`a task takes at most ${this.workers.length} payloads, got ${payloads.length}`);
    const names = models.map((m) => this.nameOf(m));
    const versions = this.versions();
    const replies = await Promise.all(payloads.map((payload, i) => reply(this.workers[i]!, { op: 'task', versions, models: names, kind, payload } satisfies WorkerRequest)));
    return replies.map((r) => (r as { value: TaskResult[K] }).value);
  }

  /** Terminates every worker; idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * One optimiser step of `model` on loss `kind` over a batch of `items`: spread over the pool's
 * workers when there is a pool (each shard's mean loss weighted by `weight(shard)`, which must
 * sum to 1 over the shards; shards balanced by `opts.cost` when given), else computed here.
 * Returns the loss, gradient norm and aux.
 */
export async function lossStep<K extends ShardLossKind, T>(
  pool: ModelPool | undefined,
  optimizer: tf.Optimizer,
  model: PoolModel,
  kind: K,
  items: T[],
  payload: (part: T[]) => ShardPayload[K],
  weight: (part: T[]) => number,
  opts: { maxGradNorm: number; weightDecay?: number; lr?: number; cost?: (item: T) => number },
): Promise<PoolStepResult> {
  if (pool && pool.size > 1 && items.length > 1) {
    const parts = opts.cost ? balancedShards(items, pool.size, opts.cost) : splitShards(items, pool.size);
    return pool.step(optimizer, model, kind, parts.map((part) => ({ payload: payload(part), weight: weight(part) })), opts);
  }
  let kept: tf.Scalar[] = [];
  const result = optimiserStep(
    optimizer,
    model.trainableVariables(),
    () => {
      const out = LOSSES[kind](model, payload(items) as never) as { loss: tf.Scalar; aux?: tf.Scalar[] };
      kept = (out.aux ?? []).map((a) => tf.keep(a));
      return out.loss;
    },
    opts,
  );
  const aux = kept.map((a) => a.dataSync()[0]!);
  tf.dispose(kept);
  return { ...result, aux };
}

/**
 * Task `kind` over `count` items: split contiguously across the pool's workers when there is a
 * pool, else run here on the same models. `payload(start, end)` describes items start..end-1;
 * returns one result per part, in item order.
 */
export async function spread<K extends TaskKind>(pool: ModelPool | undefined, kind: K, models: PoolModel[], count: number, payload: (start: number, end: number) => TaskPayload[K]): Promise<TaskResult[K][]> {
  if (!pool || pool.size < 2 || count < 2) return [(await TASKS[kind](models, payload(0, count) as never)) as TaskResult[K]];
  const bounds = splitShards(Array.from({ length: count }, (_, i) => i), pool.size).map((s) => [s[0]!, s.at(-1)! + 1] as const);
  return pool.run(kind, models, bounds.map(([start, end]) => payload(start, end)));
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

// Entry of a GradientPool worker (see parallel.ts): its own TF.js backend and model copy; for each
// request it loads the shared weights, then returns the loss and flat gradients of its shard.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../model/backend.ts';
import { GPT, type ModelConfig } from '../model/transformer.ts';
import { batchLoss, type Example } from './sft.ts';

export interface WorkerData {
  backend: string;
  config: ModelConfig;
  /** The main thread's weights, written before every request; views a SharedArrayBuffer. */
  weights: Float32Array;
}

/** The losses a worker can compute, by name: the same functions as the single-thread paths. */
const LOSSES = {
  sft: (model: GPT, p: { examples: Example[]; padId: number }) => batchLoss(model, p.examples, p.padId),
};
export type ShardLossKind = keyof typeof LOSSES;
export type ShardPayload = { [K in ShardLossKind]: Parameters<(typeof LOSSES)[K]>[1] };

export interface GradsReply {
  type: 'grads';
  loss: number;
  /** Every variable's gradient back to back (zeros where `present` is false). */
  grads: Float32Array;
  /** present[i]: the loss depends on variable i (tf.variableGrads leaves the others out). */
  present: boolean[];
}
export type WorkerReply = { type: 'ready' } | GradsReply | { type: 'error'; message: string };

async function main(): Promise<void> {
  const port = parentPort!;
  const { backend, config, weights } = workerData as WorkerData;
  await initBackend(backend);
  const model = new GPT(config);
  const vars = model.trainableVariables();
  const send = (r: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(r, transfer);
  port.on('message', ({ kind, payload }: { kind: ShardLossKind; payload: ShardPayload[ShardLossKind] }) => {
    try {
      let at = 0;
      for (const v of vars) tf.tidy(() => v.assign(tf.tensor(weights.subarray(at, (at += v.size)), v.shape)));
      const { value, grads } = tf.variableGrads(() => LOSSES[kind](model, payload), vars);
      const flat = new Float32Array(weights.length);
      at = 0;
      const present = vars.map((v) => {
        const g = grads[v.name];
        if (g) flat.set(g.dataSync() as Float32Array, at);
        at += v.size;
        return g !== undefined;
      });
      const loss = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      send({ type: 'grads', loss, grads: flat, present }, [flat.buffer as ArrayBuffer]);
    } catch (err) {
      send({ type: 'error', message: (err as Error).message });
    }
  });
  send({ type: 'ready' });
}

main().catch((err: Error) => parentPort!.postMessage({ type: 'error', message: err.message } satisfies WorkerReply));

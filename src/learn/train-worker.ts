// Entry of a ModelPool worker (see parallel.ts): its own TF.js backend and copies of the pool's
// models. Each request names the weight versions it needs; the worker reloads a model from the
// shared weights when its copy is older, then computes a shard's gradients or runs a task.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../model/backend.ts';
import { GPT, RewardModel } from '../model/transformer.ts';
import { LOSSES, TASKS, type PoolModel, type WorkerData, type WorkerReply, type WorkerRequest } from './pool-work.ts';

async function main(): Promise<void> {
  const port = parentPort!;
  const data = workerData as WorkerData;
  await initBackend(data.backend);
  const models: Record<string, PoolModel> = {};
  const loaded: Record<string, number> = {};
  for (const [name, m] of Object.entries(data.models)) models[name] = m.kind === 'reward' ? new RewardModel(m.config) : new GPT(m.config);
  const sync = (versions: Record<string, number>) => {
    for (const [name, version] of Object.entries(versions)) {
      if (loaded[name] === version) continue;
      const weights = data.models[name]!.weights;
      let at = 0;
      for (const v of models[name]!.trainableVariables()) tf.tidy(() => v.assign(tf.tensor(weights.subarray(at, (at += v.size)), v.shape)));
      loaded[name] = version;
    }
  };
  const send = (r: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(r, transfer);
  port.on('message', async (req: WorkerRequest) => {
    const started = performance.now();
    try {
      sync(req.versions);
      if (req.op === 'task') {
        send({ type: 'result', value: await TASKS[req.kind](req.models.map((n) => models[n]!), req.payload as never) });
        return;
      }
      const vars = models[req.model]!.trainableVariables();
      let aux: tf.Scalar[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const out = LOSSES[req.kind](models[req.model]!, req.payload as never) as { loss: tf.Scalar; aux?: tf.Scalar[] };
        aux = (out.aux ?? []).map((t) => tf.keep(t));
        return out.loss;
      }, vars);
      const flat = new Float32Array(vars.reduce((n, v) => n + v.size, 0));
      let at = 0;
      const present = vars.map((v) => {
        const g = grads[v.name];
        if (g) flat.set(g.dataSync() as Float32Array, at);
        at += v.size;
        return g !== undefined;
      });
      const loss = value.dataSync()[0]!;
      const auxValues = aux.map((t) => t.dataSync()[0]!);
      tf.dispose([value, ...aux, ...Object.values(grads)]);
      send({ type: 'grads', loss, aux: auxValues, grads: flat, present, ms: performance.now() - started }, [flat.buffer as ArrayBuffer]);
    } catch (err) {
      send({ type: 'error', message: (err as Error).message });
    }
  });
  send({ type: 'ready' });
}

main().catch((err: Error) => parentPort!.postMessage({ type: 'error', message: err.message } satisfies WorkerReply));

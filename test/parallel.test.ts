import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCorpus } from '../src/learn/corpus.ts';
import { learnerConfig } from '../src/learn/config.ts';
import { trainDpo } from '../src/learn/dpo.ts';
import { ModelPool, splitShards, trainWorkerCount } from '../src/learn/parallel.ts';
import { trainPpo } from '../src/learn/ppo.ts';
import { pairLoss, trainRewardModel, type RewardPair } from '../src/learn/reward.ts';
import { optimiserStep } from '../src/learn/optim.ts';
import { sampleReplies } from '../src/learn/rollouts.ts';
import { trainSupervised } from '../src/learn/sft.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadDefaultTokenizer } from '../src/model/tokenizer.ts';
import { GPT, MODEL_SIZES, RewardModel } from '../src/model/transformer.ts';

const tokenizer = loadDefaultTokenizer();
const dialogues = loadCorpus(new URL('../data/corpus.jsonl', import.meta.url)).slice(0, 12);
let backend = '';

beforeAll(async () => {
  backend = await initBackend();
});

describe('trainSupervised with workers', () => {
  const models: GPT[] = [];
  afterAll(() => models.forEach((m) => m.dispose()));

  it('gives the single-thread weights and losses after 3 steps', async () => {
    const train = async (workers: number) => {
      const model = new GPT({ ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize }, { seed: 3 });
      models.push(model);
      // batchSize 5 over 2 workers: unequal shards of unequal token counts exercise the weighting.
      const { losses } = await trainSupervised(model, tokenizer, dialogues, { steps: 3, batchSize: 5, lr: 1e-2, seed: 2, workers });
      return { losses, weights: model.trainableVariables().map((v) => v.dataSync() as Float32Array) };
    };
    const single = await train(1);
    const parallel = await train(2);
    expect(parallel.losses).toHaveLength(3);
    parallel.losses.forEach((l, i) => expect(l).toBeCloseTo(single.losses[i]!, 5));
    let maxDiff = 0;
    let moved = 0;
    const init = new GPT({ ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize }, { seed: 3 });
    models.push(init);
    const start = init.trainableVariables().map((v) => v.dataSync());
    single.weights.forEach((w, i) =>
      w.forEach((x, j) => {
        maxDiff = Math.max(maxDiff, Math.abs(x - parallel.weights[i]![j]!));
        moved = Math.max(moved, Math.abs(x - start[i]![j]!));
      }),
    );
    expect(moved).toBeGreaterThan(1e-2); // training did change the weights
    expect(maxDiff).toBeLessThan(1e-4);
  });
});

/** Largest absolute difference between two models' weights. */
function weightDiff(a: { trainableVariables(): { dataSync(): unknown }[] }, b: typeof a): number {
  const wb = b.trainableVariables().map((v) => v.dataSync() as Float32Array);
  let max = 0;
  a.trainableVariables().forEach((v, i) => (v.dataSync() as Float32Array).forEach((x, j) => (max = Math.max(max, Math.abs(x - wb[i]![j]!)))));
  return max;
}

describe('learner phases with a ModelPool match this thread', () => {
  const config = { ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize };
  // Tiny settings; odd batch sizes give unequal shards, which exercises the weighting.
  const cfg = learnerConfig({ rmBatchSize: 5, rmEpochs: 1, rolloutPrompts: 6, rolloutBatchPrompts: 3, samplesPerPrompt: 2, maxNewTokens: 8, minibatchSize: 3, ppoEpochs: 2, dpoBatchSize: 3, dpoEpochs: 1, updateKlLimit: 10 });
  const prompts = dialogues.slice(0, 6).map((d) => d.slice(0, 1));
  const pairs: RewardPair[] = dialogues.slice(0, 11).map((d, i) => ({ promptKey: String(i), context: d.slice(0, 1), chosen: d[1]!.text, rejected: d[1]!.text.slice(0, 12 + i) }));

  /** Runs `phase` on fresh models, in this thread and with a 2-worker pool; returns both runs' outputs and models. */
  async function both<T>(phase: (m: { policy: GPT; reference: GPT; rm: RewardModel }, pool?: ModelPool) => Promise<T>) {
    const make = () => {
      const policy = new GPT(config, { seed: 5 });
      return { policy, reference: new GPT(config, { seed: 5 }), rm: RewardModel.fromPolicy(policy, 6) };
    };
    const single = make();
    const parallel = make();
    const pool = await ModelPool.start({ policy: parallel.policy, reference: parallel.reference, reward: parallel.rm }, 2, backend);
    try {
      const a = await phase(single);
      const b = await phase(parallel, pool);
      return { a, b, single, parallel };
    } finally {
      await pool.close();
    }
  }
  const dispose = (...sets: { policy: GPT; reference: GPT; rm: RewardModel }[]) => sets.forEach((m) => [m.policy, m.reference, m.rm].forEach((x) => x.dispose()));

  it('samples the same replies', async () => {
    const { a, b, single, parallel } = await both((m, pool) => sampleReplies(m.policy, tokenizer, prompts, { numSamples: 2, maxNewTokens: 8, temperature: 1, seed: 9 }, pool));
    expect(b.map((r) => r.text)).toEqual(a.map((r) => r.text));
    expect(b.map((r) => r.seq)).toEqual(a.map((r) => r.seq));
    dispose(single, parallel);
  });

  it('trains the same reward model (Bradley–Terry steps and scoring)', async () => {
    const { a, b, single, parallel } = await both((m, pool) => trainRewardModel(m.rm, tokenizer, pairs, cfg, { seed: 4, pool }));
    expect(b.steps).toBe(a.steps);
    expect(b.trainLoss).toBeCloseTo(a.trainLoss, 4);
    expect(b.normaliser.mean).toBeCloseTo(a.normaliser.mean, 3);
    // Adam turns float-level gradient differences into steps of up to ±lr where a gradient is ~0,
    // so the bound is relative to how far training moved the weights.
    const init = RewardModel.fromPolicy(new GPT(config, { seed: 5 }), 6);
    const moved = weightDiff(single.rm, init);
    expect(moved).toBeGreaterThan(5e-4); // it did train
    expect(weightDiff(single.rm, parallel.rm)).toBeLessThan(0.5 * moved);
    init.dispose();
    dispose(single, parallel);
  });

  it('takes the same PPO steps (rollouts, statistics, clipped updates)', async () => {
    const normaliser = { mean: 0, std: 1 };
    const { a, b, single, parallel } = await both((m, pool) => trainPpo(m.policy, m.reference, m.rm, tokenizer, prompts, normaliser, cfg, { seed: 3, pool }));
    expect(b.steps).toBe(a.steps);
    expect(b.steps).toBe(2 * 2 * 2); // 2 iterations × 2 epochs × 2 minibatches of 6 rollouts
    for (const key of ['meanRewardBefore', 'kl', 'clipFraction', 'approxKl', 'valueLoss', 'policyLoss'] as const) expect(b[key]).toBeCloseTo(a[key], 3);
    expect(weightDiff(single.policy, parallel.policy)).toBeLessThan(1e-4);
    expect(weightDiff(single.policy, single.reference)).toBeGreaterThan(1e-3); // it did train
    dispose(single, parallel);
  });

  it('takes the same DPO steps', async () => {
    const { a, b, single, parallel } = await both((m, pool) => trainDpo(m.policy, m.reference, tokenizer, pairs, { ...cfg, dpoLr: 1e-2 }, { seed: 2, pool }));
    expect(b.steps).toBe(a.steps);
    expect(b.dpoLoss).toBeCloseTo(a.dpoLoss, 4);
    expect(b.dpoAccuracy).toBeCloseTo(a.dpoAccuracy, 6);
    // At this lr (100x the default) Adam magnifies float-level differences of the summed
    // gradients (0.3% of the move here), so the bound is relative to how far the weights moved.
    const moved = weightDiff(single.policy, single.reference);
    expect(moved).toBeGreaterThan(1e-3); // it did train
    expect(weightDiff(single.policy, parallel.policy)).toBeLessThan(0.01 * moved);
    dispose(single, parallel);
  });
});

describe('ModelPool', () => {
  it('steps on the weighted sum of the shard gradients: plain SGD matches the whole batch within float error', async () => {
    const config = { ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize };
    const rows = dialogues.slice(0, 5).map((d) => tokenizer.renderChat(d.slice(0, 2), 64));
    const chosen = rows.map((r) => r.slice(0, 20));
    const rejected = rows.map((r) => r.slice(0, 11));
    const single = new RewardModel(config, { seed: 8 });
    const parallel = new RewardModel(config, { seed: 8 });
    const before = new RewardModel(config, { seed: 8 });
    const pool = await ModelPool.start({ reward: parallel }, 2, backend);
    const sgd = () => tf.train.sgd(0.5);
    try {
      const opts = { maxGradNorm: 1e9 };
      const whole = optimiserStep(sgd(), single.trainableVariables(), () => pairLoss(single, chosen, rejected, tokenizer.special.pad), opts);
      const shards = [[0, 1, 2], [3, 4]].map((idx) => ({ payload: { chosen: idx.map((i) => chosen[i]!), rejected: idx.map((i) => rejected[i]!), padId: tokenizer.special.pad }, weight: idx.length / 5 }));
      const split = await pool.step(sgd(), parallel, 'reward', shards, opts);
      expect(split.loss).toBeCloseTo(whole.loss, 5);
      expect(split.gradNorm).toBeCloseTo(whole.gradNorm, 4);
      expect(weightDiff(single, before)).toBeGreaterThan(1e-3);
      expect(weightDiff(single, parallel)).toBeLessThan(1e-5);
    } finally {
      await pool.close();
      [single, parallel, before].forEach((m) => m.dispose());
    }
  });

  it('refuses a model it does not hold, with what to do', async () => {
    const model = new GPT({ ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize });
    const pool = await ModelPool.start({ policy: model }, 1, backend);
    try {
      expect(() => pool.nameOf(model.clone())).toThrow(/does not hold that model: start the pool with it/);
    } finally {
      await pool.close();
      model.dispose();
    }
  });

  it('lets the process exit on its own after training (no hanging worker handles)', () => {
    const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
    const script = `
      import { initBackend } from ${url('../src/model/backend.ts')};
      import { trainSupervised } from ${url('../src/learn/sft.ts')};
      import { loadCorpus } from ${url('../src/learn/corpus.ts')};
      import { loadDefaultTokenizer } from ${url('../src/model/tokenizer.ts')};
      import { GPT, MODEL_SIZES } from ${url('../src/model/transformer.ts')};
      await initBackend();
      const tokenizer = loadDefaultTokenizer();
      const model = new GPT({ ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize });
      const dialogues = loadCorpus(new URL(${url('../data/corpus.jsonl')})).slice(0, 4);
      const { losses } = await trainSupervised(model, tokenizer, dialogues, { steps: 1, batchSize: 4, lr: 1e-3, seed: 1, workers: 2 });
      console.log('losses', losses.length);`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, LOG_LEVEL: 'warn' } });
    // A null signal: it exited by itself, not killed by the timeout.
    expect({ status: run.status, signal: run.signal, stderr: run.stderr.slice(-400) }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(run.stdout).toContain('losses 1');
  });
});

describe('splitShards', () => {
  it('splits contiguously into near-equal non-empty shards', () => {
    expect(splitShards([1, 2, 3, 4, 5], 2)).toEqual([[1, 2, 3], [4, 5]]);
    expect(splitShards([1], 3)).toEqual([[1]]);
  });
});

describe('trainWorkerCount', () => {
  it('reads TRAIN_WORKERS, else one per core, and 1 on node-gpu', () => {
    expect(trainWorkerCount(backend, { TRAIN_WORKERS: '3' })).toBe(3);
    expect(trainWorkerCount('node-gpu', {})).toBe(1);
    expect(trainWorkerCount('wasm', {})).toBeGreaterThanOrEqual(1);
    expect(() => trainWorkerCount('wasm', { TRAIN_WORKERS: 'two' })).toThrow(/TRAIN_WORKERS must be a positive integer/);
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { learnerConfig } from '../src/learn/config.ts';
import { AdaptiveKLController, clippedSurrogate, clippedValueLoss, gae, ppoStep, trainPpo } from '../src/learn/ppo.ts';
import { sampleReplies } from '../src/learn/rollouts.ts';
import { loadCorpus } from '../src/learn/corpus.ts';
import { trainSupervised } from '../src/learn/sft.ts';
import { Adam } from '../src/learn/adam.ts';
import { initBackend } from '../src/model/backend.ts';
import { mulberry32 } from '../src/model/prng.ts';
import { loadDefaultTokenizer } from '../src/model/tokenizer.ts';
import { GPT, MODEL_SIZES, RewardModel } from '../src/model/transformer.ts';

beforeAll(async () => {
  await initBackend();
});

describe('gae', () => {
  it('matches a hand-computed example, skipping prompt and padding positions', () => {
    const { advantages, returns } = gae(
      [
        [0, 0.5, -1, 1],
        [0, 2, 3, 0],
      ],
      [
        [9, 0.2, 0.4, 0.1],
        [0, 1, 1, 5],
      ],
      [
        [0, 1, 1, 1],
        [0, 1, 1, 0],
      ],
      0.9,
      0.5,
    );
    // Row 0, backwards: δ3 = 1 − 0.1 = 0.9; δ2 = −1 + 0.9·0.1 − 0.4 = −1.31, A2 = δ2 + 0.45·0.9;
    // δ1 = 0.5 + 0.9·0.4 − 0.2 = 0.66, A1 = δ1 + 0.45·A2.
    const expected0 = [0, 0.66 + 0.45 * (-1.31 + 0.45 * 0.9), -1.31 + 0.45 * 0.9, 0.9];
    advantages[0]!.forEach((a, t) => expect(a).toBeCloseTo(expected0[t]!, 10));
    expect(returns[0]).toEqual([0, expected0[1]! + 0.2, expected0[2]! + 0.4, expected0[3]! + 0.1].map((x, t) => (t === 0 ? 0 : expect.closeTo(x, 10))));
    // Row 1 ends at position 2: the value 5 of the padding position is never bootstrapped from.
    advantages[1]!.forEach((a, t) => expect(a).toBeCloseTo([0, 1.9 + 0.45 * 2, 2, 0][t]!, 10));
    returns[1]!.forEach((r, t) => expect(r).toBeCloseTo([0, 3.8, 3, 0][t]!, 10));
  });
});

describe('clipped objectives', () => {
  it('clips the surrogate where the ratio leaves 1 ± ε, and its gradient there', () => {
    const logRatio = tf.tensor2d([Math.log(1.5), Math.log(0.5), Math.log(1.1), 0], [1, 4]);
    const adv = tf.tensor2d([1, 1, -1, 2], [1, 4]);
    const mask = tf.tensor2d([1, 1, 1, 0], [1, 4]);
    const { loss, clipFraction } = clippedSurrogate(logRatio, adv, mask, 0.2);
    expect(loss.dataSync()[0]).toBeCloseTo((-1.2 - 0.5 + 1.1) / 3, 5);
    expect(clipFraction.dataSync()[0]).toBeCloseTo(2 / 3, 5);
    const grad = tf.grad((x: tf.Tensor) => clippedSurrogate(x, adv, mask, 0.2).loss)(logRatio);
    // Token 0 is clipped (no gradient); token 1 is not (a smaller ratio is never clipped upward).
    Array.from(grad.dataSync()).forEach((g, t) => expect(g).toBeCloseTo([0, -0.5 / 3, 1.1 / 3, 0][t]!, 5));
    tf.dispose([logRatio, adv, mask, loss, clipFraction, grad]);
  });

  it('takes the worse of the clipped and unclipped value errors', () => {
    const values = tf.tensor2d([[2, 0.5]]);
    const old = tf.tensor2d([[1, 0]]);
    const ret = tf.tensor2d([[1, 1]]);
    const mask = tf.tensor2d([[1, 1]]);
    // Token 0: V = 2, clipped 1.2: max(1, 0.04) = 1. Token 1: V = 0.5, clipped 0.2: max(0.25, 0.64) = 0.64.
    const loss = clippedValueLoss(values, old, ret, mask, 0.2);
    expect(loss.dataSync()[0]).toBeCloseTo(0.5 * (1 + 0.64) / 2, 5);
    tf.dispose([values, old, ret, mask, loss]);
  });
});

describe('AdaptiveKLController', () => {
  it('moves β proportionally to the KL error, clipped to ±20%, scaled by n/horizon', () => {
    const c = new AdaptiveKLController(0.1, 6, 100);
    expect(c.update(12, 10)).toBeCloseTo(0.1 * 1.02, 10); // error clipped to +0.2
    expect(c.update(3, 10)).toBeCloseTo(0.1 * 1.02 * 0.98, 10); // −0.5 clipped to −0.2
    expect(c.update(6.6, 50)).toBeCloseTo(0.1 * 1.02 * 0.98 * 1.05, 10);
    const fixed = new AdaptiveKLController(0.1, 6, 100, false);
    expect(fixed.update(60, 100)).toBe(0.1);
  });
});

describe('PPO on a tiny model', () => {
  const tokenizer = loadDefaultTokenizer();
  const config = { ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize };
  const dialogues = loadCorpus(new URL('../data/corpus.jsonl', import.meta.url)).slice(0, 64);
  const prompts = dialogues.slice(0, 8).map((d) => d.slice(0, 1));

  it('raises a toy reward signal (shorter replies) and moves away from the reference', async () => {
    // A briefly supervised model, so replies end by themselves sometimes and length can be learned.
    const policy = new GPT(config, { seed: 4 });
    await trainSupervised(policy, tokenizer, dialogues, { steps: 60, batchSize: 8, lr: 5e-3, seed: 1 });
    const reference = policy.clone();
    const maxNewTokens = 16;
    const cfg = learnerConfig({ maxNewTokens, ppoEpochs: 4, minibatchSize: 16, ppoLr: 3e-3, initKlCoef: 0.01, updateKlLimit: 10 });
    const before = tf.memory().numTensors;
    const optimizer = new Adam(cfg.ppoLr);
    const rand = mulberry32(1);
    const rewards: number[] = [];
    let lastKl = 0;
    try {
      for (let it = 0; it < 8; it++) {
        const rollouts = await sampleReplies(policy, tokenizer, prompts, { numSamples: 4, maxNewTokens, temperature: 1, seed: 100 + it });
        const scores = rollouts.map((r) => 1 - (r.seq.ids.length - r.seq.promptLength) / maxNewTokens);
        rewards.push(scores.reduce((a, b) => a + b, 0) / scores.length);
        const stats = await ppoStep(policy, reference, rollouts, scores, cfg.initKlCoef, optimizer, tokenizer.special.pad, cfg, rand);
        expect(stats.steps).toBe(8);
        for (const v of Object.values(stats)) expect(Number.isFinite(Number(v))).toBe(true);
        lastKl = stats.kl;
      }
    } finally {
      optimizer.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(rewards[0]).toBeLessThan(0.4);
    expect((rewards[6]! + rewards[7]!) / 2).toBeGreaterThan(rewards[0]! + 0.3);
    expect(lastKl).toBeGreaterThan(1);
    policy.dispose();
    reference.dispose();
  });

  it('trainPpo runs iterations end to end with a reward model and reports every metric', async () => {
    const policy = new GPT(config, { seed: 6 });
    const reference = policy.clone();
    const rm = RewardModel.fromPolicy(policy, 1);
    const cfg = learnerConfig({ maxNewTokens: 8, rolloutBatchPrompts: 4, samplesPerPrompt: 2, ppoEpochs: 1, minibatchSize: 8, rmMaxReplyTokens: 8 });
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    try {
      const result = await trainPpo(policy, reference, rm, tokenizer, prompts, { mean: 0, std: 1 }, cfg, { seed: 3, onProgress: (i) => seen.push(i) });
      expect(seen).toEqual([1, 2]);
      expect(result.iterations).toBe(2);
      expect(result.steps).toBe(2);
      for (const v of Object.values(result)) expect(Number.isFinite(v)).toBe(true);
      expect(result.klCoef).toBeGreaterThan(0);
      expect(tf.memory().numTensors).toBe(before);
      await expect(trainPpo(policy, reference, rm, tokenizer, [], { mean: 0, std: 1 }, cfg, { seed: 1 })).rejects.toThrow(/rollout prompts/);
    } finally {
      for (const m of [policy, reference, rm]) m.dispose();
    }
  });
});


import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { learnerConfig } from '../src/learn/config.ts';
import { bradleyTerryLoss, pairwiseAccuracy, scoreReplies, splitByPrompt, trainRewardModel, type RewardPair } from '../src/learn/reward.ts';
import { encodeReply } from '../src/learn/sequences.ts';
import { initBackend } from '../src/model/backend.ts';
import { mulberry32 } from '../src/model/prng.ts';
import { loadDefaultTokenizer } from '../src/model/tokenizer.ts';
import { GPT, MODEL_SIZES, RewardModel } from '../src/model/transformer.ts';

const tokenizer = loadDefaultTokenizer();

beforeAll(async () => {
  await initBackend();
});

const lossOf = (margins: number[]) => tf.tidy(() => bradleyTerryLoss(tf.tensor1d(margins)).dataSync()[0]!);

describe('bradleyTerryLoss', () => {
  it('is −log σ(margin), averaged, and stays finite for huge margins', () => {
    expect(lossOf([0])).toBeCloseTo(Math.log(2), 6);
    expect(lossOf([2, -1])).toBeCloseTo((Math.log1p(Math.exp(-2)) + Math.log1p(Math.exp(1))) / 2, 5);
    expect(lossOf([1000])).toBeCloseTo(0, 6);
    expect(lossOf([-1000])).toBeCloseTo(1000, 1);
  });

  it('has gradient −σ(−m)/n', () => {
    const g = tf.tidy(() => tf.grad((m: tf.Tensor) => bradleyTerryLoss(m as tf.Tensor1D))(tf.tensor1d([0, 3])).arraySync() as number[]);
    expect(g[0]).toBeCloseTo(-0.5 / 2, 5);
    expect(g[1]).toBeCloseTo(-1 / (1 + Math.exp(3)) / 2, 5);
  });
});

describe('pairwiseAccuracy', () => {
  it('counts chosen > rejected, ties half', () => {
    expect(pairwiseAccuracy([3, 1, 2, 5], [1, 2, 2, 0])).toBe((1 + 0 + 0.5 + 1) / 4);
    expect(() => pairwiseAccuracy([1], [])).toThrow(/one rejected score per chosen/);
  });
});

describe('splitByPrompt', () => {
  it('is deterministic per seed and never splits a prompt', () => {
    const pairs = Array.from({ length: 400 }, (_, i) => ({ promptKey: `p${i % 100}`, i }));
    const a = splitByPrompt(pairs, 0.2, 7);
    expect(splitByPrompt(pairs, 0.2, 7)).toEqual(a);
    const heldKeys = new Set(a.heldOut.map((p) => p.promptKey));
    expect(a.train.some((p) => heldKeys.has(p.promptKey))).toBe(false);
    expect(heldKeys.size).toBeGreaterThan(8);
    expect(heldKeys.size).toBeLessThan(35);
    expect(splitByPrompt(pairs, 0.2, 8).heldOut).not.toEqual(a.heldOut);
  });
});

describe('encodeReply', () => {
  it('renders the context, then the reply cut to its budget, then eot', () => {
    const seq = encodeReply(tokenizer, [{ role: 'user', text: 'hi there' }], 'word '.repeat(50), 64, 10);
    expect(seq.ids).toHaveLength(seq.promptLength + 10);
    expect(seq.ids.at(-1)).toBe(tokenizer.special.eot);
    expect(seq.ids[seq.promptLength - 1]).toBe(tokenizer.special.bot);
    expect(() => encodeReply(tokenizer, [{ role: 'user', text: 'x' }], 'y', 64, 62)).toThrow(/does not fit/);
  });
});

/** Toy preferences: the reply with "great" in it is chosen; prompts and fillers vary. */
function toyPairs(n: number, seed: number): RewardPair[] {
  const rand = mulberry32(seed);
  const prompts = ['hi', 'how are you?', 'tell me a joke', 'what is the weather like', 'I like tea', 'any plans today?', 'good morning', 'thanks!'];
  const fillers = ['that sounds', 'it is', 'oh that is', 'well that seems', 'I think it is', 'sure, that is'];
  const plain = ['fine', 'okay', 'cool', 'alright', 'normal', 'true'];
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  return Array.from({ length: n }, (_, i) => {
    const prompt = pick(prompts);
    return {
      promptKey: `${prompt}#${i % 40}`,
      context: [{ role: 'user' as const, text: prompt }],
      chosen: `${pick(fillers)} great`,
      rejected: `${pick(fillers)} ${pick(plain)}`,
    };
  });
}

describe('trainRewardModel', () => {
  it('learns a toy preference: held-out accuracy high, normalised scores centred', async () => {
    const policy = new GPT({ ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize }, { seed: 3 });
    const rm = RewardModel.fromPolicy(policy, 5);
    policy.dispose();
    const cfg = learnerConfig({ rmEpochs: 4, rmLr: 2e-3, rmBatchSize: 16, rmHeldOutFraction: 0.25, rmMaxReplyTokens: 16 });
    const tensorsBefore = tf.memory().numTensors;
    const progress: number[] = [];
    try {
      const result = await trainRewardModel(rm, tokenizer, toyPairs(240, 1), cfg, { seed: 11, onProgress: (done, total) => progress.push(done / total) });
      expect(progress.at(-1)).toBe(1);
      expect(result.heldOutPairs).toBeGreaterThan(20);
      expect(result.trainPairs + result.heldOutPairs).toBe(240);
      expect(result.heldOutAccuracy).toBeGreaterThanOrEqual(0.9);
      expect(result.heldOutLoss).toBeLessThan(0.4);
      expect(result.trainLoss).toBeLessThan(Math.log(2));

      const fresh = toyPairs(20, 99);
      const items = fresh.flatMap((p) => [
        { context: p.context, reply: p.chosen },
        { context: p.context, reply: p.rejected },
      ]);
      const scores = await scoreReplies(rm, tokenizer, items, result.normaliser, cfg.rmMaxReplyTokens);
      const chosen = scores.filter((_, i) => i % 2 === 0);
      const rejected = scores.filter((_, i) => i % 2 === 1);
      expect(pairwiseAccuracy(chosen, rejected)).toBeGreaterThanOrEqual(0.9);
      const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
      expect(Math.abs(mean)).toBeLessThan(0.5);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
    } finally {
      rm.dispose();
    }
  });

  it('refuses an empty pair set with what to do', async () => {
    const rm = new RewardModel({ ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize });
    try {
      await expect(trainRewardModel(rm, tokenizer, [], learnerConfig(), { seed: 1 })).rejects.toThrow(/collect votes/);
    } finally {
      rm.dispose();
    }
  });
});

describe('learnerConfig', () => {
  it('applies overrides and names a bad or unknown setting', () => {
    expect(learnerConfig({ rmEpochs: 7 }).rmEpochs).toBe(7);
    expect(() => learnerConfig({ clipRange: -1 })).toThrow(/clipRange must be a positive number/);
    expect(() => learnerConfig({ rmHeldOutFraction: 1 })).toThrow(/rmHeldOutFraction/);
    expect(() => learnerConfig({ nope: 1 } as never)).toThrow(/unknown learner setting "nope"/);
  });
});

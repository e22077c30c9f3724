import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { learnerConfig } from '../src/learn/config.ts';
import { distinctN, evaluatePolicy, gateDecision, repeatsTrigram, type PolicyEvaluation } from '../src/learn/evaluate.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadDefaultTokenizer } from '../src/model/tokenizer.ts';
import { GPT, MODEL_SIZES, RewardModel } from '../src/model/transformer.ts';

const cfg = learnerConfig({ gateMinRewardMargin: 0.05, gateMaxKl: 20, gateDistinct2CollapseFactor: 2, gateMaxLengthRatio: 2, gateMaxSignalWorsening: 0.1 });

const live: PolicyEvaluation = {
  meanReward: 0,
  kl: 3,
  distinct2: 0.6,
  identicalPairShare: 0.05,
  repetitionShare: 0.1,
  meanLength: 20,
  nan: false,
  referenceReward: 0,
  prompts: 32,
};
const better = { ...live, meanReward: 0.5, kl: 6 };

describe('gateDecision', () => {
  it('publishes a candidate that beats the live policy within every bound', () => {
    const d = gateDecision(better, live, cfg);
    expect(d.pass).toBe(true);
    expect(d.reason).toMatch(/mean reward/);
  });

  it('rejects a worse policy, or one not better by the margin', () => {
    expect(gateDecision({ ...live, meanReward: -0.3 }, live, cfg)).toMatchObject({ pass: false, reason: expect.stringMatching(/does not beat/) });
    expect(gateDecision({ ...live, meanReward: 0.04 }, live, cfg).pass).toBe(false);
  });

  it('rejects a reward gain that comes with longer replies (a reward model paying for length)', () => {
    // Figures of scripts/reward-hacking.ts: replies 20.7 -> 26.3 tokens while reward rose by 0.57.
    const longer = { ...better, meanReward: 0.57, meanLength: 26.3 * (live.meanLength / 20.7) };
    expect(gateDecision(longer, live, cfg)).toMatchObject({ pass: false, reason: expect.stringMatching(/grew 1\.27x longer .*paying for length/) });
    // Shorter replies with more reward are fine, and so is a small growth.
    expect(gateDecision({ ...better, meanLength: 12 }, live, cfg).pass).toBe(true);
    expect(gateDecision({ ...better, meanLength: 23 }, live, cfg).pass).toBe(true);
  });

  it('rejects a collapsed policy even when its reward is higher', () => {
    const collapsed = { ...better, meanReward: 2, distinct2: 0.2 };
    expect(gateDecision(collapsed, live, cfg)).toMatchObject({ pass: false, reason: expect.stringMatching(/distinct-2 collapsed/) });
  });

  it('rejects NaN, a KL beyond the bound and a length out of ratio', () => {
    expect(gateDecision({ ...better, nan: true }, live, cfg).reason).toMatch(/NaN/);
    expect(gateDecision({ ...better, kl: 25 }, live, cfg).reason).toMatch(/KL to the reference 25.0 exceeds the bound 20.0/);
    expect(gateDecision({ ...better, meanLength: 9 }, live, cfg).reason).toMatch(/mean reply length/);
    expect(gateDecision({ ...better, meanLength: 41 }, live, cfg).reason).toMatch(/mean reply length/);
    expect(gateDecision({ ...better, meanLength: 11 }, live, cfg).pass).toBe(true);
  });

  it('rejects a reward gain that comes with more identical pairs or repetition', () => {
    expect(gateDecision({ ...better, identicalPairShare: 0.3 }, live, cfg).reason).toMatch(/identical-pair share.*reward hacking/);
    expect(gateDecision({ ...better, repetitionShare: 0.25 }, live, cfg).reason).toMatch(/repetition share/);
    expect(gateDecision({ ...better, repetitionShare: 0.15 }, live, cfg).pass).toBe(true);
  });
});

describe('diversity measures', () => {
  it('distinct-n and trigram repetition', () => {
    expect(distinctN([[1, 2, 3], [1, 2, 4]], 2)).toBe(3 / 4);
    expect(distinctN([[1]], 2)).toBe(0);
    expect(repeatsTrigram([1, 2, 3, 9, 1, 2, 3])).toBe(true);
    expect(repeatsTrigram([1, 2, 3, 1, 2, 4])).toBe(false);
  });
});

describe('evaluatePolicy', () => {
  const tokenizer = loadDefaultTokenizer();
  const config = { ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize };
  const prompts = ['hi', 'how are you?', 'tell me a joke', 'good morning'].map((text) => [{ role: 'user' as const, text }]);
  const gateCfg = learnerConfig({ maxNewTokens: 12, gateTemperature: 1, rmMaxReplyTokens: 12 });

  beforeAll(async () => {
    await initBackend();
  });

  /** A policy that always predicts one token: ln_f outputs a fixed direction that token's embedding matches. */
  function collapsedCopy(model: GPT, token: number): GPT {
    const copy = model.clone();
    const C = config.nEmbd;
    const direction = tf.tidy(() => tf.mul(tf.reshape(tf.oneHot(tf.tensor1d([0], 'int32'), C), [C]), 10));
    const weights = copy.getWeights();
    tf.tidy(() => {
      (weights.get('ln_f.g') as tf.Variable).assign(tf.zeros([C]));
      (weights.get('ln_f.b') as tf.Variable).assign(direction);
      const wte = weights.get('wte') as tf.Variable;
      const row = tf.reshape(tf.oneHot(tf.tensor1d([token], 'int32'), config.vocabSize), [config.vocabSize, 1]);
      wte.assign(tf.add(tf.mul(wte, tf.sub(1, row)), tf.mul(row, tf.reshape(direction, [1, C]))));
    });
    direction.dispose();
    return copy;
  }

  it('measures a policy against itself (KL 0) and catches a collapsed one at the gate', async () => {
    const policy = new GPT(config, { seed: 1 });
    const rm = RewardModel.fromPolicy(policy, 2);
    const collapsed = collapsedCopy(policy, tokenizer.encode(' the')[0]!);
    const normaliser = { mean: 0, std: 1 };
    try {
      const before = tf.memory().numTensors;
      const own = await evaluatePolicy(policy, policy, rm, tokenizer, prompts, normaliser, gateCfg, 5);
      expect(tf.memory().numTensors).toBe(before);
      expect(own.kl).toBeCloseTo(0, 4);
      expect(own.nan).toBe(false);
      expect(own.prompts).toBe(4);
      expect(own.meanLength).toBeGreaterThan(0);
      expect(own.distinct2).toBeGreaterThan(0.8); // a random tiny model rarely repeats a bigram
      expect(own.referenceReward).toBeCloseTo(own.meanReward, 5); // same model, same seed
      expect(await evaluatePolicy(policy, policy, rm, tokenizer, prompts, normaliser, gateCfg, 5)).toEqual(own);

      const bad = await evaluatePolicy(collapsed, policy, rm, tokenizer, prompts, normaliser, gateCfg, 5);
      expect(bad.distinct2).toBeLessThan(0.2);
      expect(bad.repetitionShare).toBe(1);
      expect(bad.identicalPairShare).toBe(1);
      expect(bad.kl).toBeGreaterThan(10);
      const decision = gateDecision({ ...bad, meanReward: own.meanReward + 1 }, own, learnerConfig({ gateMaxKl: 1e6 }));
      expect(decision.pass).toBe(false);
      expect(decision.reason).toMatch(/distinct-2 collapsed/);
    } finally {
      for (const m of [policy, rm, collapsed]) m.dispose();
    }
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { learnerConfig } from '../src/learn/config.ts';
import { trainDpo } from '../src/learn/dpo.ts';
import type { RewardPair } from '../src/learn/reward.ts';
import { encodeReply, sequenceLogProbs } from '../src/learn/sequences.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadDefaultTokenizer } from '../src/model/tokenizer.ts';
import { GPT, MODEL_SIZES } from '../src/model/transformer.ts';

const tokenizer = loadDefaultTokenizer();

beforeAll(async () => {
  await initBackend();
});

const prompts = ['hi', 'how are you?', 'tell me a joke', 'good morning', 'I like tea', 'any plans today?'];
const pairsFor = (texts: string[]): RewardPair[] =>
  texts.flatMap((text, i) => [
    { promptKey: `${i}a`, context: [{ role: 'user' as const, text }], chosen: 'that sounds great', rejected: 'that sounds fine' },
    { promptKey: `${i}b`, context: [{ role: 'user' as const, text }], chosen: 'oh great', rejected: 'oh okay' },
  ]);

describe('trainDpo', () => {
  it('raises the chosen replies over the rejected ones relative to the reference, also on unseen prompts', async () => {
    const policy = new GPT({ ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize }, { seed: 2 });
    const reference = policy.clone();
    const cfg = learnerConfig({ dpoEpochs: 6, dpoLr: 3e-3, dpoBatchSize: 6, dpoBeta: 0.1, rmMaxReplyTokens: 12 });
    const before = tf.memory().numTensors;
    try {
      const result = await trainDpo(policy, reference, tokenizer, pairsFor(prompts), cfg, { seed: 1 });
      expect(result.steps).toBe(12);
      expect(result.dpoLoss).toBeLessThan(Math.log(2));
      expect(result.dpoAccuracy).toBeGreaterThan(0.9);
      expect(result.dpoMargin).toBeGreaterThan(0);
      expect(tf.memory().numTensors).toBe(before);

      const unseen = pairsFor(['what is your name?', 'I am tired']);
      const seqs = (side: 'chosen' | 'rejected') => unseen.map((p) => encodeReply(tokenizer, p.context, p[side], 64, 12));
      const logp = async (model: GPT, side: 'chosen' | 'rejected') => sequenceLogProbs(model, seqs(side), tokenizer.special.pad, 8);
      const [pc, pr, rc, rr] = await Promise.all([logp(policy, 'chosen'), logp(policy, 'rejected'), logp(reference, 'chosen'), logp(reference, 'rejected')]);
      pc.forEach((_, i) => expect(pc[i]! - rc[i]! - (pr[i]! - rr[i]!)).toBeGreaterThan(0));
    } finally {
      policy.dispose();
      reference.dispose();
    }
  });
});

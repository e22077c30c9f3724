import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/model/backend.ts';
import { generate, nucleusCut, type GenerateOptions } from '../src/model/generate.ts';
import { mulberry32 } from '../src/model/prng.ts';
import { GPT, MODEL_SIZES, tokenLogProbs } from '../src/model/transformer.ts';

const CFG = { ...MODEL_SIZES.tiny, contextLength: 48, vocabSize: 53 };
const PROMPT = [5, 9, 2, 44, 17, 3, 3, 8];
const OPTS: GenerateOptions = { numSamples: 2, maxNewTokens: 12, temperature: 1, topP: 1, seed: 42, eotId: -1 };

let model: GPT;
beforeAll(async () => {
  await initBackend('wasm');
  model = new GPT(CFG, { seed: 5 });
});
afterAll(() => model.dispose());

describe('nucleusCut', () => {
  it('finds the smallest kept probability as a full sort would, ties included', () => {
    const rand = mulberry32(3);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(rand() * 60);
      // Few distinct values make ties common.
      const values = Float64Array.from({ length: n }, () => (trial % 2 ? Math.floor(rand() * 5) + 1 : Math.exp(-8 * rand())));
      const sum = values.reduce((a, b) => a + b, 0);
      const topP = [0.01, 0.3, 0.5, 0.9, 0.999][trial % 5];
      const sorted = [...values].sort((a, b) => b - a);
      let mass = 0;
      let k = 0;
      while (mass < topP * sum) mass += sorted[k++];
      expect(nucleusCut(values.slice(), topP * sum)).toBe(sorted[k - 1]);
    }
    // Rounding can ask for a little more than the total: everything is kept.
    expect(nucleusCut(Float64Array.from([3, 1, 2, 1]), 7.000001)).toBe(1);
  });
});

describe('generate', () => {
  it('is deterministic for a seed and varies across seeds', async () => {
    const a = await generate(model, PROMPT, OPTS);
    const b = await generate(model, PROMPT, OPTS);
    const c = await generate(model, PROMPT, { ...OPTS, seed: 43 });
    expect(a).toEqual(b);
    expect(a).toHaveLength(2);
    expect(a[0].tokenIds).toHaveLength(12);
    expect(a[0].tokenIds).not.toEqual(a[1].tokenIds); // two candidates differ
    expect(c.map((s) => s.tokenIds)).not.toEqual(a.map((s) => s.tokenIds));
  });

  it('samples the same tokens with and without the KV cache', async () => {
    for (const opts of [OPTS, { ...OPTS, temperature: 0.7, topP: 0.9, seed: 1, maxNewTokens: 30 }]) {
      const cached = await generate(model, PROMPT, opts);
      const full = await generate(model, PROMPT, { ...opts, useCache: false });
      expect(full.map((s) => s.tokenIds)).toEqual(cached.map((s) => s.tokenIds));
      for (let b = 0; b < 2; b++) {
        full[b].logprobs.forEach((lp, i) => expect(Math.abs(lp - cached[b].logprobs[i])).toBeLessThan(1e-4));
      }
    }
  });

  it('reports log π(token) at temperature 1, as tokenLogProbs recomputes it', async () => {
    const [sample] = await generate(model, PROMPT, { ...OPTS, numSamples: 1, temperature: 0.6, topP: 0.8 });
    const seq = [...PROMPT, ...sample.tokenIds];
    const recomputed = tf.tidy(() => {
      const ids = tf.tensor2d([seq.slice(0, -1)], [1, seq.length - 1], 'int32');
      const targets = tf.tensor2d([seq.slice(1)], [1, seq.length - 1], 'int32');
      return Array.from(tokenLogProbs(model.forward(ids).logits, targets).dataSync()).slice(PROMPT.length - 1);
    });
    expect(recomputed).toHaveLength(sample.logprobs.length);
    recomputed.forEach((lp, i) => expect(Math.abs(lp - sample.logprobs[i])).toBeLessThan(1e-4));
  });

  it('keeps only the nucleus: a tiny topP or temperature 0 picks the most likely token', async () => {
    const greedy = await generate(model, PROMPT, { ...OPTS, temperature: 0 });
    const nucleus = await generate(model, PROMPT, { ...OPTS, topP: 1e-6, seed: 9 });
    expect(nucleus.map((s) => s.tokenIds)).toEqual(greedy.map((s) => s.tokenIds));
    expect(greedy[0].tokenIds).toEqual(greedy[1].tokenIds);
  });

  it('stops a row at eotId and includes it', async () => {
    const [greedy] = await generate(model, PROMPT, { ...OPTS, numSamples: 1, temperature: 0 });
    const eotId = greedy.tokenIds[3];
    const stop = greedy.tokenIds.indexOf(eotId);
    const [stopped] = await generate(model, PROMPT, { ...OPTS, numSamples: 1, temperature: 0, eotId });
    expect(stopped.tokenIds).toEqual(greedy.tokenIds.slice(0, stop + 1));
    expect(stopped.logprobs).toHaveLength(stop + 1);
  });

  it('cuts the prompt from the left to fit the context', async () => {
    const long = Array.from({ length: 70 }, (_, i) => (i * 11) % CFG.vocabSize);
    const opts = { ...OPTS, maxNewTokens: 10 };
    const got = await generate(model, long, opts);
    expect(got).toEqual(await generate(model, long.slice(-38), opts));
  });

  it('rejects bad options with one clear line', async () => {
    await expect(generate(model, [], OPTS)).rejects.toThrow(/promptIds is empty/);
    await expect(generate(model, [1, 99], OPTS)).rejects.toThrow(/prompt token 99 is not an id in 0..52/);
    await expect(generate(model, PROMPT, { ...OPTS, maxNewTokens: 48 })).rejects.toThrow(/maxNewTokens must be an integer in 1..47/);
    await expect(generate(model, PROMPT, { ...OPTS, topP: 0 })).rejects.toThrow(/topP must be in \(0, 1\]/);
    await expect(generate(model, PROMPT, { ...OPTS, eotId: 53 })).rejects.toThrow(/eotId/);
  });

  it('leaves no tensor behind over 1,000 generations', async () => {
    const opts = { ...OPTS, maxNewTokens: 3 };
    await generate(model, PROMPT, opts);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) await generate(model, PROMPT.slice(0, 3), { ...opts, seed: i });
    expect(tf.memory().numTensors).toBe(before);
  });
});

// Supervised fine-tuning: next-token loss on the bot turns of whole dialogues (the bot's text
// and its closing eot; never the user's words, role tokens or padding), Adam with global-norm
// clipping. This trains the first policy before any votes exist.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../model/backend.ts';
import { mulberry32 } from '../model/prng.ts';
import type { Tokenizer, Turn } from '../model/tokenizer.ts';
import type { GPT } from '../model/transformer.ts';
import { Adam } from './adam.ts';
import { lossStep, ModelPool } from './parallel.ts';
import { nextTokenLogProbs, padBatch } from './sequences.ts';

export interface SftOptions {
  /** Optimiser steps to run; give this or `epochs`. */
  steps?: number;
  /** Passes over the dialogues: steps = ceil(epochs · dialogues / batchSize). */
  epochs?: number;
  /** Dialogues per step. */
  batchSize: number;
  /** Adam learning rate. */
  lr: number;
  /** Seed of the dialogue shuffling (the model's init has its own). */
  seed: number;
  /** Global gradient-norm clip; default SFT_MAX_GRAD_NORM. */
  maxGradNorm?: number;
  /** Threads computing each step's gradients (data parallel, see parallel.ts); 1 = in this thread. Default 1. */
  workers?: number;
  onProgress?: (done: number, total: number, loss: number) => void;
}

export const SFT_MAX_GRAD_NORM = 1;

/** A dialogue as model input: ids, and which of them the loss predicts. */
export interface Example {
  ids: number[];
  /** isTarget[i]: ids[i] is bot text or a bot turn's eot. */
  isTarget: boolean[];
}

/**
 * The template's tokens of a whole dialogue. One longer than the context keeps its last
 * contextLength tokens (the newest turns, as renderChat does); none without a bot target left.
 */
export function sftExample(tokenizer: Tokenizer, turns: Turn[], contextLength: number): Example | undefined {
  const ids: number[] = [];
  const isTarget: boolean[] = [];
  for (const turn of turns) {
    const turnIds = tokenizer.encodeTurn(turn);
    ids.push(...turnIds);
    // The role token is given by the template; what follows it in a bot turn is learned.
    isTarget.push(false, ...turnIds.slice(1).map(() => turn.role === 'bot'));
  }
  const start = Math.max(0, ids.length - contextLength);
  const example = { ids: ids.slice(start), isTarget: isTarget.slice(start) };
  return example.isTarget.slice(1).some(Boolean) ? example : undefined;
}

/** Tokens of `e` the loss predicts. */
function targetCount(e: Example): number {
  return e.isTarget.slice(1).filter(Boolean).length;
}

/** Mean negative log-likelihood of the target tokens of `batch`, a scalar. */
export function batchLoss(model: GPT, batch: Example[], padId: number): tf.Scalar {
  return tf.tidy(() => {
    const ids = padBatch(batch.map((e) => e.ids), padId); // (B, T)
    const [B, T] = ids.shape;
    // Position t predicts ids[t + 1], so the mask is isTarget shifted left by one: (B, T-1).
    const mask = new Float32Array(B * (T - 1));
    batch.forEach((e, b) => e.isTarget.forEach((target, i) => i > 0 && target && (mask[b * (T - 1) + i - 1] = 1)));
    const { logprobs } = nextTokenLogProbs(model, ids, mask); // (B, T-1), 0 outside the mask
    return tf.neg(tf.div(tf.sum(logprobs), mask.reduce((n, m) => n + m, 0))) as tf.Scalar;
  });
}

function examplesOf(model: GPT, tokenizer: Tokenizer, dialogues: Turn[][]): Example[] {
  if (tokenizer.vocabSize !== model.config.vocabSize) {
    throw new Error(`tokenizer has ${tokenizer.vocabSize} tokens but the model expects ${model.config.vocabSize}: build the model with vocabSize = tokenizer.vocabSize`);
  }
  const examples = dialogues.map((d) => sftExample(tokenizer, d, model.config.contextLength)).filter((e) => e !== undefined);
  if (examples.length === 0) throw new Error('no dialogue has a bot turn to learn from: check the corpus');
  return examples;
}

/** Trains `model` in place; returns the loss of every step. */
export async function trainSupervised(model: GPT, tokenizer: Tokenizer, dialogues: Turn[][], opts: SftOptions): Promise<{ losses: number[] }> {
  const { batchSize, lr, seed, maxGradNorm = SFT_MAX_GRAD_NORM, workers = 1 } = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`SFT batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`SFT workers must be a positive integer, got ${workers}`);
  if (!(lr > 0)) throw new Error(`SFT lr must be a positive number, got ${lr}`);
  if ((opts.steps === undefined) === (opts.epochs === undefined)) throw new Error('SFT needs exactly one of steps or epochs');
  const examples = examplesOf(model, tokenizer, dialogues);
  const steps = opts.steps ?? Math.ceil(((opts.epochs ?? 0) * examples.length) / batchSize);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`SFT must run at least one step, got steps=${opts.steps} epochs=${opts.epochs}`);

  const rand = mulberry32(seed);
  let order: number[] = [];
  const nextBatch = (): Example[] => {
    const batch: Example[] = [];
    while (batch.length < Math.min(batchSize, examples.length)) {
      if (order.length === 0) order = shuffled(examples.length, rand); // a fresh epoch
      batch.push(examples[order.pop()!]!);
    }
    return batch;
  };

  const padId = tokenizer.special.pad;
  const optimizer = new Adam(lr);
  const losses: number[] = [];
  const pool = workers > 1 ? await ModelPool.start({ policy: model }, workers, await initBackend()) : undefined;
  try {
    for (let step = 1; step <= steps; step++) {
      const batch = nextBatch();
      // Each shard's mean loss counts by its share of the target tokens: the sum is the batch's loss.
      const total = batch.reduce((n, e) => n + targetCount(e), 0);
      const weight = (part: Example[]) => part.reduce((n, e) => n + targetCount(e), 0) / total;
      const { loss } = await lossStep(pool, optimizer, model, 'sft', batch, (examples) => ({ examples, padId }), weight, { maxGradNorm, cost: (e) => e.ids.length });
      if (!Number.isFinite(loss)) throw new Error(`SFT loss became ${loss} at step ${step}: lower lr (now ${lr})`);
      losses.push(loss);
      opts.onProgress?.(step, steps, loss);
      await new Promise((resolve) => setImmediate(resolve)); // let progress output and signals through
    }
  } finally {
    optimizer.dispose();
    await pool?.close();
  }
  return { losses };
}

/** Mean per-token loss on the bot turns of `dialogues`, without training (e.g. on held-out data). */
export async function supervisedLoss(model: GPT, tokenizer: Tokenizer, dialogues: Turn[][], batchSize = 32): Promise<number> {
  const examples = examplesOf(model, tokenizer, dialogues);
  let total = 0;
  let count = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = examples.slice(i, i + batchSize);
    const targets = batch.reduce((n, e) => n + targetCount(e), 0);
    const loss = batchLoss(model, batch, tokenizer.special.pad);
    total += (await loss.data())[0]! * targets;
    count += targets;
    loss.dispose();
  }
  return total / count;
}

function shuffled(n: number, rand: () => number): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

// The reward model: a Bradley–Terry fit to preference pairs, P(chosen ≻ rejected) =
// σ(r(chosen) − r(rejected)), with r read at the last real token of prompt ++ reply ++ eot.
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32 } from '../model/prng.ts';
import type { Tokenizer, Turn } from '../model/tokenizer.ts';
import type { RewardModel } from '../model/transformer.ts';
import { Adam } from './adam.ts';
import { defaultLearnerConfig, type LearnerConfig } from './config.ts';
import { lossStep, spread, type ModelPool } from './parallel.ts';
import { encodeReply, inChunks, padBatch, type Sequence } from './sequences.ts';

export interface RewardPair {
  /** Identifies the prompt: pairs with the same key land on the same side of the held-out split. */
  promptKey: string;
  context: Turn[];
  chosen: string;
  rejected: string;
}

/** Maps raw scores to mean 0, std 1 on the reference set the normaliser was fitted on. */
export interface Normaliser {
  mean: number;
  std: number;
}

export interface RewardTrainResult {
  /** Mean Bradley–Terry loss over the last epoch's training steps. */
  trainLoss: number;
  trainAccuracy: number;
  /** Held-out loss and accuracy; null when the split left no held-out pair. */
  heldOutLoss: number | null;
  heldOutAccuracy: number | null;
  trainPairs: number;
  heldOutPairs: number;
  normaliser: Normaliser;
  steps: number;
  /** Wall time of training and measuring. */
  seconds: number;
}

export interface RewardTrainOptions {
  seed: number;
  /** Workers holding `rm` (see parallel.ts): steps and scoring are spread over them. */
  pool?: ModelPool;
  onProgress?: (done: number, total: number, loss: number) => void;
}

/** Scoring batches are forward-only, so they can be larger than training batches. */
const SCORE_BATCH = 64;

/** Mean of −log σ(m) = softplus(−m) over the margins m = r(chosen) − r(rejected); stable for any m. */
export function bradleyTerryLoss(margins: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.softplus(tf.neg(margins))));
}

/** Share of pairs whose chosen reply scores higher; an exact tie counts half. */
export function pairwiseAccuracy(chosenScores: number[], rejectedScores: number[]): number {
  if (chosenScores.length !== rejectedScores.length) throw new Error('pairwiseAccuracy needs one rejected score per chosen score');
  if (chosenScores.length === 0) return NaN;
  let wins = 0;
  chosenScores.forEach((c, i) => (wins += c > rejectedScores[i]! ? 1 : c === rejectedScores[i] ? 0.5 : 0));
  return wins / chosenScores.length;
}

/** FNV-1a of the seed and key, as a uniform number in [0, 1): a split that is stable per prompt. */
function unitHash(key: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return ((h ^ (h >>> 13)) >>> 0) / 4294967296;
}

/** Splits pairs into train and held-out by prompt, deterministically for the seed. */
export function splitByPrompt<P extends { promptKey: string }>(pairs: P[], heldOutFraction: number, seed: number): { train: P[]; heldOut: P[] } {
  const train: P[] = [];
  const heldOut: P[] = [];
  for (const p of pairs) (unitHash(p.promptKey, seed) < heldOutFraction ? heldOut : train).push(p);
  return { train, heldOut };
}

interface EncodedPair {
  chosen: Sequence;
  rejected: Sequence;
}

function encodePairs(rm: RewardModel, tokenizer: Tokenizer, pairs: RewardPair[], cfg: LearnerConfig): EncodedPair[] {
  const ctx = rm.config.contextLength;
  return pairs.map((p) => ({
    chosen: encodeReply(tokenizer, p.context, p.chosen, ctx, cfg.rmMaxReplyTokens),
    rejected: encodeReply(tokenizer, p.context, p.rejected, ctx, cfg.rmMaxReplyTokens),
  }));
}

/** Raw scores (B) of a batch of token rows; the caller disposes. */
function scoreRows(rm: RewardModel, rows: number[][], padId: number): tf.Tensor1D {
  return tf.tidy(() => rm.score(padBatch(rows, padId), rows.map((r) => r.length)));
}

/** Raw scores of token rows (each a context ++ reply ++ eot), forward-only in batches. */
export async function rawScores(rm: RewardModel, rows: number[][], padId: number): Promise<number[]> {
  return inChunks(rows, SCORE_BATCH, async (chunk) => {
    const scores = scoreRows(rm, chunk, padId);
    const out = Array.from(await scores.data());
    scores.dispose();
    return out;
  });
}

/** Raw scores of sequences, spread over the pool's workers when given one. */
async function scoresOf(rm: RewardModel, seqs: Sequence[], padId: number, pool?: ModelPool): Promise<number[]> {
  const parts = await spread(pool, 'scores', [rm], seqs.length, (start, end) => ({ seqs: seqs.slice(start, end).map((s) => s.ids), padId }));
  return parts.flat();
}

/** The Bradley–Terry loss of a batch of pairs given as token rows: chosen[i] was preferred to rejected[i]. */
export function pairLoss(rm: RewardModel, chosen: number[][], rejected: number[][], padId: number): tf.Scalar {
  return tf.tidy(() => {
    const rows = [...chosen, ...rejected];
    const scores = rm.score(padBatch(rows, padId), rows.map((r) => r.length)); // (2B): chosen then rejected
    return bradleyTerryLoss(tf.sub<tf.Tensor1D>(tf.slice(scores, 0, chosen.length), tf.slice(scores, chosen.length, rejected.length)));
  });
}

async function evaluatePairs(rm: RewardModel, pairs: EncodedPair[], padId: number, pool?: ModelPool): Promise<{ loss: number; accuracy: number; chosen: number[]; rejected: number[] }> {
  const chosen = await scoresOf(rm, pairs.map((p) => p.chosen), padId, pool);
  const rejected = await scoresOf(rm, pairs.map((p) => p.rejected), padId, pool);
  const loss = tf.tidy(() => bradleyTerryLoss(tf.sub<tf.Tensor1D>(tf.tensor1d(chosen), tf.tensor1d(rejected))).dataSync()[0]!);
  return { loss, accuracy: pairwiseAccuracy(chosen, rejected), chosen, rejected };
}

function meanStd(values: number[]): Normaliser {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(variance) || 1 };
}

/**
 * Trains `rm` in place on the pairs with the Bradley–Terry loss (Adam, global-norm clipping,
 * decoupled weight decay) and measures it on the held-out prompts. The normaliser is fitted on
 * the training replies (chosen and rejected), so normalised scores of typical replies are ~N(0, 1).
 */
export async function trainRewardModel(rm: RewardModel, tokenizer: Tokenizer, pairs: RewardPair[], cfg: LearnerConfig, opts: RewardTrainOptions): Promise<RewardTrainResult> {
  const { pool } = opts;
  if (pairs.length === 0) throw new Error('no preference pairs to train the reward model on: collect votes (or `pairwise import` a file) first');
  const started = performance.now();
  const padId = tokenizer.special.pad;
  const split = splitByPrompt(pairs, cfg.rmHeldOutFraction, opts.seed);
  // A split that held everything out (a single prompt) trains on it all and reports no held-out figures.
  const { train, heldOut } = split.train.length > 0 ? split : { train: split.heldOut, heldOut: [] };
  const trainSet = encodePairs(rm, tokenizer, train, cfg);
  const heldOutSet = encodePairs(rm, tokenizer, heldOut, cfg);

  const rand = mulberry32(opts.seed);
  const optimizer = new Adam(cfg.rmLr);
  const stepsPerEpoch = Math.ceil(trainSet.length / cfg.rmBatchSize);
  const total = stepsPerEpoch * cfg.rmEpochs;
  let steps = 0;
  let epochLoss = 0;
  try {
    for (let epoch = 0; epoch < cfg.rmEpochs; epoch++) {
      const order = shuffled(trainSet.length, rand);
      epochLoss = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        const batch = order.slice(s * cfg.rmBatchSize, (s + 1) * cfg.rmBatchSize).map((i) => trainSet[i]!);
        const rowsOf = (part: EncodedPair[]) => ({ chosen: part.map((p) => p.chosen.ids), rejected: part.map((p) => p.rejected.ids), padId });
        // Each shard's mean loss counts by its share of the pairs: the sum is the batch's mean.
        const stepOpts = { maxGradNorm: cfg.maxGradNorm, weightDecay: cfg.rmWeightDecay, lr: cfg.rmLr, cost: (p: EncodedPair) => p.chosen.ids.length + p.rejected.ids.length };
        const { loss } = await lossStep(pool, optimizer, rm, 'reward', batch, rowsOf, (part) => part.length / batch.length, stepOpts);
        if (!Number.isFinite(loss)) throw new Error(`reward model loss became ${loss} at step ${steps}: lower rmLr`);
        epochLoss += loss;
        steps++;
        opts.onProgress?.(steps, total, loss);
        await tf.nextFrame();
      }
    }
  } finally {
    optimizer.dispose();
  }

  const trained = await evaluatePairs(rm, trainSet, padId, pool);
  const held = heldOutSet.length > 0 ? await evaluatePairs(rm, heldOutSet, padId, pool) : undefined;
  return {
    trainLoss: epochLoss / stepsPerEpoch,
    trainAccuracy: trained.accuracy,
    heldOutLoss: held ? held.loss : null,
    heldOutAccuracy: held ? held.accuracy : null,
    trainPairs: trainSet.length,
    heldOutPairs: heldOutSet.length,
    normaliser: meanStd([...trained.chosen, ...trained.rejected]),
    steps,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
}

/** Normalised reward-model scores (r − mean) / std of replies to their contexts, batched. */
export async function scoreReplies(
  rm: RewardModel,
  tokenizer: Tokenizer,
  items: { context: Turn[]; reply: string }[],
  normaliser: Normaliser,
  maxReplyTokens = defaultLearnerConfig.rmMaxReplyTokens,
  pool?: ModelPool,
): Promise<number[]> {
  const seqs = items.map((it) => encodeReply(tokenizer, it.context, it.reply, rm.config.contextLength, maxReplyTokens));
  const raw = await scoresOf(rm, seqs, tokenizer.special.pad, pool);
  return raw.map((r) => (r - normaliser.mean) / normaliser.std);
}

/** 0..n-1 in a seeded random order (Fisher–Yates). */
export function shuffled(n: number, rand: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

// Direct Preference Optimisation (Rafailov et al. 2023): the policy learns from the preference pairs
// themselves, no reward model or sampling. Its loss is the Bradley–Terry loss on the implicit reward
// margin β·[(log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))], over whole-reply log-probabilities.
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32 } from '../model/prng.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import type { GPT } from '../model/transformer.ts';
import { Adam } from './adam.ts';
import type { LearnerConfig } from './config.ts';
import { lossStep, type ModelPool } from './parallel.ts';
import { bradleyTerryLoss, shuffled, type RewardPair } from './reward.ts';
import { encodeReply, replyLogProbSums, sequenceLogProbsOn, type Sequence } from './sequences.ts';

export interface DpoResult {
  /** Mean DPO loss over the last epoch. */
  dpoLoss: number;
  /** Share of pairs, over the last epoch, whose implicit reward margin was positive before the step. */
  dpoAccuracy: number;
  /** Mean implicit reward margin β·h over the last epoch. */
  dpoMargin: number;
  steps: number;
}

export interface DpoOptions {
  seed: number;
  /** Workers holding `policy` and `reference` (see parallel.ts): steps and the reference's log-probabilities are spread over them. */
  pool?: ModelPool;
  onProgress?: (done: number, total: number, loss: number) => void;
}

/** A DPO batch: pairs as sequences, and the reference's fixed part of each margin, log π_ref(c) − log π_ref(r). */
export interface DpoBatch {
  chosen: Sequence[];
  rejected: Sequence[];
  refMargins: number[];
  padId: number;
  beta: number;
}

/**
 * DPO's loss on a batch: the Bradley–Terry loss of the margins β·[(log π(c) − log π(r)) − ref margin];
 * aux = [share of positive margins, mean margin].
 */
export function dpoLoss(policy: GPT, p: DpoBatch): { loss: tf.Scalar; aux: tf.Scalar[] } {
  const n = p.chosen.length;
  const sums = replyLogProbSums(policy, [...p.chosen, ...p.rejected], p.padId); // (2B): chosen then rejected
  const h = tf.sub(tf.sub(tf.slice(sums, 0, n), tf.slice(sums, n, n)), tf.tensor1d(p.refMargins));
  const margins = tf.mul<tf.Tensor1D>(h, p.beta);
  return { loss: bradleyTerryLoss(margins), aux: [tf.mean(tf.cast(tf.greater(margins, 0), 'float32')), tf.mean(margins)] };
}

/** Trains `policy` in place on the pairs with DPO against the frozen `reference`. */
export async function trainDpo(policy: GPT, reference: GPT, tokenizer: Tokenizer, pairs: RewardPair[], cfg: LearnerConfig, opts: DpoOptions): Promise<DpoResult> {
  if (pairs.length === 0) throw new Error('no preference pairs to train DPO on: collect votes (or `pairwise import` a file) first');
  const { pool } = opts;
  const padId = tokenizer.special.pad;
  const ctx = policy.config.contextLength;
  const chosen = pairs.map((p) => encodeReply(tokenizer, p.context, p.chosen, ctx, cfg.rmMaxReplyTokens));
  const rejected = pairs.map((p) => encodeReply(tokenizer, p.context, p.rejected, ctx, cfg.rmMaxReplyTokens));
  const refChosen = await sequenceLogProbsOn(pool, reference, chosen, padId, 2 * cfg.dpoBatchSize);
  const refRejected = await sequenceLogProbsOn(pool, reference, rejected, padId, 2 * cfg.dpoBatchSize);

  const rand = mulberry32(opts.seed);
  const optimizer = new Adam(cfg.dpoLr);
  const stepsPerEpoch = Math.ceil(pairs.length / cfg.dpoBatchSize);
  const total = stepsPerEpoch * cfg.dpoEpochs;
  let steps = 0;
  let last = { loss: 0, correct: 0, margin: 0 };
  try {
    for (let epoch = 0; epoch < cfg.dpoEpochs; epoch++) {
      const order = shuffled(pairs.length, rand);
      last = { loss: 0, correct: 0, margin: 0 };
      for (let s = 0; s < stepsPerEpoch; s++) {
        const rows = order.slice(s * cfg.dpoBatchSize, (s + 1) * cfg.dpoBatchSize);
        const batchOf = (part: number[]): DpoBatch => ({
          chosen: part.map((i) => chosen[i]!),
          rejected: part.map((i) => rejected[i]!),
          refMargins: part.map((i) => refChosen[i]! - refRejected[i]!),
          padId,
          beta: cfg.dpoBeta,
        });
        // Shards weigh by their share of the pairs: the loss and aux are means over pairs.
        const { loss, aux: stats } = await lossStep(pool, optimizer, policy, 'dpo', rows, batchOf, (part) => part.length / rows.length, { maxGradNorm: cfg.maxGradNorm, cost: (i) => chosen[i]!.ids.length + rejected[i]!.ids.length });
        const [correctShare, meanMargin] = stats;
        if (!Number.isFinite(loss)) throw new Error(`DPO loss became ${loss} at step ${steps}: lower dpoLr`);
        last.loss += loss;
        last.correct += correctShare! * rows.length;
        last.margin += meanMargin! * rows.length;
        steps++;
        opts.onProgress?.(steps, total, loss);
        await tf.nextFrame();
      }
    }
  } finally {
    optimizer.dispose();
  }
  return { dpoLoss: last.loss / stepsPerEpoch, dpoAccuracy: last.correct / pairs.length, dpoMargin: last.margin / pairs.length, steps };
}

// Direct Preference Optimisation (Rafailov et al. 2023): the policy learns from the preference pairs
// themselves, no reward model or sampling. Its loss is the Bradley–Terry loss on the implicit reward
// margin β·[(log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))], over whole-reply log-probabilities.
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32 } from '../model/prng.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import type { GPT } from '../model/transformer.ts';
import type { LearnerConfig } from './config.ts';
import { optimiserStep } from './optim.ts';
import { bradleyTerryLoss, shuffled, type RewardPair } from './reward.ts';
import { encodeReply, nextTokenLogProbs, padBatch, replyLogProbSums, replyMask, sequenceLogProbs } from './sequences.ts';

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
  onProgress?: (done: number, total: number, loss: number) => void;
}

/** Trains `policy` in place on the pairs with DPO against the frozen `reference`. */
export async function trainDpo(policy: GPT, reference: GPT, tokenizer: Tokenizer, pairs: RewardPair[], cfg: LearnerConfig, opts: DpoOptions): Promise<DpoResult> {
  if (pairs.length === 0) throw new Error('no preference pairs to train DPO on: collect votes (or `pairwise import` a file) first');
  const padId = tokenizer.special.pad;
  const ctx = policy.config.contextLength;
  const chosen = pairs.map((p) => encodeReply(tokenizer, p.context, p.chosen, ctx, cfg.rmMaxReplyTokens));
  const rejected = pairs.map((p) => encodeReply(tokenizer, p.context, p.rejected, ctx, cfg.rmMaxReplyTokens));
  const refChosen = await sequenceLogProbs(reference, chosen, padId, 2 * cfg.dpoBatchSize);
  const refRejected = await sequenceLogProbs(reference, rejected, padId, 2 * cfg.dpoBatchSize);

  const rand = mulberry32(opts.seed);
  const optimizer = tf.train.adam(cfg.dpoLr);
  const vars = policy.trainableVariables();
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
        const seqs = [...rows.map((i) => chosen[i]!), ...rows.map((i) => rejected[i]!)];
        const ids = padBatch(seqs.map((q) => q.ids), padId);
        const mask = tf.tensor2d(replyMask(seqs, ids.shape[1]), [seqs.length, ids.shape[1] - 1]);
        // The reference's part of the margin, fixed: (ref_c − ref_r) per pair.
        const refMargin = tf.tensor1d(rows.map((i) => refChosen[i]! - refRejected[i]!));
        let margins: tf.Tensor1D | undefined;
        const { loss } = optimiserStep(
          optimizer,
          vars,
          () => {
            const sums = replyLogProbSums(nextTokenLogProbs(policy, ids).logprobs, mask); // (2B): chosen then rejected
            const h = tf.sub(tf.sub(tf.slice(sums, 0, rows.length), tf.slice(sums, rows.length, rows.length)), refMargin);
            margins = tf.keep(tf.mul<tf.Tensor1D>(h, cfg.dpoBeta));
            return bradleyTerryLoss(margins);
          },
          { maxGradNorm: cfg.maxGradNorm },
        );
        const m = Array.from(margins!.dataSync());
        tf.dispose([ids, mask, refMargin, margins!]);
        if (!Number.isFinite(loss)) throw new Error(`DPO loss became ${loss} at step ${steps}: lower dpoLr`);
        last.loss += loss;
        last.correct += m.filter((x) => x > 0).length;
        last.margin += m.reduce((a, b) => a + b, 0);
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

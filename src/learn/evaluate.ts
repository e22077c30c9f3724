// The gate's measurements of a policy on held-out prompts, and the pure decision that publishes a
// candidate or keeps the live policy. Besides the reward model's verdict the gate watches signals
// the reward model does not produce (KL, diversity, repetition, length), so a policy that games
// the reward model is caught by what it breaks.
import * as tf from '@tensorflow/tfjs-core';
import type { Tokenizer, Turn } from '../model/tokenizer.ts';
import type { GPT, RewardModel } from '../model/transformer.ts';
import type { LearnerConfig } from './config.ts';
import { scoreReplies, type Normaliser } from './reward.ts';
import { sampleReplies, type SampledReply } from './rollouts.ts';
import type { ModelPool } from './parallel.ts';
import { sequenceLogProbsOn } from './sequences.ts';

export interface PolicyEvaluation {
  /** Mean normalised reward-model score of the policy's replies. */
  meanReward: number;
  /** Mean KL to the reference per reply (nats): Σ over its tokens of log π − log π_ref. */
  kl: number;
  /** Distinct token bigrams / all token bigrams over every reply. */
  distinct2: number;
  /** Share of prompts whose two replies are identical. */
  identicalPairShare: number;
  /** Share of replies that repeat a token trigram. */
  repetitionShare: number;
  /** Mean reply length in tokens (the end token excluded). */
  meanLength: number;
  /** Some figure or weight is NaN or infinite. */
  nan: boolean;
  /** Mean normalised reward of the reference policy's replies to the same prompts. */
  referenceReward: number;
  prompts: number;
}

export interface GateDecision {
  pass: boolean;
  reason: string;
}

const SCORE_BATCH = 32;

/** Reply tokens of a sample, the end token excluded. */
function replyTokens(r: SampledReply): number[] {
  return r.seq.ids.slice(r.seq.promptLength, r.ended ? -1 : undefined);
}

export function distinctN(replies: number[][], n: number): number {
  const seen = new Set<string>();
  let total = 0;
  for (const ids of replies) {
    for (let i = 0; i + n <= ids.length; i++) {
      seen.add(ids.slice(i, i + n).join(','));
      total++;
    }
  }
  return total === 0 ? 0 : seen.size / total;
}

export function repeatsTrigram(ids: number[]): boolean {
  const seen = new Set<string>();
  for (let i = 0; i + 3 <= ids.length; i++) {
    const key = ids.slice(i, i + 3).join(',');
    if (seen.has(key)) return true;
    seen.add(key);
  }
  return false;
}

function weightsFinite(model: GPT): boolean {
  return tf.tidy(() => model.trainableVariables().every((v) => tf.all(tf.isFinite(v)).dataSync()[0] === 1));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);

/**
 * Samples two replies per prompt from `policy` (seeded: the same seed gives every policy the same
 * random numbers, which sharpens comparisons) and measures them; the reference policy is sampled
 * the same way for `referenceReward`.
 */
export async function evaluatePolicy(
  policy: GPT,
  reference: GPT,
  rm: RewardModel,
  tokenizer: Tokenizer,
  prompts: Turn[][],
  normaliser: Normaliser,
  cfg: LearnerConfig,
  seed: number,
  pool?: ModelPool,
): Promise<PolicyEvaluation> {
  if (prompts.length === 0) throw new Error('the gate needs held-out prompts: pass at least one conversation');
  const sampling = { numSamples: 2, maxNewTokens: cfg.maxNewTokens, temperature: cfg.gateTemperature, seed };
  const score = (replies: SampledReply[]) =>
    scoreReplies(rm, tokenizer, replies.map((r) => ({ context: r.context, reply: r.text })), normaliser, cfg.rmMaxReplyTokens, pool);
  const replies = await sampleReplies(policy, tokenizer, prompts, sampling, pool);
  const rewards = await score(replies);
  const seqs = replies.map((r) => r.seq);
  const pad = tokenizer.special.pad;
  const own = await sequenceLogProbsOn(pool, policy, seqs, pad, SCORE_BATCH);
  const ref = await sequenceLogProbsOn(pool, reference, seqs, pad, SCORE_BATCH);
  const referenceReward = mean(await score(await sampleReplies(reference, tokenizer, prompts, sampling, pool)));

  const tokens = replies.map(replyTokens);
  let identical = 0;
  for (let i = 0; i + 1 < replies.length; i += 2) if (replies[i]!.text === replies[i + 1]!.text) identical++;
  const figures = {
    meanReward: mean(rewards),
    kl: mean(own.map((lp, i) => lp - ref[i]!)),
    distinct2: distinctN(tokens, 2),
    identicalPairShare: identical / prompts.length,
    repetitionShare: tokens.filter(repeatsTrigram).length / tokens.length,
    meanLength: mean(tokens.map((t) => t.length)),
    referenceReward,
    prompts: prompts.length,
  };
  const nan = !Object.values(figures).every(Number.isFinite) || !weightsFinite(policy);
  return { ...figures, nan };
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));

/**
 * Publish only when nothing is NaN, the KL to the reference is within bound, diversity has not
 * collapsed, the mean length stayed within the ratio, the reward did not rise while identical
 * pairs or repetition rose, and the reward beats the live policy's by the margin.
 */
export function gateDecision(candidate: PolicyEvaluation, live: PolicyEvaluation, cfg: LearnerConfig): GateDecision {
  const reject = (reason: string): GateDecision => ({ pass: false, reason });
  if (candidate.nan) return reject('the candidate produced NaN or infinite values');
  if (candidate.kl > cfg.gateMaxKl) return reject(`KL to the reference ${fmt(candidate.kl)} exceeds the bound ${fmt(cfg.gateMaxKl)}`);
  if (candidate.distinct2 < live.distinct2 / cfg.gateDistinct2CollapseFactor) {
    return reject(`distinct-2 collapsed from ${fmt(live.distinct2)} to ${fmt(candidate.distinct2)} (more than ${cfg.gateDistinct2CollapseFactor}x)`);
  }
  const ratio = candidate.meanLength / Math.max(live.meanLength, 1e-9);
  if (!(ratio <= cfg.gateMaxLengthRatio && ratio >= 1 / cfg.gateMaxLengthRatio)) {
    return reject(`mean reply length moved from ${fmt(live.meanLength)} to ${fmt(candidate.meanLength)} tokens (beyond ${cfg.gateMaxLengthRatio}x)`);
  }
  const gain = candidate.meanReward - live.meanReward;
  if (gain > 0 && ratio > cfg.gateMaxLengthGrowth) {
    return reject(`reward rose by ${fmt(gain)} while replies grew ${fmt(ratio)}x longer (bound ${cfg.gateMaxLengthGrowth}x): likely paying for length`);
  }
  if (gain > 0) {
    const worse = (
      [
        ['identical-pair share', candidate.identicalPairShare - live.identicalPairShare],
        ['repetition share', candidate.repetitionShare - live.repetitionShare],
      ] as const
    ).find(([, delta]) => delta > cfg.gateMaxSignalWorsening);
    if (worse) return reject(`reward rose by ${fmt(gain)} while the ${worse[0]} rose by ${fmt(worse[1])}: likely reward hacking`);
  }
  if (gain < cfg.gateMinRewardMargin) {
    return reject(`mean reward ${fmt(candidate.meanReward)} does not beat the live policy's ${fmt(live.meanReward)} by the margin ${fmt(cfg.gateMinRewardMargin)}`);
  }
  return { pass: true, reason: `mean reward ${fmt(live.meanReward)} -> ${fmt(candidate.meanReward)}, KL ${fmt(candidate.kl)}` };
}

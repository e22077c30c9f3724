// What a ModelPool's workers compute (see parallel.ts): losses to differentiate and forward-only
// tasks, by name, so a request can name them and the single-thread paths call the same functions.
import type * as tf from '@tensorflow/tfjs-core';
import type { GPT, ModelConfig, RewardModel } from '../model/transformer.ts';
import { dpoLoss } from './dpo.ts';
import { ppoMinibatchLoss, rolloutStatsChunk } from './ppo.ts';
import { pairLoss, rawScores } from './reward.ts';
import { generateMany } from './rollouts.ts';
import { sequenceLogProbs, type Sequence } from './sequences.ts';
import { batchLoss, type Example } from './sft.ts';

export type PoolModel = GPT | RewardModel;

export interface WorkerModel {
  kind: 'policy' | 'reward';
  config: ModelConfig;
  /** The main thread's weights of this model, rewritten before a request with a newer version; views a SharedArrayBuffer. */
  weights: Float32Array;
}

export interface WorkerData {
  backend: string;
  models: Record<string, WorkerModel>;
}

/** Losses to differentiate, by name; `aux`: scalars reported beside the loss, weighted like it. */
export const LOSSES = {
  sft: (model: PoolModel, p: { examples: Example[]; padId: number }): { loss: tf.Scalar } => ({ loss: batchLoss(model as GPT, p.examples, p.padId) }),
  reward: (model: PoolModel, p: { chosen: number[][]; rejected: number[][]; padId: number }): { loss: tf.Scalar } => ({ loss: pairLoss(model as RewardModel, p.chosen, p.rejected, p.padId) }),
  ppo: (model: PoolModel, p: Parameters<typeof ppoMinibatchLoss>[1]) => ppoMinibatchLoss(model as GPT, p),
  dpo: (model: PoolModel, p: Parameters<typeof dpoLoss>[1]) => dpoLoss(model as GPT, p),
};
export type ShardLossKind = keyof typeof LOSSES;
export type ShardPayload = { [K in ShardLossKind]: Parameters<(typeof LOSSES)[K]>[1] };

/** Forward-only work on a share of the items, given its models in order: the same functions whether a worker or this thread runs them. */
export const TASKS = {
  generate: ([policy]: PoolModel[], p: Parameters<typeof generateMany>[1]) => generateMany(policy as GPT, p),
  rolloutStats: ([policy, reference]: PoolModel[], p: Parameters<typeof rolloutStatsChunk>[2]) => rolloutStatsChunk(policy as GPT, reference as GPT, p),
  scores: ([rm]: PoolModel[], p: { seqs: number[][]; padId: number }) => rawScores(rm as RewardModel, p.seqs, p.padId),
  replyLogProbs: ([policy]: PoolModel[], p: { seqs: Sequence[]; padId: number; batchSize: number }) => sequenceLogProbs(policy as GPT, p.seqs, p.padId, p.batchSize),
};
export type TaskKind = keyof typeof TASKS;
export type TaskPayload = { [K in TaskKind]: Parameters<(typeof TASKS)[K]>[1] };
export type TaskResult = { [K in TaskKind]: Awaited<ReturnType<(typeof TASKS)[K]>> };

export type WorkerRequest =
  | { op: 'grads'; versions: Record<string, number>; model: string; kind: ShardLossKind; payload: unknown }
  | { op: 'task'; versions: Record<string, number>; models: string[]; kind: TaskKind; payload: unknown };

export interface GradsReply {
  type: 'grads';
  loss: number;
  aux: number[];
  /** Every variable's gradient back to back (zeros where `present` is false). */
  grads: Float32Array;
  /** present[i]: the loss depends on variable i (tf.variableGrads leaves the others out). */
  present: boolean[];
  /** Milliseconds the worker spent on the request (loading weights included). */
  ms: number;
}
export type WorkerReply = { type: 'ready' } | GradsReply | { type: 'result'; value: unknown } | { type: 'error'; message: string };


// `pairwise eval-rm FILE [--format hh|trl] [--json]`: the current reward model's pairwise accuracy
// on a preference file of the operator's own, read as a stream and scored in batches.
import type { Config } from '../config.ts';
import type { RewardModel } from '../model/transformer.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { pairwiseAccuracy, scoreReplies, type Normaliser } from '../learn/reward.ts';
import { loadLatestRewardModel } from '../model/store.ts';
import { FormatError, parsePairFormat, readPairFile, type PortablePair } from './formats.ts';

/** Pairs scored per batch: bounded memory on any file size. */
const BATCH = 256;

export interface RmEvaluation {
  accuracy: number;
  pairs: number;
}

export async function evaluateRewardModel(rm: RewardModel, tokenizer: Tokenizer, normaliser: Normaliser, pairs: AsyncIterable<PortablePair>): Promise<RmEvaluation> {
  let correct = 0;
  let count = 0;
  let batch: PortablePair[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const chosen = await scoreReplies(rm, tokenizer, batch.map((p) => ({ context: p.context, reply: p.chosen })), normaliser);
    const rejected = await scoreReplies(rm, tokenizer, batch.map((p) => ({ context: p.context, reply: p.rejected })), normaliser);
    correct += pairwiseAccuracy(chosen, rejected) * batch.length;
    count += batch.length;
    batch = [];
  };
  for await (const pair of pairs) {
    batch.push(pair);
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  return { accuracy: count ? correct / count : NaN, pairs: count };
}

async function* pairsOf(file: string, format: ReturnType<typeof parsePairFormat>): AsyncGenerator<PortablePair> {
  for await (const read of readPairFile(file, { format })) yield read.pair;
}

export async function evalRmCommand(config: Config, positionals: string[], values: Record<string, string | boolean | undefined>): Promise<number> {
  if (positionals.length !== 1) throw new FormatError('pairwise eval-rm needs exactly one FILE: pairwise eval-rm FILE [--format hh|trl] [--json]');
  const { initBackend } = await import('../model/backend.ts');
  const { openConfiguredDatabase } = await import('../db/client.ts');
  await initBackend(config.PAIRWISE_BACKEND);
  const database = await openConfiguredDatabase(config);
  try {
    const rm = await loadLatestRewardModel(database.db);
    if (!rm) throw new Error('no reward model yet: it is trained by the first learner cycle (`pairwise learn --once`)');
    try {
      const normaliser = (rm.metrics.normaliser as Normaliser | undefined) ?? { mean: 0, std: 1 };
      const result = await evaluateRewardModel(rm.model, rm.tokenizer, normaliser, pairsOf(positionals[0], parsePairFormat(values.format)));
      console.log(values.json ? JSON.stringify(result) : `reward model ${rm.id}: accuracy ${(result.accuracy * 100).toFixed(1)}% on ${result.pairs} pairs`);
      return 0;
    } finally {
      rm.model.dispose();
    }
  } finally {
    await database.close();
  }
}

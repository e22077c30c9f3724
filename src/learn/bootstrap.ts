// The first policy: supervised next-token training on the bot turns of a conversational corpus.
// A fresh install loads the checkpoint the project trained with scripts/train-default-policy.ts
// (data/policy-<size>.safetensors) when it matches the settings, and trains one otherwise.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import type { Database } from '../db/client.ts';
import * as q from '../db/queries.ts';
import { log } from '../log.ts';
import { progressReporter } from '../progress.ts';
import { initBackend } from '../model/backend.ts';
import { deserializeModel } from '../model/checkpoint.ts';
import { savePolicy, type Bundle } from '../model/store.ts';
import { loadDefaultTokenizer, Tokenizer } from '../model/tokenizer.ts';
import { GPT, MODEL_SIZES } from '../model/transformer.ts';
import { loadCorpus } from './corpus.ts';
import { trainWorkerCount } from './parallel.ts';
import { trainSupervised, type SftOptions } from './sft.ts';

const BOOTSTRAP_LOCK = 7_100_003;
export const DEFAULT_CORPUS = 'data/corpus.jsonl';

/** Supervised training settings for the first policy (chosen to finish in about 3 minutes on 2 cores). */
export const BOOTSTRAP_SFT: Omit<SftOptions, 'onProgress'> = { epochs: 8, batchSize: 16, lr: 2e-3, seed: 1 };

export function shippedCheckpointPath(size: string): string {
  return path.resolve(`data/policy-${size}.safetensors`);
}

/** Trains a fresh policy of `size` on the corpus. */
export async function trainBootstrapPolicy(corpusPath: string, size: keyof typeof MODEL_SIZES, sft = BOOTSTRAP_SFT): Promise<Bundle<GPT> & { losses: number[] }> {
  const dialogues = loadCorpus(corpusPath);
  const tokenizer = loadDefaultTokenizer();
  const model = new GPT({ ...MODEL_SIZES[size], vocabSize: tokenizer.vocabSize }, { seed: sft.seed });
  const progress = progressReporter('bootstrap');
  try {
    // Data-parallel over TRAIN_WORKERS threads (default one per core): the wasm backend uses one thread each.
    const workers = trainWorkerCount(await initBackend());
    const { losses } = await trainSupervised(model, tokenizer, dialogues, { ...sft, workers, onProgress: (done, total, loss) => progress.update(done, total, loss) });
    return { model, tokenizer, losses };
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    progress.stop();
  }
}

function shippedPolicy(size: string): Bundle<GPT> | undefined {
  const file = shippedCheckpointPath(size);
  if (!existsSync(file)) return undefined;
  const { model, meta } = deserializeModel(readFileSync(file));
  if (!(model instanceof GPT)) throw new Error(`${file} is not a policy checkpoint: delete it and run \`pairwise bootstrap\``);
  return { model, tokenizer: meta.tokenizer ? Tokenizer.fromJSON(JSON.parse(meta.tokenizer)) : loadDefaultTokenizer() };
}

/** Stores a supervised policy and makes it live, in one transaction. */
async function publishSft(database: Database, bundle: Bundle<GPT>, metrics: Record<string, unknown>) {
  return database.db.transaction(async (tx) => {
    const row = await savePolicy(tx, bundle, { parentId: null, kind: 'sft', status: 'candidate', metrics });
    return q.makeLiveIn(tx, row.id);
  });
}

/**
 * Makes sure a live policy exists: the shipped checkpoint when it fits the settings, else a
 * bootstrap on the corpus. Many processes starting at once: one bootstraps, the others wait.
 */
export async function ensureLivePolicy(database: Database, config: Pick<Config, 'MODEL_SIZE' | 'CORPUS_PATH'>): Promise<void> {
  if (await q.livePolicy(database.db)) return;
  await database.withLock(
    BOOTSTRAP_LOCK,
    async () => {
      if (await q.livePolicy(database.db)) return;
      const useShipped = path.resolve(config.CORPUS_PATH) === path.resolve(DEFAULT_CORPUS);
      const shipped = useShipped ? shippedPolicy(config.MODEL_SIZE) : undefined;
      if (shipped) log.info('loading the shipped default policy', { file: shippedCheckpointPath(config.MODEL_SIZE) });
      else log.info('no policy yet: training the first one on the corpus (a few minutes)', { corpus: config.CORPUS_PATH, size: config.MODEL_SIZE });
      const bundle = shipped ?? (await trainBootstrapPolicy(config.CORPUS_PATH, config.MODEL_SIZE));
      try {
        const version = await publishSft(database, bundle, { source: shipped ? 'shipped' : 'bootstrap' });
        log.info('first policy is live', { version: version.id });
      } finally {
        bundle.model.dispose();
      }
    },
    { wait: true },
  );
}

/** `pairwise bootstrap [--corpus FILE] [--force]` */
export async function bootstrapCommand(config: Config, values: Record<string, string | boolean | undefined>): Promise<number> {
  const { openConfiguredDatabase } = await import('../db/client.ts');
  await initBackend(config.PAIRWISE_BACKEND);
  const corpus = typeof values.corpus === 'string' ? values.corpus : config.CORPUS_PATH;
  const database = await openConfiguredDatabase(config);
  try {
    const live = await q.livePolicy(database.db);
    if (live && !values.force) {
      console.log(`policy version ${live.id} is already live; use --force to train a new first policy anyway`);
      return 0;
    }
    const started = Date.now();
    const bundle = await trainBootstrapPolicy(corpus, config.MODEL_SIZE);
    try {
      const version = await publishSft(database, bundle, { source: 'bootstrap', corpus, finalLoss: bundle.losses.at(-1) });
      console.log(`policy version ${version.id} is live (trained in ${Math.round((Date.now() - started) / 1000)} s, final loss ${bundle.losses.at(-1)?.toFixed(3)})`);
    } finally {
      bundle.model.dispose();
    }
    return 0;
  } finally {
    await database.close();
  }
}

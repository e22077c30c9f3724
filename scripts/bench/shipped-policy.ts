// The shipped default policy (data/policy-small.safetensors) published as live, for the benchmarks
// that run the bot or the learner as a fresh install does.
import { readFileSync } from 'node:fs';
import type { Database } from '../../src/db/client.ts';
import * as q from '../../src/db/queries.ts';
import { deserializeModel } from '../../src/model/checkpoint.ts';
import { savePolicy } from '../../src/model/store.ts';
import { loadDefaultTokenizer, Tokenizer } from '../../src/model/tokenizer.ts';
import { GPT } from '../../src/model/transformer.ts';

export const SHIPPED_POLICY = 'data/policy-small.safetensors';

/** Stores the shipped policy and makes it live; returns its version id and tokenizer. */
export async function publishShippedPolicy(database: Database): Promise<{ versionId: number; tokenizer: Tokenizer }> {
  const { model, meta } = deserializeModel(readFileSync(SHIPPED_POLICY));
  if (!(model instanceof GPT)) {
    model.dispose();
    throw new Error(`${SHIPPED_POLICY} is not a policy checkpoint: rebuild it with \`npm run train-default-policy\``);
  }
  const tokenizer = meta.tokenizer ? Tokenizer.fromJSON(JSON.parse(meta.tokenizer)) : loadDefaultTokenizer();
  try {
    const row = await database.db.transaction(async (tx) => {
      const version = await savePolicy(tx, { model, tokenizer }, { parentId: null, kind: 'sft', status: 'candidate' });
      return q.makeLiveIn(tx, version.id);
    });
    return { versionId: row.id, tokenizer };
  } finally {
    model.dispose();
  }
}

// Models in and out of Postgres: a checkpoint is the safetensors bytes of the weights with the
// config and the tokenizer in its metadata, stored in chunks with a sha256 (src/db/queries.ts).
import type { Tx } from '../db/client.ts';
import * as q from '../db/queries.ts';
import type { PolicyVersion } from '../db/schema.ts';
import { deserializeModel, serializeModel } from './checkpoint.ts';
import { Tokenizer } from './tokenizer.ts';
import { GPT, RewardModel } from './transformer.ts';

export interface Bundle<M> {
  model: M;
  tokenizer: Tokenizer;
}

export function checkpointBytes(model: GPT | RewardModel, tokenizer: Tokenizer): Uint8Array {
  return serializeModel(model, { tokenizer: JSON.stringify(tokenizer.toJSON()) });
}

function tokenizerFrom(meta: Record<string, string>, what: string): Tokenizer {
  if (!meta.tokenizer) throw new q.CheckpointError(`${what} has no tokenizer in its metadata`);
  return Tokenizer.fromJSON(JSON.parse(meta.tokenizer));
}

/** Stores a policy's weights and creates its version row, in the caller's transaction. */
export async function savePolicy(tx: Tx, bundle: Bundle<GPT>, version: Omit<q.NewPolicyVersion, 'checkpointId'>): Promise<PolicyVersion> {
  const checkpointId = await q.saveCheckpoint(tx, 'policy', checkpointBytes(bundle.model, bundle.tokenizer));
  return q.createPolicyVersion(tx, { ...version, checkpointId });
}

/** Loads a policy version's model; throws CheckpointError on missing or corrupt bytes. */
export async function loadPolicy(tx: Tx, version: PolicyVersion): Promise<Bundle<GPT>> {
  const bytes = await q.loadCheckpoint(tx, version.checkpointId);
  const { model, meta } = deserializeModel(bytes);
  if (!(model instanceof GPT)) {
    model.dispose();
    throw new q.CheckpointError(`policy version ${version.id} points at a checkpoint that is not a policy`);
  }
  return { model, tokenizer: tokenizerFrom(meta, `policy version ${version.id}`) };
}

export async function saveRewardModel(tx: Tx, bundle: Bundle<RewardModel>, parentId: number | null, metrics: Record<string, unknown>): Promise<number> {
  const checkpointId = await q.saveCheckpoint(tx, 'reward', checkpointBytes(bundle.model, bundle.tokenizer));
  return q.createRewardModel(tx, { parentId, checkpointId, metrics });
}

/** The newest reward model, or undefined when none has been trained yet. */
export async function loadLatestRewardModel(tx: Tx): Promise<(Bundle<RewardModel> & { id: number; metrics: Record<string, unknown> }) | undefined> {
  const row = await q.latestRewardModel(tx);
  if (!row) return undefined;
  const { model, meta } = deserializeModel(await q.loadCheckpoint(tx, row.checkpointId));
  if (!(model instanceof RewardModel)) {
    model.dispose();
    throw new q.CheckpointError(`reward model ${row.id} points at a checkpoint that is not a reward model`);
  }
  return { id: row.id, metrics: row.metrics, model, tokenizer: tokenizerFrom(meta, `reward model ${row.id}`) };
}

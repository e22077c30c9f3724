// Model checkpoints as safetensors bytes: every parameter as F32 plus `__metadata__` with the
// model kind, its config as JSON and the caller's own strings (e.g. the tokenizer JSON).
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors, serializeSafetensors, toFloat32, type Float32Entry } from './safetensors.ts';
import { GPT, parameterShapes, RewardModel, validateConfig, type ModelConfig, type ModelKind } from './transformer.ts';

/** Metadata keys the checkpoint itself uses. */
const RESERVED = ['kind', 'config'];

export function serializeModel(model: GPT | RewardModel, meta: Record<string, string>): Uint8Array {
  for (const key of RESERVED) if (key in meta) throw new Error(`serializeModel: meta key "${key}" is reserved for the checkpoint itself`);
  for (const [k, v] of Object.entries(meta)) if (typeof v !== 'string') throw new Error(`serializeModel: meta.${k} must be a string`);
  const tensors = new Map<string, Float32Entry>();
  for (const [name, t] of model.getWeights()) tensors.set(name, { shape: t.shape, data: t.dataSync() as Float32Array });
  return serializeSafetensors(tensors, { kind: model.kind, config: JSON.stringify(model.config), ...meta });
}

/**
 * Rebuilds the model a checkpoint holds. `meta` is its whole `__metadata__` map (kind, config
 * and the caller's keys). Throws one clear line, before creating any tensor, when the bytes are
 * truncated or malformed or do not match the stored config.
 */
export function deserializeModel(bytes: Uint8Array): { model: GPT | RewardModel; meta: Record<string, string> } {
  const fail = (why: string): never => {
    throw new Error(`cannot load checkpoint: ${why}`);
  };
  let file: ReturnType<typeof parseSafetensors> | undefined;
  try {
    file = parseSafetensors(bytes);
  } catch (err) {
    fail((err as Error).message);
  }
  const { metadata, tensors } = file!;
  const kind = metadata.kind as ModelKind;
  if (kind !== 'policy' && kind !== 'reward') fail(`metadata kind is ${JSON.stringify(metadata.kind)}, expected "policy" or "reward"`);
  let config: ModelConfig | undefined;
  try {
    config = JSON.parse(metadata.config ?? 'null') as ModelConfig;
    validateConfig(config);
  } catch (err) {
    fail(`metadata config is invalid (${(err as Error).message})`);
  }
  const expected = parameterShapes(config!, kind);
  for (const name of tensors.keys()) if (!expected.has(name)) fail(`unexpected tensor "${name}" for a ${kind} model`);
  const values = new Map<string, Float32Entry>();
  for (const [name, shape] of expected) {
    const entry = tensors.get(name) ?? fail(`tensor "${name}" is missing`);
    if (entry.dtype !== 'F32') fail(`tensor "${name}" is ${entry.dtype}, expected F32`);
    if (entry.shape.join() !== shape.join()) fail(`tensor "${name}" has shape [${entry.shape}] but the config needs [${shape}]`);
    const data = toFloat32(name, entry);
    if (!data.every(Number.isFinite)) fail(`tensor "${name}" holds NaN or infinite values`);
    values.set(name, { shape, data });
  }
  const weights = new Map([...values].map(([name, { shape, data }]) => [name, tf.tensor(data, shape)]));
  try {
    const model = kind === 'policy' ? new GPT(config!, { weights }) : new RewardModel(config!, { weights });
    return { model, meta: metadata };
  } finally {
    tf.dispose([...weights.values()]);
  }
}

// Imports a GPT-2-family checkpoint (gpt2, distilgpt2, DialoGPT, ...) from a local folder
// holding model.safetensors and config.json, as downloaded from the Hugging Face hub. Our
// parameter names and (in, out) linear layout are GPT-2's own, so the mapping is by name;
// LayerNorm epsilon and gelu_new already match GPT-2. The value head is freshly initialised.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors, toFloat32 } from './safetensors.ts';
import { GPT, parameterShapes, validateConfig, type ModelConfig } from './transformer.ts';

export interface Gpt2TokenizerFiles {
  /** Contents of vocab.json, if the folder has it. */
  vocabJson?: string;
  /** Contents of merges.txt, if the folder has it. */
  mergesTxt?: string;
}

/** GPT-2 parameter suffixes → ours (the block index and prefix are kept). */
const RENAMES: [RegExp, string][] = [
  [/^wte\.weight$/, 'wte'],
  [/^wpe\.weight$/, 'wpe'],
  [/\.weight$/, '.w'],
  [/\.bias$/, '.b'],
];
/** LayerNorms are named .g/.b in our model, .weight/.bias in GPT-2. */
const NORM = /(ln_1|ln_2|ln_f)\.w$/;

export async function importGpt2(folder: string, opts: { seed?: number } = {}): Promise<{ model: GPT; tokenizerFiles: Gpt2TokenizerFiles }> {
  const configPath = path.join(folder, 'config.json');
  const weightsPath = path.join(folder, 'model.safetensors');
  for (const p of [configPath, weightsPath]) {
    if (!existsSync(p)) throw new Error(`importGpt2: ${p} not found; the folder needs config.json and model.safetensors`);
  }
  const config = readGpt2Config(configPath);
  const file = parseSafetensors(readFileSync(weightsPath));
  const expected = parameterShapes(config, 'policy');
  const weights = new Map<string, tf.Tensor>();
  try {
    for (const [key, entry] of file.tensors) {
      const name = ourName(key);
      if (name === undefined) continue;
      const shape = expected.get(name);
      if (!shape) throw new Error(`importGpt2: unexpected tensor "${key}" for n_layer=${config.nLayer}`);
      if (entry.shape.join() !== shape.join()) throw new Error(`importGpt2: tensor "${key}" has shape [${entry.shape}], config.json implies [${shape}]`);
      weights.set(name, tf.tensor(toFloat32(key, entry), shape));
    }
    for (const name of expected.keys()) {
      if (!weights.has(name) && !name.startsWith('value_head.')) throw new Error(`importGpt2: model.safetensors lacks the weights for "${name}"`);
    }
    const model = new GPT(config, { seed: opts.seed ?? 0, weights });
    return { model, tokenizerFiles: readTokenizerFiles(folder) };
  } finally {
    tf.dispose([...weights.values()]);
  }
}

/** Our parameter name for a GPT-2 key, or undefined for keys we do not load. */
function ourName(key: string): string | undefined {
  const k = key.replace(/^transformer\./, '');
  // Causal-mask buffers of older exports, and the LM head (tied to wte).
  if (/\.attn\.(masked_)?bias$/.test(k) || k.startsWith('lm_head.')) return undefined;
  let name = k;
  for (const [from, to] of RENAMES) name = name.replace(from, to);
  return name.replace(NORM, '$1.g');
}

function readGpt2Config(file: string): ModelConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`importGpt2: ${file} is not valid JSON (${(err as Error).message})`);
  }
  const activation = raw.activation_function ?? 'gelu_new';
  if (activation !== 'gelu_new') throw new Error(`importGpt2: activation_function "${activation}" is not supported (only GPT-2's gelu_new)`);
  const eps = raw.layer_norm_epsilon ?? 1e-5;
  if (eps !== 1e-5) throw new Error(`importGpt2: layer_norm_epsilon ${eps} is not supported (only GPT-2's 1e-5)`);
  const config = {
    vocabSize: raw.vocab_size,
    contextLength: raw.n_positions ?? raw.n_ctx,
    nLayer: raw.n_layer,
    nHead: raw.n_head,
    nEmbd: raw.n_embd,
  } as ModelConfig;
  try {
    validateConfig(config);
  } catch (err) {
    throw new Error(`importGpt2: ${file}: ${(err as Error).message} (needs vocab_size, n_positions, n_layer, n_head, n_embd)`);
  }
  return config;
}

function readTokenizerFiles(folder: string): Gpt2TokenizerFiles {
  const read = (name: string) => (existsSync(path.join(folder, name)) ? readFileSync(path.join(folder, name), 'utf8') : undefined);
  return { vocabJson: read('vocab.json'), mergesTxt: read('merges.txt') };
}

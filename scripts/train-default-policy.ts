// Trains the default policy that a fresh install loads (data/policy-<size>.safetensors), with the
// same supervised bootstrap `pairwise bootstrap` runs, and prints a few sample replies.
//   npm run train-default-policy [-- small|tiny]
import { writeFileSync } from 'node:fs';
import { DEFAULT_CORPUS, shippedCheckpointPath, trainBootstrapPolicy } from '../src/learn/bootstrap.ts';
import { initBackend } from '../src/model/backend.ts';
import { generate } from '../src/model/generate.ts';
import { checkpointBytes } from '../src/model/store.ts';
import { MODEL_SIZES, countParams } from '../src/model/transformer.ts';

const size = (process.argv[2] ?? 'small') as keyof typeof MODEL_SIZES;
if (!(size in MODEL_SIZES)) throw new Error(`unknown size "${size}": use ${Object.keys(MODEL_SIZES).join(' or ')}`);
await initBackend();
const started = Date.now();
const { model, tokenizer, losses } = await trainBootstrapPolicy(DEFAULT_CORPUS, size);
const file = shippedCheckpointPath(size);
writeFileSync(file, checkpointBytes(model, tokenizer));
console.log(`${size}: ${countParams(model.config)} parameters, ${losses.length} steps in ${Math.round((Date.now() - started) / 1000)} s, loss ${losses[0].toFixed(3)} -> ${losses.at(-1)!.toFixed(3)}; wrote ${file}`);
for (const text of ['hi', 'how are you?', 'tell me a joke', 'what should I cook tonight?']) {
  const samples = await generate(model, tokenizer.renderChat([{ role: 'user', text }], 80), { numSamples: 2, maxNewTokens: 48, temperature: 1, topP: 0.95, seed: 1, eotId: tokenizer.special.eot });
  console.log(`> ${text}\n  A: ${tokenizer.decode(samples[0].tokenIds)}\n  B: ${tokenizer.decode(samples[1].tokenIds)}`);
}
model.dispose();

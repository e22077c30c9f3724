import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/model/backend.ts';
import { generate } from '../src/model/generate.ts';
import { GPT, MODEL_SIZES } from '../src/model/transformer.ts';
async function main() {
  await initBackend('wasm');
  const model = new GPT({ ...MODEL_SIZES.small, vocabSize: 2048 }, { seed: 1 });
  const prompt = Array.from({ length: 64 }, (_, i) => (i * 37) % 2048);
  const opts = { numSamples: 2, maxNewTokens: 48, temperature: 1, topP: 0.95, seed: 3, eotId: -1 };
  for (let rep = 0; rep < 6; rep++) {
    const times: Record<string, number[]> = { fused: [], tfjs: [] };
    for (let i = 0; i < 10; i++) for (const fused of [true, false]) {
      const t = performance.now();
      await generate(model, prompt, { ...opts, fused, seed: i });
      times[fused ? 'fused' : 'tfjs'].push(performance.now() - t);
    }
    const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1].toFixed(1);
    console.log(`fused ${med(times.fused)} ms, tfjs ${med(times.tfjs)} ms, tensors ${tf.memory().numTensors}`);
  }
  const a = await generate(model, prompt, { ...opts, fused: true });
  const b = await generate(model, prompt, { ...opts, fused: false });
  console.log(JSON.stringify(a[0].tokenIds) === JSON.stringify(b[0].tokenIds), Math.max(...a[0].logprobs.map((l, i) => Math.abs(l - b[0].logprobs[i]))));
}
main();

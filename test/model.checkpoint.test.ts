import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/model/backend.ts';
import { deserializeModel, serializeModel } from '../src/model/checkpoint.ts';
import { parseSafetensors, serializeSafetensors, toFloat32 } from '../src/model/safetensors.ts';
import { GPT, MODEL_SIZES, RewardModel } from '../src/model/transformer.ts';

const CFG = { ...MODEL_SIZES.tiny, vocabSize: 40 };

/** A safetensors file from a raw header object and data bytes. */
function rawFile(header: object, data: Uint8Array, headerLengthOverride?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLengthOverride ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function bytesOf(array: Float32Array | Uint16Array | Float64Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('safetensors', () => {
  it('round-trips float32 tensors and string metadata, data 8-byte aligned', () => {
    const tensors = new Map([
      ['a', { shape: [2, 3], data: new Float32Array([1, -2, 3.5, 4, 5, 6e-8]) }],
      ['b.c', { shape: [1], data: new Float32Array([Math.PI]) }],
      ['empty', { shape: [0, 4], data: new Float32Array(0) }],
    ]);
    const bytes = serializeSafetensors(tensors, { note: 'héllo ✓', n: '3' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const file = parseSafetensors(bytes);
    expect(file.metadata).toEqual({ note: 'héllo ✓', n: '3' });
    expect([...file.tensors.keys()]).toEqual(['a', 'b.c', 'empty']);
    for (const [name, t] of tensors) {
      const entry = file.tensors.get(name)!;
      expect(entry.dtype).toBe('F32');
      expect(entry.shape).toEqual(t.shape);
      expect(toFloat32(name, entry)).toEqual(t.data);
    }
  });

  it('reads F16, BF16 and F64 as float32', () => {
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00, 0x0000]); // 1, -2, ~1/3, 2^-24, inf, 0
    const bf16 = new Uint16Array([0x3f80, 0xc049]); // 1, -3.140625
    const f64 = new Float64Array([1e-3, -7]);
    const data = new Uint8Array([...bytesOf(f16), ...bytesOf(bf16), ...bytesOf(f64)]);
    const file = parseSafetensors(
      rawFile(
        {
          h: { dtype: 'F16', shape: [6], data_offsets: [0, 12] },
          bf: { dtype: 'BF16', shape: [2], data_offsets: [12, 16] },
          d: { dtype: 'F64', shape: [1, 2], data_offsets: [16, 32] },
        },
        data,
      ),
    );
    expect(Array.from(toFloat32('h', file.tensors.get('h')!))).toEqual([1, -2, Math.fround(0.333251953125), Math.fround(2 ** -24), Infinity, 0]);
    expect(Array.from(toFloat32('bf', file.tensors.get('bf')!))).toEqual([1, -3.140625]);
    expect(Array.from(toFloat32('d', file.tensors.get('d')!))).toEqual([Math.fround(1e-3), -7]);
  });

  it('rejects truncated and malformed files with one clear line', () => {
    const good = serializeSafetensors(new Map([['x', { shape: [4], data: new Float32Array([1, 2, 3, 4]) }]]));
    expect(() => parseSafetensors(good.subarray(0, 5))).toThrow(/shorter than the 8-byte header length/);
    expect(() => parseSafetensors(good.subarray(0, 20))).toThrow(/header says \d+ bytes.*truncated/);
    expect(() => parseSafetensors(good.subarray(0, good.length - 1))).toThrow(/ends at byte 16 of a 15-byte data section/);
    const data = new Uint8Array(8);
    expect(() => parseSafetensors(rawFile({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data, 10_000))).toThrow(/truncated/);
    expect(() => parseSafetensors(rawFile({ x: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, data))).toThrow(/unknown dtype "Q4"/);
    expect(() => parseSafetensors(rawFile({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data))).toThrow(/spans 8 bytes but .* need 12/);
    expect(() => parseSafetensors(rawFile({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, data))).toThrow(/hole or overlap/);
    expect(() => parseSafetensors(rawFile({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, data))).toThrow(/4 bytes after the last tensor/);
    expect(() => parseSafetensors(rawFile({ __metadata__: { a: 1 } }, new Uint8Array(0)))).toThrow(/__metadata__.a is not a string/);
    const notJson = good.slice();
    notJson[9] = 0x7b; // a second "{"
    expect(() => parseSafetensors(notJson)).toThrow(/header is not JSON/);
    expect(() => toFloat32('i', { dtype: 'I64', shape: [1], bytes: new Uint8Array(8) })).toThrow(/dtype I64; only F32, F16, BF16 and F64/);
  });
});

describe('checkpoints', () => {
  it('round-trip a policy and a reward model with their metadata', () => {
    const policy = new GPT(CFG, { seed: 1 });
    const reward = RewardModel.fromPolicy(policy, 2);
    for (const model of [policy, reward]) {
      const bytes = serializeModel(model, { tokenizer: '{"v":1}', step: '7' });
      const { model: loaded, meta } = deserializeModel(bytes);
      expect(loaded).toBeInstanceOf(model instanceof GPT ? GPT : RewardModel);
      expect(loaded.config).toEqual(model.config);
      expect(meta).toMatchObject({ kind: model.kind, tokenizer: '{"v":1}', step: '7' });
      expect(JSON.parse(meta.config)).toEqual(CFG);
      for (const [name, w] of model.getWeights()) expect(loaded.getWeights().get(name)!.dataSync()).toEqual(w.dataSync());
      loaded.dispose();
    }
    const ids = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
    // As node-postgres returns bytea: a Buffer view at an odd offset into a larger pool.
    const fromDb = Buffer.concat([Buffer.from('xyz'), Buffer.from(serializeModel(policy, {}))]).subarray(3);
    const copy = deserializeModel(fromDb).model as GPT;
    expect(copy.forward(ids).logits.dataSync()).toEqual(policy.forward(ids).logits.dataSync());
    tf.dispose([ids]);
    copy.dispose();
    reward.dispose();
    policy.dispose();
  });

  it('refuses reserved metadata keys', () => {
    const policy = new GPT(CFG, { seed: 1 });
    expect(() => serializeModel(policy, { kind: 'x' })).toThrow(/meta key "kind" is reserved/);
    policy.dispose();
  });

  it('rejects truncated, corrupted or mismatched checkpoints without creating any tensor', () => {
    const policy = new GPT(CFG, { seed: 1 });
    const bytes = serializeModel(policy, { tokenizer: 't' });
    const file = parseSafetensors(bytes);
    const weights = new Map([...file.tensors].map(([k, e]) => [k, { shape: e.shape, data: toFloat32(k, e) }]));
    const rewrite = (meta: Record<string, string>, change?: (w: typeof weights) => void) => {
      const w = new Map([...weights].map(([k, v]) => [k, { shape: v.shape, data: v.data.slice() }]));
      change?.(w);
      return serializeSafetensors(w, meta);
    };
    const config = JSON.stringify(CFG);
    const before = tf.memory().numTensors;
    const cases: [Uint8Array, RegExp][] = [
      [bytes.subarray(0, bytes.length - 100), /cannot load checkpoint: .*truncated/],
      [bytes.subarray(0, 1000), /cannot load checkpoint: .*truncated/],
      [rewrite({ kind: 'critic', config }), /kind is "critic", expected "policy" or "reward"/],
      [rewrite({ kind: 'policy', config: '{"vocabSize":40' }), /metadata config is invalid/],
      [rewrite({ kind: 'policy', config: JSON.stringify({ ...CFG, nLayer: 3 }) }), /tensor "h.2.ln_1.g" is missing/],
      [rewrite({ kind: 'policy', config: JSON.stringify({ ...CFG, nLayer: 1 }) }), /unexpected tensor "h.1.ln_1.g"/],
      [rewrite({ kind: 'reward', config }), /unexpected tensor "value_head.w" for a reward model/],
      [rewrite({ kind: 'policy', config }, (w) => w.set('wpe', { shape: [32, 64], data: w.get('wpe')!.data })), /"wpe" has shape \[32,64\] but the config needs \[64,32\]/],
      [rewrite({ kind: 'policy', config }, (w) => (w.get('ln_f.g')!.data[3] = NaN)), /"ln_f.g" holds NaN/],
    ];
    for (const [corrupt, message] of cases) expect(() => deserializeModel(corrupt)).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
    policy.dispose();
  });
});

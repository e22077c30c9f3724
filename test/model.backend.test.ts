import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/model/backend.ts';

/** Runs f on a backend and returns its results as plain arrays. */
async function on(backend: string, f: () => tf.Tensor | tf.Tensor[]): Promise<number[][]> {
  await initBackend(backend);
  return tf.tidy(() => {
    const out = f();
    return (Array.isArray(out) ? out : [out]).map((t) => Array.from(t.dataSync()));
  });
}

function input(shape: number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Array.from({ length: n }, (_, i) => Math.sin(i) * 10), shape);
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('initBackend', () => {
  it('rejects an unknown backend name with the valid ones', async () => {
    await expect(initBackend('tpu')).rejects.toThrow(/unknown backend "tpu".*node-gpu, node, wasm, cpu/);
  });

  it('explains how to get a native backend that is not installed', async () => {
    await expect(initBackend('node')).rejects.toThrow(/npm install @tensorflow\/tfjs-node/);
    expect(await initBackend()).toBe('wasm'); // the failed switch left wasm active
    expect(tf.getBackend()).toBe('wasm');
  });

  it('is idempotent and switches only on an explicit different name', async () => {
    expect(await initBackend('wasm')).toBe('wasm');
    expect(await initBackend()).toBe('wasm');
    expect(await initBackend('cpu')).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(await initBackend('wasm')).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('registers the gradients that tfjs-core alone lacks', () => {
    const g = tf.tidy(() => Array.from(tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.neg(x), x)))(tf.tensor([1, 2, 3])).dataSync()));
    expect(g).toEqual([-2, -4, -6]);
  });
});

describe('wasm kernels replaced or added by initBackend agree with cpu', () => {
  const cases: [string, () => tf.Tensor | tf.Tensor[]][] = [
    ['slice, contiguous rows', () => tf.slice(input([6, 5]), [2, 0], [3, 5])],
    ['slice, inner window', () => tf.slice(input([4, 5, 6]), [1, 2, 3], [2, 3, 2])],
    ['slice, rank 4 middle axis', () => tf.slice(input([2, 3, 4, 5]), [0, 1, 1, 0], [2, 2, 2, 5])],
    ['slice, single element', () => tf.slice(input([3, 3]), [2, 1], [1, 1])],
    ['unstack axis 0', () => tf.unstack(input([3, 4, 2]))],
    ['unstack axis 1', () => tf.unstack(input([3, 4, 2]), 1)],
    ['split uneven, last axis', () => tf.split(input([2, 3, 7]), [2, 4, 1], 2)],
    ['split axis 1', () => tf.split(input([4, 6]), 3, 1)],
    ['int32 slice', () => tf.slice(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32'), [0, 1], [2, 2])],
    ['identity', () => tf.clone(input([3, 4]))],
    ['cast to int32', () => tf.cast(input([5]), 'int32')],
    ['unsortedSegmentSum', () => tf.unsortedSegmentSum(input([5, 3]), tf.tensor1d([2, 0, 2, 1, 0], 'int32'), 4)],
    ['transpose 2D, odd sizes', () => tf.transpose(input([37, 41]))],
    ['transpose last two axes of rank 4', () => tf.transpose(input([2, 3, 9, 6]), [0, 1, 3, 2])],
    ['transpose, other permutation (original kernel)', () => tf.transpose(input([2, 3, 4]), [1, 0, 2])],
    ['transpose int32', () => tf.transpose(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32'))],
    ['gather rows', () => tf.gather(input([5, 3]), tf.tensor1d([4, 0, 4, 2], 'int32'))],
    ['gather rows by a 2D index', () => tf.gather(input([6, 2, 2]), tf.tensor2d([1, 5, 0, 3], [2, 2], 'int32'))],
    ['gather elements of a vector', () => tf.gather(input([7]), tf.tensor1d([6, 1, 1], 'int32'))],
    ['gather along axis 1 (original kernel)', () => tf.gather(input([3, 4]), tf.tensor1d([3, 0], 'int32'), 1)],
    ['gather gradient', () => tf.grad((w: tf.Tensor) => tf.sum(tf.mul(tf.gather(w, tf.tensor1d([1, 3, 1, 0], 'int32')), input([4, 2]))))(input([5, 2]))],
  ];
  for (const [name, f] of cases) {
    it(name, async () => {
      const cpu = await on('cpu', f);
      const wasm = await on('wasm', f);
      expect(wasm).toEqual(cpu);
    });
  }

  it('refuses an out-of-range row index, leaving nothing behind', () => {
    const [x, ids] = [input([3, 2]), tf.tensor1d([1, 3], 'int32')];
    const before = tf.memory();
    expect(() => tf.gather(x, ids)).toThrow(/gather: index 3 is not in \[0, 2\]/);
    expect(tf.memory()).toMatchObject({ numTensors: before.numTensors, numBytes: before.numBytes });
    tf.dispose([x, ids]);
  });

  it('leaves no tensor behind when slicing', () => {
    const x = input([4, 4]);
    const before = tf.memory().numTensors;
    tf.dispose(tf.unstack(x));
    tf.dispose(tf.split(x, 2));
    tf.dispose([tf.clone(x), tf.cast(x, 'float32')]);
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(x.dataSync()).slice(0, 2)).toEqual([0, Math.fround(Math.sin(1) * 10)]);
    x.dispose();
  });
});

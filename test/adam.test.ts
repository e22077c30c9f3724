import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { Adam } from '../src/learn/adam.ts';
import { initBackend } from '../src/model/backend.ts';

afterAll(async () => {
  await initBackend('wasm');
});

/** Variables and per-step gradients, the same on every run. */
function problem() {
  const wave = (n: number, k: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + k));
  const vars = tf.tidy(() => [tf.variable(tf.tensor2d(wave(12, 1), [3, 4])), tf.variable(tf.tensor1d(wave(5, 2)))]);
  const grads = (step: number) => Object.fromEntries(vars.map((v, i) => [v.name, tf.tensor(wave(v.size, 10 * step + i).map((x) => x * (i + 1)), v.shape)]));
  return { vars, grads };
}

/** Five steps with gradient scale 0.5 and decay 0.99 on matrices; the final values. */
function run(step: (vars: tf.Variable[], grads: tf.NamedTensorMap) => void): number[][] {
  const { vars, grads } = problem();
  for (let s = 0; s < 5; s++) {
    const g = grads(s);
    step(vars, g);
    tf.dispose(Object.values(g));
  }
  const out = vars.map((v) => Array.from(v.dataSync()));
  tf.dispose(vars);
  return out;
}

describe('Adam', () => {
  for (const backend of ['wasm', 'cpu']) {
    it(`on ${backend}, equals tf.train.adam on scaled gradients followed by the decay`, async () => {
      await initBackend(backend);
      const before = tf.memory().numTensors;
      const ours = new Adam(0.05);
      const fused = run((_vars, grads) => ours.update(grads, 0.5, (v) => (v.rank >= 2 ? 0.99 : 1)));
      ours.dispose();
      expect(tf.memory().numTensors).toBe(before);
      const theirs = tf.train.adam(0.05);
      const reference = run((vars, grads) => {
        theirs.applyGradients(Object.fromEntries(Object.entries(grads).map(([n, g]) => [n, tf.mul(g, 0.5)])));
        for (const v of vars) if (v.rank >= 2) tf.tidy(() => v.assign(tf.mul(v, 0.99)));
      });
      theirs.dispose();
      const { vars } = problem();
      const initial = vars.map((v) => Array.from(v.dataSync()));
      tf.dispose(vars);
      expect(Math.max(...reference.flatMap((vs, i) => vs.map((x, j) => Math.abs(x - initial[i][j]))))).toBeGreaterThan(0.05); // the steps moved them
      fused.forEach((values, i) => values.forEach((x, j) => expect(Math.abs(x - reference[i][j]), `var ${i}[${j}]`).toBeLessThan(1e-5)));
    });
  }

  it('steps through the tf.Optimizer interface (minimize)', async () => {
    await initBackend('wasm');
    const x = tf.variable(tf.scalar(3));
    const opt = new Adam(0.1);
    for (let i = 0; i < 100; i++) opt.minimize(() => tf.square(x) as tf.Scalar);
    expect(Math.abs(x.dataSync()[0])).toBeLessThan(0.5);
    opt.dispose();
    x.dispose();
  });
});

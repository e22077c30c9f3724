// Adam for the learner: TF.js's formula (tf.train.adam), with global-norm clipping's gradient
// scale and decoupled weight decay folded into the same step. On wasm each variable is one call
// into kernels.wasm (see train.c's adam) instead of ~12 TF.js kernels; elsewhere plain ops.
import * as tf from '@tensorflow/tfjs-core';
import { ADAM_KERNEL } from '../model/backend.ts';

export class Adam extends tf.Optimizer {
  static className = 'PairwiseAdam';
  /** tf.Optimizer answers instanceof by duck typing (any optimizer would pass); use the prototype chain. */
  static override [Symbol.hasInstance](x: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, x);
  }
  /** First and second moments by variable name; zeros before a variable's first step. */
  private readonly moments = new Map<string, { m: tf.Tensor; v: tf.Tensor }>();
  /** Steps taken, for the bias corrections. */
  private t = 0;

  constructor(
    readonly learningRate: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    /** TF.js's default for float32. */
    readonly epsilon = 1e-7,
  ) {
    super();
  }

  /** tf.Optimizer's interface: one step, no scale or decay. */
  applyGradients(grads: Parameters<tf.Optimizer['applyGradients']>[0]): void {
    const named = Array.isArray(grads) ? Object.fromEntries(grads.map((g) => [g.name, g.tensor])) : grads;
    this.update(named, 1, () => 1);
  }

  /**
   * One step for every variable named in `grads`, with each gradient multiplied by `scale` first
   * and each variable multiplied by keep(variable) after (1 − lr·weightDecay, or 1).
   */
  update(grads: tf.NamedTensorMap, scale: number, keep: (v: tf.Variable) => number): void {
    this.t++;
    const c1 = 1 / (1 - this.beta1 ** this.t);
    const c2 = 1 / (1 - this.beta2 ** this.t);
    const wasm = tf.getBackend() === 'wasm';
    for (const [name, grad] of Object.entries(grads)) {
      const variable = tf.engine().registeredVariables[name];
      if (!variable) throw new Error(`Adam: no variable named "${name}" (was its model disposed?)`);
      let s = this.moments.get(name);
      if (!s) this.moments.set(name, (s = { m: tf.zerosLike(variable), v: tf.zerosLike(variable) }));
      const k = keep(variable);
      if (wasm) {
        const attrs = { scale, lr: this.learningRate, b1: this.beta1, b2: this.beta2, eps: this.epsilon, c1, c2, keep: k };
        const next = tf.engine().runKernel(ADAM_KERNEL, { param: variable, grad, m: s.m, v: s.v }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
        variable.assign(next);
        next.dispose();
        continue;
      }
      const state = s;
      tf.tidy(() => {
        const g = tf.mul(grad, scale);
        const m = tf.add(tf.mul(state.m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(state.v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const step = tf.div(tf.mul(tf.mul(m, c1), this.learningRate), tf.add(tf.sqrt(tf.mul(v, c2)), this.epsilon));
        variable.assign(tf.mul(tf.sub(variable, step), k));
        tf.dispose([state.m, state.v]);
        [state.m, state.v] = [tf.keep(m), tf.keep(v)];
      });
    }
  }

  override dispose(): void {
    for (const s of this.moments.values()) tf.dispose([s.m, s.v]);
    this.moments.clear();
  }

  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }
}
